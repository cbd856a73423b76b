"""Incidents from the rule (core.incidents) to the database: one set-based
pass over the stores that can be in trouble (monitor_alerts runs it every
MONITOR_ALERT_EVERY_SECONDS), and resolution by a store's active poll
(alerts.receivers, in the poll's own request)."""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any, NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from common.bulk_writes import update_rows
from core import instants, uptime
from core.closures import closure_intervals
from core.incidents import Incident as RuleIncident
from core.incidents import IncidentHistory, store_incidents
from stores.models import PollStatus, Store, stale_after
from stores.selectors import store_uptime_inputs

from .models import Flapping, Incident, NotificationEvent
from .notifications import flapping_notify, incident_notify, incidents_notify

logger = logging.getLogger(__name__)

# Stores per bulk read: bounds memory whatever the number of stores in trouble.
READ_BATCH_SIZE = 2000


class PassSummary(NamedTuple):
    candidates: int
    opened: int
    resolved: int
    flapping: int


class StoreRule(NamedTuple):
    """What the rule says of a store over the week before now, and whether now is inside its open hours."""

    history: IncidentHistory
    open_now: bool


class Candidate(NamedTuple):
    pk: int
    timezone: str
    grace_minutes: int  # StoreQuerySet.with_alert_grace


def alert_candidates(*, now: dt.datetime) -> list[Candidate]:
    """The stores that can be in trouble now: one query on
    the store rows (latest poll inactive, or older than the stale period, or
    an open incident). Business hours are the engine's to check, for these only."""
    stale_since = now - dt.timedelta(microseconds=stale_after())
    return [
        Candidate(*row)
        for row in Store.objects.filter(last_poll_at__isnull=False)
        .filter(Q(last_status=PollStatus.INACTIVE) | Q(last_poll_at__lte=stale_since) | Q(incident_open=True))
        .with_alert_grace()
        .order_by("pk")
        .values_list("pk", "timezone", "alert_grace")
    ]


def _histories(
    stores: Sequence[Candidate], now: dt.datetime, organization_of: dict[int, int] | None = None
) -> dict[int, StoreRule]:
    """Each store's incidents over the week before `now`, by the rule, and
    whether `now` is inside its business hours with closures taken out (only
    then are openings and reminders sent). `organization_of`, when the
    caller has read it, spares the closures' read of the store rows."""
    end = instants.to_micros(now)
    start = end - instants.WEEK
    stale = stale_after()
    inputs = store_uptime_inputs(
        store_pks=[pk for pk, _, _ in stores], start=now - dt.timedelta(days=7), end=now, organization_of=organization_of
    )
    histories = {}
    for pk, zone, grace_minutes in stores:
        store = inputs[pk]
        # One microsecond past `end`, for the instant `now` itself.
        closed = closure_intervals(store.closures, zone, start, end + 1)
        history = store_incidents(
            spans=store.spans,
            open_hours=uptime.open_intervals(store.hours, zone, start, end, closed),
            stale_after=stale,
            grace=grace_minutes * instants.MINUTE,
            start=start,
            end=end,
            flap_limit=settings.MONITOR_ALERT_FLAP_LIMIT,
        )
        histories[pk] = StoreRule(history, bool(uptime.open_intervals(store.hours, zone, end, end + 1, closed)))
    return histories


