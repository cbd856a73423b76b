"""Synthetic polls: the Loop format, the pattern asked for, the same output from the same seed."""
import csv
import io
import re

import pytest
from django.core.management import call_command

from core import instants
from stores.models import Store, StatusSpan
from core.instants import parse_utc_timestamp
from stores.poll_generator import PollPattern, generate_polls, store_rng, write_loop_csv
from stores.tests.factories import OrganizationFactory


def test_one_poll_per_interval_inside_it_when_nothing_is_missed():
    start = 1_700_000_000 * instants.SECOND
    pattern = PollPattern(interval_minutes=30, jitter_minutes=5, missed_rate=0, outage_rate=0)
    polls = generate_polls(store_rng(1, "s"), start, 96, pattern)
    assert len(polls) == 96 and all(active for _, active in polls)
    for slot, (at, _) in enumerate(polls):
        assert start + slot * 30 * instants.MINUTE <= at < start + (slot + 1) * 30 * instants.MINUTE


def test_missed_polls_and_outages_at_about_their_rates():
    pattern = PollPattern(missed_rate=0.1, outage_rate=0.05, outage_polls=(2, 2))
    polls = generate_polls(store_rng(7, "s"), 0, 20_000, pattern)
    assert 0.88 < len(polls) / 20_000 < 0.92
    inactive = sum(not active for _, active in polls) / len(polls)
    assert 0.06 < inactive < 0.13  # about 5 % of slots start 2-poll outages


def test_same_seed_same_csv_and_loop_format():
    def csv_text(seed: int) -> str:
        out = io.StringIO()
        write_loop_csv(out, ["1", "2"], start=0, count=48, pattern=PollPattern(), seed=seed)
        return out.getvalue()

    assert csv_text(3) == csv_text(3) != csv_text(4)
    rows = list(csv.DictReader(io.StringIO(csv_text(3))))
    assert {row["store_id"] for row in rows} == {"1", "2"}
    assert all(row["status"] in ("active", "inactive") for row in rows)
    assert all(parse_utc_timestamp(row["timestamp_utc"]) for row in rows)
    assert rows[0]["timestamp_utc"].endswith(" UTC")


@pytest.mark.django_db
def test_command_writes_a_file_for_a_schedule_and_loads_directly(tmp_path):
    # The only organization there is: --load puts the stores it creates in it by default.
    organization = OrganizationFactory(name="chain")
    schedule = tmp_path / "timezones.csv"
    schedule.write_text("store_id,timezone_str\n11,UTC\n12,UTC\n11,UTC\n")
    output = tmp_path / "polls.csv"
    call_command("generate_polls", "--schedule", str(schedule), "--days", "2", "--missed-rate", "0", "--output", str(output))
    rows = list(csv.DictReader(output.open()))
    assert len(rows) == 2 * 48

    call_command("generate_polls", "--stores", "3", "--days", "1", "--load", "--end", "2024-01-08T00:00:00Z")
    assert Store.objects.count() == 3
    assert Store.objects.filter(organization=organization).count() == 3
    assert 0 < sum(StatusSpan.objects.values_list("poll_count", flat=True)) <= 3 * 24


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.django_db
def test_command_draws_a_progress_bar_of_the_stores_only_on_a_terminal(tmp_path):
    output = tmp_path / "polls.csv"
    command = ("generate_polls", "--stores", "3", "--days", "1", "--missed-rate", "0", "--output", str(output))
    quiet = io.StringIO()
    call_command(*command, stderr=quiet)
    assert quiet.getvalue() == f"Wrote 72 polls for 3 stores to {output}.\n"

    terminal = FakeTerminal()
    call_command(*command, stderr=terminal)
    text = terminal.getvalue()
    assert "\r" in text and "generating: 100%" in text and "3/3" in text and "stores/s" in text
    assert re.search(r"<\d\d:\d\d", text)  # the time left
    assert text.endswith(f"Wrote 72 polls for 3 stores to {output}.\n")

    # --load: import_loop's bar, of the rows read, goes to the same stream.
    OrganizationFactory(name="chain")
    terminal = FakeTerminal()
    call_command("generate_polls", "--stores", "2", "--days", "1", "--load", stdout=io.StringIO(), stderr=terminal)
    assert "generating: 100%" in terminal.getvalue() and "status: 100%" in terminal.getvalue()
