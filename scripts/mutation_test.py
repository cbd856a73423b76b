"""Mutation testing of the modules where a wrong line costs most: the engine,
the span rule, parsing, and who may see and do what.

Each mutant is one small change of one line that a plausible bug would make
(`<` for `<=`, `and` for `or`, a `not` dropped, a constant off by one, a
`continue` lost...), generated from the code's syntax tree, plus the named
mutants below (bugs found by hand before). Each is applied alone to a copy
of the project, and the tests that exercise its module run against it: a
failing test kills it. A mutant the module's tests let through is run
against the whole suite (the browser tests excepted) before it is counted
as surviving. Survivors are listed; those that cannot change any behaviour
(equivalent mutants) are explained in EQUIVALENT and counted apart.

    ./scripts/mutation-test                    # every target; writes docs/mutation-testing.md
    ./scripts/mutation-test --only engine      # one target (see TARGETS)
    ./scripts/mutation-test --list             # the mutants, without running them
    ./scripts/mutation-test --again            # only those not killed last time (after adding tests)

Runs on SQLite, two mutants at a time (one per core).
"""
from __future__ import annotations

import argparse
import ast
import concurrent.futures
import copy
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
REPORT = PROJECT / "docs" / "mutation-testing.md"
# Each mutant's outcome, for --again (not committed: .gitignore).
OUTCOMES = PROJECT / ".mutants.json"
COPY_IGNORE = shutil.ignore_patterns(
    ".venv", ".git", "media", "staticfiles", "test-artifacts", "db.sqlite3*", ".hypothesis", "__pycache__", ".env"
)


@dataclass(frozen=True)
class Target:
    name: str
    path: str
    functions: tuple[str, ...] | None  # None: every function of the module
    tests: tuple[str, ...]


# Fastest first: the first failure ends the run (-x).
ENGINE_TESTS = (
    "core/tests/test_uptime.py",
    "reports/tests/test_timeline.py",
    "reports/tests/test_services.py",
    "core/tests/test_uptime_property.py",
    "core/tests/test_uptime_cumulative.py",
)
SPAN_TESTS = (
    "core/tests/test_spans.py",
    "stores/tests/test_services.py",
    "stores/tests/test_loop_import.py",
    "stores/tests/test_models.py",
)
ACCESS_TESTS = (
    "stores/tests/test_access.py",
    "stores/tests/test_admin.py",
    "accounts/tests/test_tokens.py",
    "stores/tests/test_views.py",
    "stores/tests/test_services.py",
    "reports/tests/test_views.py",
    "reports/tests/test_report_pages.py",
    "reports/tests/test_dashboard.py",
)
LIMIT_TESTS = (
    "accounts/tests/test_login_limit.py",
    "accounts/tests/test_throttling.py",
    "accounts/tests/test_auth_failures.py",
    "reports/tests/test_work_limits.py",
)
PARSING_TESTS = (
    "core/tests/test_instants.py",
    "stores/tests/test_hours.py",
    "stores/tests/test_store_id_rule.py",
    "stores/tests/test_loop_import.py",
    "stores/tests/test_views.py",
    "monitor_project/tests/test_errors.py",
)

TARGETS = [
    Target("engine", "core/uptime.py", None, ENGINE_TESTS),
    Target("engine", "core/instants.py", None, ENGINE_TESTS + PARSING_TESTS),
    Target("timeline", "reports/timeline.py", ("store_week",), ENGINE_TESTS),
    Target("span rule", "core/spans.py", None, SPAN_TESTS),
    Target(
        "span rule",
        "stores/services.py",
        ("polls_record", "_device_polls_record", "_device_store_lock", "_store_changes_write", "store_polls_apply", "spans_prune"),
        SPAN_TESTS,
    ),
    Target("state", "stores/models.py", ("with_state",), SPAN_TESTS),
    Target("parsing", "stores/store_ids.py", None, PARSING_TESTS),
    Target("parsing", "stores/hours.py", None, PARSING_TESTS),
    Target("access", "common/ownership.py", None, ACCESS_TESTS),
    Target("access", "stores/services.py", ("_store_register", "store_create", "stores_rename"), ACCESS_TESTS),
    Target("access", "accounts/permissions.py", None, ACCESS_TESTS),
    Target("access", "accounts/authentication.py", None, ACCESS_TESTS + LIMIT_TESTS),
    Target("access", "stores/device_keys.py", None, ACCESS_TESTS + LIMIT_TESTS),
    Target("access", "stores/admin.py", ("_visible", "has_view_permission", "get_queryset"), ACCESS_TESTS),
    Target("access", "accounts/admin.py", ("_own", "get_queryset"), ACCESS_TESTS),
    Target("limits", "accounts/login_limit.py", None, LIMIT_TESTS),
    Target("limits", "accounts/throttling.py", None, LIMIT_TESTS),
    Target("limits", "accounts/auth_failures.py", None, LIMIT_TESTS),
    Target("limits", "common/window_counts.py", None, LIMIT_TESTS),
    Target("limits", "reports/services.py", ("report_trigger",), LIMIT_TESTS),
    Target("limits", "reports/figures.py", ("figures_refresh_queue", "figures_refresh"), LIMIT_TESTS),
]

