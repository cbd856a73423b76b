"""The benchmark suite in one command: every benchmark, a table of the targets, bench/RESULTS.md.

Usage (from the project folder, with PostgreSQL at 127.0.0.1:5432):

    .venv/bin/python bench/run.py [--only import,report,ingest,dashboard,load,alerts,micro] [--with report-1m]
        [--results FILE]

Each benchmark runs in its own process (so one's memory and caches do not
colour the next) and in its own throwaway `*_bench` database; it hands back
its section and its targets as JSON (--json). This script prints the targets
table and writes RESULTS.md: the machine, the targets, then each section.
A benchmark that fails is listed as failed, and the others still run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NamedTuple

import harness


class Benchmark(NamedTuple):
    name: str
    script: str
    args: tuple[str, ...] = ()
    # Run only when named (--only, --with): too long for every run.
    optional: bool = False


BENCHMARKS = (
    Benchmark("import", "import_bench.py"),
    Benchmark("report", "report_bench.py"),
    # About half an hour, most of it making the data; docs/scaling.md reads it.
    Benchmark("report-1m", "report_bench.py", ("--case", "1m"), optional=True),
    Benchmark("ingest", "ingest_bench.py"),
    # The issue 14 scale: list pages <= 150 ms, the figures' refresh <= 5 s.
    Benchmark("dashboard", "dashboard_bench.py", ("--stores", "100000", "--target-ms", "150")),
    Benchmark("load", "load_test.py"),
    Benchmark("alerts", "alerts_bench.py"),
    # Informational: the figures behind code comments, no targets.
    Benchmark("micro", "micro_bench.py"),
)


def machine_lines() -> list[str]:
    """What the figures were measured on, and which commit."""
    machine = harness.machine(harness.database_url("postgres"))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=harness.PROJECT_DIR
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        cwd=harness.PROJECT_DIR,
    ).stdout
    return [
        f"- CPUs: {machine.cpus} ({machine.cpu_model or 'unknown model'}); memory {machine.memory_gib:.1f} GiB",
        f"- PostgreSQL {machine.postgres}, Python {machine.python}, Django {machine.django}, {machine.platform}",
        f"- commit {commit}{' with uncommitted changes' if dirty.strip() else ''}; {machine.date:%Y-%m-%d %H:%M} UTC",
    ]


def run_benchmark(benchmark: Benchmark, folder: Path) -> tuple[dict[str, Any] | None, float, str]:
    """(its JSON or None when it failed, seconds, the tail of its output)."""
    out = folder / f"{benchmark.name}.json"
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, str(harness.BENCH_DIR / benchmark.script), *benchmark.args, "--json", str(out)],
        cwd=harness.PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seconds = time.perf_counter() - started
    tail = "\n".join(process.stdout.splitlines()[-15:])
    if process.returncode != 0 or not out.exists():
        return None, seconds, tail
    return json.loads(out.read_text(encoding="utf-8")), seconds, tail


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        help="comma-separated benchmarks to run (default all but the optional ones: "
        f"{','.join(b.name for b in BENCHMARKS if not b.optional)})",
    )
    parser.add_argument(
        "--with",
        dest="extra",
        help=f"comma-separated optional benchmarks to add to the default run ({','.join(b.name for b in BENCHMARKS if b.optional)})",
    )
    parser.add_argument(
        "--results",
        type=Path,
        help=f"Markdown file to write (default {harness.RESULTS_FILE}; with --only, none unless given: "
        "a partial run must not replace the whole suite's figures)",
    )
    args = parser.parse_args(argv)
    if args.results is None and not args.only:
        args.results = harness.RESULTS_FILE
    extra = {name.strip() for name in (args.extra or "").split(",") if name.strip()}
    chosen = tuple(b for b in BENCHMARKS if not b.optional or b.name in extra)
    if args.only:
        names = {name.strip() for name in args.only.split(",")}
        chosen = tuple(b for b in BENCHMARKS if b.name in names)
    else:
        names = extra
    unknown = names - {b.name for b in BENCHMARKS}
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")

    header = machine_lines()
    targets: list[dict[str, Any]] = []
    sections: list[str] = []
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-run-") as folder:
        for benchmark in chosen:
            print(f"== {benchmark.name}: bench/{benchmark.script} {' '.join(benchmark.args)}", flush=True)
            result, seconds, tail = run_benchmark(benchmark, Path(folder))
            if result is None:
                print(f"   FAILED after {seconds:.0f} s:\n{tail}", flush=True)
                failures.append(f"- `{benchmark.name}` failed after {seconds:.0f} s:\n\n```\n{tail}\n```\n")
                continue
            print(f"   done in {seconds:.0f} s", flush=True)
            targets.extend(result["targets"])
            sections.append(result["markdown"].rstrip("\n"))

    table = [
        "| target | goal | measured | |",
        "|---|---|---|:---:|",
        *(
            f"| {t['target']} | {t['goal']} | {t['measured']} | {'met' if t['met'] else '**missed**'} |"
            for t in targets
        ),
    ]
    print()
    print("\n".join(table))
    text = "\n".join(
        [
            "# Benchmark results",
            "",
            "Written by `.venv/bin/python bench/run.py` (the whole suite; `--only` for some). Machine:",
            "",
            *header,
            "",
            "## Targets",
            "",
            *table,
            "",
            *(["## Failed benchmarks", "", *failures, ""] if failures else []),
            "\n\n".join(sections),
            "",
        ]
    )
    if args.results is not None:
        args.results.write_text(text, encoding="utf-8")
        print(f"\nwritten to {args.results}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
