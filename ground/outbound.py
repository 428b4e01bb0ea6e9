"""The outbound address policy: every server-side request to an address someone configured (workspace
webhooks, the relay, alert and digest URLs, later the platform connectors) goes through this one guard.

A target is refused when its host is, or resolves to, a loopback, private, link-local (cloud metadata
lives there: 169.254.169.254), shared, multicast, reserved or otherwise non-global address, unless the
address is inside a network, or the host is a name, listed in ``REPLYDESK_OUTBOUND_ALLOW``.

The check happens where the socket is opened (an httpcore network backend), and the connection goes to
the very address that was checked: a DNS answer that changes between the check and the connect
(rebinding) cannot slip through, and neither can a redirect (clients built here follow none, and each
hop of one that did would be checked again). TLS still verifies the certificate against the host name.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from ground.redact import RedactingFilter, redact_url

for _name in ("httpx", "httpcore"):  # they log request URLs, which may carry credentials
    logging.getLogger(_name).addFilter(RedactingFilter())

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class OutboundRefused(ValueError):
    """A target the policy does not let the server reach; the message says which and why."""


def _plain(ip: IPAddress) -> IPAddress:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return ip


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why an address is not a public internet address, or None when it is one."""
    ip = _plain(ip)
    for reason, flag in (("loopback", ip.is_loopback), ("link-local (cloud metadata)", ip.is_link_local),
                         ("private", ip.is_private), ("multicast", ip.is_multicast), ("reserved", ip.is_reserved),
                         ("unspecified", ip.is_unspecified)):
        if flag:
            return reason
    return None if ip.is_global else "not a public address"


@dataclass(frozen=True)
class OutboundPolicy:
    """Public addresses only, plus the networks and host names an operator allowed."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, spec: str | Iterable[str] | None) -> OutboundPolicy:
        """``"10.0.0.0/8, 127.0.0.1, hooks.internal"``: CIDRs, single addresses and host names."""
        items = spec.split(",") if isinstance(spec, str) else list(spec or ())
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for raw in items:
            item = raw.strip().lower()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.rstrip("."))
        return cls(tuple(networks), frozenset(hosts))

    @classmethod
    def of(cls, settings: Any) -> OutboundPolicy:
        return cls.parse(getattr(settings, "outbound_allow", ""))

    def _address_allowed(self, ip: IPAddress) -> str | None:
        if any(_plain(ip) in net or ip in net for net in self.networks):
            return None
        return forbidden_reason(ip)

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to connect to for ``host``: resolved, every one checked (one bad answer refuses the
        host: a name must not be a coin toss between the internet and the internal network)."""
        name = host.strip("[]").lower().rstrip(".")
        try:
            literal: IPAddress | None = ipaddress.ip_address(name)
        except ValueError:
            literal = None
        if literal is not None:
            reason = self._address_allowed(literal)
            if reason and name not in self.hosts:
                raise OutboundRefused(f"{name} is a {reason} address; outbound requests go to public addresses "
                                      "only (allow it with REPLYDESK_OUTBOUND_ALLOW)")
            return [str(literal)]
        try:
            infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:  # UnicodeError: a name IDNA cannot encode (a label over 63)
            raise OutboundRefused(f"cannot resolve {name}: {exc}") from exc
        found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if name not in self.hosts:
            for address in found:
                reason = self._address_allowed(ipaddress.ip_address(address.split("%")[0]))
                if reason:
                    raise OutboundRefused(f"{name} resolves to {address}, a {reason} address; outbound requests go "
                                          "to public addresses only (allow it with REPLYDESK_OUTBOUND_ALLOW)")
        if not found:
            raise OutboundRefused(f"cannot resolve {name}")
        return found

    def check_url(self, url: str, resolve: bool = True) -> None:
        """Refuse a URL the server must not call. With ``resolve``, a name that does not resolve (yet) passes:
        configuration may precede DNS, and the send checks again."""
        try:  # urlsplit and .port raise ValueError on a bracket left open or a port past 65535
            parts = urlsplit(url)
            hostname, port = parts.hostname, parts.port
        except ValueError as exc:
            raise OutboundRefused(f"{redact_url(url)}: not a valid URL ({exc})") from exc
        if parts.scheme not in ("http", "https") or not hostname:
            raise OutboundRefused(f"{redact_url(url)}: expected an http(s) URL with a host")
        port = port or (443 if parts.scheme == "https" else 80)
        try:
            self.addresses(hostname, port)
        except OutboundRefused as exc:
            if resolve and str(exc).startswith("cannot resolve"):
                return
            raise


class _GuardedBackend(httpcore.NetworkBackend):
    """Opens each TCP connection to an address the policy checked, never to a name resolved again later."""

    def __init__(self, policy: OutboundPolicy) -> None:
        self.policy = policy
        self.inner = httpcore.SyncBackend()

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in self.policy.addresses(host, port):
            try:
                return self.inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"cannot connect to {host}")

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        raise OutboundRefused("outbound requests do not use unix sockets")

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


class GuardedTransport(httpx.HTTPTransport):
    def __init__(self, policy: OutboundPolicy, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # httpx builds the httpcore pool without a way to pass a network backend: set it on the pool
        # (tests/security/test_outbound.py fails if an httpx upgrade stops honouring it).
        self._pool._network_backend = _GuardedBackend(policy)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme not in ("http", "https"):
            raise OutboundRefused(f"{request.url.scheme}: outbound requests use http or https")
        return super().handle_request(request)


def guarded_client(settings: Any, timeout: float) -> httpx.Client:
    """An httpx client for requests to configured addresses: the policy on every connection, no redirects
    followed, no proxy taken from the environment."""
    return httpx.Client(transport=GuardedTransport(OutboundPolicy.of(settings)), timeout=timeout,
                        follow_redirects=False, trust_env=False)
