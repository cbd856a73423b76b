"""Benchmark of poll ingestion over HTTP: gunicorn in front of PostgreSQL.

Usage (from the project folder, with PostgreSQL at 127.0.0.1:5432):

    .venv/bin/python bench/ingest_bench.py [--clients 16] [--stores-per-client 4]
        [--seconds 20] [--warmup 3] [--worker-class gthread|sync] [--workers 2]
        [--threads 2] [--conn-max-age 60] [--batch-size 10000] [--batch-stores 1000]
        [--batch-runs 3] [--database-url URL] [--seed 1] [--profile] [--keep] [--json PATH]

Targets: single polls from 16 concurrent clients at 1,000 polls/s or more,
p99 latency under 50 ms, no error; one 10,000-poll batch in under a second.

What it does, and why each step is there:

1. It drops and creates its own database, `store_monitor_ingest_bench` by
   default (its name must contain "bench"), and migrates it, with
   bench/harness.py: figures never depend on, and never touch, a
   developer's data.
2. Through accounts.services and stores.services, as the API would, it
   creates an owner with an API token (the admin of an organization of its
   own), each client's own stores in that organization (so clients never
   wait for each other's row locks) with their device keys, and the batch's
   stores (bench/dataset.py).
3. In this process, with django.test.Client (the whole middleware and DRF
   stack, no network), it counts the SQL statements of a single poll: the
   first of a store (its key's lookup not cached yet), one extending its
   span and one opening a new one; then the CPU time of a poll, and of each
   step of one (authentication, parsing, the service and its SQL, the
   answer...: measure_steps, less sensitive than the HTTP figures to other
   work on the machine); --profile also prints a cProfile of 500 polls.
   This is where the server's cost per poll can be read and profiled; the
   HTTP figures only show it.
4. It starts gunicorn (`python -m gunicorn monitor_project.wsgi`) on a free
   port of 127.0.0.1, in production mode: DEBUG off, its own SECRET_KEY,
   ALLOWED_HOSTS, CONN_MAX_AGE; it waits until the server answers.
5. Single polls: --clients threads, each with one keep-alive http.client
   connection (it reconnects by itself if the server closes it), post one
   poll a request, round-robin over their stores, with the stores' device
   keys. Bodies and headers are built beforehand, so the clients cost little
   CPU (a tenth of a core): server, database and clients share the
   machine's cores, and a costly client would measure itself. Each store's
   polls are an hour apart from a fixed instant, so every one is recorded
   (201), never a repeat. The first --warmup seconds are not timed (workers
   import code and connect); then --seconds are. Any answer but 2xx is an
   error. The CPU time of the clients, of gunicorn's processes, of
   PostgreSQL's and of the whole machine is read from /proc over the timed
   window: "other" (the rest) shows when something else ran meanwhile.
6. Batches: --batch-runs times, one POST /poll of --batch-size polls (a JSON
   list, with the owner's token), each with later timestamps than the last,
   so every poll is recorded; the wall time of the request, on a connection
   already open, is timed, and the median reported.
7. It stops gunicorn and checks, store by store, that the poll counts of the
   status spans add up to the polls answered 201.
8. It prints a Markdown section (the setup and a table of figures) and the
   targets, or with --json PATH writes them for bench/run.py:
   {"title", "markdown", "targets": [{"target", "goal", "measured", "met"}]}.

The server's configuration: gthread, 2 workers of 2 threads, CONN_MAX_AGE 60,
chosen with this script on 2 cores (15 s runs on a quiet machine; --workers,
--threads, --worker-class and --conn-max-age try others):

- A single poll cost about 2.6 ms of CPU in the web server and 0.9 ms in
  PostgreSQL when this was chosen (before the device's poll path took two
  statements instead of five, stores.services._device_polls_record;
  bench/RESULTS.md has the current figures): the two cores are the limit,
  not waiting. One worker process
  per core (each has its own GIL) does best: 2 workers of 2 threads gave
  494-501 polls/s, p99 47-53 ms; 3 workers (1 to 4 threads) 474-492, p99
  76-94 ms; 4 workers 450-471, p99 87-97 ms: more processes than cores
  contend with each other and with PostgreSQL, and the tail grows.
- Threads: with 2, one request's Python runs while the other's waits on
  the database. With 1 the worker's core idles meanwhile (479-522 polls/s,
  but p99 47-72 ms, and one slow request, a 10,000-poll batch or a report
  page, stalls half the server); with 4 they contend for the GIL
  (472-495 polls/s, p99 71-81 ms).
- gthread keeps the clients' connections alive; sync closes each one after
  its answer, so every poll also pays a TCP connect (sync, 2 to 4 workers:
  463-507 polls/s, p99 74-88 ms, max up to 244 ms).
- CONN_MAX_AGE > 0 keeps each thread's database connection: with 0, every
  request connects, and PostgreSQL forks a server process for each: 188
  polls/s instead of 495 (the short-lived processes' CPU time then shows as
  "other").

This is not a test: it needs a database server and measures rather than
asserts (apart from the correctness check, which makes a wrong figure
impossible to miss).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import http.client
import io
import json
import os
import pstats
import random
import statistics
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import harness
from dataset import create_owner, create_stores

if TYPE_CHECKING:
    from accounts.models import Organization

DEFAULT_DATABASE_URL = harness.database_url("store_monitor_ingest_bench")
# A fixed first instant, long enough ago that an hour per poll stays in the
# past (a poll more than 5 minutes ahead of the server's clock is refused)
# for hundreds of thousands of polls per store.
FIRST_POLL = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
POLL_STEP = dt.timedelta(hours=1)  # under the 120-minute stale period: equal statuses extend a span
STATUS_CHANGE = 0.05  # chance a poll's status differs from the store's previous one (a new span)

TARGET_POLLS_PER_SECOND = 1000
TARGET_P99_MS = 50.0
TARGET_BATCH_SECONDS = 1.0


# --------------------------------------------------------------------------
# Stores and polls
# --------------------------------------------------------------------------


@dataclass
class BenchStore:
    """A store, its device key, and the state of its poll sequence."""

    store_id: str
    device_key: str
    rng: random.Random
    next_at: dt.datetime = FIRST_POLL
    status: str = "active"
    sent: int = 0

    def next_poll(self) -> dict[str, str]:
        """The store's next poll: an hour after the previous one; mostly the same status."""
        if self.sent and self.rng.random() < STATUS_CHANGE:
            self.status = "inactive" if self.status == "active" else "active"
        at = self.next_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        poll = {"id": self.store_id, "utc_timestamp": at, "status": self.status}
        self.next_at += POLL_STEP
        self.sent += 1
        return poll


