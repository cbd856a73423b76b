"""The downtime dashboard: every visible store's state and figures, and one store's week.

Figures come from StoreFigures, which the same engine fills as the CSV
reports (as of its last refresh); timelines are drawn from spans, hours and
closures for the stores on the page only, and so is the "closed (reason)"
state of a store inside a closure now. Open incidents (alerts.models.Incident)
head the list, and a manager acknowledges one from there; a store's page lists
its incidents. Above them, a flag for each active channel of the user's
organizations whose notifications have all failed for 24 hours or longer
(alerts.selectors.channels_failing_for).
"""
from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple
from urllib.parse import urlencode

from django.contrib import messages
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import BigIntegerField, Count, F, Q, QuerySet, Sum, Value
from django.db.models.functions import Coalesce
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import Role
from accounts.selectors import groups_visible_to
from alerts.models import ChannelKind, Incident, IncidentReason
from alerts.selectors import channels_failing_for
from alerts.services import IncidentResolved, incident_acknowledge
from common.pages import admin_context
from core import instants, uptime
from core.closures import ClosureRule, closure_intervals
from stores.access import store_role
from stores.hours import week_representation
from stores.models import Closure, Store, StoreState, stale_after
from stores.selectors import closure_rule, closures_covering, closures_touching, store_closures, store_spans, store_weekly_hours
from stores.store_ids import is_store_id

from .figures import figures_refresh_queue, figures_request_refresh
from .page_limits import throttled_like_the_api
from .timeline import StoreWeek, format_duration, local_label, store_week

PAGE_SIZE = 50
# Sort keys offered in the column headers, and the field each orders by.
SORTS = {
    "downtime_week": "downtime_last_week",
    "downtime_day": "downtime_last_day",
    "uptime_week": "uptime_last_week",
    "store_id": "store_id",
    "last_poll": "last_poll_at",
}
DOWN_STATES = (StoreState.DOWN, StoreState.NO_SIGNAL)
# The sorts on StoreFigures' columns (MeasuredFirst).
FIGURES_SORTS = ("downtime_last_week", "downtime_last_day", "uptime_last_week")


# Figures beyond StoreQuerySet.with_figures(): the no-signal share of the downtime and the closed time.
MORE_FIGURES = ("no_signal_last_day", "no_signal_last_week", "closed_last_day", "closed_last_week")
# A store's page lists the closures that ended this long ago, and every coming one.
PAST_CLOSURES = dt.timedelta(days=90)
# The list shows this many open incidents at most (and says when there are more);
# a store's page, its last this many incidents.
OPEN_INCIDENTS_SHOWN = 100
STORE_INCIDENTS_SHOWN = 50
# As the API's AcknowledgeSerializer (the column's length).
NOTE_MAX_LENGTH = Incident._meta.get_field("note").max_length
# The list flags this many failing channels at most (and says when there are more).
FAILING_CHANNELS_SHOWN = 20


def _with_more_figures(stores):
    return stores.annotate(
        **{
            name: Coalesce(F(f"figures__{name}"), Value(0), output_field=BigIntegerField())
            for name in MORE_FIGURES
        }
    )


class MeasuredFirst:
    """A list sorted on a figures column, for the Paginator: the stores with
    figures first, in that order, then those added since the last refresh
    (no figures yet), by store id. The first part is an inner join, which
    PostgreSQL walks down the column's index for a page; a left join sorted
    on COALESCE(column, 0) sorted every store to show fifty. The counts come
    from the page's totals: a refresh writing between the two reads may move
    a store across the boundary for that one request."""

    def __init__(self, *, measured: QuerySet, unmeasured: QuerySet, measured_count: int, count: int) -> None:
        self.measured, self.unmeasured = measured, unmeasured
        self.measured_count, self.total = measured_count, count
        self.ordered = True  # the Paginator's check for an ordered list

    def count(self) -> int:
        return self.total

    def __len__(self) -> int:
        return self.total

    def __getitem__(self, window: slice) -> list[Store]:
        start, stop = window.start or 0, min(window.stop if window.stop is not None else self.total, self.total)
        split = self.measured_count
        rows = list(self.measured[start : min(stop, split)]) if start < split else []
        if stop > split:
            rows += list(self.unmeasured[max(start - split, 0) : stop - split])
        return rows


