"""The span rule (core/spans.py), stated with concrete times."""
import datetime as dt

from core import instants
from core.spans import LatestPoll, SpanRun, Verdict, encode_poll, spans_apply

STALE = 120 * instants.MINUTE  # the default stale period, two hours


def at(text: str) -> int:
    return instants.to_micros(dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc))


def polls(*pairs: tuple[str, bool]) -> list[int]:
    return sorted(encode_poll(at(text), active) for text, active in pairs)


def test_hourly_polls_of_one_status_make_one_span():
    result = spans_apply(
        polls=polls(("2023-01-22 09:00", True), ("2023-01-22 10:00", True), ("2023-01-22 11:00", True)),
        open_span=None,
        latest=None,
        stale_after=STALE,
    )
    assert result.new == [SpanRun(True, at("2023-01-22 09:00"), at("2023-01-22 11:00"), 3)]
    assert (result.recorded, result.skipped, result.latest, result.latest_active) == (3, 0, at("2023-01-22 11:00"), True)


def test_a_status_change_opens_a_new_span():
    result = spans_apply(
        polls=polls(("2023-01-22 09:00", True), ("2023-01-22 10:00", False), ("2023-01-22 11:00", False)),
        open_span=None,
        latest=None,
        stale_after=STALE,
    )
    assert [(span.active, span.count) for span in result.new] == [(True, 1), (False, 2)]


def test_a_gap_of_exactly_the_stale_period_opens_a_new_span_and_a_shorter_one_does_not():
    result = spans_apply(
        polls=polls(("2023-01-22 09:00", True), ("2023-01-22 10:59:59.999999", True), ("2023-01-22 12:59:59.999999", True)),
        open_span=None,
        latest=None,
        stale_after=STALE,
    )
    assert [(span.first, span.count) for span in result.new] == [
        (at("2023-01-22 09:00"), 2),
        (at("2023-01-22 12:59:59.999999"), 1),
    ]


def test_polls_not_newer_than_the_latest_are_skipped():
    # Latest poll 10:00 (active); the same instant again, either status, and anything older is skipped.
    open_span = SpanRun(True, at("2023-01-22 08:00"), at("2023-01-22 10:00"), 3, pk=7)
    result = spans_apply(
        polls=polls(("2023-01-22 09:30", True), ("2023-01-22 10:00", False), ("2023-01-22 10:00", True), ("2023-01-22 11:00", True)),
        open_span=open_span,
        latest=LatestPoll(at("2023-01-22 10:00"), True),
        stale_after=STALE,
    )
    assert (result.recorded, result.skipped) == (1, 3)
    assert result.new == []
    assert result.extended == SpanRun(True, at("2023-01-22 08:00"), at("2023-01-22 11:00"), 4, pk=7)


def test_at_one_instant_inactive_sorts_first_and_the_active_poll_is_skipped():
    result = spans_apply(
        polls=polls(("2023-01-22 10:00", True), ("2023-01-22 10:00", False)), open_span=None, latest=None, stale_after=STALE
    )
    assert result.new == [SpanRun(False, at("2023-01-22 10:00"), at("2023-01-22 10:00"), 1)]
    assert (result.recorded, result.skipped) == (1, 1)


def test_a_stored_open_span_of_the_other_status_is_left_alone():
    open_span = SpanRun(True, at("2023-01-22 08:00"), at("2023-01-22 10:00"), 3, pk=7)
    result = spans_apply(
        polls=polls(("2023-01-22 11:00", False)), open_span=open_span, latest=LatestPoll(at("2023-01-22 10:00"), True), stale_after=STALE
    )
    assert result.extended is None
    assert result.new == [SpanRun(False, at("2023-01-22 11:00"), at("2023-01-22 11:00"), 1)]


def test_each_poll_gets_its_verdict_in_the_order_posted():
    """As devices post them, unsorted: the store's latest poll is 10:00, active."""
    open_span = SpanRun(True, at("2023-01-22 08:00"), at("2023-01-22 10:00"), 3, pk=7)
    verdicts: list[Verdict] = []
    result = spans_apply(
        polls=[
            encode_poll(at("2023-01-22 10:00"), True),  # the latest again: a repeat
            encode_poll(at("2023-01-22 10:00"), False),  # its instant, the other status
            encode_poll(at("2023-01-22 09:00"), True),  # older than the latest
            encode_poll(at("2023-01-22 11:00"), False),  # recorded: a new span
            encode_poll(at("2023-01-22 11:00"), False),  # now the latest again
            encode_poll(at("2023-01-22 10:30"), True),  # older than the new latest
        ],
        open_span=open_span,
        latest=LatestPoll(at("2023-01-22 10:00"), True),
        stale_after=STALE,
        verdicts=verdicts,
    )
    assert verdicts == [
        Verdict.REPEAT,
        Verdict.CONFLICT,
        Verdict.OLDER,
        Verdict.RECORDED,
        Verdict.REPEAT,
        Verdict.OLDER,
    ]
    assert (result.recorded, result.skipped, result.latest_active) == (1, 5, False)
    assert result.new == [SpanRun(False, at("2023-01-22 11:00"), at("2023-01-22 11:00"), 1)]


def test_a_store_without_polls_takes_its_first_poll_whatever_it_is():
    verdicts: list[Verdict] = []
    result = spans_apply(polls=polls(("2023-01-22 10:00", False)), open_span=None, latest=None, stale_after=STALE, verdicts=verdicts)
    assert verdicts == [Verdict.RECORDED]
    assert (result.latest, result.latest_active) == (at("2023-01-22 10:00"), False)
