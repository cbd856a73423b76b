"""Progress bars for the management commands (tqdm), on their standard error.

Services report progress through plain callbacks, counts done (and, when
they know it, the total), and know nothing of terminals; a command turns the
callbacks into a bar here. The bar is drawn only when the stream is a
terminal (tqdm's disable=None): under cron, in CI or redirected to a file,
nothing is written, and the commands' summaries on standard output stay as
they are.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from django.core.management.base import OutputWrapper
from tqdm import tqdm

# What a command hands a service: report(done) or report(done, total).
Report = Callable[..., None]


def underlying_stream(stream: TextIO | OutputWrapper) -> TextIO:
    """The stream under Django's OutputWrapper (call_command may wrap one in
    another): tqdm's carriage returns must reach it as they are, not each
    ended with the newline OutputWrapper.write adds, nor coloured as errors."""
    while isinstance(stream, OutputWrapper):
        stream = stream._out
    return stream


@contextmanager
def progress_bar(stream: TextIO | OutputWrapper, *, unit: str, desc: str, total: int | None = None) -> Iterator[Report]:
    """A tqdm bar on `stream` while the block runs; yields report(done,
    total=None), a callback for services: `done` is the count so far, `total`
    (when the service knows it) sets the bar's total, hence its time left."""
    bar = tqdm(total=total, unit=unit, desc=desc, file=underlying_stream(stream), disable=None, dynamic_ncols=True)

    def report(done: int, total: int | None = None) -> None:
        if total is not None and total != bar.total:
            bar.total = total
            bar.refresh()
        bar.update(done - bar.n)

    try:
        yield report
        # A count that went past an estimated total (rows counted by lines, say) ends at 100%.
        if bar.total is not None and bar.n > bar.total:
            bar.total = bar.n
    finally:
        bar.close()
