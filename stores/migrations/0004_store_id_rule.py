"""Store ids follow one rule from now on (docs/semantics.md, section 1):
1 to 64 characters from A-Z a-z 0-9 . _ : ~ -, the first a letter or a digit.

A database holding ids outside the rule (registered before it) cannot be
migrated until they are renamed: the check lists them and says how. The
rule is copied here, not imported, so that this migration keeps meaning
what it meant when it was written.
"""
import re

from django.db import migrations, models

import stores.models

STORE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:~-]{0,63}", re.ASCII)
LISTED = 50


class StoreIdsOutsideTheRule(Exception):
    pass


def check_store_ids(apps, schema_editor) -> None:
    Store = apps.get_model("stores", "Store")
    bad = [
        store_id
        for store_id in Store.objects.using(schema_editor.connection.alias).values_list("store_id", flat=True).iterator()
        if STORE_ID.fullmatch(store_id) is None
    ]
    if not bad:
        return
    listed = ", ".join(repr(store_id) for store_id in sorted(bad)[:LISTED])
    more = f" and {len(bad) - LISTED} more" if len(bad) > LISTED else ""
    raise StoreIdsOutsideTheRule(
        f"{len(bad)} store id(s) break the store id rule (1 to 64 characters from A-Z a-z 0-9 . _ : ~ -, "
        f"the first a letter or a digit): {listed}{more}. Rename them first: "
        "`manage.py rename_store_ids --template mapping.csv` writes a mapping with a suggested new id for "
        "each (edit it as you like), `manage.py rename_store_ids mapping.csv` applies it; then migrate again. "
        "The devices of renamed stores must then post with the new id."
    )


class Migration(migrations.Migration):
    dependencies = [("stores", "0003_api_tokens")]

    operations = [
        migrations.RunPython(check_store_ids, migrations.RunPython.noop, elidable=False),
        migrations.AlterField(
            model_name="store",
            name="store_id",
            field=models.CharField(max_length=64, unique=True, validators=[stores.models.validate_store_id]),
        ),
    ]
