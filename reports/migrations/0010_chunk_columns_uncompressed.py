"""A chunk's lines and store ids stored uncompressed on PostgreSQL.

Each lives only while its report runs, and is written once and read once:
compressing them (pglz, the default for a value over 2 kB) cost PostgreSQL
about 3 ms of CPU for a 2,000-store chunk's lines, several times the write
itself. SQLite does not compress; nothing to do there.
"""

from django.db import migrations

_COLUMNS = ("rows", "store_pks")


def _storage(schema_editor, storage: str) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for column in _COLUMNS:
        schema_editor.execute(f"ALTER TABLE reports_reportchunk ALTER COLUMN {column} SET STORAGE {storage}")


def uncompressed(apps, schema_editor) -> None:
    _storage(schema_editor, "EXTERNAL")


def compressed(apps, schema_editor) -> None:
    _storage(schema_editor, "EXTENDED")


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0009_figures_refresh_batches"),
    ]

    operations = [
        migrations.RunPython(uncompressed, compressed),
    ]
