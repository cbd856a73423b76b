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