def bench_stores(organization: Organization, prefix: str, count: int, seed: int) -> list[BenchStore]:
    """New stores of the organization with their device keys, each with its own seeded poll sequence."""
    return [
        BenchStore(made.store_id, made.device_key, random.Random(f"{seed}/{made.store_id}"))
        for made in create_stores(organization, prefix, count)
    ]


# --------------------------------------------------------------------------
# In-process measurements: queries per poll, profile
# --------------------------------------------------------------------------


TRANSACTION_CONTROL = frozenset({"BEGIN", "COMMIT", "ROLLBACK"})


class QueryCount(NamedTuple):
    first_poll: int  # SQL statements of a store's first poll: it opens a span, its key not yet looked up
    extend: int  # of the next one, same status: it extends the span (the key's lookup cached)
    open: int  # of one with the other status: it opens a new span (the key's lookup cached)
    statements: list[str]  # the SQL of the extending poll, transaction control included
    open_statements: list[str]  # the SQL of the poll opening a span, transaction control included
    cpu_ms: float  # mean CPU time of the whole Django stack per poll, without network
    recorded: Counter[str]  # store_id -> polls answered 201


def count_queries(store: BenchStore, *, repeat: int = 300) -> QueryCount:
    """SQL statements of one poll, as a device posts it, through the whole
    middleware and DRF stack (django.test.Client), and the CPU time of
    `repeat` more. BEGIN and COMMIT are not counted: every transaction has them.

    The first poll is the process's first with the store's key: its lookup
    (stores.device_keys) is not cached yet; the next two find it cached, as
    a device posting again within a few seconds does (and every poll of the
    timed run, which posts each store's polls a fraction of a second apart)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", headers={"X-Store-Key": store.device_key})
    recorded: Counter[str] = Counter()

    def post(body: str) -> None:
        response = client.post("/poll", body, content_type="application/json")
        if response.status_code != 201:
            raise SystemExit(f"in-process poll answered {response.status_code}: {response.content[:200]!r}")
        recorded[store.store_id] += 1

    def counted(status: str) -> tuple[int, list[str]]:
        """One poll with this status (not left to the store's random changes), its statements."""
        store.status = status
        poll = {"id": store.store_id, "utc_timestamp": store.next_at.strftime("%Y-%m-%dT%H:%M:%SZ"), "status": status}
        store.next_at += POLL_STEP
        store.sent += 1
        with CaptureQueriesContext(connection) as queries:
            post(json.dumps(poll))
        statements = [query["sql"] for query in queries.captured_queries]
        return sum(statement not in TRANSACTION_CONTROL for statement in statements), statements

    first, _ = counted("active")  # opens the store's first span
    extend, statements = counted("active")
    opened, open_statements = counted("inactive")
    bodies = [json.dumps(store.next_poll()) for _ in range(repeat)]
    started = time.process_time()
    for body in bodies:
        post(body)
    cpu_ms = (time.process_time() - started) / repeat * 1000
    return QueryCount(first, extend, opened, statements, open_statements, cpu_ms, recorded)


# What measure_steps times, each the CPU time inside one function, per poll.
# (label, module, class or None, attribute, nested under the previous top-level step)
STEPS: tuple[tuple[str, str, str | None, str, bool], ...] = (
    ("content negotiation", "rest_framework.views", "APIView", "perform_content_negotiation", False),
    ("authentication (token, session, device key, in that order)", "rest_framework.views", "APIView", "perform_authentication", False),
    ("  the device key", "stores.device_keys", "StoreKeyAuthentication", "authenticate", True),
    ("permissions", "rest_framework.views", "APIView", "check_permissions", False),
    ("throttles", "rest_framework.views", "APIView", "check_throttles", False),
    ("body parsing", "rest_framework.request", "Request", "_load_data_and_files", False),
    ("the view (checks, polls_record, answer)", "stores.api_views", "PollView", "post", False),
    ("  polls_record", "stores.api_views", None, "polls_record", True),
    ("    SQL statements (client side)", "django.db.backends.utils", "CursorWrapper", "execute", True),
    ("    COMMIT", "django.db.backends.base.base", "BaseDatabaseWrapper", "commit", True),
    ("    store_recovered's receivers (alerts)", "stores.signals", "store_recovered", "send", True),
    ("response: finalize and render", "rest_framework.views", "APIView", "finalize_response", False),
    ("response: finalize and render", "django.template.response", "SimpleTemplateResponse", "render", False),
)


class StepCpu(NamedTuple):
    whole_ms: float  # the handler's CPU per poll: middleware, DRF, the view (not the test client)
    steps: list[tuple[str, float]]  # (label, CPU ms per poll), in STEPS' order, one row per label
    other_ms: float  # whole_ms less the top-level steps: middleware, URL resolving, DRF's own work


def measure_steps(store: BenchStore, *, repeat: int = 500) -> tuple[StepCpu, Counter[str]]:
    """The CPU time per poll of each of STEPS, in this process, through the
    whole stack (django.test.Client): each function is wrapped, for this
    measurement only, to add up the thread's CPU time inside it (each
    wrapper costs about a microsecond more, so their sum is a little above
    the stack's figure measured without them)."""
    import importlib

    from django.test import Client

    spent: Counter[str] = Counter()
    clock = time.thread_time
    patched: list[tuple[object, str, object, bool]] = []

    def timed(function, label: str):
        def wrapper(*args, **kwargs):
            started = clock()
            try:
                return function(*args, **kwargs)
            finally:
                spent[label] += clock() - started

        return wrapper

    targets = [(label, module, owner, name) for label, module, owner, name, _ in STEPS]
    targets.append(("whole", "django.core.handlers.base", "BaseHandler", "get_response"))
    for label, module_name, owner_name, name in targets:
        module = importlib.import_module(module_name)
        owner = module if owner_name is None else getattr(module, owner_name)
        # Methods are wrapped on their class (the plain function), other things
        # where they are looked up (a module's name, a signal's bound send).
        had_own = name in vars(owner)
        function = vars(owner)[name] if isinstance(owner, type) else getattr(owner, name)
        setattr(owner, name, timed(function, label))
        patched.append((owner, name, function, had_own))
    client = Client(HTTP_HOST="127.0.0.1", headers={"X-Store-Key": store.device_key})
    bodies = [json.dumps(store.next_poll()) for _ in range(repeat)]
    try:
        for body in bodies:
            response = client.post("/poll", body, content_type="application/json")
            if response.status_code != 201:
                raise SystemExit(f"in-process poll answered {response.status_code}: {response.content[:200]!r}")
    finally:
        for owner, name, function, had_own in reversed(patched):
            if had_own:
                setattr(owner, name, function)
            else:
                delattr(owner, name)

    def per_poll(label: str) -> float:
        return spent[label] / repeat * 1000

    rows = list(dict.fromkeys(label for label, *_ in STEPS))
    nested = {label for label, *_, inner in STEPS if inner}
    whole = per_poll("whole")
    other = whole - sum(per_poll(label) for label in rows if label not in nested)
    return StepCpu(whole, [(label, per_poll(label)) for label in rows], other), Counter({store.store_id: repeat})


def profile_polls(store: BenchStore, count: int, top: int) -> tuple[str, Counter[str]]:
    """cProfile of `count` single polls through the Django stack (no network)."""
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1", headers={"X-Store-Key": store.device_key})
    bodies = [json.dumps(store.next_poll()) for _ in range(count)]
    profiler = cProfile.Profile()
    statuses: Counter[int] = Counter()

    def run() -> None:
        for body in bodies:
            statuses[client.post("/poll", body, content_type="application/json").status_code] += 1

    profiler.runcall(run)
    if set(statuses) != {201}:
        raise SystemExit(f"profiled polls answered {dict(statuses)}")
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return stream.getvalue(), Counter({store.store_id: count})


# --------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------


@dataclass
class ClientResult:
    latencies: list[float] = field(default_factory=list)  # seconds, timed window only
    statuses: Counter[int] = field(default_factory=Counter)  # timed window only; 0 = no answer
    recorded: Counter[str] = field(default_factory=Counter)  # store_id -> 201s, whole run
    failures: list[str] = field(default_factory=list)  # first few unexpected answers
    crash: BaseException | None = None  # what stopped the client, if not the end of the window


class Request(NamedTuple):
    store_id: str
    body: bytes
    headers: dict[str, str]


def build_requests(stores: Sequence[BenchStore], count: int) -> list[Request]:
    """`count` requests round-robin over the stores, bodies encoded beforehand."""
    requests = []
    headers = {
        store.store_id: {"Content-Type": "application/json", "X-Store-Key": store.device_key} for store in stores
    }
    for index in range(count):
        store = stores[index % len(stores)]
        requests.append(Request(store.store_id, json.dumps(store.next_poll()).encode(), headers[store.store_id]))
    return requests


def run_client(
    port: int,
    stores: Sequence[BenchStore],
    requests: list[Request],
    start: threading.Barrier,
    window: list[float],
    result: ClientResult,
) -> None:
    """Post one poll per request until the end of the window; time those
    started inside it. `window` is [timed start, end], set before the barrier
    lets the clients go."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        start.wait(timeout=60)
        post_until(connection, stores, requests, window, result)
    except BaseException as exc:  # reported by run_load, not lost with the thread
        result.crash = exc
    finally:
        connection.close()


def post_until(
    connection: http.client.HTTPConnection,
    stores: Sequence[BenchStore],
    requests: list[Request],
    window: list[float],
    result: ClientResult,
) -> None:
    """The client's loop: a request, its answer, the next request."""
    timed_start, end = window
    position = 0
    while True:
        started = time.perf_counter()
        if started >= end:
            break
        if position == len(requests):  # more polls than planned: build more, in order
            requests.extend(build_requests(stores, len(requests)))
        request = requests[position]
        position += 1
        try:
            connection.request("POST", "/poll", request.body, request.headers)
            response = connection.getresponse()
            body = response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            connection.close()  # the next request opens a new connection
            status, body = 0, repr(exc).encode()
        finished = time.perf_counter()
        if status == 201:
            result.recorded[request.store_id] += 1
        if started >= timed_start:
            result.latencies.append(finished - started)
            result.statuses[status] += 1
        if not 200 <= status < 300 and len(result.failures) < 5:
            result.failures.append(f"{status}: {body[:200]!r}")


class LoadResult(NamedTuple):
    seconds: float
    latencies: list[float]
    statuses: Counter[int]
    recorded: Counter[str]
    failures: list[str]
    cpu: harness.CpuUse

    @property
    def polls_per_second(self) -> float:
        return len(self.latencies) / self.seconds

    @property
    def errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if not 200 <= status < 300)