# Bugs that once survived the whole suite (issue 9), as exact edits: each
# must stay killed. (path, text, replacement, what the bug is)
NAMED = [
    (
        "stores/services.py",
        "if store.owner_id != owner.pk and not owner.is_superuser:",
        "if store.owner_id != owner.pk and not owner.is_staff:",
        "store_register lets staff, not only superusers, update another owner's store",
    ),
    (
        "accounts/throttling.py",
        "if isinstance(user, Device) or not (user and user.is_authenticated):",
        "if not (user and user.is_authenticated):",
        "the owner throttle counts device requests (all devices share one count)",
    ),
    (
        "stores/loop_import.py",
        'with open(path, newline="", encoding="utf-8-sig") as handle:\n        reader = csv.reader(handle)',
        'with open(path, newline="", encoding="utf-8") as handle:\n        reader = csv.reader(handle)',
        "a byte-order mark at the start of the status file is read as part of its header",
    ),
    (
        "accounts/login_limit.py",
        '        if cache.get(f"{stem}:locked") is not None:\n            # Refused while locked: it does not extend the lock.\n            continue\n',
        '        if cache.get(f"{stem}:locked") is not None:\n            cache.set(f"{stem}:locked", time.time() + period, timeout=period)\n            continue\n',
        "failed logins while locked extend the lock",
    ),
    (
        "stores/models.py",
        "When(last_poll_at__lte=stale_since,",
        "When(last_poll_at__lt=stale_since,",
        "a store whose last poll is exactly the stale period old is still up",
    ),
    (
        "stores/services.py",
        "StatusSpan.objects.filter(last_poll_at__lt=older_than)",
        "StatusSpan.objects.filter(last_poll_at__lte=older_than)",
        "spans_prune deletes a span that ends exactly at the cutoff",
    ),
    (
        "reports/timeline.py",
        "down = uptime.intersect(uptime.status_timeline(spans, stale_after, start, as_of).down, open_hours)",
        "down = uptime.status_timeline(spans, stale_after, start, as_of).down",
        "the store page's down periods are not cut to business hours",
    ),
]

