"""An index of the store ids in code point order on PostgreSQL, covering the
primary key and the organization: a report's planning reads the stores it
covers in that order (reports.services._plan, the CSV's order), which
without it sorted every store at each report, spilling to disk past a few
tens of thousands. Built CONCURRENTLY: polls keep updating store rows
meanwhile. SQLite compares the bytes already: the store id's unique index
serves there.
"""

from django.db import migrations

_INDEX = "stores_store_store_id_code_points"


def index_create(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX CONCURRENTLY IF NOT EXISTS {_INDEX} ON stores_store ((store_id COLLATE "C"))'
            " INCLUDE (id, organization_id)"
        )


def index_drop(apps, schema_editor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {_INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("stores", "0011_store_week"),
    ]

    operations = [
        migrations.RunPython(index_create, index_drop),
    ]
