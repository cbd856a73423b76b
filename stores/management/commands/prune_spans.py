import datetime as dt

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from common.progress import progress_bar
from stores.services import spans_prune


class Command(BaseCommand):
    help = "Delete status spans whose last poll is older than the retention (MONITOR_SPAN_RETENTION_DAYS, default 90)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=settings.MONITOR_SPAN_RETENTION_DAYS)

    def handle(self, *args, days: int, **options):
        # Reports look back 7 days, and need the span before that: keep more.
        if days < 8:
            raise CommandError("--days must be at least 8, or the weekly report would lose data.")
        cutoff = timezone.now() - dt.timedelta(days=days)
        with progress_bar(self.stderr, unit="batches", desc="pruning") as report:
            deleted = spans_prune(older_than=cutoff, progress=report)
        self.stdout.write(f"Deleted {deleted} spans with a last poll before {cutoff:%Y-%m-%d %H:%M} UTC.")