# Mutants that cannot change what the code does, with the reason. Keyed by
# Mutant.key (path, function, the line before and after).
SAME_VALUE = "Assigns the value the name already has, or picks between equal values."
EMPTY_ONLY = "Differs only where an interval is empty, and empty intervals add nothing and are never kept."
EQUIVALENT: dict[str, str] = {
    # The engine
    "core/uptime.py:local_interval: if e < s -> if e <= s": "e == s returned above (open 24 hours from start): never reaches here.",
    "core/uptime.py:weekly_hours: if start is not None and end is not None -> if start is not None or end is not None": (
        "An open entry has both times (the constraint business_hours_interval_or_closed, stores.hours.entry_problem): "
        "one time alone never reaches the engine."
    ),
    "core/uptime.py:weekly_hours: closed = [False] * 7 -> closed = [False] * 8": "An eighth flag that is never read (zip stops at the seventh day).",
    "core/uptime.py:business_intervals: if end <= start -> if end < start": "An empty range gives no interval either way: every piece is clipped to nothing.",
    "core/uptime.py:_local_dates: return tuple(((ordinal, (ordinal - 1) % 7, _steady_midnight(zone_name, ordinal)) "
    "for ordinal in range(first_date.toordinal(), last_date.toordinal() + 1))) -> "
    "return tuple(((ordinal, (ordinal - 1) % 7, _steady_midnight(zone_name, ordinal)) "
    "for ordinal in range(first_date.toordinal(), last_date.toordinal() + 2)))": "The extra date's hours begin after the range ends and are clipped away.",
    "core/uptime.py:business_intervals: if s < start -> if s <= start": SAME_VALUE,
    "core/uptime.py:business_intervals: if e > end -> if e >= end": SAME_VALUE,
    "core/uptime.py:_local_dates: first_date = from_micros(start).astimezone(store_zone).date() - dt.timedelta(days=2) -> "
    "first_date = from_micros(start).astimezone(store_zone).date() - dt.timedelta(days=3)": (
        "An interval ends less than two days after its date's midnight: the earlier date's hours end before the range."
    ),
    "core/uptime.py:merge: if e > merged[-1][1] -> if e >= merged[-1][1]": SAME_VALUE,
    "core/uptime.py:status_timeline: if first >= end -> if first > end": "A span starting at the range's end gives only empty intervals. " + EMPTY_ONLY,
    "core/uptime.py:status_timeline: break -> pass": "The spans after it start at or after the end and give nothing: only slower.",
    "core/uptime.py:status_timeline: if following > end -> if following >= end": SAME_VALUE,
    "core/uptime.py:status_timeline: if following <= start -> if following < start": "A span whose status ends at the start gives only empty intervals. " + EMPTY_ONLY,
    "core/uptime.py:status_timeline: continue -> pass": "A span whose status ends by the start gives only empty intervals. " + EMPTY_ONLY,
    "core/uptime.py:status_timeline: begin = first if first > start else start -> begin = first if first >= start else start": SAME_VALUE,
    "core/uptime.py:status_timeline: if expires > following -> if expires >= following": SAME_VALUE,
    "core/uptime.py:status_timeline: if expires < start -> if expires <= start": SAME_VALUE,
    "core/uptime.py:status_timeline: if begin < following -> if begin <= following": (
        "An inactive span's begin equals following only when its status ends by the start, which `continue` has passed over."
    ),
    "core/uptime.py:intersect: if a_end < b_end -> if a_end <= b_end": (
        "With equal ends either list may step first: the other list's next interval starts at or after that end, so nothing else is appended."
    ),
    "core/uptime.py:intersect: s = a_start if a_start > b_start else b_start -> s = a_start if a_start >= b_start else b_start": SAME_VALUE,
    "core/uptime.py:unit_text: if micros < 0 -> if micros <= 0": "Zero goes the Decimal way instead of the integer way: both write 0.00.",
    "core/uptime.py:unit_text: if micros < 0 -> if micros < 1": "Zero goes the Decimal way instead of the integer way: both write 0.00.",
    # Stores
    "stores/services.py:store_polls_apply: def store_polls_apply(*, stores: Iterable[LockedStore | Store], polls: dict[int, Sequence[int]], "
    "verdicts: dict[int, list[Verdict]] | None=None, copy: bool=F... -> def store_polls_apply(*, stores: Iterable[LockedStore | Store], "
    "polls: dict[int, Sequence[int]], verdicts: dict[int, list[Verdict]] | None=None, copy: bool=T...": (
        "COPY and INSERTs write the same rows: only the speed differs."
    ),
    "stores/hours.py:week_representation: ordered = sorted(rows, key=lambda row: (row.day_of_week, row.start_time_local or dt.time(0))) -> "
    "ordered = sorted(rows, key=lambda row: (row.day_of_week, row.start_time_local or dt.time(1)))": (
        "Only a closed day's row has no start, and a closed day has no other rows to sort against (stores.hours.week_problems)."
    ),
    # Accounts
    "accounts/login_limit.py:_digest: return hashlib.sha256(value.encode()).hexdigest()[:32] -> "
    "return hashlib.sha256(value.encode()).hexdigest()[:33]": "Cache keys one character longer: the same counting.",
    "accounts/login_limit.py:lockout_remaining: return math.ceil(remaining) if remaining > 0 else 0 -> "
    "return math.ceil(remaining) if remaining >= 0 else 0": "ceil(0) is 0: the same answer.",
    "accounts/throttling.py:get_cache_key: if isinstance(user, Device) or not (user and user.is_authenticated) -> "
    "if isinstance(user, Device) or not (user or user.is_authenticated)": (
        "A request without credentials is refused (401) before the throttles run, and the pages that throttle need a login: "
        "no anonymous user reaches it."
    ),
    "accounts/throttling.py:owner_throttle_wait: return max(1, math.ceil(throttle.wait() or 1)) -> "
    "return max(1, math.ceil(throttle.wait() or 2))": (
        "DRF's wait() is never 0 or None for a refused request: a full history frees a place when its oldest request expires."
    ),
    "accounts/auth_failures.py:auth_failure_wait: return math.ceil(remaining) if remaining > 0 else None -> "
    "return math.ceil(remaining) if remaining >= 0 else None": (
        "At the period's end the counts expire from the cache with it, so `failures` is None first (only the microseconds "
        "between the two cache writes could tell)."
    ),
    # Reports
    "reports/services.py:report_trigger: list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list('pk', flat=True)) -> "
    "list(get_user_model().objects.select_for_update().filter(pk=user.pk).values_list('pk', flat=False))": (
        "Only the lock matters: the row's shape is never read."
    ),
}


