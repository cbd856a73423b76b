from pathlib import Path

from accounts.models import Organization
from django.core.management.base import BaseCommand, CommandError

from common.progress import progress_bar
from stores.loop_import import ImportSummary, import_hours, import_status, import_timezones


class Command(BaseCommand):
    help = (
        "Import the Loop files (any of them): timezones, business hours, and polls (store_status). "
        "Stores missing from the timezone file get America/Chicago; stores only in the status file "
        "are open all week. Polls not newer than a store's latest are skipped, so a second run "
        "changes nothing. Bad rows are reported with their line numbers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--status", type=Path, help="store_status.csv: store_id,status,timestamp_utc")
        parser.add_argument("--hours", type=Path, help="menu_hours.csv: store_id,day|dayOfWeek,start_time_local,end_time_local")
        parser.add_argument("--timezones", type=Path, help="timezones.csv: store_id,timezone_str")
        parser.add_argument(
            "--organization",
            help="the organization the stores the import creates belong to (made if missing; "
            "default: the only organization there is)",
        )

    def handle(
        self, *args, status: Path | None, hours: Path | None, timezones: Path | None, organization: str | None, **options
    ):
        if not (status or hours or timezones):
            raise CommandError("Give at least one of --status, --hours, --timezones.")
        for path in (timezones, hours, status):
            if path is not None and not path.is_file():
                raise CommandError(f"No such file: {path}")
        target = self._organization(organization)
        # Timezones first, then hours, then polls: a store is created once, with
        # its zone, and its polls are placed after its schedule is known.
        if timezones:
            self._report(import_timezones(organization=target, path=timezones))
        if hours:
            self._report(import_hours(organization=target, path=hours))
        if status:
            # The bar counts the rows read (the polls are then applied store group by store group).
            with progress_bar(self.stderr, unit="rows", desc="status", total=self._count_rows(status)) as report:
                summary = import_status(organization=target, path=status, progress=report)
            self._report(summary)

    def _organization(self, name: str | None) -> Organization:
        if name:
            organization, created = Organization.objects.get_or_create(name=name)
            if created:
                self.stdout.write(f"Created the organization {name!r} (add its members with manage.py add_member).")
            return organization
        only = list(Organization.objects.order_by("pk")[:2])
        if len(only) != 1:
            raise CommandError("Give --organization NAME: the organization the imported stores belong to.")
        return only[0]

    @staticmethod
    def _count_rows(path: Path) -> int:
        with open(path, "rb") as handle:
            return max(0, sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1)

    def _report(self, summary: ImportSummary) -> None:
        self.stdout.write(str(summary))
        for line, reason in summary.errors:
            self.stdout.write(f"  line {line}: {reason}")
        if summary.refused > len(summary.errors):
            self.stdout.write(f"  … and {summary.refused - len(summary.errors):,} more refused rows")
