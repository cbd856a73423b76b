"""API tokens stored as hashes (stores.ApiToken), replacing DRF's authtoken.

The keys in DRF's `authtoken_token` table (plain text) are converted into
hashes, so existing clients keep working with the same key, and then deleted
from that table: no plain key is left in the database. The table itself is
left (empty) as authtoken's migrations made it; the app is no longer
installed, so this reads it with SQL, and only when it exists.

Going back cannot restore the plain keys: the hashed tokens are dropped and
every user needs a new token.
"""
import datetime as dt
import hashlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


AUTHTOKEN_TABLE = "authtoken_token"
PREFIX_LENGTH = 8


def convert_authtoken_keys(apps, schema_editor) -> None:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if AUTHTOKEN_TABLE not in connection.introspection.table_names(cursor):
            return
        table = connection.ops.quote_name(AUTHTOKEN_TABLE)
        cursor.execute(f"SELECT {connection.ops.quote_name('key')}, user_id, created FROM {table}")
        rows = cursor.fetchall()
    ApiToken = apps.get_model("stores", "ApiToken")
    for key, user_id, created in rows:
        token = ApiToken.objects.using(connection.alias).create(
            user_id=user_id, prefix=key[:PREFIX_LENGTH], key_hash=hashlib.sha256(key.encode()).hexdigest()
        )
        # created_at is auto_now_add: keep the key's own date (which SQLite
        # gives back naive, in UTC as Django wrote it).
        if isinstance(created, dt.datetime) and created.tzinfo is None:
            created = created.replace(tzinfo=dt.timezone.utc)
        ApiToken.objects.using(connection.alias).filter(pk=token.pk).update(created_at=created)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table}")


class Migration(migrations.Migration):

    dependencies = [
        ('stores', '0002_owners_group'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ApiToken',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('prefix', models.CharField(max_length=8)),
                ('key_hash', models.CharField(max_length=64, unique=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('last_used_at', models.DateTimeField(blank=True, null=True)),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='api_tokens', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'verbose_name': 'API token',
                'ordering': ['user_id', 'created_at'],
            },
        ),
        migrations.RunPython(convert_authtoken_keys, migrations.RunPython.noop),
    ]
