"""Webhook requests that reach public addresses only, checked on the connection itself.

alerts.notifications checks a webhook URL by resolving its host, but requests
resolves the name again when it connects: a hostile DNS server can answer a
public address to the check and 127.0.0.1 to the connection (DNS rebinding).
So each new connection's peer address (`getpeername()`, the address actually
reached) is checked here as soon as the socket is connected, before a byte is
sent and before TLS, which still verifies the certificate against the host
name (SNI unchanged). MONITOR_WEBHOOK_ALLOW_PRIVATE turns the check off, as it
does the URL check.

No proxy is used: the session ignores the environment (HTTP(S)_PROXY,
NO_PROXY, .netrc), because through a proxy the peer would be the proxy and the
check would mean nothing. A deployment whose traffic out must go through a
proxy has to enforce this rule in that proxy.
"""
from __future__ import annotations

import ipaddress
import os
import socket
from typing import Any

import requests
from django.conf import settings
from requests.adapters import DEFAULT_POOLBLOCK, HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


def address_not_public(address: str) -> bool:
    """Loopback, private, link-local, unspecified, reserved or multicast: an
    IPv4-mapped IPv6 address (::ffff:127.0.0.1) counts as its IPv4 address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


class PeerNotPublic(Exception):
    """A connection reached an address that is not public; it was closed before anything was sent.

    Deliberately neither an OSError nor a urllib3 error: urllib3 would retry
    those and requests would wrap them in a ConnectionError, so this one
    reaches the caller of `session.post()` as it is."""

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self.address = address


def _peer_check(sock: socket.socket) -> socket.socket:
    if settings.MONITOR_WEBHOOK_ALLOW_PRIVATE:
        return sock
    try:
        address = sock.getpeername()[0]
    except OSError:  # already reset by the other side
        sock.close()
        raise
    if address_not_public(address):
        sock.close()
        raise PeerNotPublic(address)
    return sock


class _PublicHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _peer_check(super()._new_conn())


class _PublicHTTPSConnection(HTTPSConnection):
    # connect() wraps the socket _new_conn() returns in TLS: the check comes first.
    def _new_conn(self) -> socket.socket:
        return _peer_check(super()._new_conn())


class _PublicHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicOnlyAdapter(HTTPAdapter):
    def init_poolmanager(self, connections: int, maxsize: int, block: bool = DEFAULT_POOLBLOCK, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PublicHTTPConnectionPool, "https": _PublicHTTPSConnectionPool}


def public_only_session() -> requests.Session:
    """A session whose connections reach public addresses only (PeerNotPublic
    otherwise, unless MONITOR_WEBHOOK_ALLOW_PRIVATE), never through a proxy."""
    session = requests.Session()
    session.trust_env = False
    # trust_env off drops the CA bundle the environment names too: that one is kept.
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    adapter = _PublicOnlyAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
