"""manage.py import_closures: every kind of row, bad rows by line with the
reason, the good rows imported, idempotence, the organization to use."""
import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from stores.models import Closure
from stores.tests.factories import OrganizationFactory, StoreFactory, StoreGroupFactory

pytestmark = pytest.mark.django_db
UTC = dt.timezone.utc


def write(path, text: str, *, bom: bool = False):
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())
    return path


def run(path, *args) -> str:
    out = StringIO()
    call_command("import_closures", str(path), *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def chain():
    organization = OrganizationFactory(name="Pizza Planet")
    north = StoreGroupFactory(organization=organization, name="North")
    StoreGroupFactory(organization=organization, name="South")
    StoreFactory(store_id="s1", organization=organization, groups=[north])
    StoreFactory(store_id="s2", organization=organization)
    return organization


GOOD = (
    "store_id,group,start,end,reason,every_year\n"
    "s1,,2024-12-24,2024-12-26,Christmas,yes\n"  # line 2: a store, dates, every year
    ",North,2024-07-01T06:00,2024-07-01T12:30:15,Parade,\n"  # line 3: a group, local times
    ",,2024-03-10T08:00:00Z,2024-03-10T09:30:00+01:00,Power cut,false\n"  # line 4: everyone, instants
    "s1,,2024-01-01,2024-01-01,New Year,1\n"  # line 5: the same store again, another period
    "s2,,2024-01-01,2024-01-01,New Year,TRUE\n"  # line 6: another store, the same period
)


def fields(closure: Closure) -> tuple:
    return (
        sorted(store.store_id for store in closure.stores.all()),
        closure.stores_given,
        closure.group.name if closure.group else None,
        closure.start_local,
        closure.end_local,
        closure.whole_days,
        closure.start_at,
        closure.end_at,
        closure.every_year,
        closure.reason,
    )


def test_good_rows_of_each_kind(tmp_path, chain):
    output = run(write(tmp_path / "closures.csv", GOOD, bom=True))
    assert output.splitlines() == ["closures: 5 rows read, 5 created, 0 already there, 0 refused"]
    closures = Closure.objects.order_by("pk")
    assert all(closure.organization == chain and closure.created_by is None for closure in closures)
    assert [fields(closure) for closure in closures] == [
        (["s1"], True, None, "2024-12-24T00:00:00", "2024-12-27T00:00:00", True, None, None, True, "Christmas"),
        ([], False, "North", "2024-07-01T06:00:00", "2024-07-01T12:30:15", False, None, None, False, "Parade"),
        (
            [],
            False,
            None,
            "",
            "",
            False,
            dt.datetime(2024, 3, 10, 8, tzinfo=UTC),
            dt.datetime(2024, 3, 10, 8, 30, tzinfo=UTC),
            False,
            "Power cut",
        ),
        (["s1"], True, None, "2024-01-01T00:00:00", "2024-01-02T00:00:00", True, None, None, True, "New Year"),
        (["s2"], True, None, "2024-01-01T00:00:00", "2024-01-02T00:00:00", True, None, None, True, "New Year"),
    ]


def test_columns_are_optional_and_in_any_order(tmp_path, chain):
    path = write(tmp_path / "closures.csv", "reason,end,start\nInventory,2024-02-02,2024-02-01\n")
    assert run(path).startswith("closures: 1 rows read, 1 created")
    closure = Closure.objects.get()
    assert (closure.stores_given, closure.group, closure.every_year) == (False, None, False)
    assert (closure.start_local, closure.end_local) == ("2024-02-01T00:00:00", "2024-02-03T00:00:00")


def test_bad_rows_are_reported_by_line_and_the_rest_imported(tmp_path, chain):
    other = OrganizationFactory(name="Elsewhere")
    StoreFactory(store_id="theirs", organization=other)
    StoreGroupFactory(organization=other, name="West")
    path = write(
        tmp_path / "closures.csv",
        "store_id,group,start,end,reason,every_year\n"
        "s1,,2024-12-24,2024-12-26,Christmas,\n"  # 2: good
        "nope,,2024-12-24,2024-12-26,Christmas,\n"  # 3: unknown store
        "theirs,,2024-12-24,2024-12-26,Christmas,\n"  # 4: another organization's store
        ",West,2024-12-24,2024-12-26,Christmas,\n"  # 5: another organization's group
        "s1,North,2024-12-24,2024-12-26,Christmas,\n"  # 6: both
        "s2,,2024-12-24,2024-12-26,,\n"  # 7: no reason
        "s2,,2024-12-26,2024-12-24,Backwards,\n"  # 8: end before start
        "s2,,2024-12-24,2024-12-26T10:00,Mixed,\n"  # 9: two forms
        "s2,,2024-12-24T10:00Z,2024-12-24T12:00Z,Yearly instant,yes\n"  # 10: every_year with instants
        "s2,,2024-12-24,2024-12-26,Christmas,sometimes\n"  # 11: bad every_year
        "s2,,2024-01-01,2025-12-31,Too long,\n"  # 12: over 366 days
        "s2,,christmas,2024-12-26,Christmas,\n"  # 13: not a date
        ",North,2024-08-01,2024-08-01,Audit,no\n",  # 14: good
    )
    lines = run(path, "--organization", "Pizza Planet").splitlines()
    assert lines[0] == "closures: 13 rows read, 2 created, 0 already there, 11 refused"
    reported = {int(line.split(":")[0].split()[1]): line.split(":", 1)[1].strip() for line in lines[1:]}
    assert sorted(reported) == list(range(3, 14))
    assert reported[3] == "unknown store id 'nope' in the organization 'Pizza Planet'"
    assert reported[4] == "unknown store id 'theirs' in the organization 'Pizza Planet'"
    assert reported[5] == "unknown group 'West' in the organization 'Pizza Planet'"
    assert reported[6] == "give store_id or group, not both"
    assert reported[7] == "missing reason"
    assert reported[8] == "invalid period: end is before start (a date's end is the last day closed)."
    assert reported[9] == "invalid period: start is a date and end a local time: give both in one form."
    assert reported[10].startswith("invalid period: every_year repeats local dates")
    assert reported[11] == "every_year must be true, false, 1, 0, yes, no or empty, not 'sometimes'"
    assert reported[12] == "invalid period: A closure may last at most 366 days."
    assert reported[13].startswith("invalid period: 'christmas' is not a date")
    assert [(c.reason, c.group_id is not None, c.stores_given) for c in Closure.objects.order_by("pk")] == [
        ("Christmas", False, True),
        ("Audit", True, False),
    ]
    assert not Closure.objects.filter(organization=other).exists()


def test_a_row_with_several_faults_gives_them_all(tmp_path, chain):
    path = write(tmp_path / "closures.csv", "store_id,start,end,reason,every_year\nnope,2024-01-02,2024-01-01,,maybe\n")
    lines = run(path).splitlines()
    assert lines[1].startswith("  line 2: unknown store id 'nope'")
    assert "every_year must be" in lines[1] and "invalid period: end is before start" in lines[1]
    assert lines[1].endswith("; missing reason")


def test_a_second_run_creates_nothing(tmp_path, chain):
    path = write(tmp_path / "closures.csv", GOOD)
    run(path)
    before = list(Closure.objects.order_by("pk").values_list("pk", flat=True))
    assert run(path).splitlines() == ["closures: 5 rows read, 0 created, 5 already there, 0 refused"]
    assert list(Closure.objects.order_by("pk").values_list("pk", flat=True)) == before
    assert Closure.history.count() == 5


def test_already_there_means_the_same_target_period_repetition_and_reason(tmp_path, chain):
    run(write(tmp_path / "first.csv", GOOD))
    changed = write(
        tmp_path / "second.csv",
        "store_id,group,start,end,reason,every_year\n"
        "s1,,2024-12-24,2024-12-26,Christmas,yes\n"  # the same
        "s1,,2024-12-24,2024-12-26,Christmas,no\n"  # not every year
        "s1,,2024-12-24,2024-12-26,Xmas,yes\n"  # another reason
        "s2,,2024-12-24,2024-12-26,Christmas,yes\n"  # another store
        ",,2024-12-24,2024-12-26,Christmas,yes\n"  # the whole organization
        ",South,2024-07-01T06:00,2024-07-01T12:30:15,Parade,\n"  # another group
        ",North,2024-07-01T06:00:00,2024-07-01T12:30:15,Parade,no\n"  # the same, written otherwise
        ",North,2024-07-01,2024-07-01,Parade,\n"  # whole days, not times
        ",,2024-03-10T09:00:00+01:00,2024-03-10T08:30:00Z,Power cut,\n"  # the same instants
        "s1,,2024-12-24,2024-12-26,Christmas,yes\n",  # the first row again
    )
    assert run(changed).splitlines() == ["closures: 10 rows read, 6 created, 4 already there, 0 refused"]
    assert Closure.objects.count() == 11


def test_a_repeated_row_in_one_file_is_created_once(tmp_path, chain):
    row = ",2024-05-01,2024-05-01,Holiday\n"
    path = write(tmp_path / "closures.csv", "store_id,start,end,reason\n" + row + row)
    assert run(path).splitlines() == ["closures: 2 rows read, 1 created, 1 already there, 0 refused"]


def test_a_closure_of_several_stores_is_not_a_row_of_one(tmp_path, chain):
    from core.closures import closure_period
    from stores.models import Store
    from stores.services import closure_create

    closure_create(
        organization=chain,
        period=closure_period("2024-05-01", "2024-05-01"),
        reason="Holiday",
        created_by=None,
        stores=list(Store.objects.all()),
    )
    path = write(tmp_path / "closures.csv", "store_id,start,end,reason\ns1,2024-05-01,2024-05-01,Holiday\n")
    assert run(path).splitlines() == ["closures: 1 rows read, 1 created, 0 already there, 0 refused"]


def test_named_organization(tmp_path, chain):
    other = OrganizationFactory(name="Elsewhere")
    StoreFactory(store_id="theirs", organization=other)
    path = write(tmp_path / "closures.csv", "store_id,start,end,reason\ntheirs,2024-05-01,2024-05-01,Holiday\n")
    assert run(path, "--organization", "Elsewhere").startswith("closures: 1 rows read, 1 created")
    assert Closure.objects.get().organization == other


def test_unknown_organization_is_an_error(tmp_path, chain):
    path = write(tmp_path / "closures.csv", GOOD)
    with pytest.raises(CommandError, match="No organization named 'Nowhere'"):
        run(path, "--organization", "Nowhere")
    assert not Closure.objects.exists()


def test_several_organizations_need_one_named(tmp_path, chain):
    OrganizationFactory(name="Elsewhere")
    path = write(tmp_path / "closures.csv", GOOD)
    with pytest.raises(CommandError, match="--organization"):
        run(path)
    assert not Closure.objects.exists()


def test_no_organization_is_an_error(tmp_path):
    with pytest.raises(CommandError, match="no organization"):
        run(write(tmp_path / "closures.csv", GOOD))


def test_missing_file_and_missing_columns_are_errors(tmp_path, chain):
    with pytest.raises(CommandError, match="No such file"):
        run(tmp_path / "missing.csv")
    with pytest.raises(CommandError, match="must name end, reason"):
        run(write(tmp_path / "closures.csv", "store_id,start\ns1,2024-05-01\n"))


def test_an_unexpected_error_imports_nothing(tmp_path, chain, monkeypatch):
    from stores.management.commands import import_closures

    real_create = import_closures.closure_create
    calls = []

    def create_then_fail(**kwargs):
        calls.append(kwargs)
        if len(calls) == 3:
            raise RuntimeError("disk full")
        return real_create(**kwargs)

    monkeypatch.setattr(import_closures, "closure_create", create_then_fail)
    with pytest.raises(RuntimeError):
        run(write(tmp_path / "closures.csv", GOOD))
    assert not Closure.objects.exists()
