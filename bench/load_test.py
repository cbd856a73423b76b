"""Load test of poll ingestion: nothing lost under load, nor when the database drops its connections.

Usage (from the project folder, with PostgreSQL at 127.0.0.1:5432):

    .venv/bin/python bench/load_test.py [--polls 40000] [--clients 32] [--stores 500]
        [--hot-stores 4] [--hot-share 0.15] [--batch-share 0.3] [--resend 0.05]
        [--faults 3] [--fault-seconds 0.5] [--seed 1] [--database-url URL] [--keep] [--json PATH]

Target: tens of thousands of polls from many concurrent clients through
gunicorn and PostgreSQL; afterwards every poll answered 201 is in the status
spans exactly once, the spans obey the compression rule, no answer is a 5xx
outside the moments the database's connections were killed, and every
request that failed then was retried until it had an answer.

What it does, and why each step is there:

1. It drops and creates its own database, `store_monitor_load_bench` by
   default (bench/harness.py), and creates an owner (with its API token;
   the admin of an organization of its own) and that organization's
   stores (with their device keys) through accounts.services and
   stores.services (bench/dataset.py): --stores stores, each posted to by
   one client only, and --hot-stores stores every client shares (each
   client posts to two of them).
2. Each client's requests are planned beforehand from --seed: single polls
   with the store's device key, small lists for one store with its device
   key, and small lists for several stores with the owner's token (hot
   stores' polls among them). A store's own polls are mostly in time order,
   an hour or so apart (sometimes farther apart than the stale period, or
   exactly that far: a new span), a few late (older than the latest: 409
   older_than_latest) and a few with the latest's timestamp and the other
   status (409 conflicting_status). A hot store's polls are numbered: a
   client takes the next numbers when it sends (sometimes waiting a few ms
   first, a slow device), so the clients' polls for it interleave and some
   arrive after a later one (409 older_than_latest): rejected, not lost.
   Every poll (store, timestamp, status) is distinct.
3. gunicorn is started as bench/ingest_bench.py starts it (harness.gunicorn,
   with its configuration: gthread, 2 workers of 2 threads, CONN_MAX_AGE 60), and
   --clients threads (http.client, keep-alive) send their plans at once.
   With probability --resend a request is sent again, as a device does when
   its answer is lost (a simulated timeout: the answer did arrive and is
   kept), at once or after one to three more requests: it must answer 200
   repeat or 409 older_than_latest for a poll recorded, the same 409 for
   one rejected. A request with no answer (connection error) or a 5xx is
   sent again, after 50-200 ms, until it has one: what a device does.
4. Faults (--faults, 0 for none): while the load runs, at evenly spaced
   points of its progress, every connection of the server's to the database
   is terminated (pg_terminate_backend) every 0.1 s for --fault-seconds.
   Requests then fail (500, or 503 once the server answers that for an
   unavailable database) or lose their connection; they are counted apart,
   by status, inside a fault window (from the first termination to a second
   after the last) or outside it, and retried.
5. The clients check every answer as it comes: a client is the only one to
   post for its own stores, so it knows each store's latest poll and span and
   predicts every answer (201, 200, 409 and its code); a request retried
   after a failure must answer as if the failed attempt had not been
   applied, or as if it had (one transaction: all or nothing), never
   otherwise. For hot stores it checks the answers to a poll sent again
   (above) and that no poll is answered 201 twice.
6. After the load, gunicorn stopped, it reads every store and span and
   checks: for a client's own store, its spans are exactly those predicted
   (status, first and last poll, poll count) and so are its last_poll_at and
   last_status; for every store, spans do not overlap and are in order,
   first_poll_at <= last_poll_at, a span of one poll starts where it ends,
   two adjacent spans of one status are at least the stale period apart
   (polls_record extends a span only with a poll less than that after its
   last), store.last_poll_at and last_status are its latest span's; for a
   hot store, the poll counts add up to its polls answered 201, and each of
   them lies in a span of its status. A poll whose request failed and whose
   retry answered 409 older_than_latest may or may not have been recorded
   (another client's later poll came first): such polls are counted, and a
   hot store's spans then hold between the polls known recorded and those
   plus these.
7. It prints the figures and a Markdown section, or with --json PATH writes
   them for bench/run.py: {"title", "markdown", "targets"}. It exits with 1
   when something was lost or inconsistent.

This is a load test, not a unit test: it needs a database server, runs for
about a minute, and its figures (throughput, latency) depend on the machine.
"""

from __future__ import annotations

import argparse
import bisect
import datetime as dt
import http.client
import json
import random
import re
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Union

import harness  # first of the project's imports: it puts the project on sys.path
from core.instants import SECOND
from dataset import create_owner, create_stores

if TYPE_CHECKING:
    from accounts.models import Organization

DEFAULT_DATABASE_URL = harness.database_url("store_monitor_load_bench")
TITLE = "Load test: nothing lost"

# Every store's first poll; an hour or so a poll keeps them all in the past.
FIRST_POLL = int(dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc).timestamp())
MINUTE = 60
HOUR = 3600
STATUS_CHANGE = 0.1  # chance a store's next poll has the other status
LATE_POLL = 0.01  # chance a client's own store's next poll is older than its latest
CONFLICTING_POLL = 0.01  # chance it has the latest's timestamp and the other status
HOT_STORES_PER_CLIENT = 2
SLOW_DEVICE = 0.3  # chance a client waits up to SLOW_DEVICE_SECONDS between numbering hot polls and sending them
SLOW_DEVICE_SECONDS = 0.02
RETRY_PAUSE = (0.05, 0.2)  # seconds before sending a failed request again
MAX_ATTEMPTS = 200  # a request still failing after this many is given up (and the run fails)
FAULT_EVERY = 0.1  # seconds between terminations inside a fault
FAULT_GRACE = 1.0  # seconds after a fault's last termination still inside its window