def _hours(micros: int) -> str:
    return str(uptime.in_unit(micros, instants.HOUR))


# --------------------------------------------------------------------------
# Closures of the stores on a page, with their reasons
# --------------------------------------------------------------------------


class ShownClosure(NamedTuple):
    """A closure covering a store: its rule, and its reason as the reader may
    see it ("" for a closure they do not see, which closes the store all the same)."""

    rule: ClosureRule
    reason: str


def _store_closures(stores: list[Store], user: Any, start: dt.datetime, end: dt.datetime) -> dict[int, list[ShownClosure]]:
    """The closures covering each store that may touch [start, end)
    (stores.selectors.store_closures), with the reasons of those the user
    sees: five queries at most for the page."""
    covering = store_closures(store_pks=[store.pk for store in stores], start=start, end=end)
    ids = {closure.pk for closures in covering.values() for closure in closures}
    seen = set(Closure.objects.visible_to(user).filter(pk__in=ids).values_list("pk", flat=True)) if ids else set()
    return {
        pk: [ShownClosure(closure.rule, closure.reason if closure.pk in seen else "") for closure in closures]
        for pk, closures in covering.items()
    }


def _closed_now(closures: list[ShownClosure], zone_name: str, now: int, start: int, end: int) -> str | None:
    """The reasons of the closures the store is inside at `now` (in its zone),
    joined ("" when the user sees none of them); None when it is in none.
    Each closure is resolved over the page's window [start, end), the same
    for every store, so that stores sharing a closure and a zone share it."""
    reasons: list[str] = []
    inside = False
    for closure in closures:
        if any(s <= now < e for s, e in closure_intervals([closure.rule], zone_name, start, end)):
            inside = True
            if closure.reason and closure.reason not in reasons:
                reasons.append(closure.reason)
    return ", ".join(reasons) if inside else None


class PageWeeks(NamedTuple):
    weeks: dict[int, StoreWeek]
    closed_now: dict[int, str | None]


def _weeks(stores: list[Store], as_of: dt.datetime, *, user: Any, now: dt.datetime) -> PageWeeks:
    """Each store's week for its timeline, and whether it is closed now: a
    constant number of queries for the whole page (hours, spans, and the
    closures once, with their reasons, over the week and now)."""
    start = as_of - dt.timedelta(days=7)
    pks = [store.pk for store in stores]
    hours = store_weekly_hours(store_pks=pks)
    spans = store_spans(store_pks=pks, start=start, end=as_of)
    window = (min(start, now), max(as_of, now) + dt.timedelta(microseconds=1))
    shown = _store_closures(stores, user, *window)
    stale = stale_after()
    now_micros, window_micros = instants.to_micros(now), (instants.to_micros(window[0]), instants.to_micros(window[1]))
    weeks = {
        store.pk: store_week(
            spans=spans[store.pk],
            hours=hours[store.pk],
            zone_name=store.timezone,
            as_of=instants.to_micros(as_of),
            stale_after=stale,
            # As the engine reads them (store_closure_rules); the window only reaches further.
            closures=tuple(sorted({closure.rule for closure in shown[store.pk]})),
            reasons=[(closure.rule, closure.reason) for closure in shown[store.pk] if closure.reason],
        )
        for store in stores
    }
    closed_now = {store.pk: _closed_now(shown[store.pk], store.timezone, now_micros, *window_micros) for store in stores}
    return PageWeeks(weeks, closed_now)


