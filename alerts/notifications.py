"""Notifications: an organization's channels (email, webhook, Apprise), the
outbox rows written in the transaction of the change they tell, and their
delivery by a task, retried with exponential backoff.

- `incidents_notify` / `flapping_notify` write one Notification per channel of
  the store (its organization's, limited to none of its groups or one of the
  store's), inside the caller's transaction: an incident opened twice is
  refused by its constraints, so its notifications are never written twice.
- `notification_deliver` claims a row by an atomic state change (pending and
  due, or sending with its lease run out, to sending), sends it outside any
  transaction, and records the attempt. Timeouts, connection errors, 5xx,
  408 and 429 are tried again after 30 s, 1 min, 2 min, ... (at most an hour
  apart) for NOTIFY_RETRY_FOR after the notification was written; any other
  answer is final.
- Webhooks: POST of the JSON body, signed with the channel's secret
  (`X-Store-Monitor-Signature: sha256=<HMAC-SHA256 of the raw body>`), with
  `X-Store-Monitor-Delivery` the same on every attempt. Emails through
  Django's email backend (EMAIL_URL), Apprise URLs through the apprise
  library: the same news in words, with the store's local time and its page.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import smtplib
import socket
import time
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from typing import Any, NamedTuple
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import apprise
import requests
from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django_tasks import task
from rest_framework import status

from accounts.models import Organization, StoreGroup
from common.errors import Refusal
from stores.models import Store

from .models import (
    Channel,
    ChannelKind,
    Flapping,
    Incident,
    Notification,
    NotificationAttempt,
    NotificationEvent,
    NotificationStatus,
)
from .webhook_transport import PeerNotPublic, address_not_public, public_only_session

logger = logging.getLogger(__name__)

# How long a notification is tried again after it was written.
NOTIFY_RETRY_FOR = dt.timedelta(hours=24)
RETRY_FIRST = dt.timedelta(seconds=30)
RETRY_LONGEST = dt.timedelta(hours=1)
# A deliverer holds a claimed notification this long; past it, its process is taken for dead.
CLAIM_LEASE = dt.timedelta(minutes=5)
# A due notification whose task has not run for this long is queued again (monitor_alerts).
OVERDUE_AFTER = dt.timedelta(minutes=5)
# What an attempt keeps of the other side's answer.
ANSWER_KEPT = 2000
# Apprise services that reach a host the URL names (any address, so one inside
# the server's network): held to the webhook rule. The rest post to their
# vendor's fixed address (Telegram, Slack, ...).
APPRISE_HOSTED_SCHEMES = frozenset(
    scheme + secure
    for scheme in ("json", "xml", "form", "gotify", "mmost", "rocket", "ncloud", "nctalk", "apprise", "matrix", "hassio", "signal", "mailto")
    for secure in ("", "s")
) | {"rsyslog"}
# ntfy's host is a server only when it looks like one (ntfy://topic posts to ntfy.sh).
APPRISE_NTFY_SCHEMES = frozenset({"ntfy", "ntfys"})
# Services that act on the server's own machine (its syslog, its desktop): never.
APPRISE_LOCAL_SCHEMES = frozenset({"syslog", "dbus", "kde", "qt", "glib", "gnome", "macosx", "windows"})
USER_AGENT = "Store-Monitor-Webhook/1"


# --------------------------------------------------------------------------
# Refusals
# --------------------------------------------------------------------------


class WebhookUrlPrivate(Refusal):
    """Server-side request forgery: a URL reaching the server's own network."""

    code = "webhook_url_private"

    def __init__(self, address: str) -> None:
        super().__init__(
            f"The URL reaches a loopback, private or link-local address ({address}); "
            "only public addresses are allowed (MONITOR_WEBHOOK_ALLOW_PRIVATE)."
        )


class WebhookUrlInvalid(Refusal):
    code = "webhook_url_invalid"


class AppriseUrlInvalid(Refusal):
    code = "apprise_url_invalid"

    def __init__(self, message: str = "Apprise does not know this URL: see its list of services for the forms it takes.") -> None:
        super().__init__(message)