RECORDED, REPEAT = "recorded", "repeat"
OLDER, CONFLICTING = "older_than_latest", "conflicting_status"
EXPECTED_ANSWERS = {(201, RECORDED), (200, REPEAT), (409, OLDER), (409, CONFLICTING)}
# A poll sent again answers one of these, given its previous answer.
NEXT_ANSWERS = {
    RECORDED: {REPEAT, OLDER},
    REPEAT: {REPEAT, OLDER},
    OLDER: {OLDER},
    CONFLICTING: {CONFLICTING, OLDER},
}


def iso(at: int) -> str:
    return dt.datetime.fromtimestamp(at, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# A poll: (store id, seconds since the epoch, status). Unique in a run.
Key = tuple[str, int, str]


class Problems:
    """What went wrong, by kind, with the first few examples; shared by the threads."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.samples: list[str] = []
        self._lock = threading.Lock()

    def add(self, kind: str, detail: str) -> None:
        with self._lock:
            self.counts[kind] += 1
            if len(self.samples) < 25:
                self.samples.append(f"{kind}: {detail[:400]}{' ...' if len(detail) > 400 else ''}")


# --------------------------------------------------------------------------
# A client's own store: its poll sequence, and what the server must hold
# --------------------------------------------------------------------------


class StorePolls:
    """The planned polls of a store one client posts for (most in time order)."""

    def __init__(self, store_id: str, rng: random.Random, stale: int) -> None:
        self.store_id = store_id
        self.rng = rng
        self.stale = stale
        self.latest: int | None = None  # the latest in-order poll planned
        self.status = "active"
        self.used: set[tuple[int, str]] = set()

    def step(self) -> int:
        """Seconds to the next poll: mostly under the stale period (the span
        goes on), sometimes over it or exactly it (a new span either way), or
        a second under it (the span goes on)."""
        draw = self.rng.random()
        if draw < 0.04:
            return self.stale + self.rng.randint(1, 4 * HOUR)
        if draw < 0.06:
            return self.stale
        if draw < 0.08:
            return self.stale - 1
        return self.rng.randint(20 * MINUTE, 90 * MINUTE)

    def next_poll(self) -> Key:
        draw = self.rng.random()
        if self.latest is not None and draw < LATE_POLL:
            at = self.latest - self.rng.randint(1, 2 * HOUR)
            if (at, "active") not in self.used and (at, "inactive") not in self.used:
                status = self.rng.choice(("active", "inactive"))
                self.used.add((at, status))
                return (self.store_id, at, status)
        elif self.latest is not None and draw < LATE_POLL + CONFLICTING_POLL:
            other = "inactive" if self.status == "active" else "active"
            if (self.latest, other) not in self.used:
                self.used.add((self.latest, other))
                return (self.store_id, self.latest, other)
        if self.latest is None:
            self.latest = FIRST_POLL
        else:
            self.latest += self.step()
            if self.rng.random() < STATUS_CHANGE:
                self.status = "inactive" if self.status == "active" else "active"
        self.used.add((self.latest, self.status))
        return (self.store_id, self.latest, self.status)


class StoreModel:
    """What polls_record must have made of a store's polls: its latest poll
    and its spans ([status, first, last, poll count], oldest first)."""

    __slots__ = ("last_at", "last_status", "spans")

    def __init__(self) -> None:
        self.last_at: int | None = None
        self.last_status = ""
        self.spans: list[list[Any]] = []

    def answer(self, at: int, status: str, stale: int, *, apply: bool) -> str:
        """The answer to a poll; with `apply`, the poll's effect too (the rule of stores.services.polls_record)."""
        if self.last_at is not None:
            if at < self.last_at:
                return OLDER
            if at == self.last_at:
                return REPEAT if status == self.last_status else CONFLICTING
        if apply:
            span = self.spans[-1] if self.spans else None
            if span is not None and span[0] == status and at - span[2] < stale:
                span[2] = at
                span[3] += 1
            else:
                self.spans.append([status, at, at, 1])
            self.last_at, self.last_status = at, status
        return RECORDED


# --------------------------------------------------------------------------
# Hot stores: one numbered sequence of polls, shared by many clients
# --------------------------------------------------------------------------


class HotStore:
    def __init__(self, store_id: str, device_key: str, length: int, rng: random.Random, stale: int) -> None:
        self.store_id = store_id
        self.device_key = device_key
        self.polls: list[Key] = []
        at, status = FIRST_POLL, "active"
        for _ in range(length):
            self.polls.append((store_id, at, status))
            at += stale + rng.randint(1, 3 * HOUR) if rng.random() < 0.03 else rng.randint(20 * MINUTE, 70 * MINUTE)
            if rng.random() < STATUS_CHANGE:
                status = "inactive" if status == "active" else "active"
        self.taken = 0
        self._lock = threading.Lock()

    def take(self, count: int) -> list[Key]:
        """The next `count` polls, in time order: whoever takes them first may still send them last."""
        with self._lock:
            polls = self.polls[self.taken : self.taken + count]
            self.taken += count
        if len(polls) != count:
            raise RuntimeError(f"hot store {self.store_id}: more polls taken than planned")
        return polls


# --------------------------------------------------------------------------
# Plans
# --------------------------------------------------------------------------

# A planned item: a client's own store's poll, or the index of a hot store
# (its poll numbered when the request is sent).
Item = Union[tuple[str, int, str], int]


@dataclass
class Planned:
    items: list[Item]
    batch: bool
    device: str | None  # the store whose device key signs the request; None: the owner's token
    resend: int  # 0: no; -1: at once; n > 0: after n more requests


def plan_client(
    rng: random.Random,
    own: Sequence[StorePolls],
    hot: Sequence[int],
    polls: int,
    *,
    hot_share: float,
    batch_share: float,
    resend: float,
) -> list[Planned]:
    """A client's requests, about `polls` polls in all: single polls, lists
    for one store with its device key, lists for several with the owner's token."""
    plan: list[Planned] = []
    count = 0
    while count < polls:
        draw = rng.random()
        if draw >= batch_share:  # a single poll
            if rng.random() < hot_share:
                index = rng.choice(hot)
                planned = Planned([index], False, f"hot:{index}", 0)
            else:
                sequence = rng.choice(own)
                planned = Planned([sequence.next_poll()], False, sequence.store_id, 0)
        elif draw < batch_share / 3:  # a list for one store, with its device key
            if rng.random() < hot_share:
                index = rng.choice(hot)
                planned = Planned([index, index], True, f"hot:{index}", 0)
            else:
                sequence = rng.choice(own)
                items: list[Item] = [sequence.next_poll() for _ in range(rng.randint(2, 6))]
                planned = Planned(items, True, sequence.store_id, 0)
        else:  # a list for several stores, with the owner's token
            chosen = rng.sample(list(own), min(len(own), rng.randint(1, 3)))
            items = [rng.choice(chosen).next_poll() for _ in range(rng.randint(2, 8))]
            if rng.random() < 2 * hot_share:
                for _ in range(rng.randint(1, 2)):
                    items.insert(rng.randint(0, len(items)), rng.choice(hot))
            planned = Planned(items, True, None, 0)
        if rng.random() < resend:
            planned.resend = -1 if rng.random() < 0.5 else rng.randint(1, 3)
        plan.append(planned)
        count += len(planned.items)
    return plan


# --------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------


class Sent(NamedTuple):
    """A request as sent (and sent again, byte for byte)."""

    keys: list[Key]
    hot: list[bool]
    body: bytes
    headers: dict[str, str]
    batch: bool


class Attempt(NamedTuple):
    started: float
    finished: float
    status: int  # HTTP status; 0: no answer (connection error, timeout)
    batch: bool


@dataclass
class ClientLog:
    attempts: list[Attempt] = field(default_factory=list)
    answers: dict[Key, list[str]] = field(default_factory=dict)  # every answer to each poll, in order
    recorded: set[Key] = field(default_factory=set)  # own stores: the polls the model says are recorded
    recorded_unanswered: set[Key] = field(default_factory=set)  # ...recorded by an attempt whose answer was lost
    uncertain: set[Key] = field(default_factory=set)  # hot polls a failed attempt may have recorded
    diverged: set[str] = field(default_factory=set)  # own stores whose answers stopped matching the model
    requests: int = 0  # first sends
    resends: int = 0  # simulated lost answers
    retries: int = 0  # attempts after a failure
    error_bodies: list[str] = field(default_factory=list)
    done: int = 0  # planned requests answered (progress, for the faults)
    crash: BaseException | None = None


class Client:
    def __init__(
        self,
        port: int,
        plan: list[Planned],
        keys: dict[str, str],
        token: str,
        hot: Sequence[HotStore],
        stale: int,
        rng: random.Random,
        problems: Problems,
    ) -> None:
        self.port = port
        self.plan = plan
        self.hot = hot
        self.stale = stale
        self.rng = rng
        self.problems = problems
        self.models: dict[str, StoreModel] = defaultdict(StoreModel)
        self.log = ClientLog()
        self.headers = {
            store_id: {"Content-Type": "application/json", "X-Store-Key": key} for store_id, key in keys.items()
        }
        for index, store in enumerate(hot):
            self.headers[f"hot:{index}"] = {"Content-Type": "application/json", "X-Store-Key": store.device_key}
        self.headers[""] = {"Content-Type": "application/json", "Authorization": f"Token {token}"}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def run(self, start: threading.Barrier) -> None:
        try:
            start.wait(timeout=120)
            self.send_plan()
        except BaseException as exc:  # reported by run_load, not lost with the thread
            self.log.crash = exc
        finally:
            self.connection.close()

    def send_plan(self) -> None:
        later: list[tuple[int, Sent]] = []
        for position, planned in enumerate(self.plan):
            sent = self.prepare(planned)
            self.log.requests += 1
            self.exchange(sent)
            if planned.resend < 0:
                time.sleep(self.rng.uniform(0, 0.05))
                self.exchange(sent, resend=True)
            elif planned.resend > 0:
                later.append((position + planned.resend, sent))
            due = [sent for at, sent in later if at <= position]
            later = [(at, sent) for at, sent in later if at > position]
            for sent in due:
                self.exchange(sent, resend=True)
            self.log.done += 1
        for _, sent in later:
            self.exchange(sent, resend=True)

    def prepare(self, planned: Planned) -> Sent:
        """The request's body: a hot store's polls are numbered now."""
        keys: list[Key] = []
        hot: list[bool] = []
        for item in planned.items:
            if isinstance(item, int):
                keys.extend(self.hot[item].take(1))
                hot.append(True)
            else:
                keys.append(item)
                hot.append(False)
        if any(hot) and self.rng.random() < SLOW_DEVICE:
            time.sleep(self.rng.uniform(0, SLOW_DEVICE_SECONDS))
        polls = [{"id": store_id, "utc_timestamp": iso(at), "status": status} for store_id, at, status in keys]
        body = json.dumps(polls if planned.batch else polls[0]).encode()
        return Sent(keys, hot, body, self.headers[planned.device or ""], planned.batch)

    def exchange(self, sent: Sent, *, resend: bool = False) -> None:
        """Send until there is an answer (not a 5xx, not a connection error), then check it."""
        if resend:
            self.log.resends += 1
        failures = 0
        while True:
            started = time.perf_counter()
            try:
                self.connection.request("POST", "/poll", sent.body, sent.headers)
                response = self.connection.getresponse()
                body = response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as exc:
                self.connection.close()  # the next request opens a new connection
                status, body = 0, repr(exc).encode()
            self.log.attempts.append(Attempt(started, time.perf_counter(), status, sent.batch))
            if status and status < 500:
                break
            failures += 1
            self.log.retries += 1
            if len(self.log.error_bodies) < 3:
                self.log.error_bodies.append(f"{status}: {body[:160]!r}")
            if failures >= MAX_ATTEMPTS:
                self.problems.add("gave up", f"{failures} attempts of a request with {sent.keys[0]}")
                self.log.uncertain.update(key for key, hot in zip(sent.keys, sent.hot) if hot)
                self.log.diverged.update(key[0] for key, hot in zip(sent.keys, sent.hot) if not hot)
                return
            time.sleep(self.rng.uniform(*RETRY_PAUSE))
        self.check(sent, self.answers_of(sent, status, body), failed=failures > 0)

    @staticmethod
    def answers_of(sent: Sent, status: int, body: bytes) -> list[str]:
        """One answer a poll: its code, or "HTTP <status> <code>" when unexpected."""
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        if not sent.batch:
            code = data.get("code") if isinstance(data, dict) else None
            return [code if (status, code) in EXPECTED_ANSWERS else f"HTTP {status} {code}"]
        results = data.get("results") if status == 200 and isinstance(data, dict) else None
        if not isinstance(results, list) or len(results) != len(sent.keys):
            return [f"HTTP {status} {str(body[:80])}"] * len(sent.keys)
        return [
            result["code"] if (result["status"], result["code"]) in EXPECTED_ANSWERS else
            f"HTTP {result['status']} {result['code']}"
            for result in results
        ]

    def check(self, sent: Sent, answers: list[str], *, failed: bool) -> None:
        """Check the answers against the model of the client's own stores, and keep them."""
        log = self.log
        own = [
            (position, key)
            for position, (key, hot) in enumerate(zip(sent.keys, sent.hot))
            if not hot and key[0] not in log.diverged
        ]
        committed_before: bool | None = None  # did a failed attempt of this request commit?
        if own:
            fresh = [self.models[store].answer(at, status, self.stale, apply=True) for store, at, status in own_keys(own)]
            actual = [answers[position] for position, _ in own]
            again = (
                [self.models[store].answer(at, status, self.stale, apply=False) for store, at, status in own_keys(own)]
                if failed
                else fresh
            )
            newly = [key for (_, key), answer in zip(own, fresh) if answer == RECORDED]
            if actual == fresh:
                log.recorded.update(newly)
                if failed and fresh != again:
                    committed_before = False
            elif failed and actual == again:
                # The failed attempt committed; this one found its polls there already.
                log.recorded.update(newly)
                log.recorded_unanswered.update(newly)
                committed_before = True
            else:
                stores = sorted({key[0] for _, key in own})
                log.diverged.update(stores)
                self.problems.add(
                    "unexpected answer",
                    f"{[(key[0], iso(key[1]), key[2]) for _, key in own]}: expected {fresh}"
                    f"{f' or {again}' if failed else ''}, answered {actual}",
                )
        for key, hot, answer in zip(sent.keys, sent.hot, answers):
            if answer.startswith("HTTP"):
                self.problems.add("unexpected answer", f"{key[0]} {iso(key[1])} {key[2]}: {answer}")
            log.answers.setdefault(key, []).append(answer)
            if hot and failed and committed_before is not False:
                log.uncertain.add(key)


def own_keys(own: list[tuple[int, Key]]) -> list[Key]:
    return [key for _, key in own]


class Fault(NamedTuple):
    started: float
    ended: float  # the last termination
    terminated: int  # server connections terminated

    def overlaps(self, attempt: Attempt) -> bool:
        return attempt.started <= self.ended + FAULT_GRACE and attempt.finished >= self.started


def inject_faults(
    database: harness.BenchDatabase, clients: Sequence[Client], total: int, count: int, seconds: float,
    faults: list[Fault], stop: threading.Event,
) -> None:
    """At evenly spaced points of the clients' progress, terminate the server's
    database connections every FAULT_EVERY s for `seconds`."""
    statement = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    with database.server_connection() as admin:
        for number in range(1, count + 1):
            while sum(client.log.done for client in clients) < total * number / (count + 1):
                if stop.wait(0.02):
                    return
            started = last = time.perf_counter()
            terminated = 0
            while time.perf_counter() - started < seconds:
                last = time.perf_counter()
                terminated += admin.execute(statement, [database.name]).fetchone()[0]
                time.sleep(FAULT_EVERY)
            faults.append(Fault(started, last, terminated))


class Load(NamedTuple):
    seconds: float
    logs: list[ClientLog]
    faults: list[Fault]
    cpu: harness.CpuUse


def run_load(
    port: int, master: int, clients: list[Client], *, database: harness.BenchDatabase, faults: int,
    fault_seconds: float,
) -> Load:
    total = sum(len(client.plan) for client in clients)
    done: list[Fault] = []
    stop = threading.Event()
    times: list[float] = []

    def started() -> None:  # the barrier's action: all clients are ready
        times.append(time.perf_counter())

    barrier = threading.Barrier(len(clients), action=started)
    threads = [threading.Thread(target=client.run, args=(barrier,), daemon=True) for client in clients]
    injector = threading.Thread(
        target=inject_faults, args=(database, clients, total, faults, fault_seconds, done, stop), daemon=True
    )
    before = harness.CpuSample.take(master)
    for thread in threads:
        thread.start()
    injector.start()
    for thread in threads:
        thread.join()
    ended = time.perf_counter()
    after = harness.CpuSample.take(master)
    stop.set()
    injector.join()
    crashed = [client.log.crash for client in clients if client.log.crash is not None]
    if crashed:
        raise RuntimeError(f"{len(crashed)} of {len(clients)} clients stopped early") from crashed[0]
    return Load(ended - times[0], [client.log for client in clients], done, harness.cpu_use(before, after))


# --------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------


class Verified(NamedTuple):
    stores: int
    spans: int
    in_spans: int  # sum of poll counts
    recorded: int  # polls known recorded
    answered_201: int
    recorded_unanswered: int
    uncertain: int  # polls of unknown fate
    uncertain_recorded: int  # of them, recorded according to the spans


def epoch(value: dt.datetime, problems: Problems, what: str) -> int:
    if value.microsecond:
        problems.add("inconsistent span", f"{what}: {value.isoformat()} has microseconds no poll had")
    return int(value.timestamp())


def verify(
    organization: Organization,
    clients: Sequence[Client],
    hot: Sequence[HotStore],
    stale: int,
    problems: Problems,
) -> Verified:
    from stores.models import StatusSpan, Store

    spans: dict[str, list[tuple[str, int, int, int]]] = defaultdict(list)
    rows = (
        StatusSpan.objects.filter(store__organization=organization)
        .order_by("store__store_id", "first_poll_at")
        .values_list("store__store_id", "status", "first_poll_at", "last_poll_at", "poll_count")
    )
    for store_id, status, first, last, count in rows.iterator(chunk_size=5000):
        spans[store_id].append((status, epoch(first, problems, store_id), epoch(last, problems, store_id), count))
    stores = {
        store_id: (None if at is None else epoch(at, problems, store_id), status)
        for store_id, at, status in Store.objects.filter(organization=organization).values_list(
            "store_id", "last_poll_at", "last_status"
        )
    }

    for store_id, (last_at, last_status) in stores.items():
        check_spans(store_id, spans.get(store_id, []), last_at, last_status, stale, problems)

    # A client's own stores: exactly the predicted spans.
    for client in clients:
        for store_id, model in client.models.items():
            if store_id in client.log.diverged:
                continue
            expected = [tuple(span) for span in model.spans]
            if spans.get(store_id, []) != expected:
                problems.add("spans differ from the prediction", f"{store_id}: {spans.get(store_id)} != {expected}")
            if stores[store_id] != (model.last_at, model.last_status):
                problems.add("store differs from the prediction", f"{store_id}: {stores[store_id]}")

    # Hot stores: the poll counts add up; every recorded poll is in a span of its status.
    answers: dict[Key, list[str]] = {}
    uncertain: set[Key] = set()
    for client in clients:
        uncertain |= client.log.uncertain
        for key, said in client.log.answers.items():
            answers.setdefault(key, []).extend(said)  # a poll is sent by one client only
    uncertain_recorded = 0
    for store in hot:
        polls = [key for key in store.polls[: store.taken]]
        known = [key for key in polls if {RECORDED, REPEAT} & set(answers.get(key, ()))]
        maybe = [key for key in polls if key in uncertain and key not in set(known)]
        held = sum(span[3] for span in spans.get(store.store_id, []))
        if not len(known) <= held <= len(known) + len(maybe):
            problems.add(
                "hot store poll count",
                f"{store.store_id}: spans hold {held} polls; {len(known)} known recorded, {len(maybe)} of unknown fate",
            )
        else:
            uncertain_recorded += held - len(known)
        store_spans = spans.get(store.store_id, [])
        firsts = [span[1] for span in store_spans]
        for _, at, status in known:
            index = bisect.bisect_right(firsts, at) - 1
            if index < 0 or not (store_spans[index][2] >= at and store_spans[index][0] == status):
                problems.add("recorded poll not in a span", f"{store.store_id} {iso(at)} {status}")
        possible = {(at, status) for _, at, status in known + maybe}
        for status, first, last, _ in store_spans:
            if (first, status) not in possible or (last, status) not in possible:
                problems.add("span not made of recorded polls", f"{store.store_id} {status} {iso(first)}..{iso(last)}")

    # Each poll's answers, in order, as a retried poll must answer.
    for key, said in answers.items():
        if said.count(RECORDED) > 1:
            problems.add("answered 201 twice", f"{key}: {said}")
        for previous, following in zip(said, said[1:]):
            if following not in NEXT_ANSWERS.get(previous, ()):
                problems.add("retried poll answered otherwise", f"{key}: {said}")
                break

    own_recorded = sum(len(client.log.recorded) for client in clients)
    hot_known = sum(1 for key, said in answers.items() if key[0] in {s.store_id for s in hot} and {RECORDED, REPEAT} & set(said))
    answered_201 = sum(1 for said in answers.values() if RECORDED in said)
    hot_ids = {store.store_id for store in hot}
    return Verified(
        stores=len(stores),
        spans=sum(map(len, spans.values())),
        in_spans=sum(span[3] for store_spans in spans.values() for span in store_spans),
        recorded=own_recorded + hot_known,
        answered_201=answered_201,
        recorded_unanswered=sum(len(client.log.recorded_unanswered) for client in clients),
        uncertain=sum(1 for key in uncertain if key[0] in hot_ids and not {RECORDED, REPEAT} & set(answers.get(key, ()))),
        uncertain_recorded=uncertain_recorded,
    )


def check_spans(
    store_id: str, spans: list[tuple[str, int, int, int]], last_at: int | None, last_status: str, stale: int,
    problems: Problems,
) -> None:
    """The span rules every store's rows obey, whoever posted."""
    if not spans:
        if last_at is not None:
            problems.add("inconsistent store", f"{store_id}: last_poll_at {iso(last_at)} without spans")
        return
    for status, first, last, count in spans:
        # Each poll after a span's first is less than the stale period after the one before.
        if count < 1 or (count == 1 and first != last) or (count > 1 and not 0 < last - first < (count - 1) * stale):
            problems.add("inconsistent span", f"{store_id}: {status} {iso(first)}..{iso(last)} of {count} polls")
    for previous, following in zip(spans, spans[1:]):
        if following[1] <= previous[2]:
            problems.add("overlapping spans", f"{store_id}: {previous} then {following}")
        elif following[0] == previous[0] and following[1] - previous[2] < stale:
            problems.add("spans that should be one", f"{store_id}: {previous} then {following}")
    latest = spans[-1]
    if (last_at, last_status) != (latest[2], latest[0]):
        problems.add(
            "inconsistent store",
            f"{store_id}: last poll {last_at and iso(last_at)} {last_status}, latest span ends {iso(latest[2])} {latest[0]}",
        )


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------


class Results(NamedTuple):
    args: argparse.Namespace
    config: harness.ServerConfig
    load: Load
    verified: Verified
    problems: Problems
    planned_polls: int
    hot_polls: int
    server_errors: Counter[str]  # exception lines in gunicorn's log
    database: str


class Figures(NamedTuple):
    requests: int
    resends: int
    attempts: int
    answers: Counter[str]  # poll answers by code, every answer
    fates: Counter[str]  # each poll's final answer
    errors_in: Counter[int]  # failed attempts inside a fault window, by status (0: no answer)
    errors_out: Counter[int]
    single: list[float]  # latencies of answered single-poll requests, s
    batch: list[float]


def figures(load: Load) -> Figures:
    answers: Counter[str] = Counter()
    fates: Counter[str] = Counter()
    errors_in: Counter[int] = Counter()
    errors_out: Counter[int] = Counter()
    single: list[float] = []
    batch: list[float] = []
    for log in load.logs:
        for said in log.answers.values():
            answers.update(said)
            fates[RECORDED if {RECORDED, REPEAT} & set(said) else said[0]] += 1
        for key in log.uncertain:
            if key not in log.answers:
                fates["no answer"] += 1
        for attempt in log.attempts:
            if attempt.status and attempt.status < 500:
                (batch if attempt.batch else single).append(attempt.finished - attempt.started)
            elif any(fault.overlaps(attempt) for fault in load.faults):
                errors_in[attempt.status] += 1
            else:
                errors_out[attempt.status] += 1
    return Figures(
        requests=sum(log.requests for log in load.logs),
        resends=sum(log.resends for log in load.logs),
        attempts=sum(len(log.attempts) for log in load.logs),
        answers=answers,
        fates=fates,
        errors_in=errors_in,
        errors_out=errors_out,
        single=sorted(single),
        batch=sorted(batch),
    )


def describe_errors(errors: Counter[int]) -> str:
    if not errors:
        return "none"
    return ", ".join(f"{count:,} {'no answer' if status == 0 else status}" for status, count in sorted(errors.items()))


def nothing_lost(results: Results) -> bool:
    return not results.problems.counts


def targets(results: Results, numbers: Figures) -> list[harness.Target]:
    args, verified = results.args, results.verified
    outside = sum(numbers.errors_out.values())
    lost = not nothing_lost(results)
    load: list[harness.Target] = [
        {
            "target": f"Load test, {results.planned_polls:,} polls from {args.clients} clients",
            "goal": "nothing lost, no 5xx outside the fault window",
            "measured": (
                f"{verified.in_spans:,} polls in spans = {verified.recorded:,} recorded"
                f"{f' (+{verified.uncertain_recorded} of unknown fate)' if verified.uncertain_recorded else ''}; "
                f"{'problems: ' + ', '.join(f'{n} {kind}' for kind, n in results.problems.counts.items()) if lost else 'nothing lost'}; "
                f"{outside} errors outside the fault windows"
            ),
            "met": not lost and outside == 0,
        }
    ]
    if args.faults:
        inside = sum(numbers.errors_in.values())
        gave_up = results.problems.counts.get("gave up", 0)
        load.append(
            {
                "target": f"Load test, the server's database connections killed ({len(results.load.faults)} faults)",
                "goal": "every failed request retried to an answer; nothing lost",
                "measured": (
                    f"{inside:,} failed attempts in the fault windows ({describe_errors(numbers.errors_in)}), "
                    + (f"{gave_up} requests given up" if gave_up else "each retried to an answer")
                ),
                "met": not lost and len(results.load.faults) == args.faults,
            }
        )
    return load


def markdown(results: Results, numbers: Figures) -> str:
    args, load, verified = results.args, results.load, results.verified
    polls_per_second = results.planned_polls / load.seconds
    cpu = load.cpu
    fault_seconds = sum(fault.ended - fault.started for fault in load.faults)

    def ms(values: list[float], fraction: float) -> str:
        return f"{harness.percentile(values, fraction) * 1000:.1f}" if values else "-"

    rejected = ", ".join(
        f"{numbers.fates[code]:,} {code}" for code in (OLDER, CONFLICTING) if numbers.fates[code]
    )
    by_code = ", ".join(f"{count:,} {code}" for code, count in numbers.answers.most_common())
    rows = [
        ("nothing lost", "**yes**" if nothing_lost(results) else "**no**"),
        ("polls sent (distinct)", f"{results.planned_polls:,}, {results.hot_polls:,} of them to the {args.hot_stores} hot stores"),
        ("requests: first sends / sent again (simulated lost answer) / after a failure",
         f"{numbers.requests:,} / {numbers.resends:,} / {numbers.attempts - numbers.requests - numbers.resends:,}"),
        ("polls recorded (201, or recorded by a failed attempt)", f"{verified.recorded:,}"
         f" ({verified.answered_201:,} answered 201, {verified.recorded_unanswered:,} recorded by an attempt whose answer was lost)"),
        ("polls rejected", rejected or "none"),
        ("polls of unknown fate (failed, then 409 older_than_latest)",
         f"{verified.uncertain:,}" + (f", {verified.uncertain_recorded:,} of them in the spans" if verified.uncertain else "")),
        ("answers to polls, every send", by_code),
        ("polls in the spans (sum of poll_count) / span rows / stores",
         f"{verified.in_spans:,} / {verified.spans:,} / {verified.stores:,}"),
        ("failed attempts outside the fault windows", describe_errors(numbers.errors_out)),
    ]
    if args.faults:
        rows.append(
            ("faults: times / server connections terminated / seconds",
             f"{len(load.faults)} / {sum(f.terminated for f in load.faults)} / {fault_seconds:.1f}")
        )
        rows.append(("failed attempts inside the fault windows", describe_errors(numbers.errors_in)))
    rows += [
        ("duration, s", f"{load.seconds:.1f}"),
        ("throughput: polls/s / requests/s", f"{polls_per_second:.0f} / {numbers.attempts / load.seconds:.0f}"),
        ("latency p50 / p99 / max, ms: single polls",
         f"{ms(numbers.single, 0.5)} / {ms(numbers.single, 0.99)} / {ms(numbers.single, 1.0)}"),
        ("latency p50 / p99 / max, ms: lists of 2-10 polls",
         f"{ms(numbers.batch, 0.5)} / {ms(numbers.batch, 0.99)} / {ms(numbers.batch, 1.0)}"),
        ("CPU in use, cores: clients / gunicorn / PostgreSQL / other programs / machine",
         f"{cpu.client:.2f} / {cpu.server:.2f} / {cpu.database:.2f} / {cpu.other:.2f} / {cpu.machine:.2f} of {cpu.cpus}"),
    ]
    if results.server_errors:
        rows.append(
            ("server log: exceptions", "; ".join(f"{count} × `{line[:90]}`" for line, count in results.server_errors.most_common(3)))
        )
    lines = [
        f"## {TITLE}",
        "",
        f"`bench/load_test.py`: {results.planned_polls:,} polls over HTTP to gunicorn ({results.config.describe()}; "
        f"DEBUG off) on {results.database}, from {args.clients} client threads at once: for {args.stores} stores, "
        f"each posted to by one client, and {args.hot_stores} hot stores that {HOT_STORES_PER_CLIENT} of every "
        "client's requests share, whose polls interleave (some arrive after a later one: 409). Single polls and "
        "lists of 2-10 (with a device key or the owner's token); a few polls late or conflicting; "
        f"{args.resend:.0%} of requests sent again (a lost answer); a failed request (5xx, no answer) sent again "
        "until answered. "
        + (
            f"{args.faults} time(s) during the load, every server connection to the database was terminated "
            f"(pg_terminate_backend) every {FAULT_EVERY:g} s for {args.fault_seconds:g} s; a fault window lasts "
            f"to {FAULT_GRACE:g} s after. "
            if args.faults
            else ""
        )
        + "Every answer was predicted (a client's own stores) or checked against the poll's earlier answers; "
        "afterwards, each store's spans were checked against the prediction, the polls answered 201 and "
        "the compression rule.",
        "",
        "| figure | value |",
        "|---|---:|",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
    ]
    if results.problems.counts:
        lines += ["Problems:", "", *(f"- {sample}" for sample in results.problems.samples), ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--polls", type=harness.positive_int, default=40_000, help="distinct polls to send (default 40,000)"
    )
    parser.add_argument(
        "--clients", type=harness.positive_int, default=32, help="concurrent client threads (default 32)"
    )
    parser.add_argument(
        "--stores", type=harness.positive_int, default=500, help="stores each posted to by one client (default 500)"
    )
    parser.add_argument(
        "--hot-stores", type=harness.positive_int, default=4, help="stores all clients share (default 4)"
    )
    parser.add_argument(
        "--hot-share", type=share, default=0.15, help="share of requests to a hot store (default 0.15)"
    )
    parser.add_argument("--batch-share", type=share, default=0.3, help="share of requests that are lists (default 0.3)")
    parser.add_argument("--resend", type=share, default=0.05, help="share of requests sent again (default 0.05)")
    parser.add_argument(
        "--faults", type=int, default=3, help="times the server's database connections are killed (default 3; 0: none)"
    )
    parser.add_argument("--fault-seconds", type=float, default=0.5, help="how long each fault lasts (default 0.5)")
    harness.add_common_options(parser, default_database_url=DEFAULT_DATABASE_URL, seed_help="seed of the plans")
    args = parser.parse_args(argv)
    if args.stores < args.clients:
        parser.error("--stores must be at least --clients: each client posts for stores of its own")
    if args.faults < 0 or args.fault_seconds <= 0:
        parser.error("--faults must not be negative and --fault-seconds must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    database = harness.BenchDatabase.from_url(args.database_url)
    # The configuration bench/ingest_bench.py chose (its docstring says why).
    server = harness.SERVER_CONFIG
    with harness.bench_database(database, keep=args.keep, media_prefix="load-test-media-"):
        results = run(args, server, database)
    numbers = figures(results.load)
    section = markdown(results, numbers)
    goals = targets(results, numbers)
    if results.problems.samples:
        print("problems:")
        for sample in results.problems.samples:
            print(f"  {sample}")
    print(f"nothing lost: {'yes' if nothing_lost(results) else 'NO'}")
    if args.json:
        harness.json_write(args.json, title=TITLE, markdown=section, targets=goals)
        print(f"wrote {args.json}")
    else:
        print()
        print(section)
        print(harness.targets_table(goals))
    return 0 if nothing_lost(results) else 1


def run(args: argparse.Namespace, server: harness.ServerConfig, database: harness.BenchDatabase) -> Results:
    from django.db import connection

    from stores.models import stale_after

    version = harness.database_version()
    stale = stale_after() // SECOND  # the plans count in seconds
    with harness.step(f"create the owner, {args.stores} stores and {args.hot_stores} hot stores"):
        owner = create_owner("load-test")
        organization, token = owner.organization, owner.token
        hot_made = create_stores(organization, "hot", args.hot_stores)
        own_made = create_stores(organization, "store", args.stores)
    keys = {store.store_id: store.device_key for store in own_made}

    with harness.step(f"plan {args.polls:,} polls for {args.clients} clients"):
        plans = []
        for index in range(args.clients):
            own = [
                StorePolls(store.store_id, random.Random(f"{args.seed}/{store.store_id}"), stale)
                for store in own_made[index :: args.clients]
            ]
            hot = sorted({(index + offset) % args.hot_stores for offset in range(HOT_STORES_PER_CLIENT)})
            polls = args.polls // args.clients + (index < args.polls % args.clients)
            plans.append(
                plan_client(
                    random.Random(f"{args.seed}/client/{index}"), own, hot, polls,
                    hot_share=args.hot_share, batch_share=args.batch_share, resend=args.resend,
                )
            )
        hot_wanted = Counter(item for plan in plans for planned in plan for item in planned.items if isinstance(item, int))
        hot_stores = [
            HotStore(made.store_id, made.device_key, hot_wanted[index], random.Random(f"{args.seed}/{made.store_id}"), stale)
            for index, made in enumerate(hot_made)
        ]
    planned_polls = sum(len(planned.items) for plan in plans for planned in plan)
    problems = Problems()
    connection.close()  # gunicorn's workers are the database's clients from here

    with tempfile.TemporaryDirectory(prefix="load-test-") as folder:
        log_path = Path(folder) / "gunicorn.log"
        print(f"start gunicorn ({server.describe()})", flush=True)
        with harness.gunicorn(server, log_path) as (port, process):
            clients = [
                Client(port, plan, keys, token, hot_stores, stale, random.Random(f"{args.seed}/retry/{index}"), problems)
                for index, plan in enumerate(plans)
            ]
            with harness.step(f"load: {planned_polls:,} polls from {args.clients} clients, {args.faults} faults"):
                load = run_load(
                    port, process.pid, clients, database=database, faults=args.faults,
                    fault_seconds=args.fault_seconds,
                )
        server_log = log_path.read_text(errors="replace")
    server_errors = Counter(
        line.strip() for line in server_log.splitlines() if re.match(r"^[\w.]+(Error|Exception): ", line.strip())
    )
    numbers = figures(load)
    print(
        f"  {planned_polls / load.seconds:.0f} polls/s, {numbers.attempts / load.seconds:.0f} requests/s; "
        f"answers {dict(numbers.answers.most_common())}; failed attempts in fault windows "
        f"{describe_errors(numbers.errors_in)}, outside {describe_errors(numbers.errors_out)}"
    )
    bodies = Counter(body for log in load.logs for body in log.error_bodies)
    for body, count in bodies.most_common(3):
        print(f"  failed attempt, e.g. ({count}x among the first of each client) {body}")
    if server_errors:
        print(f"  server log: {sum(server_errors.values())} exception lines, e.g. {server_errors.most_common(3)}")

    with harness.step("verify the spans against every answer"):
        verified = verify(organization, clients, hot_stores, stale, problems)
    print(
        f"  {verified.in_spans:,} polls in {verified.spans:,} spans; {verified.recorded:,} recorded, "
        f"{verified.uncertain} of unknown fate"
    )
    return Results(
        args, server, load, verified, problems, planned_polls, sum(hot_wanted.values()), server_errors, version
    )


if __name__ == "__main__":
    sys.exit(main())
