"""The benchmarks' shared plumbing: the project on sys.path, the options every
benchmark takes, its throwaway database with Django set up on it, progress
lines and results, what the machine is and how busy it was, and the
processes a benchmark starts (`manage.py task_worker` workers, gunicorn).

Every script in bench/ imports this module before any of the project's
(run as `python bench/<script>.py`, sys.path[0] is bench/, so `import
harness` finds it; it then puts the project folder on sys.path). No
benchmark imports another: what two of them share is here, or, for the data
they load, in bench/dataset.py.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import math
import os
import platform
import resource
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypedDict

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

BENCH_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BENCH_DIR.parent
# The project's apps and settings must be importable from the benchmarks
# (and from the processes they spawn, which inherit sys.path).
if str(PROJECT_DIR) not in sys.path:
    sys.path.insert(0, str(PROJECT_DIR))

# The suite's figures, as bench/run.py writes them.
RESULTS_FILE = BENCH_DIR / "RESULTS.md"
# The public Loop 2023 files sit beside the project, in ../shared/data/ (never committed).
DATA_DIR = PROJECT_DIR.parent / "shared" / "data" / "loop-2023"
# The local PostgreSQL server every benchmark's default database is on.
POSTGRES_SERVER = "postgres://postgres@127.0.0.1:5432"


def database_url(name: str) -> str:
    """The URL of a database of the local PostgreSQL server."""
    return f"{POSTGRES_SERVER}/{name}"


# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------


def positive_int(text: str) -> int:
    """An option's value: an integer above 0."""
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def positive_float(text: str) -> float:
    """An option's value: a number above 0."""
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def add_common_options(
    parser: argparse.ArgumentParser,
    *,
    default_database_url: str,
    seed_help: str,
    keep_help: str = "keep the database afterwards",
) -> None:
    """--database-url, --seed, --keep and --json: the options every benchmark takes."""
    parser.add_argument(
        "--database-url",
        default=default_database_url,
        help=f"database to drop, create and use; its name must contain 'bench' (default {default_database_url})",
    )
    parser.add_argument("--seed", type=int, default=1, help=f"{seed_help} (default 1)")
    parser.add_argument("--keep", action="store_true", help=keep_help)
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="write the section and the targets here as JSON (for bench/run.py)",
    )


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    """--data-dir: where the Loop files are read from."""
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="folder of the Loop CSV files")


# --------------------------------------------------------------------------
# The benchmark's database
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class BenchDatabase:
    """A benchmark's own database: dropped and created without asking, so
    that figures never depend on, and never touch, a developer's data."""

    url: str
    config: dict[str, Any]  # Django's DATABASES entry for the URL

    @classmethod
    def from_url(cls, url: str) -> BenchDatabase:
        """The database of a URL, as settings.py will read it; SystemExit for
        a name without "bench" or an engine other than PostgreSQL or SQLite."""
        import environ  # django-environ: the parser settings.py uses, so both read the URL alike

        config: dict[str, Any] = environ.Env.db_url_config(url)
        name = str(config.get("NAME") or "")
        # A mistyped URL must not destroy real data: only a name that says
        # it is a benchmark's is dropped.
        if "bench" not in Path(name).name:
            raise SystemExit(f"refusing to drop and recreate {name!r}: the database name must contain 'bench'")
        if config["ENGINE"] not in {"django.db.backends.postgresql", "django.db.backends.sqlite3"}:
            raise SystemExit(f"unsupported database engine {config['ENGINE']}: use PostgreSQL or SQLite")
        return cls(url, config)

    @property
    def name(self) -> str:
        return str(self.config["NAME"])

    @property
    def is_postgresql(self) -> bool:
        return self.config["ENGINE"] == "django.db.backends.postgresql"

    def server_conninfo(self) -> str:
        """libpq connection string to the server's `postgres` database:
        CREATE and DROP DATABASE cannot run inside the database itself."""
        params = {key.lower(): self.config.get(key) for key in ("HOST", "PORT", "USER", "PASSWORD")}
        return make_conninfo(dbname="postgres", **{key: str(value) for key, value in params.items() if value})

    def server_connection(self) -> psycopg.Connection[Any]:
        """An autocommit connection to the server (not a transaction: CREATE
        and DROP DATABASE cannot run in one)."""
        return psycopg.connect(self.server_conninfo(), autocommit=True)

    def recreate(self) -> None:
        """Drop the database if it exists, and create it empty."""
        self.drop()
        if self.is_postgresql:
            with self.server_connection() as conn:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(self.name)))

    def drop(self) -> None:
        """Drop the database (SQLite: delete its files), if it exists."""
        if not self.is_postgresql:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.name}{suffix}").unlink(missing_ok=True)
            return
        with self.server_connection() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(self.name)))