def _row(store: Store, week: StoreWeek, now: dt.datetime, closed_now: str | None = None) -> dict:
    return {
        "store": store,
        "state": StoreState(store.state),
        # None: not inside a closure now; otherwise the reasons ("" when not shown to the user).
        "closed_now": closed_now,
        "since_last_poll": None if store.last_poll_at is None else format_duration(
            instants.to_micros(now) - instants.to_micros(store.last_poll_at)
        ),
        "uptime_day_pct": uptime.uptime_percent(store.uptime_last_day, store.downtime_last_day),
        "uptime_week_pct": uptime.uptime_percent(store.uptime_last_week, store.downtime_last_week),
        "downtime_day": _hours(store.downtime_last_day),
        "downtime_week": _hours(store.downtime_last_week),
        "no_signal_day": _hours(store.no_signal_last_day),
        "no_signal_week": _hours(store.no_signal_last_week),
        "closed_day": _hours(store.closed_last_day),
        "closed_week": _hours(store.closed_last_week),
        "week": week,
        # The id of the timeline's hatch pattern: one per store on the page.
        "hatch_id": f"closed-hatch-{store.pk}",
    }


def _closure_list(store: Store, user: Any, now: dt.datetime) -> tuple[list[dict], list[dict]]:
    """The closures the user sees that cover the store, occurrence by
    occurrence in its zone: those under way or coming (for one every year,
    its next occurrence), soonest first, and those that ended in the last 90
    days, latest first. One query."""
    since = now - PAST_CLOSURES
    closures = (
        Closure.objects.visible_to(user)
        .filter(closures_covering(store))
        .filter(closures_touching(since, dt.datetime(9999, 12, 30, tzinfo=dt.timezone.utc)))  # and every coming one
        .select_related("created_by")
        .order_by("pk")
    )
    now_micros, since_micros = instants.to_micros(now), instants.to_micros(since)
    zone = uptime.zone(store.timezone)
    coming: list[dict] = []
    past: list[dict] = []
    for closure in closures:
        rule = closure_rule(
            start_local=closure.start_local,
            end_local=closure.end_local,
            start_at=closure.start_at,
            end_at=closure.end_at,
            every_year=closure.every_year,
        )
        if rule.every_year:
            reach = 2 * 366 * instants.DAY
            occurrences = closure_intervals([rule], store.timezone, since_micros - reach, now_micros + reach)
        elif rule.local:
            occurrences = [(uptime.local_to_micros(store.timezone, *rule.start), uptime.local_to_micros(store.timezone, *rule.end))]
        else:
            occurrences = [(rule.start, rule.end)]
        next_found = False
        for start, end in occurrences:
            if end <= since_micros:
                continue
            if end <= now_micros:
                status = "past"
            elif next_found:
                continue  # every year: the next occurrence only
            else:
                status = "now" if start <= now_micros else "coming"
                next_found = True
            entry = {
                "closure": closure,
                "status": status,
                "start": start,
                "when": local_label(start, end, zone),
                "created_by": closure.created_by.get_username() if closure.created_by else "",
            }
            (past if status == "past" else coming).append(entry)
    coming.sort(key=lambda entry: (entry["start"], entry["closure"].pk))
    past.sort(key=lambda entry: (-entry["start"], entry["closure"].pk))
    return coming, past


# --------------------------------------------------------------------------
# Incidents
# --------------------------------------------------------------------------


def _local_moment(at: dt.datetime, zone_name: str) -> str:
    """An instant in the store's zone, as the timelines' labels write it: `Mon 08 Jan 09:30 CST`."""
    return f"{at.astimezone(uptime.zone(zone_name)):%a %d %b %H:%M %Z}"


def _acknowledgement(incident: Incident) -> dict | None:
    if incident.acknowledged_at is None:
        return None
    return {
        # "" when the account was deleted since (the acknowledgement stands).
        "by": incident.acknowledged_by.get_username() if incident.acknowledged_by else "",
        "at": _local_moment(incident.acknowledged_at, incident.store.timezone),
        "note": incident.note,
    }


