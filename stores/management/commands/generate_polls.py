import csv
import datetime as dt
import random
import sys
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from common.progress import progress_bar
from core import instants
from core.instants import parse_utc_timestamp
from stores.store_ids import clean_store_id
from stores.poll_generator import PollPattern, write_loop_csv


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise ValueError("a rate is between 0 and 1")
    return value


class Command(BaseCommand):
    help = (
        "Generate synthetic polls in the Loop format (store_id,status,timestamp_utc) for a number of "
        "stores or for the stores of a schedule file: regular polls with jitter, missed polls and "
        "outages, from a seed. Writes a CSV (--output, or standard output) or loads them (--load)."
    )

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--stores", type=int, help="this many synthetic stores (random 63-bit ids)")
        who.add_argument("--schedule", type=Path, help="the store ids of a Loop timezones.csv or menu_hours.csv")
        parser.add_argument("--days", type=int, default=8)
        parser.add_argument("--end", help="instant the polls end at (default: now)")
        parser.add_argument("--interval-minutes", type=int, default=60)
        parser.add_argument("--jitter-minutes", type=int, default=5)
        parser.add_argument("--missed-rate", type=_rate, default=0.02)
        parser.add_argument("--outage-rate", type=_rate, default=0.01, help="chance at each poll that an outage starts")
        parser.add_argument("--outage-polls", default="1-4", help="length of an outage in polls, MIN-MAX")
        parser.add_argument("--seed", type=int, default=1)
        out = parser.add_mutually_exclusive_group()
        out.add_argument("--output", type=Path, help="CSV file to write (default: standard output)")
        out.add_argument("--load", action="store_true", help="import the polls (as import_loop --status does)")
        parser.add_argument(
            "--organization", help="with --load: the organization of created stores (as import_loop takes it)"
        )

    def handle(self, *args, **options):
        try:
            low, high = (int(part) for part in options["outage_polls"].split("-"))
            pattern = PollPattern(
                interval_minutes=options["interval_minutes"],
                jitter_minutes=options["jitter_minutes"],
                missed_rate=options["missed_rate"],
                outage_rate=options["outage_rate"],
                outage_polls=(low, high),
            )
            end = parse_utc_timestamp(options["end"]) if options["end"] else timezone.now()
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if pattern.interval_minutes <= 0 or options["days"] <= 0 or not 1 <= low <= high:
            raise CommandError("--interval-minutes and --days must be positive, --outage-polls MIN-MAX with 1 <= MIN <= MAX.")
        store_ids = self._store_ids(options["stores"], options["schedule"], options["seed"])
        count = options["days"] * 24 * 60 // pattern.interval_minutes
        start = instants.to_micros(end - dt.timedelta(days=options["days"]))

        def write(out) -> int:
            with progress_bar(self.stderr, unit="stores", desc="generating", total=len(store_ids)) as report:
                return write_loop_csv(
                    out, store_ids, start=start, count=count, pattern=pattern, seed=options["seed"], progress=report
                )

        if options["load"]:
            from django.core.management import call_command

            with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="") as handle:
                written = write(handle)
                handle.flush()
                self.stderr.write(f"Generated {written:,} polls for {len(store_ids):,} stores; loading them.")
                organization = ["--organization", options["organization"]] if options["organization"] else []
                call_command("import_loop", "--status", handle.name, *organization, stdout=self.stdout, stderr=self.stderr)
        elif options["output"]:
            with open(options["output"], "w", newline="") as handle:
                written = write(handle)
            self.stderr.write(f"Wrote {written:,} polls for {len(store_ids):,} stores to {options['output']}.")
        else:
            write(sys.stdout)

    def _store_ids(self, stores: int | None, schedule: Path | None, seed: int) -> list[str]:
        if schedule is not None:
            if not schedule.is_file():
                raise CommandError(f"No such file: {schedule}")
            store_ids: dict[str, None] = {}
            with open(schedule, newline="", encoding="utf-8-sig") as handle:
                reader = csv.DictReader(handle)
                for row in reader:
                    try:
                        store_ids[clean_store_id(row.get("store_id") or "")] = None
                    except ValueError as exc:
                        # As import_loop would refuse its polls: left out, said why.
                        self.stderr.write(f"{schedule}, line {reader.line_num}: left out: store id {exc}")
            return list(store_ids)
        if stores is None or stores <= 0:
            raise CommandError("--stores must be positive.")
        rng = random.Random(seed)
        return [str(rng.getrandbits(63)) for _ in range(stores)]