# --------------------------------------------------------------------------
# Generating mutants
# --------------------------------------------------------------------------

COMPARE_SWAPS = {
    ast.Lt: ast.LtE,
    ast.LtE: ast.Lt,
    ast.Gt: ast.GtE,
    ast.GtE: ast.Gt,
    ast.Eq: ast.NotEq,
    ast.NotEq: ast.Eq,
    ast.In: ast.NotIn,
    ast.NotIn: ast.In,
    ast.Is: ast.IsNot,
    ast.IsNot: ast.Is,
}
BINOP_SWAPS = {ast.Add: ast.Sub, ast.Sub: ast.Add}
BOOLOP_SWAPS = {ast.And: ast.Or, ast.Or: ast.And}


@dataclass
class Mutant:
    target: str
    path: str
    function: str
    line: int
    before: str
    after: str
    source: str = field(repr=False)  # the whole mutated module

    @property
    def key(self) -> str:
        return f"{self.path}:{self.function}: {self.before} -> {self.after}"

    @property
    def place(self) -> str:
        """Where and what, as the progress lines and the outcomes file name it."""
        return f"{self.path}:{self.line} {self.before} -> {self.after}"


def _sites(function: ast.AST) -> list[tuple[ast.AST, str, int]]:
    """(node, kind, index) of each possible mutation inside a function, in a stable order."""
    skip: set[int] = set()
    for node in ast.walk(function):
        # Not in docstrings, annotations, f-strings or decorators: they do not run as logic.
        if isinstance(node, ast.JoinedStr) or isinstance(node, ast.arg):
            skip.update(id(child) for child in ast.walk(node))
        if isinstance(node, (ast.AnnAssign,)):
            skip.update(id(child) for child in ast.walk(node.annotation))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if node.returns is not None:
                skip.update(id(child) for child in ast.walk(node.returns))
            for decorator in node.decorator_list:
                skip.update(id(child) for child in ast.walk(decorator))
    sites = []
    for node in ast.walk(function):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Compare):
            sites.extend((node, "compare", index) for index, op in enumerate(node.ops) if type(op) in COMPARE_SWAPS)
        elif isinstance(node, ast.BoolOp):
            sites.append((node, "boolop", 0))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            sites.append((node, "not", 0))
        elif isinstance(node, ast.BinOp) and type(node.op) in BINOP_SWAPS:
            sites.append((node, "binop", 0))
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            sites.append((node, "int", 0))
        elif isinstance(node, ast.Constant) and type(node.value) is bool:
            sites.append((node, "bool", 0))
        elif isinstance(node, (ast.Continue, ast.Break)):
            sites.append((node, "jump", 0))
    return sites