class ChannelNameTaken(Refusal):
    status_code = status.HTTP_409_CONFLICT
    code = "channel_name_taken"

    def __init__(self, name: str) -> None:
        super().__init__(f"The organization has a channel named {name!r} already.")


# --------------------------------------------------------------------------
# Addresses: no request to the server's own network
# --------------------------------------------------------------------------


def _host_check(host: str | None, port: int | None) -> None:
    """Every address the host resolves to must be public, unless the setting allows private ones."""
    if not host:
        raise WebhookUrlInvalid("The URL has no host.")
    if settings.MONITOR_WEBHOOK_ALLOW_PRIVATE:
        return
    try:
        found = socket.getaddrinfo(host, port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError, ValueError):  # not found, or not a host name at all
        raise WebhookUrlInvalid(f"The URL's host {host!r} does not resolve.") from None
    for *_, sockaddr in found:
        if address_not_public(sockaddr[0]):
            raise WebhookUrlPrivate(sockaddr[0])


def webhook_url_check(url: str) -> None:
    """An http(s) URL whose host resolves to public addresses only: WebhookUrlInvalid or WebhookUrlPrivate."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookUrlInvalid("The URL cannot be read.") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookUrlInvalid("A webhook URL starts with https:// (or http://).")
    _host_check(parts.hostname, port)


def apprise_url_check(url: str) -> None:
    """A URL Apprise knows, of a service that does not act on this machine;
    one reaching a host the URL names (json://, gotify://, mailto://, ...) is
    held to the webhook rule."""
    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        raise AppriseUrlInvalid()
    scheme = url.split("://", 1)[0].lower()
    if scheme in APPRISE_LOCAL_SCHEMES:
        raise AppriseUrlInvalid(f"{scheme}:// acts on the server's own machine: use a service reached over the network.")
    host = getattr(plugin, "host", None)
    if scheme in APPRISE_HOSTED_SCHEMES or (
        scheme in APPRISE_NTFY_SCHEMES and host and ("." in host or ":" in host or host == "localhost")
    ):
        _host_check(host, getattr(plugin, "port", None))


def apprise_url_shown(url: str) -> str:
    """The Apprise URL with its tokens and passwords masked: it holds credentials as a secret does."""
    plugin = apprise.Apprise.instantiate(url)
    return plugin.url(privacy=True) if plugin is not None else ""


# --------------------------------------------------------------------------
# Channels
# --------------------------------------------------------------------------


def channel_create(
    *,
    organization: Organization,
    kind: str,
    name: str,
    groups: Iterable[StoreGroup] = (),
    url: str = "",
    secret: str = "",
    addresses: Iterable[str] = (),
    created_by: Any = None,
) -> Channel:
    """A new channel; a webhook's or Apprise URL is checked first (no private addresses)."""
    if kind == ChannelKind.WEBHOOK:
        webhook_url_check(url)
    elif kind == ChannelKind.APPRISE:
        apprise_url_check(url)
    try:
        with transaction.atomic():
            channel = Channel.objects.create(
                organization=organization,
                kind=kind,
                name=name,
                url=url if kind != ChannelKind.EMAIL else "",
                secret=secret if kind == ChannelKind.WEBHOOK else "",
                addresses=list(addresses) if kind == ChannelKind.EMAIL else [],
                created_by=created_by,
            )
            channel.groups.set(list(groups))
    except IntegrityError:
        raise ChannelNameTaken(name) from None
    return channel


def channel_delete(*, channel: Channel) -> None:
    """The channel goes, with its notifications not yet delivered and its attempts."""
    channel.delete()


def channel_test_send(*, channel: Channel) -> Notification:
    """A "test" notification to this channel, queued as any other (delivered once committed)."""
    now = timezone.now()
    with transaction.atomic():
        payload = {
            "event": NotificationEvent.TEST.value,
            "incident": None,
            "store": None,
            "organization": channel.organization.name,
        }
        [notification] = _write(_notification_rows([channel], NotificationEvent.TEST, payload, now=now))
    return notification


# --------------------------------------------------------------------------
# The outbox: rows written in the caller's transaction
# --------------------------------------------------------------------------


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _store_payload(store: Store) -> dict[str, Any]:
    return {
        "store_id": store.store_id,
        "timezone": store.timezone,
        "groups": sorted(group.name for group in store.groups.all()),
    }


def _incident_payload(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.pk,
        "store_id": incident.store.store_id,
        "reason": incident.reason,
        "started_at": _iso(incident.started_at),
        "resolved_at": _iso(incident.resolved_at),
        "business_downtime_seconds": incident.business_downtime_seconds,
        "acknowledged_by": incident.acknowledged_by.get_username() if incident.acknowledged_by else None,
        "note": incident.note,
    }


def _notification_rows(
    channels: Iterable[Channel],
    event: str,
    payload: dict[str, Any],
    *,
    now: dt.datetime,
    incident: Incident | None = None,
    store: Store | None = None,
) -> list[Notification]:
    return [
        Notification(
            channel=channel, event=event, incident=incident, store=store, payload=payload, next_attempt_at=now, created_at=now
        )
        for channel in channels
    ]


def _write(rows: list[Notification]) -> list[Notification]:
    """The pending notifications, queued for delivery once the caller's transaction commits."""
    rows = Notification.objects.bulk_create(rows)
    ids = [row.pk for row in rows]
    if ids:
        transaction.on_commit(lambda: _queue(ids))
    return rows


def _queue(ids: list[int]) -> None:
    # A backend that queues tasks for a worker (the database's writes a row
    # each) does it in one transaction: one commit rather than one per task.
    # The immediate backend delivers at once, which must not be inside one.
    queued = transaction.atomic() if notification_deliver_task.get_backend().supports_defer else nullcontext()
    with queued:
        for notification_id in ids:
            notification_deliver_task.enqueue(notification_id)


def incidents_notify(*, incidents: Sequence[Incident], event: str, now: dt.datetime | None = None) -> int:
    """Notifications of the incidents' change to every channel of each one's
    store, with each incident as it is now in this transaction: a constant
    number of queries for any number of incidents. Returns how many."""
    if not incidents:
        return 0
    now = now or timezone.now()
    rows = list(
        Incident.objects.filter(pk__in=[incident.pk for incident in incidents])
        .select_related("store__organization", "acknowledged_by")
        .prefetch_related("store__groups")
        .order_by("pk")
    )
    channels = Channel.objects.for_stores([incident.store for incident in rows])
    notifications: list[Notification] = []
    for incident in rows:
        store = incident.store
        if not channels[store.pk]:
            continue
        payload = {
            "event": event,
            "incident": _incident_payload(incident),
            "store": _store_payload(store),
            "organization": store.organization.name,
        }
        notifications += _notification_rows(channels[store.pk], event, payload, now=now, incident=incident, store=store)
    return len(_write(notifications))


def incident_notify(*, incident: Incident, event: str, now: dt.datetime | None = None) -> int:
    """incidents_notify for one incident."""
    return incidents_notify(incidents=[incident], event=event, now=now)


def flapping_notify(*, flapping: Flapping, now: dt.datetime | None = None) -> int:
    """A store's new flapping notice to every channel of the store."""
    now = now or timezone.now()
    store = Store.objects.select_related("organization").get(pk=flapping.store_id)
    channels = Channel.objects.for_stores([store])[store.pk]
    if not channels:
        return 0
    payload = {
        "event": NotificationEvent.FLAPPING.value,
        "incident": None,
        "store": _store_payload(store),
        "organization": store.organization.name,
        "flapping": {"at": _iso(flapping.at), "steady_at": _iso(flapping.steady_at)},
    }
    return len(_write(_notification_rows(channels, NotificationEvent.FLAPPING, payload, now=now, store=store)))


# --------------------------------------------------------------------------
# In words: emails and Apprise messages
# --------------------------------------------------------------------------


def _local(iso: str | None, zone: str) -> str:
    if iso is None:
        return "?"
    moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
    return f"{moment:%a %d %b %Y %H:%M} {moment.tzname()} ({zone})"


def _duration(seconds: int) -> str:
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def store_page_url(store_id: str) -> str:
    return f"{settings.MONITOR_SITE_URL.rstrip('/')}/dashboard/stores/{store_id}/"


REASONS = {"inactive": "its device reports it inactive", "no_signal": "no poll has come from its device"}


def notification_words(payload: dict[str, Any], *, at: dt.datetime) -> tuple[str, str]:
    """(subject, text) of a notification: the webhook body's news for people,
    in the store's local time, with a link to its page. `at` is when the change was made."""
    event, organization = payload["event"], payload["organization"]
    if event == NotificationEvent.TEST:
        return (
            f"[Store Monitor] Test notification for {organization}",
            f"This is a test from Store Monitor: notifications of {organization} reach this channel.\n",
        )
    store = payload["store"]
    store_id, zone = store["store_id"], store["timezone"]
    link = f"Store page: {store_page_url(store_id)}\n"
    if event == NotificationEvent.FLAPPING:
        flapping = payload["flapping"]
        return (
            f"[Store Monitor] {store_id} is flapping",
            f"Store {store_id} of {organization} has gone down and up too often since "
            f"{_local(flapping['at'], zone)}: no new incidents are opened for it until it has been up "
            f"for 30 minutes without a break.\n{link}",
        )
    incident = payload["incident"]
    since = _local(incident["started_at"], zone)
    downtime = _duration(incident["business_downtime_seconds"])
    reason = REASONS.get(incident["reason"], incident["reason"])
    if event == NotificationEvent.OPENED:
        subject = f"[Store Monitor] {store_id} is down ({incident['reason'].replace('_', ' ')})"
        text = f"Store {store_id} of {organization} is down since {since}: {reason}.\nDowntime inside business hours so far: {downtime}.\n"
    elif event == NotificationEvent.REMINDER:
        subject = f"[Store Monitor] Reminder: {store_id} is still down"
        text = (
            f"Store {store_id} of {organization} is still down, since {since}: {reason}. "
            f"Nobody has acknowledged it yet.\nDowntime inside business hours so far: {downtime}.\n"
        )
    elif event == NotificationEvent.ACKNOWLEDGED:
        subject = f"[Store Monitor] {store_id}: incident acknowledged by {incident['acknowledged_by']}"
        note = f"\nNote: {incident['note']}" if incident["note"] else ""
        text = (
            f"{incident['acknowledged_by']} acknowledged the incident of store {store_id} of {organization} "
            f"(down since {since}) at {_local(_iso(at), zone)}.{note}\n"
        )
    else:
        subject = f"[Store Monitor] {store_id} is back up"
        text = (
            f"Store {store_id} of {organization} is back up since {_local(incident['resolved_at'], zone)}, "
            f"down since {since}.\nDowntime inside business hours: {downtime}.\n"
        )
    return subject, text + link


# --------------------------------------------------------------------------
# Sending: one attempt through each kind of channel
# --------------------------------------------------------------------------


class Outcome(NamedTuple):
    delivered: bool
    permanent: bool = False
    status_code: int | None = None
    answer: str = ""
    error: str = ""
    retry_after: int | None = None


def webhook_body(notification: Notification, *, sent_at: dt.datetime) -> bytes:
    """The raw body a webhook receives (and its signature covers)."""
    return json.dumps({**notification.payload, "sent_at": _iso(sent_at)}, separators=(",", ":")).encode()


def webhook_signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _retry_after(value: str | None) -> int | None:
    return int(value) if value and value.strip().isdigit() else None


def _send_webhook(notification: Notification, sent_at: dt.datetime) -> Outcome:
    channel = notification.channel
    body = webhook_body(notification, sent_at=sent_at)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Store-Monitor-Event": notification.event,
        "X-Store-Monitor-Delivery": str(notification.delivery_id),
        "X-Store-Monitor-Signature": webhook_signature(channel.secret, body),
    }
    try:
        # Checked again at each attempt: the name may resolve elsewhere now.
        webhook_url_check(channel.url)
        # And the address connected to as well, since the connection resolves the
        # name once more (DNS rebinding: public to the check, 127.0.0.1 to it).
        # Redirects are not followed: one could lead to a private address.
        with public_only_session() as session:
            answer = session.post(
                channel.url, data=body, headers=headers, timeout=settings.MONITOR_NOTIFY_TIMEOUT_SECONDS, allow_redirects=False
            )
    except WebhookUrlPrivate as exc:
        return Outcome(False, permanent=True, error=exc.message)
    except PeerNotPublic as exc:  # nothing was sent
        return Outcome(False, permanent=True, error=WebhookUrlPrivate(exc.address).message)
    except WebhookUrlInvalid as exc:  # its name does not resolve now: perhaps later
        return Outcome(False, error=exc.message)
    except (requests.Timeout, requests.ConnectionError) as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}")
    except requests.RequestException as exc:
        return Outcome(False, permanent=True, error=f"{type(exc).__name__}: {exc}")
    text = answer.text[:ANSWER_KEPT]
    code = answer.status_code
    if 200 <= code < 300:
        return Outcome(True, status_code=code, answer=text)
    if code >= 500 or code in (408, 429):
        return Outcome(False, status_code=code, answer=text, error=f"HTTP {code}", retry_after=_retry_after(answer.headers.get("Retry-After")))
    reason = "a redirect (not followed)" if 300 <= code < 400 else f"HTTP {code}"
    return Outcome(False, permanent=True, status_code=code, answer=text, error=reason)


