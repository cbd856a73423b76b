"""Benchmark of the Loop bulk import: the real schedules plus ~2.6 million generated polls.

Usage (from the project folder):

    .venv/bin/python bench/import_bench.py [--days 8] [--seed 1]
        [--database-url URL] [--data-dir ../shared/data/loop-2023] [--json PATH] [--keep]

What it does, and why each step is there:

1. It drops and creates its own database (PostgreSQL by default), so figures
   never depend on, and never touch, a developer's data.
2. It writes hourly polls (±5 min jitter, 2 % missed, outages of 1 to 4
   polls at 1 % a poll: `manage.py generate_polls`' defaults) for --days days
   for every store of the Loop timezones file to a temporary CSV: the file
   an organization would bring. Writing it is not timed.
3. It runs `manage.py import_loop --organization bench-organization` (made
   by the first run) as a user would, each file set in a new
   process, timing it and reading the process's peak RSS from the kernel
   (wait4): the timezones and hours files, then the polls, then the polls
   again (which must skip every one and change nothing).
4. It counts the spans and the polls they stand for, which must be the
   polls imported.
5. It prints a Markdown section (or writes it with the targets to --json for
   bench/run.py).

The Loop files are read in place, never copied into the project.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import harness

DEFAULT_DATABASE_URL = harness.database_url("store_monitor_import_bench")
# The day after the last poll of the original Loop status data: fixed, so two
# runs with one seed import the same rows.
END = "2023-01-26 00:00:00 UTC"
# The organization the imported stores belong to (import_loop makes it).
ORGANIZATION = "bench-organization"
TARGET_POLLS_PER_SECOND = 50_000
TARGET_PEAK_MIB = 500
TARGET_POLLS_PER_SPAN = 10


class CommandRun(NamedTuple):
    seconds: float
    peak_rss_mib: float
    output: str


def run_command(*args: str) -> CommandRun:
    """A manage.py command in a new process (the environment set up by
    bench_database), its wall time and the peak RSS the kernel counted."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, str(harness.PROJECT_DIR / "manage.py"), *args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=harness.PROJECT_DIR,
    )
    output = process.stdout.read() if process.stdout else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed ({process.returncode}):\n{output}")
    return CommandRun(seconds, usage.ru_maxrss / 1024, output)  # ru_maxrss is in KiB on Linux