def setup_django(database_url: str, media_root: str) -> None:
    """Settings for measuring, Django set up on the database, and its migrations applied."""
    # Settings read the environment once, at import: everything is set before
    # django.setup(). Assignments, not setdefault: the benchmark's database
    # must win over a DATABASE_URL exported in the shell.
    os.environ["DJANGO_SETTINGS_MODULE"] = "monitor_project.settings"
    os.environ["DATABASE_URL"] = database_url
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(32)
    os.environ["TASK_BACKEND"] = "immediate"
    # Production conditions: DEBUG would also record every query in memory.
    os.environ["DEBUG"] = "false"
    # Report CSVs go to a throwaway folder, not the project's media/.
    os.environ["MEDIA_ROOT"] = media_root
    # A developer's .env (DEBUG, stale period...) must not change the figures;
    # an explicit ENV_FILE, or MONITOR_* variables in the environment, still apply.
    os.environ.setdefault("ENV_FILE", os.devnull)
    # Not a line per task from django_tasks; warnings and errors still show.
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    # The benchmarks speak plain HTTP (the test client, gunicorn on
    # 127.0.0.1): no redirect to HTTPS, which DEBUG off turns on.
    os.environ["SECURE_SSL_REDIRECT"] = "false"
    # No static files are collected: pages name them without the manifest,
    # and WhiteNoise finds an empty STATIC_ROOT (none would be warned about).
    os.environ["STATIC_MANIFEST"] = "false"
    static_root = Path(media_root) / "static"
    static_root.mkdir(exist_ok=True)
    os.environ["STATIC_ROOT"] = str(static_root)
    # The ingestion benchmark posts ~7 polls a second with each device key
    # (450/s over 64 stores), far over a real device's rate: no API rate
    # limits, unless the environment sets them.
    os.environ.setdefault("MONITOR_THROTTLE_DEVICE", "none")
    os.environ.setdefault("MONITOR_THROTTLE_OWNER", "none")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)


@contextlib.contextmanager
def bench_database(database: BenchDatabase, *, keep: bool, media_prefix: str) -> Iterator[None]:
    """A fresh, migrated database with Django set up on it and report files in a
    temporary folder; dropped afterwards unless `keep`."""
    with step("create database"):
        database.recreate()
    media = tempfile.TemporaryDirectory(prefix=media_prefix)
    try:
        with step("migrate"):
            setup_django(database.url, media.name)
        yield
    finally:
        if "django" in sys.modules:
            from django.db import connections

            connections.close_all()
        if not keep:
            database.drop()
        media.cleanup()


def database_version() -> str:
    """The database Django is connected to, as "postgresql 15.20"."""
    from django.db import connection

    return f"{connection.vendor} {'.'.join(map(str, connection.get_database_version()))}"


# --------------------------------------------------------------------------
# Progress and results
# --------------------------------------------------------------------------


@contextlib.contextmanager
def step(label: str) -> Iterator[None]:
    """Print what is being done, then how long it took."""
    print(f"{label}...", end=" ", flush=True)
    started = time.perf_counter()
    yield
    print(f"{time.perf_counter() - started:.1f} s", flush=True)


class Target(TypedDict):
    """One row of the targets table of bench/RESULTS.md."""

    target: str
    goal: str
    measured: str
    met: bool


def json_write(path: Path, *, title: str, markdown: str, targets: Sequence[Target]) -> None:
    """A benchmark's section and targets, as bench/run.py reads them."""
    payload = {"title": title, "markdown": markdown, "targets": list(targets)}
    path.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def target_lines(targets: Sequence[Target]) -> list[str]:
    """Each target on a line of its own, for the terminal."""
    return [
        f"{target['target']}: {target['measured']} (goal {target['goal']}): {'met' if target['met'] else 'MISSED'}"
        for target in targets
    ]


def targets_table(targets: Sequence[Target]) -> str:
    """The targets as a Markdown table, for the terminal."""
    lines = ["| target | goal | measured | met |", "|---|---|---|:---:|"]
    lines.extend(f"| {t['target']} | {t['goal']} | {t['measured']} | {'yes' if t['met'] else 'no'} |" for t in targets)
    return "\n".join(lines)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