def _send_email(notification: Notification, subject: str, text: str) -> Outcome:
    message = EmailMessage(
        subject,
        text,
        settings.DEFAULT_FROM_EMAIL,
        to=list(notification.channel.addresses),
        headers={"X-Store-Monitor-Delivery": str(notification.delivery_id)},
    )
    try:
        message.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        answer = "; ".join(f"{to}: {code} {reply!r}" for to, (code, reply) in exc.recipients.items())
        return Outcome(False, permanent=all(code >= 500 for code in codes), status_code=codes[0], answer=answer, error="recipients refused")
    except smtplib.SMTPAuthenticationError as exc:
        # Our credentials: worth trying again once EMAIL_URL is mended.
        return Outcome(False, status_code=exc.smtp_code, answer=repr(exc.smtp_error), error="SMTP authentication failed")
    except smtplib.SMTPResponseException as exc:
        return Outcome(False, permanent=exc.smtp_code >= 500, status_code=exc.smtp_code, answer=repr(exc.smtp_error), error="SMTP error")
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}")
    return Outcome(True, answer="accepted")


def _send_apprise(notification: Notification, subject: str, text: str) -> Outcome:
    url = notification.channel.url
    try:
        apprise_url_check(url)
    except (WebhookUrlPrivate, AppriseUrlInvalid) as exc:
        return Outcome(False, permanent=True, error=exc.message)
    except WebhookUrlInvalid as exc:
        return Outcome(False, error=exc.message)
    sender = apprise.Apprise()
    sender.add(url)
    result = sender.notify(body=text, title=subject, log_level=logging.WARNING)
    if result:
        return Outcome(True, answer="accepted")
    logs = [entry.message for service in result for attempt in service.attempts for entry in attempt.logs]
    # Apprise does not say which failures are final: every one is tried again.
    return Outcome(False, error="; ".join(logs)[:ANSWER_KEPT] or f"Apprise: {result.status.name}")


