"""Many new rows at once: PostgreSQL's COPY, several times faster than INSERTs
at hundreds of thousands of rows; large bulk_create batches elsewhere."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection
from django.db.models import Model
from psycopg import sql

# Model instances held at once off PostgreSQL (bulk_create splits them into
# statements within the database's parameter limit).
INSERT_BATCH = 5000


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
