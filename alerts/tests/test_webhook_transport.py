"""Webhooks against DNS rebinding (alerts/webhook_transport.py): the address a
connection actually reaches is checked, not only those the URL check resolved.

Real requests to a local HTTP receiver. The rebinding: the URL check's
resolver answers a public address, while the connection, resolving the name
for itself, lands on 127.0.0.1 (or ::1)."""
from __future__ import annotations

import socket
from typing import Any

import pytest

from alerts import notifications
from alerts.models import ChannelKind, Notification
from alerts.notifications import WebhookUrlPrivate, channel_create, channel_test_send
from alerts.tests.local_servers import free_port, http_receiver
from alerts.webhook_transport import PeerNotPublic, address_not_public, public_only_session
from stores.tests.factories import organization_of

pytestmark = pytest.mark.django_db
PUBLIC = "93.184.215.14"  # example.com's


class _CheckResolvesPublic:
    """The socket module as the URL check sees it: every name resolves to PUBLIC."""

    def __getattr__(self, name: str) -> Any:
        return getattr(socket, name)

    @staticmethod
    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (PUBLIC, port))]


@pytest.fixture
def rebinding_dns(monkeypatch, settings) -> None:
    settings.MONITOR_WEBHOOK_ALLOW_PRIVATE = False
    monkeypatch.setattr(notifications, "socket", _CheckResolvesPublic())


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


def deliver_a_test(owner, url: str, capture) -> Notification:
    channel = channel_create(organization=organization_of(owner), kind=ChannelKind.WEBHOOK, name="ops", url=url, secret="s3cret")
    with capture(execute=True):  # the task runs inline in tests
        channel_test_send(channel=channel)
    return Notification.objects.get()


@pytest.mark.parametrize(
    "host, listen_on, peer",
    [
        ("localhost", "127.0.0.1", "127.0.0.1"),  # a name, as rebinding uses
        ("127.0.0.1", "127.0.0.1", "127.0.0.1"),
        ("[::ffff:127.0.0.1]", "127.0.0.1", "::ffff:127.0.0.1"),  # IPv4-mapped: reaches the IPv4 receiver
        pytest.param(
            "[::1]", "::1", "::1", marks=pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
        ),
    ],
)
@pytest.mark.parametrize("scheme", ["http", "https"])  # https: refused before the TLS handshake
def test_a_connection_landing_on_loopback_after_a_public_check_is_refused_for_good(
    rebinding_dns, owner, django_capture_on_commit_callbacks, scheme, host, listen_on, peer
):
    with http_receiver(200, host=listen_on) as receiver:
        notification = deliver_a_test(owner, f"{scheme}://{host}:{receiver.port}/hook", django_capture_on_commit_callbacks)

    assert receiver.requests == []
    assert (notification.status, notification.attempts) == ("failed", 1)
    attempt = notification.attempt_rows.get()
    assert (attempt.delivered, attempt.permanent, attempt.status_code) == (False, True, None)
    assert attempt.error == notification.last_error == WebhookUrlPrivate(peer).message


def test_the_refusal_reaches_the_caller_unwrapped(settings):
    settings.MONITOR_WEBHOOK_ALLOW_PRIVATE = False
    with http_receiver(200) as receiver, public_only_session() as session, pytest.raises(PeerNotPublic) as refused:
        session.post(receiver.url, data=b"{}", timeout=5)
    assert refused.value.address == "127.0.0.1"
    assert receiver.requests == []


def test_private_addresses_allowed_delivers_directly_whatever_the_proxy_variables(
    settings, owner, monkeypatch, django_capture_on_commit_callbacks
):
    settings.MONITOR_WEBHOOK_ALLOW_PRIVATE = True
    nobody = f"http://127.0.0.1:{free_port()}"  # a proxy that is not there
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.setenv(name, nobody)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with http_receiver(200) as receiver:
        notification = deliver_a_test(owner, receiver.url, django_capture_on_commit_callbacks)

    assert len(receiver.requests) == 1
    assert notification.status == "delivered"


@pytest.mark.parametrize(
    "address, refused",
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:10.1.2.3", True),
        ("10.0.0.5", True),
        ("100.64.0.1", True),  # carrier-grade NAT
        ("169.254.169.254", True),  # the cloud metadata service
        ("fe80::1%eth0", True),
        ("fd00::1", True),
        ("0.0.0.0", True),
        ("::", True),
        ("224.0.0.1", True),
        (PUBLIC, False),
        ("::ffff:8.8.8.8", False),
        ("2606:4700:4700::1111", False),
    ],
)
def test_which_addresses_are_not_public(address, refused):
    assert address_not_public(address) is refused