def run_load(
    port: int, master: int, client_stores: Sequence[Sequence[BenchStore]], *, warmup: float, seconds: float
) -> LoadResult:
    # Enough bodies for about 200 polls/s per client; more are built if needed.
    planned = int((warmup + seconds) * 200)
    plans = [build_requests(stores, planned) for stores in client_stores]
    results = [ClientResult() for _ in client_stores]
    window = [0.0, 0.0]

    def set_window() -> None:  # the barrier's action: runs once, when all clients are ready
        now = time.perf_counter()
        window[0], window[1] = now + warmup, now + warmup + seconds

    barrier = threading.Barrier(len(client_stores), action=set_window)
    threads = [
        threading.Thread(target=run_client, args=(port, stores, plan, barrier, window, result), daemon=True)
        for stores, plan, result in zip(client_stores, plans, results)
    ]
    for thread in threads:
        thread.start()
    while not window[0] and all(thread.is_alive() for thread in threads):
        time.sleep(0.01)
    before = after = None
    if window[0]:
        time.sleep(max(0.0, window[0] - time.perf_counter()))
        before = harness.CpuSample.take(master)
        time.sleep(max(0.0, window[1] - time.perf_counter()))
        after = harness.CpuSample.take(master)
    for thread in threads:
        thread.join()
    crashed = [result.crash for result in results if result.crash is not None]
    if crashed:
        raise RuntimeError(f"{len(crashed)} of {len(results)} clients stopped early") from crashed[0]
    assert before is not None and after is not None
    latencies = [latency for result in results for latency in result.latencies]
    statuses: Counter[int] = sum((result.statuses for result in results), Counter())
    recorded: Counter[str] = sum((result.recorded for result in results), Counter())
    failures = [failure for result in results for failure in result.failures]
    return LoadResult(seconds, latencies, statuses, recorded, failures, harness.cpu_use(before, after))


