"""One UPDATE ... FROM (VALUES ...) for many rows: Django's bulk_update builds a
CASE WHEN per row and field, whose compilation cost more than the polls it
was saving (6 of 11 s in an import of 150,000 polls)."""
from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from django.db.models import Model

# Rows per statement: SQLite allows 32,766 parameters; PostgreSQL 65,535.
ROWS_PER_STATEMENT = 2000


def update_rows(model: type[Model], objects: Sequence[Model], fields: Sequence[str]) -> None:
    """Write `fields` of each object to its row, by primary key, in a few statements.

    VALUES columns are named column1, column2, ... on PostgreSQL and SQLite
    alike; values go through each field's own preparation, so they are stored
    exactly as .save() would store them.
    """
    if not objects:
        return
    quote = connection.ops.quote_name
    meta = model._meta
    table = quote(meta.db_table)
    pk_column = quote(meta.pk.column)
    model_fields = [meta.get_field(name) for name in fields]
    assignments = ", ".join(
        f"{quote(field.column)} = v.column{index + 2}" for index, field in enumerate(model_fields)
    )
    row_placeholder = "(" + ", ".join(["%s"] * (len(fields) + 1)) + ")"
    with connection.cursor() as cursor:
        for offset in range(0, len(objects), ROWS_PER_STATEMENT):
            chunk = objects[offset : offset + ROWS_PER_STATEMENT]
            params: list[object] = []
            for obj in chunk:
                params.append(obj.pk)
                params.extend(
                    field.get_db_prep_save(getattr(obj, field.attname), connection) for field in model_fields
                )
            values = ", ".join([row_placeholder] * len(chunk))
            cursor.execute(
                f"UPDATE {table} SET {assignments} FROM (VALUES {values}) AS v WHERE {table}.{pk_column} = v.column1",
                params,
            )
