"""Many rows at once, faster than the ORM's bulk methods:

- insert_rows: PostgreSQL's COPY, several times faster than INSERTs at
  hundreds of thousands of rows; large bulk_create batches elsewhere;
- update_rows: one UPDATE ... FROM (VALUES ...) per 2,000 rows, where
  Django's bulk_update builds a CASE WHEN per row and field, whose
  compilation cost more than the writes it was saving.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection
from django.db.models import Model
from psycopg import sql

# Model instances held at once off PostgreSQL (bulk_create splits them into
# statements within the database's parameter limit).
INSERT_BATCH = 5000
# Rows per UPDATE statement: SQLite allows 32,766 parameters; PostgreSQL 65,535.
ROWS_PER_STATEMENT = 2000


def insert_rows(model: type[Model], fields: Sequence[str], rows: Iterable[Sequence[object]]) -> int:
    """Insert rows of the given field values (a foreign key by its id); returns
    how many. Runs in the caller's transaction; no model's save() is called."""
    meta = model._meta
    model_fields = [meta.get_field(name) for name in fields]
    count = 0
    if connection.vendor == "postgresql":
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(meta.db_table), sql.SQL(", ").join(sql.Identifier(field.column) for field in model_fields)
        )
        connection.ensure_connection()
        # COPY is not in the ORM: the psycopg connection under Django's.
        with connection.connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    attnames = [field.attname for field in model_fields]
    batch: list[Model] = []
    for row in rows:
        batch.append(model(**dict(zip(attnames, row))))
        if len(batch) >= INSERT_BATCH:
            count += len(model._default_manager.bulk_create(batch))
            batch.clear()
    if batch:
        count += len(model._default_manager.bulk_create(batch))
    return count


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