def _mutate(node: ast.AST, kind: str, index: int) -> ast.AST | None:
    """The mutated copy of `node` (None: no mutant here)."""
    node = copy.deepcopy(node)
    if kind == "compare":
        node.ops[index] = COMPARE_SWAPS[type(node.ops[index])]()
    elif kind == "boolop":
        node.op = BOOLOP_SWAPS[type(node.op)]()
    elif kind == "not":
        return node.operand
    elif kind == "binop":
        node.op = BINOP_SWAPS[type(node.op)]()
    elif kind == "int":
        node.value = node.value + 1
    elif kind == "bool":
        node.value = not node.value
    elif kind == "jump":
        return ast.Pass()
    return node


class _Replace(ast.NodeTransformer):
    def __init__(self, old: ast.AST, new: ast.AST) -> None:
        self.old, self.new = old, new

    def generic_visit(self, node):
        if node is self.old:
            return self.new
        return super().generic_visit(node)

    def visit(self, node):
        if node is self.old:
            return self.new
        return super().visit(node)


def _statement_of(function: ast.AST, node: ast.AST) -> ast.stmt:
    """The innermost statement holding `node` (for the one-line description)."""
    best = None
    for candidate in ast.walk(function):
        if isinstance(candidate, ast.stmt) and not isinstance(candidate, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if any(child is node for child in ast.walk(candidate)):
                if best is None or (candidate.lineno, candidate.col_offset) >= (best.lineno, best.col_offset):
                    best = candidate
    return best or function


def _one_line(node: ast.AST) -> str:
    if isinstance(node, (ast.If, ast.While)):
        return ("if " if isinstance(node, ast.If) else "while ") + ast.unparse(node.test)
    if isinstance(node, ast.For):
        return f"for {ast.unparse(node.target)} in {ast.unparse(node.iter)}"
    if isinstance(node, (ast.With,)):
        return "with " + ", ".join(ast.unparse(item) for item in node.items)
    text = ast.unparse(node).splitlines()[0]
    return text if len(text) <= 160 else text[:157] + "..."


def mutants_of(target: Target) -> list[Mutant]:
    source = (PROJECT / target.path).read_text()
    lines = source.splitlines(keepends=True)
    tree = ast.parse(source)
    functions = [
        node
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and (target.functions is None or node.name in target.functions)
    ]
    # Only the outermost of nested functions: an inner one is mutated with its outer one.
    inner = {id(child) for function in functions for child in ast.walk(function) if child is not function}
    functions = [function for function in functions if id(function) not in inner]
    mutants = []
    for function in sorted(functions, key=lambda node: node.lineno):
        first = min([function.lineno, *(decorator.lineno for decorator in function.decorator_list)])
        indent = " " * function.col_offset
        for number, (node, kind, index) in enumerate(_sites(function)):
            statement = _statement_of(function, node)
            # The same site in a copy of the function, replaced by its mutation.
            mutated_function = copy.deepcopy(function)
            site, _, _ = _sites(mutated_function)[number]
            mutated_function = _Replace(site, _mutate(site, kind, index)).visit(mutated_function)
            # Descriptions from the mutated function: find the statement again by position.
            before = _one_line(statement)
            mutated_statement = next(
                (
                    candidate
                    for candidate in ast.walk(mutated_function)
                    if isinstance(candidate, ast.stmt)
                    and getattr(candidate, "lineno", None) == statement.lineno
                    and getattr(candidate, "col_offset", None) == statement.col_offset
                ),
                None,
            )
            after = _one_line(mutated_statement) if mutated_statement is not None else "pass"
            if before == after:
                continue
            text = "".join(indent + line + "\n" for line in ast.unparse(mutated_function).splitlines())
            mutated = "".join(lines[: first - 1]) + text + "".join(lines[function.end_lineno :])
            try:
                compile(mutated, target.path, "exec")
            except SyntaxError:
                continue
            mutants.append(
                Mutant(target.name, target.path, function.name, getattr(node, "lineno", function.lineno), before, after, mutated)
            )
    return mutants


def named_mutants() -> list[Mutant]:
    mutants = []
    for path, text, replacement, what in NAMED:
        source = (PROJECT / path).read_text()
        if source.count(text) != 1:
            raise SystemExit(f"named mutant {what!r}: its text is in {path} {source.count(text)} times, not once")
        line = source[: source.index(text)].count("\n") + 1
        mutants.append(Mutant("named", path, what, line, text.strip(), replacement.strip(), source.replace(text, replacement)))
    return mutants


# --------------------------------------------------------------------------
# Running them
# --------------------------------------------------------------------------

PYTEST = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--hypothesis-profile=mutation"]


def _environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in {"DATABASE_URL", "CHROMIUM_PATH"}}
    env["ENV_FILE"] = os.devnull
    return env


