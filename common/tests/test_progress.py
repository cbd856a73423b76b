"""The commands' progress bars: drawn only on a terminal, straight onto the stream under Django's wrappers."""
import io

from django.core.management.base import OutputWrapper

from common.progress import progress_bar


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_nothing_is_drawn_when_the_stream_is_not_a_terminal():
    stream = io.StringIO()
    with progress_bar(OutputWrapper(stream), unit="rows", desc="status", total=3) as report:
        report(3)
    assert stream.getvalue() == ""


def test_the_bar_reaches_the_terminal_under_nested_wrappers_without_added_newlines():
    terminal = FakeTerminal()
    with progress_bar(OutputWrapper(OutputWrapper(terminal)), unit="stores", desc="figures") as report:
        report(0, 4)
        report(4, 4)
    text = terminal.getvalue()
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, redrawn in place
    assert "figures: 100%" in text and "4/4" in text


def test_a_count_past_an_estimated_total_ends_at_100_percent():
    terminal = FakeTerminal()
    with progress_bar(terminal, unit="rows", desc="status", total=2) as report:
        report(3)
    assert "100%" in terminal.getvalue().rsplit("\r", 1)[-1] and "3/3" in terminal.getvalue()
