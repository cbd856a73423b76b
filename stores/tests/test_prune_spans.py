"""manage.py prune_spans: the summary, and a progress bar of the batches only on a terminal."""
import datetime as dt
import io
import re

import pytest
from django.core.management import call_command
from django.utils import timezone

from stores.models import StatusSpan, Store
from stores.services import spans_prune
from stores.tests.factories import StatusSpanFactory, StoreFactory

pytestmark = pytest.mark.django_db


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def spans_aged(days_ago: list[int]) -> tuple[Store, list[StatusSpan]]:
    """A store with one span ending `days` ago for each, the last its latest."""
    now = timezone.now()
    store = StoreFactory()
    spans = [StatusSpanFactory(store=store, first_poll_at=now - dt.timedelta(days=days)) for days in days_ago]
    Store.objects.filter(pk=store.pk).update(last_poll_at=spans[-1].last_poll_at)
    return store, spans


def test_pruning_in_batches_deletes_what_one_statement_does(monkeypatch):
    # Two old spans, an old latest one (kept), a recent one; with ids in batches of 2.
    _, spans = spans_aged([300, 200, 100])
    _, recent = spans_aged([1])
    monkeypatch.setattr("stores.services.PRUNE_BATCH", 2)
    reported = []
    assert spans_prune(older_than=timezone.now() - dt.timedelta(days=90), progress=lambda *args: reported.append(args)) == 2
    assert set(StatusSpan.objects.values_list("pk", flat=True)) == {spans[-1].pk, recent[0].pk}
    assert reported == [(0, 2), (1, 2), (2, 2)]


def test_command_draws_a_progress_bar_of_the_batches_only_on_a_terminal(monkeypatch):
    spans_aged([300, 200, 100, 1])
    monkeypatch.setattr("stores.services.PRUNE_BATCH", 2)
    out, quiet = io.StringIO(), io.StringIO()
    call_command("prune_spans", stdout=out, stderr=quiet)
    assert quiet.getvalue() == ""
    assert re.fullmatch(r"Deleted 3 spans with a last poll before \d{4}-\d\d-\d\d \d\d:\d\d UTC\.\n", out.getvalue())

    spans_aged([300, 200, 100, 1])
    terminal = FakeTerminal()
    call_command("prune_spans", stdout=out, stderr=terminal)
    bar = terminal.getvalue()
    assert "\r" in bar and "pruning: 100%" in bar and "batches/s" in bar
    assert re.search(r"<\d\d:\d\d", bar)  # the time left
    assert out.getvalue().count("Deleted 3 spans") == 2