class BatchResult(NamedTuple):
    seconds: list[float]
    recorded: Counter[str]


def run_batches(port: int, token: str, stores: Sequence[BenchStore], size: int, runs: int) -> BatchResult:
    """`runs` batches of `size` polls: each store's next polls, in time order
    (as a hub forwarding its stores' polls would send them)."""
    times = []
    recorded: Counter[str] = Counter()
    headers = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
    for _ in range(runs):
        polls = [stores[index % len(stores)].next_poll() for index in range(size)]
        body = json.dumps(polls).encode()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        connection.connect()  # not part of the request's time
        started = time.perf_counter()
        connection.request("POST", "/poll", body, headers)
        response = connection.getresponse()
        answer = response.read()
        times.append(time.perf_counter() - started)
        connection.close()
        if response.status != 200:
            raise SystemExit(f"batch answered {response.status}: {answer[:300]!r}")
        data = json.loads(answer)
        if data["counts"] != {"recorded": size}:
            raise SystemExit(f"batch counts {data['counts']}, expected {size} recorded")
        for poll, outcome in zip(polls, data["results"]):
            if outcome["status"] == 201:
                recorded[poll["id"]] += 1
    return BatchResult(times, recorded)


def verify(organization: Organization, recorded: Counter[str]) -> int:
    """Each of the organization's stores' span poll counts add up to its polls answered 201; returns the total."""
    from django.db.models import Sum

    from stores.models import StatusSpan

    in_spans = dict(
        StatusSpan.objects.filter(store__organization=organization)
        .values_list("store__store_id")
        .annotate(polls=Sum("poll_count"))
        .values_list("store__store_id", "polls")
    )
    wrong = {
        store_id: (in_spans.get(store_id, 0), recorded.get(store_id, 0))
        for store_id in set(in_spans) | set(recorded)
        if in_spans.get(store_id, 0) != recorded.get(store_id, 0)
    }
    if wrong:
        sample = dict(list(wrong.items())[:5])
        raise SystemExit(f"span poll counts differ from the polls answered 201 for {len(wrong)} stores: {sample}")
    return sum(in_spans.values())


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