def alerts_evaluate(*, now: dt.datetime | None = None) -> PassSummary:
    """One pass: open the incidents the rule says are open now and are not
    yet, bring open ones' business downtime up to date, resolve those whose
    run has ended, and record flapping notices; each change writes its
    notifications (alerts.notifications) in its own transaction, and open
    incidents are announced or reminded of inside business hours. Safe to
    run in several processes at once: a store's open incident is unique (a
    constraint), so its notifications are written once."""
    now = now or timezone.now()
    candidates = alert_candidates(now=now)
    opened = resolved = flapping = 0
    for offset in range(0, len(candidates), READ_BATCH_SIZE):
        batch = candidates[offset : offset + READ_BATCH_SIZE]
        histories = _histories(batch, now)
        open_incidents = {incident.store_id: incident for incident in Incident.objects.open().filter(store_id__in=[pk for pk, _, _ in batch])}
        # Most passes change nothing but the open incidents' downtime: that is
        # one statement for the batch; only the stores with more to do get
        # their own transaction.
        grown: list[Incident] = []
        due: list[Incident] = []
        openings: dict[int, StoreRule] = {}
        for pk, _, _ in batch:
            rule, recorded = histories[pk], open_incidents.get(pk)
            if recorded is not None and _continues(rule, recorded, now):
                seconds = rule.history.incidents[-1].business_downtime // instants.SECOND
                if seconds != recorded.business_downtime_seconds:
                    recorded.business_downtime_seconds = seconds
                    grown.append(recorded)
                if rule.open_now and _announcement_due(recorded, now):
                    due.append(recorded)
                continue
            if recorded is None and _opens_only(rule, now):
                openings[pk] = rule
                continue
            counts = _store_apply(pk, rule, recorded, now)
            opened, resolved, flapping = opened + counts[0], resolved + counts[1], flapping + counts[2]
        update_rows(Incident, grown, ["business_downtime_seconds"])
        _announce_or_remind(due, now)
        opened += _incidents_open(openings, now)
    return PassSummary(len(candidates), opened, resolved, flapping)


def _continues(rule: StoreRule, recorded: Incident, now: dt.datetime) -> bool:
    """Whether the rule says the recorded open incident is still open, with no flapping notice to record."""
    incidents = rule.history.incidents
    still_open = bool(incidents) and incidents[-1].resolved_at is None and _moment(incidents[-1].started_at) == recorded.started_at
    return still_open and not _recent_flapping(rule, now)


def _recent_flapping(rule: StoreRule, now: dt.datetime) -> list:
    """The flapping notices of the last hour: those a pass records (older ones were, by earlier passes)."""
    return [notice for notice in rule.history.flapping if notice.at >= instants.to_micros(now) - instants.HOUR]


def _opens_only(rule: StoreRule, now: dt.datetime) -> bool:
    """For a store with no open incident recorded: whether the rule says one is
    open now and there is no flapping notice to record (_incidents_open's case)."""
    incidents = rule.history.incidents
    return bool(incidents) and incidents[-1].resolved_at is None and not _recent_flapping(rule, now)


def _incidents_open(openings: dict[int, StoreRule], now: dt.datetime) -> int:
    """Open the incidents the rule says are open for these stores (none
    recorded open), announcing those inside business hours: one insert,
    one update and one notification write for them all. Another pass may have
    opened some meanwhile: then the constraint refuses the whole insert, and
    each store goes its own way (_store_apply), so each opens once."""
    if not openings:
        return 0
    rows = [
        # Announced now inside business hours; otherwise once they begin (_announce_or_remind).
        _incident_row(pk, rule.history.incidents[-1], notified_at=now if rule.open_now else None)
        for pk, rule in openings.items()
    ]
    try:
        with transaction.atomic():
            made = Incident.objects.bulk_create(rows)
            Store.objects.filter(pk__in=list(openings)).update(incident_open=True)
            incidents_notify(incidents=[incident for incident in made if incident.notified_at is not None], event=NotificationEvent.OPENED, now=now)
        return len(made)
    except IntegrityError:
        return sum(_store_apply(pk, rule, None, now)[0] for pk, rule in openings.items())


def _announcement_due(incident: Incident, now: dt.datetime) -> bool:
    """Whether _announce_or_remind has something to send: an announcement, or a reminder."""
    if incident.notified_at is None:
        return True
    remind = settings.MONITOR_ALERT_REMIND_MINUTES
    return bool(remind) and incident.acknowledged_at is None and now - incident.notified_at >= dt.timedelta(minutes=remind)


def _moment(micros: int | None) -> dt.datetime | None:
    return None if micros is None else instants.from_micros(micros)


def _incident_row(store_pk: int, run: RuleIncident, **fields: Any) -> Incident:
    """The row of an incident the rule found, not yet saved."""
    return Incident(
        store_id=store_pk,
        started_at=_moment(run.started_at),
        opened_at=_moment(run.opened_at),
        reason=run.reason,
        business_downtime_seconds=run.business_downtime // instants.SECOND,
        **fields,
    )