def _send(notification: Notification, sent_at: dt.datetime) -> Outcome:
    kind = notification.channel.kind
    if kind == ChannelKind.WEBHOOK:
        return _send_webhook(notification, sent_at)
    subject, text = notification_words(notification.payload, at=notification.created_at)
    if kind == ChannelKind.EMAIL:
        return _send_email(notification, subject, text)
    return _send_apprise(notification, subject, text)


# --------------------------------------------------------------------------
# Delivery
# --------------------------------------------------------------------------


def _due(now: dt.datetime) -> Q:
    return Q(status=NotificationStatus.PENDING, next_attempt_at__lte=now) | Q(
        status=NotificationStatus.SENDING, lease_until__lte=now
    )


def retry_delay(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min, ... at most an hour."""
    return min(RETRY_FIRST * 2 ** min(attempts - 1, 20), RETRY_LONGEST)


def notification_deliver(*, notification_id: int, now: dt.datetime | None = None) -> str | None:
    """One attempt at a due notification, if this process claims it first
    (several workers may be handed the same one: only one sends). Returns its
    status after the attempt, or None when it was not due or someone else's."""
    now = now or timezone.now()
    claimed = Notification.objects.filter(_due(now), pk=notification_id).update(
        status=NotificationStatus.SENDING, lease_until=now + CLAIM_LEASE, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    notification = Notification.objects.select_related("channel").get(pk=notification_id)
    started = time.monotonic()
    if not notification.channel.is_active:
        outcome = Outcome(False, permanent=True, error="The channel is turned off.")
    else:
        try:
            outcome = _send(notification, now)
        except Exception as exc:  # a fault of ours: recorded, tried again, and logged
            logger.exception("notification %s: sending failed", notification_id)
            outcome = Outcome(False, error=f"{type(exc).__name__}: {exc}")
    duration_ms = int((time.monotonic() - started) * 1000)
    return _record(notification, outcome, now=now, duration_ms=duration_ms)


def _record(notification: Notification, outcome: Outcome, *, now: dt.datetime, duration_ms: int) -> str:
    next_at = None
    if outcome.delivered:
        new = {"status": NotificationStatus.DELIVERED, "delivered_at": now, "last_error": ""}
    else:
        delay = retry_delay(notification.attempts)
        if outcome.retry_after:
            delay = max(delay, min(dt.timedelta(seconds=outcome.retry_after), RETRY_LONGEST))
        next_at = now + delay
        final = outcome.permanent or next_at > notification.created_at + NOTIFY_RETRY_FOR
        new = {"status": NotificationStatus.FAILED if final else NotificationStatus.PENDING, "last_error": outcome.error}
        if not final:
            new["next_attempt_at"] = next_at
        else:
            next_at = None
    with transaction.atomic():
        NotificationAttempt.objects.create(
            notification=notification,
            at=now,
            duration_ms=duration_ms,
            status_code=outcome.status_code,
            answer=outcome.answer[:ANSWER_KEPT],
            error=outcome.error[:ANSWER_KEPT],
            delivered=outcome.delivered,
            permanent=outcome.permanent,
        )
        # Only while the claim is still this attempt's (same count of attempts).
        Notification.objects.filter(
            pk=notification.pk, status=NotificationStatus.SENDING, attempts=notification.attempts
        ).update(lease_until=None, **new)
        channels = Channel.objects.filter(pk=notification.channel_id)
        if outcome.delivered:
            channels.update(failing_since=None, last_delivered_at=now)
        else:
            channels.filter(failing_since__isnull=True).update(failing_since=now)
    if next_at is not None and notification_deliver_task.get_backend().supports_defer:
        notification_deliver_task.using(run_after=next_at).enqueue(notification.pk)
    return new["status"]


def notifications_deliver_due(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Attempt the notifications due now, oldest first, here and now. Returns how many were attempted."""
    now = now or timezone.now()
    due = Notification.objects.filter(_due(now)).order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit]
    return sum(notification_deliver(notification_id=pk, now=now) is not None for pk in list(due))


def notifications_requeue_overdue(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Queue again the notifications due for OVERDUE_AFTER whose task is lost
    (a worker killed mid-attempt, a queue emptied): monitor_alerts calls it
    after each pass. A notification queued twice is still sent once."""
    now = now or timezone.now()
    overdue = list(
        Notification.objects.filter(
            Q(status=NotificationStatus.PENDING, next_attempt_at__lte=now - OVERDUE_AFTER)
            | Q(status=NotificationStatus.SENDING, lease_until__lte=now - OVERDUE_AFTER)
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    if overdue:
        # Not overdue again before OVERDUE_AFTER has passed once more.
        Notification.objects.filter(pk__in=overdue, status=NotificationStatus.PENDING).update(next_attempt_at=now)
        _queue(overdue)
    return len(overdue)


# --------------------------------------------------------------------------
# Tasks: each runs the service it is named after, in `manage.py task_worker`
# (or inline with TASK_BACKEND=immediate).
# --------------------------------------------------------------------------


@task()
def notification_deliver_task(notification_id: int) -> str | None:
    return notification_deliver(notification_id=notification_id)
