"""ApiToken now belongs to the accounts app (accounts.0001 takes it over with
its table): the model leaves this app's state; the database is untouched."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("stores", "0004_store_id_rule"),
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ApiToken")],
            database_operations=[],
        ),
    ]
