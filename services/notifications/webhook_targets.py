"""Where webhooks may be sent: public addresses only, unless the host is allow-listed.

A webhook URL is typed by an admin but fetched by this service from inside the network,
so without a check it reaches what only the service can reach: the cloud metadata endpoint
(credentials), loopback admin ports, private services (SSRF). Refused: loopback,
link-local, private, shared, unique-local, multicast, unspecified, reserved and metadata
addresses, in IPv4, IPv6 and IPv4-embedding IPv6 forms. ``WEBHOOK_ALLOWED_HOSTS`` names
hosts (an internal pager, the tests' 127.0.0.1 receivers) exempt from the check.

Checked twice: at registration (a 400 naming ``url``), and at every send, by the resolver
of the sending connector (:meth:`WebhookTargets.resolver`). That resolver checks every
address a name resolves to and hands exactly those to aiohttp, which connects to them: no
second lookup exists that DNS rebinding could answer differently. IP literals never reach
a resolver in aiohttp, so the sender checks them itself (:meth:`WebhookTargets.check_url`).
Refusal reasons name no host or address: they end up in logs and delivery rows.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterator

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Cloud instance metadata and platform endpoints (AWS IPv4/IPv6 and ECS, GCP, Azure, Alibaba, Oracle).
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254", "169.254.170.2", "169.254.170.23", "fd00:ec2::254", "fd00:ec2::23",
    "100.100.100.200", "168.63.129.16", "192.0.0.192",
))
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
RESOLVE_TIMEOUT_SECONDS = 5.0


class TargetRefused(Exception):
    """A webhook URL this service will not send to; the message names no host or address."""


def why_forbidden(address: IPAddress) -> str | None:
    """Why ``address`` is no webhook target (None: it is a public address)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _reason(address.ipv4_mapped)  # ::ffff:a.b.c.d is a.b.c.d on a dual-stack socket
    for form in (address, *_embedded(address)):
        reason = _reason(form)
        if reason is not None:
            return reason
    return None


def _embedded(address: IPAddress) -> Iterator[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (6to4, Teredo, NAT64, IPv4-compatible)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return
    if address.sixtofour is not None:
        yield address.sixtofour
    if address.teredo is not None:
        yield from address.teredo
    if address in _NAT64 or int(address) >> 32 == 0:
        yield ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)


def _reason(address: IPAddress) -> str | None:
    checks = (
        (address in METADATA, "a cloud metadata address"),
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL, "a unique-local address"),
        (address.is_private, "a private address"),
        (not address.is_global, "a reserved address"),  # shared (CGNAT), documentation, benchmarking, future use
    )
    return next((reason for hit, reason in checks if hit), None)


def canonical_host(host: str) -> str:
    """The form hosts are compared in: lower case, no trailing dot or brackets, IPs normalised."""
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def parse_allowed_hosts(raw: str | None) -> frozenset[str]:
    """``WEBHOOK_ALLOWED_HOSTS``: comma-separated host names or IP literals (no schemes, ports or patterns)."""
    hosts = set()
    for entry in (raw or "").split(","):
        if not entry.strip():
            continue
        host = canonical_host(entry)
        if any(c in host for c in "/*@ ") or (":" in host and not _is_ip(host)):
            raise ValueError(f"{entry.strip()!r} is not a host name")
        hosts.add(host)
    return frozenset(hosts)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class WebhookTargets:
    """The policy: parse a webhook URL, vet it (registration), and resolve it for sending."""

    def __init__(self, allowed_hosts: frozenset[str] = frozenset(), *,
                 resolver: AbstractResolver | None = None) -> None:
        self._allowed = frozenset(canonical_host(h) for h in allowed_hosts)
        self._inner = resolver

    def allows(self, host: str) -> bool:
        return canonical_host(host) in self._allowed

    def parse(self, url: str) -> URL:
        """An http(s) URL with a host that can be encoded (IDNA) and a valid port, or TargetRefused."""
        try:
            parsed = URL(url)
            host = parsed.raw_host
            _ = parsed.host, parsed.port  # read to check them: decoding the host (IDNA) or the port may raise
        except (ValueError, TypeError):  # UnicodeError (IDNA) is a ValueError
            raise TargetRefused("is not a usable URL (its host or port cannot be encoded)") from None
        if parsed.scheme not in ("http", "https") or not host:
            raise TargetRefused("must be an http(s) URL with a host")
        return parsed

    def check_url(self, url: URL) -> None:
        """Refuse an IP literal that is not public (names are checked by :meth:`resolver`)."""
        host = url.raw_host or ""
        if self.allows(host):
            return
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            return
        _refuse(literal)

    async def vet(self, url: str) -> URL:
        """Registration: parse, then check the literal or every address the name resolves to now."""
        parsed = self.parse(url)
        self.check_url(parsed)
        host = parsed.raw_host or ""
        if self.allows(host) or _is_ip(host):
            return parsed
        try:
            await asyncio.wait_for(self.resolver().resolve(host, parsed.port or 0, socket.AF_UNSPEC),
                                   RESOLVE_TIMEOUT_SECONDS)
        except (OSError, asyncio.TimeoutError):
            raise TargetRefused("has a host name that does not resolve") from None
        return parsed

    def resolver(self) -> AbstractResolver:
        """The resolver the sending connector uses: every answer checked, exactly those returned."""
        if self._inner is None:
            self._inner = ThreadedResolver()
        return _VettedResolver(self, self._inner)


def _refuse(address: IPAddress | str) -> None:
    try:
        parsed = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        raise TargetRefused("resolves to something that is not an IP address") from None
    reason = why_forbidden(parsed)
    if reason is not None:
        raise TargetRefused(f"targets {reason}")


class _VettedResolver(AbstractResolver):
    def __init__(self, targets: WebhookTargets, inner: AbstractResolver) -> None:
        self._targets = targets
        self._inner = inner

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not self._targets.allows(host):
            for result in results:
                _refuse(result["host"])
        return results

    async def close(self) -> None:
        return None  # the inner resolver is shared by the policy; it holds nothing to release
