"""Running the same work in two threads released together, as two monitor_alerts processes would (PostgreSQL tests)."""
from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connection


def twice_at_once(work: Callable[[], object]) -> None:
    """Run `work` in two threads at once, each on its own connection; fail with what either raised."""
    barrier, errors = threading.Barrier(2), []

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            work()
        except BaseException as exc:  # shown below, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
