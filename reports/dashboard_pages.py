"""The downtime dashboard: every visible store's state and figures, and one store's week.

Figures come from StoreFigures, which the same engine fills as the CSV
reports (as of its last refresh); timelines are drawn from spans and hours
for the stores on the page only.
"""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django.contrib import messages
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import Count, Q, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.selectors import groups_visible_to
from common.pages import admin_context
from core import instants, uptime
from stores.hours import week_representation
from stores.models import Store, StoreState, stale_after
from stores.selectors import store_uptime_inputs
from stores.store_ids import is_store_id

from .figures import figures_refresh_queue, figures_request_refresh
from .page_limits import throttled_like_the_api
from .timeline import StoreWeek, format_duration, store_week

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


def _percent(up: int, down: int) -> float | None:
    return None if up + down == 0 else round(100 * up / (up + down), 1)


def _hours(micros: int) -> str:
    return str(uptime.in_unit(micros, instants.HOUR))


def _weeks(stores: list[Store], as_of: dt.datetime) -> dict[int, StoreWeek]:
    """Each store's week for its timeline: four queries for the whole page."""
    inputs = store_uptime_inputs(
        store_pks=[store.pk for store in stores], start=as_of - dt.timedelta(days=7), end=as_of
    )
    stale = stale_after()
    return {
        store.pk: store_week(
            spans=inputs[store.pk].spans,
            hours=inputs[store.pk].hours,
            zone_name=store.timezone,
            as_of=instants.to_micros(as_of),
            stale_after=stale,
        )
        for store in stores
    }


def _row(store: Store, week: StoreWeek, now: dt.datetime) -> dict:
    return {
        "store": store,
        "state": StoreState(store.state),
        "since_last_poll": None if store.last_poll_at is None else format_duration(
            instants.to_micros(now) - instants.to_micros(store.last_poll_at)
        ),
        "uptime_day_pct": _percent(store.uptime_last_day, store.downtime_last_day),
        "uptime_week_pct": _percent(store.uptime_last_week, store.downtime_last_week),
        "downtime_day": _hours(store.downtime_last_day),
        "downtime_week": _hours(store.downtime_last_week),
        "week": week,
    }


@login_required
def store_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    as_of = figures_request_refresh(now=now)
    visible = Store.objects.visible_to(request.user).with_state(now=now).with_figures()

    totals = visible.aggregate(
        stores=Count("pk"),
        down_now=Count("pk", filter=Q(state__in=DOWN_STATES)),
        downtime_week=Sum("downtime_last_week"),
    )
    worst = list(visible.filter(downtime_last_week__gt=0).order_by("-downtime_last_week", "store_id")[:5])

    stores = visible
    state = request.GET.get("state", "")
    if state in StoreState.values:
        stores = stores.filter(state=state)
    zone = request.GET.get("timezone", "")
    if zone:
        stores = stores.filter(timezone=zone)
    groups = list(groups_visible_to(request.user).select_related("organization").order_by("name", "organization__name"))
    group = request.GET.get("group", "")
    if group.isdigit():
        stores = stores.filter(groups=int(group))
    query = request.GET.get("q", "").strip()
    if query:
        stores = stores.filter(store_id__icontains=query)
    sort = request.GET.get("sort", "downtime_week")
    if sort not in SORTS:
        sort = "downtime_week"
    descending = request.GET.get("dir", "desc") != "asc"
    field = SORTS[sort]
    stores = stores.order_by(f"-{field}" if descending else field, "store_id")

    page = Paginator(stores, PAGE_SIZE).get_page(request.GET.get("page"))
    page_stores = list(page.object_list)
    weeks = _weeks(page_stores, as_of or now)

    filters = {"state": state, "timezone": zone, "group": group, "q": query}
    context = {
        **admin_context(request, title="Downtime dashboard"),
        "groups": groups,
        "now": now,
        "figures_as_of": as_of,
        "totals": {
            "stores": totals["stores"],
            "down_now": totals["down_now"],
            "downtime_week": _hours(totals["downtime_week"] or 0),
        },
        "worst": [(store, _hours(store.downtime_last_week)) for store in worst],
        "rows": [_row(store, weeks[store.pk], now) for store in page_stores],
        "page": page,
        "states": StoreState.choices,
        "timezones": visible.order_by("timezone").values_list("timezone", flat=True).distinct(),
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
    store = (
        Store.objects.visible_to(request.user)
        .with_state(now=now)
        .with_figures()
        .filter(store_id=store_id)
        .first()
    )
    if store is None:
        raise Http404("No such store.")
    week = _weeks([store], as_of)[store.pk]
    context = {
        **admin_context(request, title=f"Store {store.store_id}"),
        "store_groups": sorted(group.name for group in groups_visible_to(request.user).filter(stores=store)),
        "row": _row(store, week, now),
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
