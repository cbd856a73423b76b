"""manage.py figures_refresh: every store's figures, and a progress bar of the stores only on a terminal."""
import datetime as dt
import io
import re
from types import SimpleNamespace

import pytest
from django.core.management import call_command

from reports.figures import FIGURES_FIELDS
from reports.models import FiguresRefresh, StoreFigures
from stores.models import Store
from stores.services import PollInput, polls_record
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


def _figures_by_store() -> dict[int, tuple]:
    return {row[0]: row[1:] for row in StoreFigures.objects.order_by("store_id").values_list("store_id", *FIGURES_FIELDS)}


def test_the_background_refresh_queues_a_batch_task_per_batch_with_the_same_figures_as_the_command(monkeypatch, owner):
    from django.utils import timezone

    from reports import figures

    stores = [StoreFactory(owner=owner, store_id=f"b-{n}") for n in range(5)]
    now = timezone.now()
    for number, store in enumerate(stores):  # each down for a different share of the last hours
        polls_record(polls=[PollInput(store.store_id, now - dt.timedelta(hours=3), "inactive"),
                            PollInput(store.store_id, now - dt.timedelta(minutes=30 * number), "active")],
                     stores=Store.objects.filter(pk=store.pk))
    monkeypatch.setattr("reports.figures.READ_BATCH_SIZE", 2)
    batches: list[dict] = []
    batch_task = figures.figures_batch_task
    monkeypatch.setattr(
        figures, "figures_batch_task", SimpleNamespace(enqueue=lambda **kwargs: (batches.append(kwargs), batch_task.call(**kwargs)))
    )
    assert figures.figures_refresh_task.call(force=True) == 5
    pks = [store.pk for store in stores]
    assert [(batch["first_pk"], batch["last_pk"]) for batch in batches] == [(pks[0], pks[1]), (pks[2], pks[3]), (pks[4], pks[4])]
    as_of = dt.datetime.fromisoformat(batches[0]["as_of"])
    in_batches = _figures_by_store()
    assert set(StoreFigures.objects.values_list("as_of", flat=True)) == {as_of}
    figures.figures_refresh(as_of=as_of)  # the command's way, in one process
    assert _figures_by_store() == in_batches
    assert any(row[3] for row in in_batches.values())  # some downtime: the figures are not all zero


def test_the_last_batch_done_ends_the_queued_refresh(owner):
    from django.utils import timezone

    from reports import figures

    first, second = StoreFactory(owner=owner, store_id="e-1"), StoreFactory(owner=owner, store_id="e-2")
    now = timezone.now()
    figures.figures_refresh_queue(now=now, force=True)
    FiguresRefresh.objects.update(batches_left=2)
    figures.figures_batch_task.call(as_of=now.isoformat(), first_pk=second.pk, last_pk=second.pk)
    refresh = FiguresRefresh.objects.get()
    assert (refresh.batches_left, refresh.queued_at, refresh.forced) == (1, now, True)
    figures.figures_batch_task.call(as_of=now.isoformat(), first_pk=first.pk, last_pk=first.pk)
    refresh = FiguresRefresh.objects.get()
    assert (refresh.batches_left, refresh.queued_at, refresh.forced) == (0, None, False)
    assert StoreFigures.objects.count() == 2
