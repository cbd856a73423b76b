"""The store id rule (docs/semantics.md, section 1): 1 to 64 characters from
A-Z a-z 0-9 . _ : ~ -, the first a letter or a digit. One rule
(stores.store_ids.clean_store_id), applied wherever an id enters: the API's
bodies and paths, the admin, the Loop import, the generator, the services;
and a migration that will not run over ids outside it, with a command to
rename them."""
from __future__ import annotations

import csv
import importlib
import io
import string
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from hypothesis import given
from hypothesis import strategies as st

from stores.loop_import import import_hours, import_status, import_timezones
from stores.models import Store
from stores.store_ids import InvalidStoreId, clean_store_id, is_store_id, store_id_suggestion
from stores.services import StoreRenameRefused, store_create, store_register, stores_rename
from stores.tests.factories import OrganizationFactory, StoreFactory, organization_of

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
ALLOWED = string.ascii_letters + string.digits + "._:~-"
# What a spreadsheet reads as the start of a formula (OWASP, "CSV injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


# --------------------------------------------------------------------------
# The rule
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "store_id",
    [
        "8419537941919820732",  # Loop 2023: a 64-bit integer
        "d84a4552-3668-4075-ad1d-16840294f818",  # Loop 2024: a UUID
        "0",
        "a",
        "Z" * 64,
        "demo-chicago-diner",
        "chain:tx.001_b~2",
        "s-",  # punctuation may end an id, only not start it
    ],
)
def test_ids_within_the_rule_are_taken_as_they_are(store_id):
    assert clean_store_id(store_id) == store_id


def test_a_json_integer_is_its_decimal_text():
    assert clean_store_id(8419537941919820732) == "8419537941919820732"
    assert clean_store_id(0) == "0"


@pytest.mark.parametrize(
    ("value", "fault"),
    [
        ("", "it is empty"),
        ("x" * 65, "it has 65 characters"),
        ("x" * 63 + "/", "it contains '/'"),  # 64 characters: the length is right, the slash is not
        ("bob/slash", "it contains '/'"),
        ("=1+1", "it starts with '='"),
        ("+cmd|' /C calc'!A0", "it starts with '+'"),
        ("-2+3", "it starts with '-'"),
        ("@SUM(1)", "it starts with '@'"),
        ("\t=1+1", "it starts with '\\t'"),
        ("\r=1+1", "it starts with '\\r'"),
        (".hidden", "it starts with '.'"),
        ("_x", "it starts with '_'"),
        ("a b", "it contains ' '"),
        ("s1\n", "it contains '\\n'"),
        ("s\x00", "it contains '\\x00'"),
        ("s\ud800", "it contains '\\ud800'"),
        ("café", "it contains 'é'"),
        ("٣", "it starts with '٣'"),  # a digit, but not an ASCII one
        ("a,b", "it contains ','"),
        ('a"b', "it contains '\"'"),
        ("a%2Fb", "it contains '%'"),
        (-5, "it starts with '-'"),
    ],
)
def test_ids_outside_the_rule_are_refused_saying_the_rule_and_the_fault(value, fault):
    with pytest.raises(InvalidStoreId) as refused:
        clean_store_id(value)
    assert str(refused.value) == (
        f"must be 1 to 64 characters from A-Z a-z 0-9 . _ : ~ -, the first a letter or a digit ({fault})"
    )


@pytest.mark.parametrize("value", [None, True, 1.5, ["s1"], {"id": "s1"}])
def test_values_that_are_not_strings_or_integers_are_not_ids_at_all(value):
    with pytest.raises(ValueError, match="must be a string or an integer") as refused:
        clean_store_id(value)
    assert not isinstance(refused.value, InvalidStoreId)


@given(st.text(max_size=70))
def test_every_accepted_id_is_a_safe_csv_cell_and_url_path_segment(text):
    """Whatever text arrives, what the rule lets through cannot start a
    formula, break a CSV row or need quoting, nor leave its URL path segment."""
    try:
        store_id = clean_store_id(text)
    except InvalidStoreId:
        assert not is_store_id(text)
        return
    assert 1 <= len(store_id) <= 64
    assert not store_id.startswith(FORMULA_TRIGGERS)
    assert set(store_id) <= set(ALLOWED)
    line = io.StringIO()
    csv.writer(line).writerow([store_id])
    assert line.getvalue() == f"{store_id}\r\n"  # written as it is: nothing to quote


@given(st.text(alphabet=ALLOWED, min_size=1, max_size=64))
def test_every_id_of_the_allowed_characters_starting_with_a_letter_or_digit_is_accepted(text):
    assert is_store_id(text) == text[0].isalnum()