class Results(NamedTuple):
    args: argparse.Namespace
    config: harness.ServerConfig
    queries: QueryCount
    steps: StepCpu
    load: LoadResult
    batch: BatchResult
    verified: int
    database: str
    load_average: tuple[float, float, float]


def single_target(results: Results) -> harness.Target:
    load = results.load
    latencies = sorted(load.latencies)
    p99 = harness.percentile(latencies, 0.99) * 1000
    met = load.polls_per_second >= TARGET_POLLS_PER_SECOND and p99 < TARGET_P99_MS and load.errors == 0
    return {
        "target": f"HTTP single polls, {results.args.clients} clients",
        "goal": f"≥ {TARGET_POLLS_PER_SECOND} polls/s, p99 < {TARGET_P99_MS:.0f} ms",
        "measured": f"{load.polls_per_second:.0f} polls/s, p99 {p99:.1f} ms, {load.errors} errors",
        "met": met,
    }


def batch_target(results: Results) -> harness.Target:
    median = statistics.median(results.batch.seconds)
    return {
        "target": f"{results.args.batch_size:,}-poll batch",
        "goal": f"< {TARGET_BATCH_SECONDS:g} s",
        "measured": f"{median:.2f} s",
        "met": median < TARGET_BATCH_SECONDS,
    }


