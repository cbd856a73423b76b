import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from alerts.notifications import notifications_requeue_overdue
from alerts.services import alerts_evaluate


class Command(BaseCommand):
    help = (
        "Open and resolve incidents: every store that should be open and is not, after the grace period "
        "(docs/semantics.md, section 8). One pass with --once; otherwise a pass every --every seconds until stopped. "
        "Several copies may run at once: an incident is never opened twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument(
            "--every", type=int, default=None, help="seconds between passes (default MONITOR_ALERT_EVERY_SECONDS, 30)"
        )

    def handle(self, *args, once: bool, every: int | None, **options):
        every = every or settings.MONITOR_ALERT_EVERY_SECONDS
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        while True:
            started = time.monotonic()
            summary = alerts_evaluate()
            # Notifications whose delivery task was lost are queued again (each is still sent once).
            notifications_requeue_overdue()
            if once or summary.opened or summary.resolved or summary.flapping:
                self.stdout.write(
                    f"alerts: {summary.candidates} stores could be in trouble; {summary.opened} incidents opened, "
                    f"{summary.resolved} resolved, {summary.flapping} flapping"
                )
            if once or stopping:
                return
            # Sleep in short steps, so that a stop request ends the loop promptly.
            while not stopping and time.monotonic() - started < every:
                time.sleep(0.2)
            if stopping:
                return