def _open_incidents(user: Any, now: dt.datetime) -> tuple[list[dict], bool]:
    """The open incidents of the stores the user sees, those nobody acknowledged
    first, then the longest; whether there are more than shown. Two queries
    whatever their number: the incidents with their stores and acknowledgers,
    and the stores among theirs the user may act on as a manager."""
    incidents = list(
        Incident.objects.visible_to(user)
        .open()
        .select_related("store", "acknowledged_by")
        .order_by(F("acknowledged_at").asc(nulls_first=True), "started_at", "pk")[: OPEN_INCIDENTS_SHOWN + 1]
    )
    more = len(incidents) > OPEN_INCIDENTS_SHOWN
    incidents = incidents[:OPEN_INCIDENTS_SHOWN]
    managed = (
        set(
            Store.objects.visible_to(user, role=Role.MANAGER)
            .filter(pk__in={incident.store_id for incident in incidents})
            .values_list("pk", flat=True)
        )
        if incidents
        else set()
    )
    rows = [
        {
            "incident": incident,
            "reason": IncidentReason(incident.reason).label,
            "since": _local_moment(incident.started_at, incident.store.timezone),
            "lasting": format_duration(max(0, instants.to_micros(now) - instants.to_micros(incident.started_at))),
            "acknowledged": _acknowledgement(incident),
            "may_acknowledge": incident.store_id in managed,
        }
        for incident in incidents
    ]
    return rows, more


# --------------------------------------------------------------------------
# Failing notification channels
# --------------------------------------------------------------------------


def _utc_moment(at: dt.datetime) -> str:
    # A channel has no zone of its own (its stores may have several): UTC, as the figures' time.
    return f"{at.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M} UTC"


def _failing_channels(user: Any, now: dt.datetime) -> tuple[list[dict], bool]:
    """The failing active channels of the user's organizations, the longest
    failing first, with their last error; an admin of a channel's organization
    gets links to it in the admin. Whether there are more than shown. One
    query whatever their number."""
    channels = list(channels_failing_for(user, now=now)[: FAILING_CHANNELS_SHOWN + 1])
    more = len(channels) > FAILING_CHANNELS_SHOWN
    rows = [
        {
            "channel": channel,
            "kind": ChannelKind(channel.kind).label,
            "since": _utc_moment(channel.failing_since),
            "lasting": format_duration(max(0, instants.to_micros(now) - instants.to_micros(channel.failing_since))),
            "last_error": channel.last_error or "",
            # The channel's page, and its notifications, each listing its attempts.
            "admin_url": reverse("admin:alerts_channel_change", args=[channel.pk]) if channel.user_is_admin else None,
            "attempts_url": (
                f"{reverse('admin:alerts_notification_changelist')}?{urlencode({'channel__id__exact': channel.pk})}"
                if channel.user_is_admin
                else None
            ),
        }
        for channel in channels[:FAILING_CHANNELS_SHOWN]
    ]
    return rows, more


def _store_incidents(store: Store, now: dt.datetime) -> list[dict]:
    """The store's last incidents (by opening), the open one first. One query."""
    incidents = list(store.incidents.select_related("acknowledged_by").order_by("-opened_at", "-pk")[:STORE_INCIDENTS_SHOWN])
    incidents.sort(key=lambda incident: incident.resolved_at is not None)  # stable: latest first otherwise
    zone = uptime.zone(store.timezone)
    rows = []
    for incident in incidents:
        incident.store = store  # no query for it (_acknowledgement reads its zone)
        start = instants.to_micros(incident.started_at)
        if incident.resolved_at is None:
            when = f"since {_local_moment(incident.started_at, store.timezone)} ({format_duration(max(0, instants.to_micros(now) - start))} so far)"
        else:
            when = local_label(start, instants.to_micros(incident.resolved_at), zone)
        rows.append(
            {
                "incident": incident,
                "open": incident.resolved_at is None,
                "reason": IncidentReason(incident.reason).label,
                "opened": _local_moment(incident.opened_at, store.timezone),
                "when": when,
                "business_downtime": format_duration(incident.business_downtime_seconds * instants.SECOND),
                "acknowledged": _acknowledgement(incident),
            }
        )
    return rows


