"""Database expressions that hand the engine integers instead of datetimes.

Django reads PostgreSQL timestamps and times through psycopg's pure-Python
loaders (Django ticket #36960); a report reads hundreds of thousands of them
only to turn them into integers. Computing the integers in SQL skips those
objects altogether. `InIntegers` filters by thousands of keys with one query
parameter instead of one each. What each saves: bench/RESULTS.md,
"Measurements behind the code".
"""
import json
from collections.abc import Iterable

from django.db.models import BigIntegerField, BooleanField, Func


class EpochMicroseconds(Func):
    """Microseconds since the Unix epoch of a datetime column, exactly."""

    output_field = BigIntegerField()

    def as_postgresql(self, compiler, connection, **extra_context):
        # EXTRACT gives an exact numeric on PostgreSQL 14+; ROUND guards older servers' float.
        return self.as_sql(
            compiler, connection, template="ROUND(EXTRACT(EPOCH FROM %(expressions)s) * 1000000)::bigint", **extra_context
        )

    def as_sqlite(self, compiler, connection, **extra_context):
        # Django stores "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC; the fraction, when
        # present, is always six digits (an empty substring casts to 0). The
        # %-sign is doubled twice: once for this template, once for the
        # backend's placeholder conversion. strftime rounds fractions of a
        # second, so it gets the whole seconds only.
        template = (
            "(CAST(strftime('%%%%s', substr(%(expressions)s, 1, 19)) AS INTEGER) * 1000000"
            " + CAST(substr(%(expressions)s, 21, 6) AS INTEGER))"
        )
        return self.as_sql(compiler, connection, template=template, **extra_context)


class InIntegers(Func):
    """`expression IN (values)` for many integers, sent as one query parameter:
    an array on PostgreSQL, a JSON list on SQLite.

    Django's `__in` sends one parameter per value, and psycopg spends longer
    rewriting a query with thousands of placeholders than PostgreSQL takes to
    run it; one parameter also keeps SQLite far from its parameter limit.

    `opaque`: on PostgreSQL `= ANY(ARRAY(SELECT unnest(array)))`, the keys
    as a value the planner does not look inside. Given the array itself, it
    weighs every key against the column's statistics: 2 to 4 ms of planning
    for 2,000 stores' business hours, against 8 ms of execution (bench/
    report_bench.py --case warm); the plan is the same index scan. (`IN
    (SELECT unnest(array))` plans as cheaply but then joins: it read every
    row of the 13,584 Loop stores' hours for 2,000 of them.)
    """

    output_field = BooleanField()
    conditional = True

    def __init__(self, expression, values: Iterable[int], *, opaque: bool = False):
        super().__init__(expression)
        self.values = [int(value) for value in values]
        self.opaque = opaque

    def as_sql(self, compiler, connection, **extra_context):
        # Any other database: the plain IN list.
        sql, params = compiler.compile(self.source_expressions[0])
        if not self.values:
            return "1 = 0", []
        return f"{sql} IN ({', '.join(['%s'] * len(self.values))})", (*params, *self.values)

    def as_postgresql(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        # An array literal as text: psycopg's list dumper is slower (bench/RESULTS.md).
        keys = "{" + ",".join(map(str, self.values)) + "}"
        if self.opaque:
            return f"{sql} = ANY(ARRAY(SELECT unnest(%s::bigint[])))", (*params, keys)
        return f"{sql} = ANY(%s::bigint[])", (*params, keys)

    def as_sqlite(self, compiler, connection, **extra_context):
        sql, params = compiler.compile(self.source_expressions[0])
        return f"{sql} IN (SELECT value FROM json_each(%s))", (*params, json.dumps(self.values))