@pytest.mark.parametrize("name", ["loop-2023", "loop-2024"])
def test_every_id_of_the_public_loop_files_is_within_the_rule(name):
    folder = SHARED_DATA / name
    if not folder.is_dir():
        pytest.skip(f"the public Loop files are not beside the project ({folder})")
    for path in sorted(folder.glob("*.csv")):
        with open(path, newline="", encoding="utf-8-sig") as handle:
            bad = {row["store_id"] for row in csv.DictReader(handle) if not is_store_id(row["store_id"])}
        assert not bad, f"{path.name}: {sorted(bad)[:5]}"


# --------------------------------------------------------------------------
# Suggestions for renaming
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("bob/slash", "bob_slash"),
        ("=1+1", "s_1_1"),
        ("\r=1+1", "s__1_1"),
        ("", "s"),
        ("/", "s_"),
        ("café", "caf_"),
        ("x" * 70, "x" * 64),
    ],
)
def test_a_suggestion_is_within_the_rule(old, new):
    assert store_id_suggestion(old, taken=set()) == new
    assert is_store_id(new)


def test_a_suggestion_is_unlike_every_taken_id():
    assert store_id_suggestion("bob/slash", taken={"bob_slash", "bob_slash~2"}) == "bob_slash~3"
    assert store_id_suggestion("y" * 65, taken={"y" * 64}) == "y" * 62 + "~2"


# --------------------------------------------------------------------------
# Where ids enter
# --------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_services_refuse_ids_outside_the_rule(owner):
    with pytest.raises(InvalidStoreId):
        store_create(organization=organization_of(owner), store_id="bob/slash")
    with pytest.raises(InvalidStoreId):
        store_register(organization=organization_of(owner), store_id="=1+1")
    assert not Store.objects.exists()