def markdown(results: Results) -> str:
    """The section for bench/RESULTS.md: the setup, then a table of the figures."""
    args, load, batch, queries, cpu = results.args, results.load, results.batch, results.queries, results.load.cpu
    latencies = sorted(load.latencies)
    p50, p95, p99 = (f"{harness.percentile(latencies, fraction) * 1000:.1f}" for fraction in (0.50, 0.95, 0.99))
    per_poll = 1000 / load.polls_per_second  # ms of one core per poll, for each core in use
    batch_times = ", ".join(f"{seconds:.2f}" for seconds in batch.seconds)
    rows = [
        ("single polls per second", f"{load.polls_per_second:.0f}"),
        ("latency p50 / p95 / p99 / max, ms", f"{p50} / {p95} / {p99} / {latencies[-1] * 1000:.1f}"),
        ("errors (not 2xx, or no answer)", f"{load.errors}"),
        ("polls timed", f"{len(latencies):,} in {load.seconds:g} s"),
        (
            "CPU in use, cores: clients / gunicorn / PostgreSQL / other / machine",
            f"{cpu.client:.2f} / {cpu.server:.2f} / {cpu.database:.2f} / {cpu.other:.2f} / {cpu.machine:.2f} "
            f"of {cpu.cpus}",
        ),
        (
            "CPU per poll, ms: gunicorn / PostgreSQL",
            f"{cpu.server * per_poll:.2f} / {cpu.database * per_poll:.2f}",
        ),
        (
            "SQL statements per single poll, extending / opening a span (+ BEGIN, COMMIT)",
            f"{queries.extend} / {queries.open}",
        ),
        (
            "… the first poll of a device key in a server process, or after its lookup's few seconds in the cache",
            f"{queries.first_poll} (opening a span)",
        ),
        ("Django stack per single poll without network (CPU ms, in process)", f"{queries.cpu_ms:.2f}"),
        (
            f"{args.batch_size:,}-poll batch, s (median of {len(batch.seconds)})",
            f"{statistics.median(batch.seconds):.2f} ({batch_times})",
        ),
        ("polls answered 201 = polls in the spans", f"{results.verified:,}"),
    ]
    lines = [
        f"## HTTP ingestion, {args.clients} clients and a {args.batch_size:,}-poll batch",
        "",
        "`bench/ingest_bench.py`: polls posted over HTTP to gunicorn "
        f"({results.config.describe()}; DEBUG off) on {results.database}; server, database and clients share "
        f"this machine's {cpu.cpus} CPUs. Single polls: {args.clients} client threads (http.client, keep-alive), "
        f"each posting for its own {args.stores_per_client} stores with their device keys, one poll a request; "
        f"{args.warmup:g} s of warm-up, then {args.seconds:g} s timed. Batch: {args.batch_size:,} polls for "
        f"{args.batch_stores:,} stores in one request with the owner's token; the request's wall time. Every poll "
        "is later than its store's previous one, so each is recorded (201); afterwards, store by store, the "
        "spans' poll counts are checked against the polls answered 201. CPU \"other\": other programs and the "
        "kernel's own work; load average before the run "
        f"{' / '.join(f'{value:.2f}' for value in results.load_average)} (1, 5, 15 min).",
        "",
        "| figure | value |",
        "|---|---:|",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
        "The Django stack's CPU time per single poll by step, in process (django.test.Client, each step's "
        "function wrapped to add up its CPU time: `measure_steps`); indented rows are part of the row above. "
        "\"Other\": the middleware, URL resolving and DRF's own work.",
        "",
        "| step | CPU ms per poll |",
        "|---|---:|",
        *(f"| {'… ' * ((len(label) - len(label.lstrip())) // 2)}{label.strip()} | {ms:.3f} |" for label, ms in results.steps.steps),
        f"| other | {results.steps.other_ms:.3f} |",
        f"| the whole request (not the test client) | {results.steps.whole_ms:.3f} |",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients", type=harness.positive_int, default=16, help="concurrent single-poll clients (default 16)"
    )
    parser.add_argument(
        "--stores-per-client", type=harness.positive_int, default=4, help="stores each client posts for (default 4)"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="timed seconds of single polls (default 20)")
    parser.add_argument("--warmup", type=float, default=3.0, help="untimed seconds before them (default 3)")
    parser.add_argument(
        "--worker-class",
        choices=("gthread", "sync"),
        default=harness.SERVER_CONFIG.worker_class,
        help=f"gunicorn's worker class (default {harness.SERVER_CONFIG.worker_class})",
    )
    parser.add_argument(
        "--workers",
        type=harness.positive_int,
        default=harness.SERVER_CONFIG.workers,
        help=f"gunicorn's workers (default {harness.SERVER_CONFIG.workers})",
    )
    parser.add_argument(
        "--threads",
        type=harness.positive_int,
        default=harness.SERVER_CONFIG.threads,
        help=f"threads per gthread worker (default {harness.SERVER_CONFIG.threads})",
    )
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=harness.SERVER_CONFIG.conn_max_age,
        help="the server's CONN_MAX_AGE, seconds; 0 connects per request "
        f"(default {harness.SERVER_CONFIG.conn_max_age})",
    )
    parser.add_argument(
        "--batch-size", type=harness.positive_int, default=10_000, help="polls per batch (default 10,000)"
    )
    parser.add_argument(
        "--batch-stores", type=harness.positive_int, default=1000, help="stores the batch polls are for (default 1,000)"
    )
    parser.add_argument("--batch-runs", type=harness.positive_int, default=3, help="timed batches (default 3)")
    parser.add_argument("--profile", action="store_true", help="also print a cProfile of single polls in this process")
    parser.add_argument(
        "--profile-top", type=harness.positive_int, default=20, help="functions in the profile (default 20)"
    )
    harness.add_common_options(
        parser, default_database_url=DEFAULT_DATABASE_URL, seed_help="seed of the poll statuses"
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.warmup < 0:
        parser.error("--seconds must be positive and --warmup not negative")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    database = harness.BenchDatabase.from_url(args.database_url)
    server = harness.ServerConfig(args.worker_class, args.workers, args.threads, args.conn_max_age)
    # Django in this process keeps its connection like the server's workers,
    # so the in-process CPU time per poll is comparable.
    os.environ["CONN_MAX_AGE"] = str(args.conn_max_age)
    with harness.bench_database(database, keep=args.keep, media_prefix="ingest-bench-media-"):
        results = benchmark(args, server)
    section = markdown(results)
    targets = [single_target(results), batch_target(results)]
    if args.json:
        harness.json_write(args.json, title="HTTP ingestion", markdown=section, targets=targets)
        print(f"wrote {args.json}")
    else:
        print()
        print(section)
        print(harness.targets_table(targets))


def benchmark(args: argparse.Namespace, server: harness.ServerConfig) -> Results:
    from django.db import connection

    database = harness.database_version()
    print(f"  database: {database}")
    with harness.step("create the owner and stores"):
        owner = create_owner("ingest-bench")
        organization, token = owner.organization, owner.token
        stores = bench_stores(organization, "client", args.clients * args.stores_per_client, args.seed)
        batch_stores = bench_stores(organization, "batch", args.batch_stores, args.seed)
        probe = bench_stores(organization, "probe", 1, args.seed)[0]
    client_stores = [
        stores[index * args.stores_per_client : (index + 1) * args.stores_per_client] for index in range(args.clients)
    ]
    recorded: Counter[str] = Counter()

    with harness.step("count the queries of a single poll (in process)"):
        queries = count_queries(probe)
    recorded += queries.recorded
    print(
        f"  SQL statements: {queries.extend} extending a span, {queries.open} opening one "
        f"(+ BEGIN, COMMIT); {queries.first_poll} for a key's first poll (its lookup not cached); "
        f"Django stack {queries.cpu_ms:.2f} ms of CPU per poll"
    )
    for label, statements in (("extending", queries.statements), ("opening", queries.open_statements)):
        print(f"  {label}:")
        for statement in statements:
            print(f"    {statement[:160]}")
    with harness.step("CPU per poll by step (in process)"):
        steps, measured = measure_steps(probe)
    recorded += measured
    for label, ms in steps.steps:
        print(f"  {label:64s} {ms:6.3f} ms")
    print(f"  {'other (middleware, URL resolving, DRF)':64s} {steps.other_ms:6.3f} ms")
    print(f"  {'the whole request':64s} {steps.whole_ms:6.3f} ms")
    if args.profile:
        listing, profiled = profile_polls(probe, 500, args.profile_top)
        recorded += profiled
        print(listing)
    connection.close()  # gunicorn's workers are the database's clients from here

    load_average = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as folder:
        log_path = Path(folder) / "gunicorn.log"
        print(f"start gunicorn ({server.describe()})", flush=True)
        with harness.gunicorn(server, log_path) as (port, process):
            with harness.step(
                f"single polls: {args.clients} clients, {args.warmup:g} s warm-up, {args.seconds:g} s timed"
            ):
                load = run_load(port, process.pid, client_stores, warmup=args.warmup, seconds=args.seconds)
            recorded += load.recorded
            latencies = sorted(load.latencies)
            print(
                f"  {load.polls_per_second:.0f} polls/s; p50 {harness.percentile(latencies, 0.5) * 1000:.1f} ms, "
                f"p99 {harness.percentile(latencies, 0.99) * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms; "
                f"answers {dict(sorted(load.statuses.items()))}; "
                f"CPU cores: clients {load.cpu.client:.2f}, gunicorn {load.cpu.server:.2f}, "
                f"PostgreSQL {load.cpu.database:.2f}, other {load.cpu.other:.2f}, machine {load.cpu.machine:.2f}"
            )
            for failure in load.failures:
                print(f"  unexpected answer {failure}")
            with harness.step(f"{args.batch_runs} batches of {args.batch_size:,} polls"):
                batch = run_batches(port, token, batch_stores, args.batch_size, args.batch_runs)
            recorded += batch.recorded
            print(f"  {', '.join(f'{seconds:.2f} s' for seconds in batch.seconds)}")
        log = log_path.read_text()
        if log.strip():
            print(f"gunicorn's log:\n{log[-3000:]}")

    with harness.step("verify: span poll counts = polls answered 201"):
        verified = verify(organization, recorded)
    return Results(args, server, queries, steps, load, batch, verified, database, load_average)


if __name__ == "__main__":
    main()
