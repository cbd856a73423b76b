"""Pausing Python's cyclic garbage collector around a batch computation."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Within it, the cyclic collector does not run; reference counting
    still frees every object that is not in a cycle, which is all a report
    chunk or a dashboard figures batch allocates: many short-lived tuples and
    lists, which the collector otherwise walks again and again while they
    live (docs/scaling.md has its share of a chunk's CPU time). Enabled
    again afterwards, unless it was off before: the next collection finds
    any cycle made meanwhile. Nested uses leave it to the outermost. A
    decorator too: `@cyclic_gc_paused()` pauses it for each call."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