@pytest.mark.django_db
def test_a_store_id_with_a_slash_cannot_be_registered_and_the_dashboard_shows_the_rest(api, client, superuser):
    """Finding 1 of issue 9: "bob/slash" was registered, and then the dashboard
    answered 500 to everyone who could see it (no URL for its store page)."""
    response = api.post("/register_store", {"store_id": "bob/slash"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_store_id"
    assert not Store.objects.exists()
    # An id using every character the rule allows is linked like any other.
    edge = "a.B:c~d_e-0"
    assert api.post("/register_store", {"store_id": edge}, format="json").status_code == 201
    client.force_login(superuser)
    page = client.get("/dashboard/")
    assert page.status_code == 200
    assert f'href="/dashboard/stores/{edge}/"' in page.content.decode()
    assert client.get(f"/dashboard/stores/{edge}/").status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/dashboard/stores/bob%2Fslash/", "/dashboard/stores/=1+1/", "/dashboard/stores/a%20b/"])
def test_a_store_page_for_an_id_outside_the_rule_is_404(client, superuser, path):
    client.force_login(superuser)
    assert client.get(path).status_code == 404


@pytest.mark.django_db
def test_the_admin_refuses_an_id_outside_the_rule(client, superuser):
    organization = OrganizationFactory(name="chain")  # a store is added into an organization
    client.force_login(superuser)
    response = client.post(
        "/admin/stores/store/add/",
        {"store_id": "=1+1", "timezone": "UTC", "organization": organization.pk, **EMPTY_INLINE},
    )
    assert response.status_code == 200
    [message] = response.context["adminform"].form.errors["store_id"]
    assert message.startswith("The store id must be 1 to 64 characters from A-Z a-z 0-9 . _ : ~ -")
    assert set(response.context["adminform"].form.errors) == {"store_id"}
    assert not Store.objects.exists()


EMPTY_INLINE = {
    "business_hours-TOTAL_FORMS": "0",
    "business_hours-INITIAL_FORMS": "0",
    "business_hours-MIN_NUM_FORMS": "0",
    "business_hours-MAX_NUM_FORMS": "1000",
}


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.mark.django_db
def test_the_loop_import_refuses_rows_with_ids_outside_the_rule_by_line_and_imports_the_rest(tmp_path, owner):
    timezones = import_timezones(
        organization=organization_of(owner), path=write(tmp_path / "tz.csv", "store_id,timezone_str\n1,Asia/Kolkata\n=1+1,UTC\n")
    )
    hours = import_hours(
        organization=organization_of(owner),
        path=write(
            tmp_path / "hours.csv",
            "store_id,day,start_time_local,end_time_local\n1,0,09:00:00,17:00:00\nbob/slash,0,09:00:00,17:00:00\n",
        ),
    )
    status = import_status(
        organization=organization_of(owner),
        path=write(
            tmp_path / "status.csv",
            "store_id,status,timestamp_utc\n"
            "1,active,2023-01-22 12:09:39 UTC\n"
            '"\r=1+1",active,2023-01-22 12:09:39 UTC\n'
            "@SUM(1),inactive,2023-01-22 12:09:39 UTC\n",
        ),
    )
    rule = "store id must be 1 to 64 characters from A-Z a-z 0-9 . _ : ~ -, the first a letter or a digit"
    assert timezones.errors == [(3, f"{rule} (it starts with '=')")]
    assert hours.errors == [(3, f"{rule} (it contains '/')")]
    # The quoted field spans two physical lines: the row ends on line 4.
    assert status.errors == [(4, f"{rule} (it starts with '\\r')"), (5, f"{rule} (it starts with '@')")]
    assert list(Store.objects.values_list("store_id", flat=True)) == ["1"]


@pytest.mark.django_db
def test_generate_polls_leaves_out_schedule_ids_outside_the_rule_saying_why(tmp_path, capsys):
    schedule = write(tmp_path / "tz.csv", "store_id,timezone_str\n7,UTC\n=cmd,UTC\n8,UTC\n")
    err = io.StringIO()
    call_command("generate_polls", "--schedule", str(schedule), "--days", "1", "--end", "2024-01-08T00:00:00Z", stderr=err)
    assert {row["store_id"] for row in csv.DictReader(io.StringIO(capsys.readouterr().out))} == {"7", "8"}
    assert "line 3: left out: store id must be 1 to 64 characters" in err.getvalue()


# --------------------------------------------------------------------------
# Ids from before the rule: the migration's check and the rename command
# --------------------------------------------------------------------------


@pytest.mark.django_db
def test_stores_rename_renames_all_or_nothing(owner):
    StoreFactory(store_id="keep", owner=owner)
    Store.objects.filter(store_id="keep").update(store_id="bob/slash")  # as registered before the rule
    StoreFactory(store_id="taken", owner=owner)

    with pytest.raises(StoreRenameRefused) as refused:
        stores_rename(renames={"bob/slash": "taken", "nowhere": "x", "also": "=bad"})
    assert "'taken' is the id of another store already" in str(refused.value)
    assert "no store has the id 'nowhere'" in str(refused.value)
    assert "'=bad' (for 'also'): store id must be 1 to 64 characters" in str(refused.value)
    assert Store.objects.filter(store_id="bob/slash").exists()

    StoreFactory(store_id="also", owner=owner)
    with pytest.raises(StoreRenameRefused, match="'same' is given to more than one store"):
        stores_rename(renames={"bob/slash": "same", "also": "same"})

    assert stores_rename(renames={"bob/slash": "bob_slash"}) == 1
    assert set(Store.objects.values_list("store_id", flat=True)) == {"bob_slash", "taken", "also"}


@pytest.mark.django_db(transaction=True)
def test_the_migration_refuses_ids_outside_the_rule_until_they_are_renamed(tmp_path):
    """A database with ids from before the rule: migrating lists them and says
    how to rename them; the command's template, applied, lets it through."""
    migration = importlib.import_module("stores.migrations.0004_store_id_rule")
    before = [("stores", "0003_api_tokens")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        old_apps = executor.loader.project_state(before).apps
        user = old_apps.get_model("auth", "User").objects.create(username="legacy")
        OldStore = old_apps.get_model("stores", "Store")
        for number, store_id in enumerate(["bob/slash", "=1+1", "fine-1"]):
            OldStore.objects.create(store_id=store_id, owner=user, device_key_hash=f"{number:064d}")

        executor = MigrationExecutor(connection)
        with pytest.raises(migration.StoreIdsOutsideTheRule) as refused:
            executor.migrate([("stores", "0004_store_id_rule")])
        assert "2 store id(s) break the store id rule" in str(refused.value)
        assert "'=1+1', 'bob/slash'" in str(refused.value)
        assert "manage.py rename_store_ids" in str(refused.value)

        mapping = tmp_path / "mapping.csv"
        call_command("rename_store_ids", "--template", str(mapping), stdout=io.StringIO())
        assert mapping.read_text().splitlines() == [
            '"old_store_id","new_store_id"',
            '"=1+1","s_1_1"',
            '"bob/slash","bob_slash"',
        ]
        call_command("rename_store_ids", str(mapping), stdout=io.StringIO())

        executor = MigrationExecutor(connection)
        executor.migrate([("stores", "0004_store_id_rule")])
        assert sorted(OldStore.objects.values_list("store_id", flat=True)) == ["bob_slash", "fine-1", "s_1_1"]
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(executor.loader.graph.leaf_nodes())


def test_the_rename_command_needs_a_mapping_or_a_template():
    with pytest.raises(CommandError, match="Give either a MAPPING file"):
        call_command("rename_store_ids")


@pytest.mark.django_db
def test_the_rename_command_refuses_a_mapping_with_a_wrong_header(tmp_path):
    mapping = write(tmp_path / "m.csv", "old,new\nbob/slash,bob\n")
    with pytest.raises(CommandError, match="the header must be old_store_id,new_store_id"):
        call_command("rename_store_ids", str(mapping))