@login_required
def store_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    as_of = figures_request_refresh(now=now)
    seen = Store.objects.visible_to(request.user)
    visible = seen.with_state(now=now).with_figures()

    state = request.GET.get("state", "")
    zone = request.GET.get("timezone", "")
    group = request.GET.get("group", "")
    query = request.GET.get("q", "").strip()
    matching = Q()
    if state in StoreState.values:
        matching &= Q(state=state)
    if zone:
        matching &= Q(timezone=zone)
    if group.isdigit():
        matching &= Q(pk__in=Store.groups.through.objects.filter(storegroup_id=int(group)).values("store_id"))
    if query:
        matching &= Q(store_id__icontains=query)
    # One pass over the visible stores, by zone: the totals, the page's
    # counts (how many of its stores have figures) and the zones to filter by.
    by_zone = list(
        visible.order_by()
        .values("timezone")
        .annotate(
            stores=Count("pk"),
            down_now=Count("pk", filter=Q(state__in=DOWN_STATES)),
            downtime_week=Sum("downtime_last_week"),
            matching=Count("pk", filter=matching) if matching else Count("pk"),
            matching_measured=Count("figures__pk", filter=matching) if matching else Count("figures__pk"),
        )
    )
    totals = {
        name: sum(row[name] for row in by_zone)
        for name in ("stores", "down_now", "downtime_week", "matching", "matching_measured")
    }
    worst = list(seen.most_down_this_week()[:5])
    groups = list(groups_visible_to(request.user).select_related("organization").order_by("name", "organization__name"))
    stores = visible.filter(matching)
    sort = request.GET.get("sort", "downtime_week")
    if sort not in SORTS:
        sort = "downtime_week"
    descending = request.GET.get("dir", "desc") != "asc"
    field = SORTS[sort]
    stores = _with_more_figures(stores)
    if field in FIGURES_SORTS:
        listed = MeasuredFirst(
            measured=stores.filter(figures__isnull=False).order_by(
                f"-figures__{field}" if descending else f"figures__{field}", "store_id"
            ),
            unmeasured=stores.filter(figures__isnull=True).order_by("store_id"),
            measured_count=totals["matching_measured"],
            count=totals["matching"],
        )
    else:
        listed = stores.order_by(f"-{field}" if descending else field, "store_id")

    paginator = Paginator(listed, PAGE_SIZE)
    paginator.count = totals["matching"]  # a cached property: no COUNT query of its own
    page = paginator.get_page(request.GET.get("page"))
    page_stores = list(page.object_list)
    weeks = _weeks(page_stores, as_of or now, user=request.user, now=now)

    open_incidents, more_incidents = _open_incidents(request.user, now)
    failing_channels, more_failing_channels = _failing_channels(request.user, now)

    filters = {"state": state, "timezone": zone, "group": group, "q": query}
    context = {
        **admin_context(request, title="Downtime dashboard"),
        "failing_channels": failing_channels,
        "more_failing_channels": more_failing_channels,
        "open_incidents": open_incidents,
        "more_incidents": more_incidents,
        "note_max_length": NOTE_MAX_LENGTH,
        "groups": groups,
        "now": now,
        "figures_as_of": as_of,
        "totals": {
            "stores": totals["stores"],
            "down_now": totals["down_now"],
            "downtime_week": _hours(totals["downtime_week"] or 0),
        },
        "worst": [(store, _hours(store.downtime_last_week)) for store in worst],
        "rows": [_row(store, weeks.weeks[store.pk], now, weeks.closed_now[store.pk]) for store in page_stores],
        "page": page,
        "states": StoreState.choices,
        "timezones": sorted(row["timezone"] for row in by_zone),
        "filters": filters,
        "sort": sort,
        "descending": descending,
        # Links keep the other parameters: sort headers keep filters, pages keep both.
        "filter_query": urlencode({key: value for key, value in filters.items() if value}),
        "page_query": urlencode(
            {**{key: value for key, value in filters.items() if value}, "sort": sort, "dir": "desc" if descending else "asc"}
        ),
        "sort_links": {
            key: ("asc" if key == sort and descending else "desc") for key in SORTS
        },
    }
    return render(request, "dashboard/store_list.html", context)