# --------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------


class Machine(NamedTuple):
    """What the figures were measured on."""

    cpus: int  # what nproc prints
    cpu_model: str  # empty when unknown
    memory_gib: float
    postgres: str  # the server's version, as SHOW server_version gives it
    python: str
    django: str
    platform: str
    date: dt.datetime  # UTC


def cpu_count() -> int:
    """The CPUs this process may run on: what nproc prints."""
    return len(os.sched_getaffinity(0))


def machine(postgres_conninfo: str) -> Machine:
    """The machine, and the version of the PostgreSQL server at `postgres_conninfo`."""
    import django

    cpu_model = ""
    memory_kib = 0
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as file:
            cpu_model = next((line.split(":", 1)[1].strip() for line in file if line.startswith("model name")), "")
    with contextlib.suppress(OSError):
        with open("/proc/meminfo") as file:
            memory_kib = next((int(line.split()[1]) for line in file if line.startswith("MemTotal:")), 0)
    with psycopg.connect(postgres_conninfo) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return Machine(
        cpus=cpu_count(),
        cpu_model=cpu_model,
        memory_gib=memory_kib / 1024 / 1024,
        postgres=str(row[0]) if row else "unknown",
        python=platform.python_version(),
        django=django.get_version(),
        platform=platform.platform(),
        date=dt.datetime.now(dt.timezone.utc),
    )


def peak_rss(pid: int | str = "self") -> int | None:
    """Peak resident set size (VmHWM) of a process, this one by default, in
    bytes; None when unreadable (not Linux, or the process is gone).

    VmHWM, not ru_maxrss: a spawned child is forked from its parent and then
    execs, and its ru_maxrss starts at the parent's peak.
    """
    try:
        with open(f"/proc/{pid}/status") as file:
            for line in file:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (comm) "
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def child_pids(parent: int) -> list[int]:
    try:
        return [int(pid) for pid in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()]
    except OSError:
        return []


