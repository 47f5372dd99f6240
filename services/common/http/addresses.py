"""The client's address behind trusted proxies, for in-memory rate limiting only: never stored, never logged."""

from __future__ import annotations

import ipaddress

from aiohttp import web

from services.common.http.appkeys import TRUSTED_PROXIES


def client_address(request: web.Request) -> str:
    """The client's address, for in-memory rate limiting only: never stored, never logged.

    The direct peer, unless it is a trusted proxy (``TRUSTED_PROXIES``): then the right-most
    ``X-Forwarded-For`` address that is not itself a trusted proxy (see :func:`resolve_client_address`).
    """
    return resolve_client_address(request.remote, request.headers.getall("X-Forwarded-For", []),
                                  request.app.get(TRUSTED_PROXIES, ()))


def resolve_client_address(peer: str | None, forwarded: list[str], trusted: tuple) -> str:
    """The client address given the peer, the ``X-Forwarded-For`` header lines (in order) and trusted networks.

    Each trusted proxy appends the address it received the request from, so reading right to left,
    every entry up to the first untrusted one was written by a proxy we trust; anything left of it
    was written by the client and may be forged. Entries are normalised (IPv4-mapped IPv6 is IPv4),
    so one client is one key. An entry that is not an address where a trusted proxy wrote one
    (a misconfigured proxy) ends the walk at the last hop we can vouch for.
    """
    current = _parse_ip(peer or "")
    if current is None:
        return peer or "unknown"
    if not _trusted(current, trusted):
        return str(current)
    hops = [hop.strip() for line in forwarded for hop in line.split(",")]
    for hop in reversed(hops):
        address = _parse_ip(hop)
        if address is None:
            break
        current = address
        if not _trusted(address, trusted):
            break
    return str(current)


def _parse_ip(raw: str):
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address, trusted: tuple) -> bool:
    return any(address.version == network.version and address in network for network in trusted)