def _store_apply(pk: int, rule: StoreRule, recorded: Incident | None, now: dt.datetime) -> tuple[int, int, int]:
    """Bring one store's incidents to what the rule says; writes only what
    changed, with its notifications in the same transaction."""
    history = rule.history
    current = history.incidents[-1] if history.incidents and history.incidents[-1].resolved_at is None else None
    opened = resolved = flapped = 0
    with transaction.atomic():
        if recorded is not None and (current is None or _moment(current.started_at) != recorded.started_at):
            # Its run has ended without the request resolving it (the Loop import, say).
            ended = next((i for i in history.incidents if _moment(i.started_at) == recorded.started_at), None)
            recorded.resolved_at = _moment(ended.resolved_at) if ended and ended.resolved_at else now
            if ended is not None:
                recorded.business_downtime_seconds = ended.business_downtime // instants.SECOND
            # Only if still open: the poll request (or another pass) may have resolved it since, and told so.
            if _resolve(recorded):
                resolved += 1
                if recorded.notified_at is not None:  # nobody was told of one never announced
                    incident_notify(incident=recorded, event=NotificationEvent.RESOLVED, now=now)
            if current is None:
                Store.objects.filter(pk=pk).update(incident_open=False)
            recorded = None
        if current is not None and recorded is None:
            try:
                with transaction.atomic():
                    # Announced now inside business hours; otherwise once they begin (_announce_or_remind).
                    incident = _incident_row(pk, current, notified_at=now if rule.open_now else None)
                    incident.save(force_insert=True)
                    Store.objects.filter(pk=pk).update(incident_open=True)
                    if rule.open_now:
                        incident_notify(incident=incident, event=NotificationEvent.OPENED, now=now)
                opened += 1
            except IntegrityError:
                pass  # another pass opened it (or its run was resolved since): nothing to do twice
        elif current is not None:
            if recorded.business_downtime_seconds != current.business_downtime // instants.SECOND:
                Incident.objects.filter(pk=recorded.pk).update(business_downtime_seconds=current.business_downtime // instants.SECOND)
            if rule.open_now:
                _announce_or_remind([recorded], now)
        for notice in _recent_flapping(rule, now):
            flapping, made = Flapping.objects.update_or_create(
                store_id=pk, at=_moment(notice.at), defaults={"steady_at": _moment(notice.until)}
            )
            if made:
                flapping_notify(flapping=flapping, now=now)
            flapped += made
    return opened, resolved, flapped


def _resolve(incident: Incident) -> bool:
    """Write the incident's resolution if it is still open; whether it was."""
    return bool(
        Incident.objects.filter(pk=incident.pk, resolved_at__isnull=True).update(
            resolved_at=incident.resolved_at, business_downtime_seconds=incident.business_downtime_seconds
        )
    )


def _announce_or_remind(incidents: Sequence[Incident], now: dt.datetime) -> None:
    """Inside business hours: announce the open incidents not yet announced,
    and remind of unacknowledged ones every MONITOR_ALERT_REMIND_MINUTES. Each
    one's conditional update (still open, its notified_at as read) makes it
    once, whichever pass gets there first; one transaction and one
    notification write for them all."""
    announced: list[Incident] = []
    reminded: list[Incident] = []
    with transaction.atomic():
        for incident in sorted(incidents, key=lambda incident: incident.pk):  # one lock order: passes never deadlock
            if not _announcement_due(incident, now):
                continue
            open_ones = Incident.objects.filter(pk=incident.pk, resolved_at__isnull=True)
            if incident.notified_at is None:
                if open_ones.filter(notified_at__isnull=True).update(notified_at=now):
                    announced.append(incident)
            elif open_ones.filter(notified_at=incident.notified_at, acknowledged_at__isnull=True).update(notified_at=now):
                reminded.append(incident)
        incidents_notify(incidents=announced, event=NotificationEvent.OPENED, now=now)
        incidents_notify(incidents=reminded, event=NotificationEvent.REMINDER, now=now)


def incidents_resolve_recovered(*, recovered: dict[int, Sequence[dt.datetime]]) -> int:
    """In the poll request's transaction, for stores whose down runs active
    polls have just ended ({pk: those polls' instants, in order}; a batch of
    polls may end several): resolve the open incident with its business
    downtime up to the poll that ended it, and record the incidents of the
    runs that opened and ended between two monitor_alerts passes (nobody was
    told of them, so nothing is sent). A constant number of queries for the
    batch, plus one write per open incident resolved. Returns the incidents resolved or recorded."""
    if not recovered:
        return 0
    ends_of = {pk: list(ends) for pk, ends in recovered.items()}
    rows = (
        Store.objects.filter(pk__in=list(ends_of))
        .with_alert_grace()
        .values_list("pk", "timezone", "alert_grace", "organization_id", "incident_open")
    )
    stores: list[Candidate] = []
    organization_of: dict[int, int] = {}
    flagged: list[int] = []  # the stores with an open incident (their rows are locked: the flag is current)
    for pk, zone, grace, organization_id, incident_open in rows:
        stores.append(Candidate(pk, zone, grace))
        organization_of[pk] = organization_id
        if incident_open:
            flagged.append(pk)
    # One read for all, up to just past the latest of these polls, so that the
    # rule sees each of them end its run.
    latest = max(max(ends) for ends in ends_of.values())
    rules = _histories(stores, latest + dt.timedelta(microseconds=1), organization_of)
    # Most recoveries end a run no pass has opened an incident for: no query for them.
    open_incidents = (
        {incident.store_id: incident for incident in Incident.objects.open().filter(store_id__in=flagged)} if flagged else {}
    )
    ended: dict[int, list[RuleIncident]] = {}
    for pk, _, _ in stores:
        ends = {instants.to_micros(at) for at in ends_of[pk]}
        ended[pk] = [run for run in rules[pk].history.incidents if run.resolved_at in ends]
    starts = [_moment(run.started_at) for runs in ended.values() for run in runs]
    known = set(Incident.objects.filter(store_id__in=list(ended), started_at__in=starts).values_list("store_id", "started_at"))
    count = 0
    past: list[Incident] = []
    for pk, ends in ends_of.items():
        runs, incident = ended.get(pk, []), open_incidents.get(pk)
        if incident is not None:
            own = next((run for run in runs if _moment(run.started_at) == incident.started_at), None)
            # Open before the batch: the batch's first run end is its own.
            incident.resolved_at = _moment(own.resolved_at) if own is not None else min(ends)
            if own is not None:
                incident.business_downtime_seconds = own.business_downtime // instants.SECOND
            if _resolve(incident):  # unless a pass resolved it meanwhile
                if incident.notified_at is not None:  # nobody was told of one never announced
                    incident_notify(incident=incident, event=NotificationEvent.RESOLVED)
                count += 1
        past += [
            _incident_row(pk, run, resolved_at=_moment(run.resolved_at))
            for run in runs
            if (pk, _moment(run.started_at)) not in known
            and (incident is None or _moment(run.started_at) != incident.started_at)
        ]
    if flagged:
        Store.objects.filter(pk__in=flagged).update(incident_open=False)
    return count + _incidents_record(past)


def _incidents_record(incidents: list[Incident]) -> int:
    """Insert incidents already ended, in one statement; if a pass recorded
    some meanwhile, the constraint refuses it, and they go one by one."""
    if not incidents:
        return 0
    try:
        with transaction.atomic():
            return len(Incident.objects.bulk_create(incidents))
    except IntegrityError:
        pass
    count = 0
    for incident in incidents:
        try:
            with transaction.atomic():
                incident.pk = None
                incident.save(force_insert=True)
            count += 1
        except IntegrityError:
            pass  # a pass recorded it meanwhile
    return count


class IncidentResolved(Exception):
    """Only an open incident can be acknowledged."""


def incident_acknowledge(*, incident: Incident, user, note: str = "") -> Incident:
    """A manager has seen the open incident (reminders stop); `note` says what is being done."""
    with transaction.atomic():
        locked = Incident.objects.select_for_update().get(pk=incident.pk)
        if locked.resolved_at is not None:
            raise IncidentResolved(locked.pk)
        locked.acknowledged_by, locked.acknowledged_at, locked.note = user, timezone.now(), note
        locked.save(update_fields=["acknowledged_by", "acknowledged_at", "note"])
        incident_notify(incident=locked, event=NotificationEvent.ACKNOWLEDGED, now=locked.acknowledged_at)
    return locked