def _run_tests(workdir: Path, tests: tuple[str, ...] | None, timeout: float, *, besides: tuple[str, ...] = ()) -> str:
    """'passed', 'failed' or 'timeout': of `tests`, or of the whole suite (the
    browser tests and the files `besides` left out) when None."""
    ignored = ("reports/tests/test_browser.py", *besides)
    arguments = [*tests] if tests else [f"--ignore={path}" for path in ignored]
    try:
        result = subprocess.run(
            [*PYTEST, *arguments], cwd=workdir, env=_environment(), capture_output=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return "timeout"
    return "passed" if result.returncode == 0 else "failed"


def _tests_of(mutant: Mutant) -> tuple[str, ...]:
    if mutant.target == "named":
        return ()  # the whole suite
    return next(target.tests for target in TARGETS if target.path == mutant.path and target.name == mutant.target)


def _try(mutant: Mutant, workdir: Path, timeout: float) -> str:
    """killed, survived or timeout (counted as killed: the tests noticed)."""
    path = workdir / mutant.path
    original = path.read_text()
    try:
        path.write_text(mutant.source)
        tests = _tests_of(mutant)
        outcome = _run_tests(workdir, tests or None, timeout)
        if outcome == "passed" and tests:
            # The rest of the suite, before calling it a survivor.
            outcome = _run_tests(workdir, None, timeout * 4, besides=tests)
    finally:
        path.write_text(original)
    return {"passed": "survived", "failed": "killed", "timeout": "timeout"}[outcome]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", help="a target's name (repeatable): " + ", ".join(sorted({t.name for t in TARGETS})))
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=180, help="seconds for one run of a target's tests")
    parser.add_argument("--report", type=Path, default=REPORT, help="where to write the results (markdown)")
    parser.add_argument(
        "--outcomes", type=Path, default=OUTCOMES, help=f"each mutant's outcome, kept as the run goes (default {OUTCOMES.name})"
    )
    parser.add_argument(
        "--again",
        action="store_true",
        help="run only the mutants the outcomes file does not count as killed (after adding tests, say); "
        "a killed mutant stays killed, as long as the code it mutates is unchanged",
    )
    options = parser.parse_args()

    targets = [target for target in TARGETS if not options.only or target.name in options.only]
    mutants = [mutant for target in targets for mutant in mutants_of(target)]
    if not options.only or "named" in options.only:
        mutants += named_mutants()
    if options.list:
        for number, mutant in enumerate(mutants, 1):
            print(f"{number:4d} {mutant.path}:{mutant.line} {mutant.function}: {mutant.before}  ->  {mutant.after}")
        print(f"{len(mutants)} mutants")
        return

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mutants-") as scratch:
        workdirs = []
        for number in range(options.workers):
            workdir = Path(scratch) / f"copy-{number}"
            shutil.copytree(PROJECT, workdir, ignore=COPY_IGNORE)
            workdirs.append(workdir)
        # The tests must pass on the unmutated copy, or every mutant looks killed.
        for tests in sorted({target.tests for target in targets}):
            if _run_tests(workdirs[0], tests, options.timeout * 2) != "passed":
                raise SystemExit(f"the tests fail without any mutant: {' '.join(tests)}")
        free = list(workdirs)
        known = json.loads(options.outcomes.read_text()) if options.again and options.outcomes.exists() else {}
        # Carried over: the killed, and survivors explained as equivalent.
        outcomes: dict[int, str] = {
            number: known[mutant.place]
            for number, mutant in enumerate(mutants)
            if known.get(mutant.place) in ("killed", "timeout")
            or (known.get(mutant.place) == "survived" and mutant.key in EQUIVALENT)
        }
        carried = len(outcomes)
        with concurrent.futures.ThreadPoolExecutor(max_workers=options.workers) as pool:
            pending = {}
            queue = [(number, mutant) for number, mutant in enumerate(mutants) if number not in outcomes]
            while queue or pending:
                while queue and free:
                    number, mutant = queue.pop(0)
                    workdir = free.pop()
                    pending[pool.submit(_try, mutant, workdir, options.timeout)] = (number, workdir)
                done, _ = concurrent.futures.wait(pending, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    number, workdir = pending.pop(future)
                    free.append(workdir)
                    outcomes[number] = future.result()
                    known[mutants[number].place] = outcomes[number]
                    options.outcomes.write_text(json.dumps(known, indent=1, sort_keys=True))
                    print(f"[{len(outcomes)}/{len(mutants)}] {outcomes[number]:8s} {mutants[number].place}", flush=True)
    elapsed = time.monotonic() - started
    write_report(options.report, mutants, outcomes, elapsed, carried)


def _commit() -> str:
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT, capture_output=True, text=True)
    # The report itself does not count: it is being written.
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", ".", f":!{REPORT.relative_to(PROJECT)}"], cwd=PROJECT, capture_output=True, text=True
    ).stdout.strip()
    return (result.stdout.strip() or "unknown") + (" with uncommitted changes" if dirty else "")