def front_door(request: HttpRequest) -> HttpResponse:
    """/: the dashboard for a logged-in person, the login page (then the dashboard) for anyone else."""
    if request.user.is_authenticated:
        return redirect("dashboard")
    return redirect_to_login("/dashboard/", settings.LOGIN_URL)


@login_required
def store_detail(request: HttpRequest, store_id: str) -> HttpResponse:
    if not is_store_id(store_id):
        raise Http404("No such store.")  # no store has it: not worth a query
    now = timezone.now()
    as_of = figures_request_refresh(now=now) or now
    store = _with_more_figures(
        Store.objects.visible_to(request.user).with_state(now=now).with_figures().filter(store_id=store_id)
    ).first()
    if store is None:
        raise Http404("No such store.")
    weeks = _weeks([store], as_of, user=request.user, now=now)
    week = weeks.weeks[store.pk]
    closures_coming, closures_past = _closure_list(store, request.user, now)
    context = {
        **admin_context(request, title=f"Store {store.store_id}"),
        "store_groups": sorted(group.name for group in groups_visible_to(request.user).filter(stores=store)),
        "row": _row(store, week, now, weeks.closed_now[store.pk]),
        "closures_coming": closures_coming,
        "closures_past": closures_past,
        "incidents": _store_incidents(store, now),
        "figures_as_of": as_of,
        "business_hours": week_representation(store.business_hours.all()),
        "down_total": format_duration(sum(period.end - period.start for period in week.down_periods)),
    }
    return render(request, "dashboard/store_detail.html", context)


@login_required
@require_POST
@throttled_like_the_api
def refresh(request: HttpRequest) -> HttpResponse:
    """Queue a refresh of the figures now, whatever their age (one at a time, for everyone)."""
    if figures_refresh_queue(now=timezone.now(), force=True):
        messages.success(request, "The figures are being recomputed; reload in a moment.")
    else:
        messages.info(request, "The figures are being recomputed already; reload in a moment.")
    return redirect("dashboard")


@login_required
@require_POST
@throttled_like_the_api
def incident_acknowledge_page(request: HttpRequest, incident_id: int) -> HttpResponse:
    """A manager (or an admin) of the store has seen the open incident, with an
    optional note. An incident of a store the user does not see is a 404; a
    viewer gets a 403; a resolved one, a message."""
    incident = Incident.objects.visible_to(request.user).select_related("store").filter(pk=incident_id).first()
    if incident is None:
        raise Http404("No such incident.")
    if not Role.includes(store_role(request.user, incident.store), Role.MANAGER):
        raise PermissionDenied("Only a manager or an admin of the store acknowledges its incidents.")
    note = request.POST.get("note", "").strip()
    if len(note) > NOTE_MAX_LENGTH:
        messages.error(request, f"The note is too long: {NOTE_MAX_LENGTH} characters at most.")
        return redirect("dashboard")
    try:
        incident_acknowledge(incident=incident, user=request.user, note=note)
    except IncidentResolved:
        messages.info(request, f"The incident of store {incident.store.store_id} is resolved already: nothing to acknowledge.")
    else:
        messages.success(request, f"The incident of store {incident.store.store_id} is acknowledged.")
    return redirect("dashboard")
