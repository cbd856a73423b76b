import signal
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from reports.services import reports_sweep


class Command(BaseCommand):
    help = (
        "Queue again the report chunks whose worker died (their lease expired), failing the report after "
        "MONITOR_REPORT_CHUNK_MAX_ATTEMPTS attempts, and the planning of reports never planned. Once, or "
        "with --every SECONDS for ever (as healthchecks' sendalerts), beside the task_worker processes. "
        "The workers sweep too, after each chunk and one lease after a report starts: this command is "
        "for when no report task is left to do it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, help="sweep again every this many seconds, until stopped")

    def handle(self, *args, every: float | None, **options):
        if every is not None and every <= 0:
            raise CommandError("--every must be a positive number of seconds.")
        if every is None:
            self._sweep()
            return
        stopping = []
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stopping.append(True))
        while not stopping:
            close_old_connections()  # a long-lived process, like a request loop
            self._sweep()
            deadline = time.monotonic() + every
            while not stopping and time.monotonic() < deadline:
                time.sleep(min(0.5, every))

    def _sweep(self) -> None:
        outcome = reports_sweep()
        if any(outcome) or self.verbosity > 1:
            self.stdout.write(
                f"Chunks queued again: {outcome.requeued}; reports failed: {outcome.failed}; "
                f"reports whose planning was queued again: {outcome.replanned}."
            )