def write_report(path: Path, mutants: list[Mutant], outcomes: dict[int, str], elapsed: float, carried: int) -> None:
    rows = []
    totals = {"killed": 0, "timeout": 0, "equivalent": 0, "survived": 0}
    by_target: dict[str, dict[str, int]] = {}
    survivors = []
    for number, mutant in enumerate(mutants):
        outcome = outcomes[number]
        if outcome == "survived" and mutant.key in EQUIVALENT:
            outcome = "equivalent"
        totals[outcome] += 1
        counts = by_target.setdefault(mutant.target, {"killed": 0, "timeout": 0, "equivalent": 0, "survived": 0})
        counts[outcome] += 1
        if outcome in ("survived", "equivalent"):
            survivors.append((mutant, outcome))
    for name, counts in by_target.items():
        effective = sum(counts.values()) - counts["equivalent"]
        killed = counts["killed"] + counts["timeout"]
        rows.append(f"| {name} | {sum(counts.values())} | {killed} | {counts['equivalent']} | {counts['survived']} | {100 * killed / effective if effective else 100:.1f} % |")
    effective = len(mutants) - totals["equivalent"]
    killed = totals["killed"] + totals["timeout"]
    lines = [
        "# Mutation testing",
        "",
        "How many plausible one-line bugs the tests catch, in the modules where a wrong line",
        "costs most. `./scripts/mutation-test` makes the mutants from the code's syntax tree",
        "(`<` for `<=`, `and` for `or`, a `not` dropped, `+` for `-`, a constant off by one,",
        "`True` for `False`, a `continue` or `break` lost), applies each alone to a copy of the",
        "project and runs the tests of its module, then the whole suite (browser tests",
        "excepted) for any it let through. The named mutants are bugs that once survived the",
        "whole suite (issue 9): each must stay killed. Written by the script; do not edit by hand.",
        "",
        f"Run of {dt.date.today().isoformat()} at {_commit()}: {len(mutants)} mutants, "
        + (f"{len(mutants) - carried} run now and {carried} carried over from the run before (`--again`), " if carried else "")
        + f"in {elapsed / 60:.0f} min.",
        "",
        "| target | mutants | killed | equivalent | survived | kill rate (equivalent left out) |",
        "|---|---|---|---|---|---|",
        *rows,
        f"| **all** | **{len(mutants)}** | **{killed}** | **{totals['equivalent']}** | **{totals['survived']}** | **{100 * killed / effective if effective else 100:.1f} %** |",
        "",
    ]
    if survivors:
        lines += ["## Not killed", "", "| mutant | | why |", "|---|---|---|"]
        for mutant, outcome in survivors:
            why = EQUIVALENT.get(mutant.key, "not yet explained: a test is missing, or this is equivalent")
            cell = f"`{mutant.path}` `{mutant.function}`: `{mutant.before}` → `{mutant.after}`".replace("|", "\\|")
            lines.append(f"| {cell} | {outcome} | {why} |")
        lines.append("")
    path.write_text("\n".join(lines))
    print(f"{killed} of {effective} killed ({totals['equivalent']} equivalent, {totals['survived']} survived); written to {path}")


if __name__ == "__main__":
    main()
