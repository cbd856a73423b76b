from django.core.management.base import BaseCommand

from common.progress import progress_bar
from reports.figures import figures_refresh


class Command(BaseCommand):
    help = (
        "Recompute every store's dashboard figures now, as the background refresh does "
        "(which skips figures that are still fresh; this does not)."
    )

    def handle(self, *args, **options):
        with progress_bar(self.stderr, unit="stores", desc="figures") as report:
            stores = figures_refresh(progress=report)
        self.stdout.write(f"Computed the dashboard figures of {stores:,} stores.")
