"""manage.py figures_refresh: every store's figures, and a progress bar of the stores only on a terminal."""
import io
import re

import pytest
from django.core.management import call_command

from reports.models import StoreFigures
from stores.tests.factories import StoreFactory

pytestmark = pytest.mark.django_db


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_command_computes_every_store_and_draws_a_bar_only_on_a_terminal(monkeypatch):
    StoreFactory.create_batch(3)
    # Stores read two at a time: the bar moves by chunks.
    monkeypatch.setattr("reports.figures.READ_BATCH_SIZE", 2)
    out, quiet = io.StringIO(), io.StringIO()
    call_command("figures_refresh", stdout=out, stderr=quiet)
    assert quiet.getvalue() == ""
    assert out.getvalue() == "Computed the dashboard figures of 3 stores.\n"
    assert StoreFigures.objects.count() == 3

    terminal = FakeTerminal()
    call_command("figures_refresh", stdout=io.StringIO(), stderr=terminal)
    bar = terminal.getvalue()
    assert "\r" in bar and "figures: 100%" in bar and "3/3" in bar and "stores/s" in bar
    assert re.search(r"<\d\d:\d\d", bar)  # the time left


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_refreshes_running_at_once_each_leave_one_row_per_store(monkeypatch):
    """The command beside the background task, on their own connections, over
    the same stores in several batches: each batch replaces its stores' rows
    under the refresh row's lock, so neither meets the other's rows."""
    import datetime as dt
    import threading

    from django.db import connection

    from reports import figures

    if connection.vendor != "postgresql":
        pytest.skip(f"needs PostgreSQL (concurrent writers); the database is {connection.vendor}")
    StoreFactory.create_batch(12)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []
    as_of = dt.datetime(2024, 1, 10, tzinfo=dt.timezone.utc)

    def refresh(minutes: int) -> None:
        try:
            barrier.wait(timeout=30)
            figures.figures_refresh(as_of=as_of + dt.timedelta(minutes=minutes))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    monkeypatch.setattr(figures, "READ_BATCH_SIZE", 3)  # four batches each
    threads = [threading.Thread(target=refresh, args=(minutes,)) for minutes in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert StoreFigures.objects.count() == 12