def summary_numbers(output: str, name: str) -> dict[str, int]:
    """The figures of import_loop's summary line for one file ("status: 12 rows read, ...")."""
    line = next(line for line in output.splitlines() if line.startswith(f"{name}:"))
    return {
        label.replace(" ", "_"): int(number.replace(",", ""))
        for number, label in re.findall(r"([\d,]+) (rows read|stores created|polls recorded|skipped|refused)", line)
    }


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    from django.core.management import call_command
    from django.db.models import Count, Sum

    from stores.models import BusinessHours, StatusSpan, Store

    timezones, hours = args.data_dir / "timezones.csv", args.data_dir / "menu_hours.csv"
    for path in (timezones, hours):
        if not path.is_file():
            raise SystemExit(f"missing {path}: the benchmark imports the public Loop 2023 files")

    with tempfile.TemporaryDirectory(prefix="import-bench-") as folder:
        polls_csv = Path(folder) / "store_status.csv"
        with harness.step("generate polls"):
            call_command(
                "generate_polls", "--schedule", str(timezones), "--days", str(args.days), "--end", END,
                "--seed", str(args.seed), "--output", str(polls_csv),
            )  # fmt: skip
        with harness.step("import timezones and hours"):
            schedules = run_command(
                "import_loop", "--timezones", str(timezones), "--hours", str(hours), "--organization", ORGANIZATION
            )
        with harness.step("import polls"):
            first = run_command("import_loop", "--status", str(polls_csv), "--organization", ORGANIZATION)
        with harness.step("import the same polls again"):
            again = run_command("import_loop", "--status", str(polls_csv), "--organization", ORGANIZATION)

    status, status_again = summary_numbers(first.output, "status"), summary_numbers(again.output, "status")
    spans = StatusSpan.objects.aggregate(rows=Count("pk"), polls=Sum("poll_count"))
    polls = status["polls_recorded"]
    # Sanity checks: a wrong figure must not go unnoticed.
    if status["refused"] or status_again["polls_recorded"] or status_again["skipped"] != status["rows_read"]:
        raise SystemExit(f"unexpected import summaries:\n{first.output}\n{again.output}")
    if spans["polls"] != polls:
        raise SystemExit(f"spans stand for {spans['polls']:,} polls, {polls:,} were recorded")

    schedule_rows = sum(summary_numbers(schedules.output, name)["rows_read"] for name in ("timezones", "hours"))
    polls_per_second = polls / first.seconds
    peak = max(schedules.peak_rss_mib, first.peak_rss_mib, again.peak_rss_mib)
    polls_per_span = polls / spans["rows"]
    rows = [
        ("timezones + menu hours", f"{schedule_rows:,} rows", schedules),
        ("polls (first import)", f"{polls:,} polls", first),
        ("polls again (all skipped)", f"{status_again['skipped']:,} polls", again),
    ]
    lines = [
        "## Bulk import, Loop 2023 schedules and generated polls",
        "",
        f"`bench/import_bench.py`: `manage.py import_loop` in a new process per step on PostgreSQL; "
        f"{Store.objects.count():,} stores and {BusinessHours.objects.count():,} business-hours rows from the "
        f"public Loop 2023 files; {polls:,} polls generated for the timezone file's stores ({args.days} days "
        f"to {END}, hourly ±5 min, 2 % missed, outages of 1–4 polls at 1 %, seed {args.seed}) in one "
        "CSV, store after store.",
        "",
        "| step | input | seconds | rows/s | peak RSS MiB |",
        "|---|---:|---:|---:|---:|",
        *(
            f"| {label} | {size} | {run.seconds:.1f} | {int(size.split()[0].replace(',', '')) / run.seconds:,.0f} "
            f"| {run.peak_rss_mib:.0f} |"
            for label, size, run in rows
        ),
        "",
        f"Storage: {spans['rows']:,} span rows stand for {polls:,} polls, {polls_per_span:.1f} polls a row.",
        "",
    ]
    return {
        "title": "Bulk import",
        "markdown": "\n".join(lines),
        "targets": [
            {
                "target": "Import of the Loop-scale set",
                "goal": f"≥ {TARGET_POLLS_PER_SECOND:,} polls/s, peak < {TARGET_PEAK_MIB} MB",
                "measured": f"{polls_per_second:,.0f} polls/s ({polls:,} in {first.seconds:.1f} s), peak {peak:.0f} MiB",
                "met": polls_per_second >= TARGET_POLLS_PER_SECOND and peak < TARGET_PEAK_MIB,
            },
            {
                "target": "Spans versus polls",
                "goal": f"≤ 1 row per {TARGET_POLLS_PER_SPAN} polls",
                "measured": f"1 row per {polls_per_span:.1f} polls ({spans['rows']:,} rows)",
                "met": polls_per_span >= TARGET_POLLS_PER_SPAN,
            },
        ],
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=harness.positive_int, default=8, help="days of polls (default 8)")
    harness.add_data_dir_option(parser)
    harness.add_common_options(
        parser, default_database_url=DEFAULT_DATABASE_URL, seed_help="seed of the generated polls"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    database = harness.BenchDatabase.from_url(args.database_url)
    with harness.bench_database(database, keep=args.keep, media_prefix="import-bench-media-"):
        result = benchmark(args)
    if args.json:
        harness.json_write(args.json, title=result["title"], markdown=result["markdown"], targets=result["targets"])
    print(result["markdown"])
    for line in harness.target_lines(result["targets"]):
        print(line)


if __name__ == "__main__":
    main()