def machine_cpu_seconds() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    user, nice, system, idle, iowait, irq, softirq, steal = (
        int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    busy = user + nice + system + irq + softirq  # guest time is inside user already
    return busy / CLOCK_TICKS, (busy + idle + iowait + steal) / CLOCK_TICKS


def self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def postgres_pids() -> list[int]:
    """Every PostgreSQL process of the machine (its backends are named "postgres" too)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                pass  # exited meanwhile
    return pids


class CpuSample(NamedTuple):
    """CPU seconds used so far: by this process, a server and its workers,
    PostgreSQL, and the whole machine."""

    at: float
    client: float
    server: dict[int, float]
    database: dict[int, float]
    machine_busy: float
    machine_total: float

    @classmethod
    def take(cls, server: int) -> CpuSample:
        busy, total = machine_cpu_seconds()
        return cls(
            time.perf_counter(),
            self_cpu_seconds(),
            {pid: process_cpu_seconds(pid) for pid in [server, *child_pids(server)]},
            {pid: process_cpu_seconds(pid) for pid in postgres_pids()},
            busy,
            total,
        )


class CpuUse(NamedTuple):
    """Cores used on average over a window (1.0 = one core busy all the time).
    `other` is the rest of the machine's busy time: other programs, the
    kernel's work outside these processes, and processes that ended inside
    the window (PostgreSQL backends, with CONN_MAX_AGE 0)."""

    client: float
    server: float
    database: float
    other: float
    machine: float
    cpus: int


def cpu_use(before: CpuSample, after: CpuSample) -> CpuUse:
    seconds = after.at - before.at

    def grown(start: dict[int, float], end: dict[int, float]) -> float:
        return sum(end[pid] - start.get(pid, 0.0) for pid in end) / seconds

    client = (after.client - before.client) / seconds
    server, database = grown(before.server, after.server), grown(before.database, after.database)
    cpus = cpu_count()
    machine = (after.machine_busy - before.machine_busy) / (after.machine_total - before.machine_total) * cpus
    return CpuUse(client, server, database, max(0.0, machine - client - server - database), machine, cpus)


# --------------------------------------------------------------------------
# Processes: task workers and the web server
# --------------------------------------------------------------------------


def stop_processes(processes: Sequence[subprocess.Popen[bytes]]) -> None:
    """Stop processes gracefully (TERM: a worker finishes its request or
    task), all at once; kill those not stopped within 30 s.

    One TERM each: a second one makes a task_worker abandon its task."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# The task backend of the workers, for the benchmark's own process to queue to.
DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
WORKER_APPLICATION_NAME = "bench-db-worker"


def worker_database_url(url: str) -> str:
    """The database URL with the workers' application_name, by which
    wait_until_connected finds them in pg_stat_activity."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme.startswith("postgres"):
        return url
    query = [*urllib.parse.parse_qsl(parts.query), ("application_name", WORKER_APPLICATION_NAME)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def wait_until_connected(processes: Sequence[subprocess.Popen[bytes]], timeout: float = 60) -> None:
    """Until every worker has set Django up, listens for queued tasks and has
    looked at the queue: its two connections show in pg_stat_activity, one
    of them listening. (SQLite: a fixed pause.)"""
    from django.db import connection

    from common.task_wakeups import CHANNEL

    if connection.vendor != "postgresql":
        time.sleep(3)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise SystemExit(f"worker {process.pid} exited with {process.returncode} while starting")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE query = %s), count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = %s",
                [f"LISTEN {CHANNEL}", WORKER_APPLICATION_NAME],
            )
            listening, connected = cursor.fetchone()
            if listening >= len(processes) and connected >= 2 * len(processes):
                return
        time.sleep(0.05)
    raise SystemExit(f"workers not connected after {timeout} s")


@contextlib.contextmanager
def task_workers(count: int, *, interval: float, log_dir: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`count` `manage.py task_worker` processes on the benchmark's database (the
    environment setup_django left), started and idle; stopped afterwards.
    `interval`: the longest an idle worker waits before it looks at the queue
    again (on PostgreSQL it is woken as each task is queued).
    Each writes its output to worker-<n>.log in `log_dir`."""
    env = {
        **os.environ,
        "TASK_BACKEND": "database",
        "DATABASE_URL": worker_database_url(os.environ["DATABASE_URL"]),
        # Keep the connection: with 0 (Django's default) a worker reconnects
        # (a new PostgreSQL server process) at every look at the queue and after every task.
        "CONN_MAX_AGE": "600",
    }
    command = [
        sys.executable,
        str(PROJECT_DIR / "manage.py"),
        "task_worker",
        "--interval",
        str(interval),
        "--no-startup-delay",
        "--verbosity",
        "0",
    ]
    logs = [open(log_dir / f"worker-{index}.log", "wb") for index in range(count)]
    processes = [
        subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT) for log in logs
    ]
    try:
        wait_until_connected(processes)
        yield processes
    finally:
        stop_processes(processes)
        for log in logs:
            log.close()


@dataclass(frozen=True)
class ServerConfig:
    """How gunicorn runs the project."""

    worker_class: str
    workers: int
    threads: int
    conn_max_age: int

    def describe(self) -> str:
        threads = f" x {self.threads} threads" if self.worker_class == "gthread" else ""
        return f"{self.worker_class}, {self.workers} workers{threads}, CONN_MAX_AGE {self.conn_max_age}"


# The configuration measured best on 2 cores: bench/ingest_bench.py's docstring says why.
SERVER_CONFIG = ServerConfig(worker_class="gthread", workers=2, threads=2, conn_max_age=60)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def gunicorn(config: ServerConfig, log_path: Path) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """A gunicorn master on a free local port, answering; stopped on exit.
    Yields the port and the master process."""
    port = free_port()
    # The benchmark's own settings (database, SECRET_KEY, DEBUG=false, ENV_FILE
    # set to /dev/null) are in os.environ since setup_django.
    env = {key: value for key, value in os.environ.items() if key not in {"GUNICORN_CMD_ARGS", "WEB_CONCURRENCY"}}
    env.update(
        {
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CONN_MAX_AGE": str(config.conn_max_age),
            # Production's: a poll never queues a task, but a report request would.
            "TASK_BACKEND": "database",
            "LOG_LEVEL": "WARNING",
        }
    )
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "monitor_project.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--worker-class",
        config.worker_class,
        "--workers",
        str(config.workers),
        "--threads",
        str(config.threads),
        "--log-level",
        "warning",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_answering(port, process, log_path)
        yield port, process
    finally:
        stop_processes([process])


def wait_until_answering(port: int, process: subprocess.Popen[bytes], log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            # The admin's login page: an answer from Django that logs no warning.
            connection.request("GET", "/admin/login/")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"gunicorn did not answer within {timeout:.0f} s:\n{log_path.read_text()[-3000:]}")
