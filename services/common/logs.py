"""JSON logs that carry the trace id of the request or event being handled.

The trace id travels in a context variable: the HTTP middleware sets it from
``X-Trace-Id`` (or a fresh one) and the consumer loop from the event envelope,
so a post can be followed from its 201 through moderation to the notification.
Never log post bodies, passwords, tokens or IP addresses: log ids instead.
"""

from __future__ import annotations

import contextvars
import ipaddress
import logging
import re
import sys

from pythonjsonlogger.json import JsonFormatter

trace_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="")


class _TraceIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id = trace_id_var.get()
        return True


# An IPv4 or IPv6 address, bracketed or not, with the port that may follow it: ``1.2.3.4:5678``,
# ``('1.2.3.4', 5678)`` (asyncio's peername), ``[::1]:80``. Each candidate is checked with ``ipaddress``,
# so times (``04:15:13``) and versions (``3.14.5``) are left alone.
_ADDRESS = re.compile(
    r"(?P<open>\[)?(?P<ip>(?<![\w.:])(?:\d{1,3}\.){3}\d{1,3}(?![\w.])"
    r"|(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9A-Fa-f]{1,4}|(?:\d{1,3}\.){3}\d{1,3})?(?:%[\w.]+)?(?![\w:.]))"
    r"(?(open)\])(?P<port>:\d{1,5}\b|'?, \d{1,5}(?:, \d+, \d+)?(?=\)))?")
ADDRESS_PLACEHOLDER = "<address>"


def scrub_addresses(text: str) -> str:
    """``text`` with every IP address (and the port beside it) replaced by ``<address>``."""

    def replace(match: re.Match) -> str:
        candidate = match.group("ip").split("%", 1)[0]
        try:
            ipaddress.ip_address(candidate)
        except ValueError:
            return match.group(0)
        return ADDRESS_PLACEHOLDER + ("'" if (match.group("port") or "").startswith("'") else "")

    return _ADDRESS.sub(replace, text)


class AddressScrubbingJsonFormatter(JsonFormatter):
    """JSON lines in which no IP address survives: message, exception, stack and extra fields alike.

    Client addresses must never reach a log (docs/security.md, privacy), and aiohttp writes the peer's in
    "Error handling request from <peer>", asyncio (debug) in every socket it describes. Scrubbing the
    finished line catches them wherever they come from; infrastructure addresses go too (name hosts).
    """

    def format(self, record: logging.LogRecord) -> str:
        return scrub_addresses(super().format(record))


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route the root logger to stderr as one JSON object per line, with no IP address in it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_TraceIdFilter())
    handler.setFormatter(
        AddressScrubbingJsonFormatter(
            "{asctime}{levelname}{name}{message}{trace_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's own loggers (access, server: "Error handling request from <peer>", web, internal) and
    # asyncio's go through this handler, hence this formatter, and nowhere else.
    for name in ("aiohttp", "aiohttp.access", "aiohttp.server", "aiohttp.web", "aiohttp.internal", "asyncio"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # aiokafka is chatty at INFO about every (re)connection attempt while a broker is down.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
