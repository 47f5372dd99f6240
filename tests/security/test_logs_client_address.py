"""No client address in any log line, aiohttp's own access and error loggers included.

A real forum process (``python -m services.forum``, ``LOG_LEVEL=DEBUG``, asyncio debug mode so
aiohttp's debug paths log too) gets malformed traffic from two loopback source addresses:
a garbage request line, one after a good request on a kept-alive connection (aiohttp logs
"Error handling request from <peer>" at ERROR for that one), a bad HTTP version, oversized
and invalid headers, invalid JSON, broken chunked encoding, a body cut short by a closed
connection, a bad Content-Length. Then every line the process wrote to stdout and stderr is
searched for the client addresses and their ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from pathlib import Path

import aiohttp
import pytest

from tests.support.processes import ServiceProcess
from tests.support.stack import Isolation

pytestmark = pytest.mark.integration

CLIENTS = ("127.0.0.1", "127.0.0.2")


async def _exchange(port: int, source: str, payload: bytes, *, close_early: bool = False) -> int:
    """Send raw bytes from ``source``; read the answer (if any); returns the client's port."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    client_port = writer.get_extra_info("sockname")[1]
    try:
        writer.write(payload)
        await writer.drain()
        if close_early:
            return client_port
        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            await asyncio.wait_for(reader.read(65536), 5)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
    return client_port


def _malformed(host: str) -> list[tuple[bytes, bool]]:
    good = f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    login = f"POST /v1/auth/login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n".encode()
    return [
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n", False),    # TLS to a plain port
        (good + b"FOO BAR BAZ QUX\r\n\r\n", False),                                  # garbage after a good one
        (good + b"\x00\x01\x02 / HTTP/1.1\r\n\r\n", False),
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", False),                                # bad version
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n", False),  # oversized
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\x01: v\r\n\r\n", False),  # invalid header
        (login + b"Content-Length: 9\r\n\r\n{not json", False),                      # invalid JSON
        (login + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", False),  # broken chunks
        (login + b"Transfer-Encoding: chunked\r\n\r\n5\r\nab", True),                # cut mid-chunk
        (login + b"Content-Length: 500\r\n\r\n{\"handle\": ", True),                # closed mid-body
        (login + b"Content-Length: -1\r\n\r\n", False),                              # bad length
        (good[:-2] + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\n", False),      # repeated length
        (b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n", False),                     # huge request line
    ]


async def test_no_client_address_in_any_log_line(isolation: Isolation, tmp_path: Path) -> None:
    forum = ServiceProcess("forum", isolation.env(LOG_LEVEL="DEBUG", PYTHONASYNCIODEBUG="1", HAVEN_UVLOOP="0"),
                           tmp_path)
    await forum.start()
    ports: list[int] = []
    try:
        for source in CLIENTS:
            for payload, close_early in _malformed(source):
                ports.append(await _exchange(forum.port, source, payload, close_early=close_early))
        # Ordinary traffic too, with a forged X-Forwarded-For (forum trusts no proxy here).
        async with aiohttp.ClientSession() as session:
            for _ in range(2):
                async with session.post(f"{forum.url}/v1/auth/login", headers={"X-Forwarded-For": "198.51.100.23"},
                                        json={"handle": "nobody_here", "password": "wrong password!"}) as response:
                    assert response.status == 401
            async with session.get(f"{forum.url}/healthz") as response:
                assert response.status == 200, "the malformed traffic did not take the service down"
    finally:
        await forum.stop()

    lines = forum.log.read_text(errors="replace").splitlines()
    assert any("Error handling request" in line for line in lines), "aiohttp logged the bad requests (not vacuous)"
    needles = [*CLIENTS, "198.51.100.23", *(f":{p}" for p in ports), *(f" {p})" for p in ports),
               *(f", {p}" for p in ports)]
    leaking = [line for line in lines if any(needle in line for needle in needles)]
    assert not leaking, f"{len(leaking)} log line(s) carry a client address or port:\n" + "\n".join(
        line[:300] for line in leaking[:10])
    # Nor any other IPv4 address in the shape aiohttp writes a peer.
    assert not [line for line in lines if re.search(r"\b\d{1,3}(\.\d{1,3}){3}\b", line)]


@pytest.mark.parametrize(("line", "scrubbed"), [
    ("Error handling request from 203.0.113.9", "Error handling request from <address>"),
    ("laddr=('127.0.0.1', 50272), raddr=('10.1.2.3', 48939)>", "laddr=('<address>'), raddr=('<address>')>"),
    ("connected to 127.0.0.1:48939: ok", "connected to <address>: ok"),
    ("peer [2001:db8::1]:8080, ::ffff:10.0.0.1, fe80::1%eth0, ('::1', 5555, 0, 0)",
     "peer <address>, <address>, <address>, ('<address>')"),
    ("at 2026-12-06 04:15:13,955 with aiohttp 3.14.5", "at 2026-12-06 04:15:13,955 with aiohttp 3.14.5"),
    ("post 0b8f6a52-1d6c-4c7e-9a55-5f0f0f0f0f0f", "post 0b8f6a52-1d6c-4c7e-9a55-5f0f0f0f0f0f"),
])
def test_scrub_addresses(line: str, scrubbed: str) -> None:
    from services.common.logs import scrub_addresses

    assert scrub_addresses(line) == scrubbed
