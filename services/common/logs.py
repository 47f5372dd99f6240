"""JSON logs that carry the trace id of the request or event being handled.

The trace id travels in a context variable: the HTTP middleware sets it from
``X-Trace-Id`` (or a fresh one) and the consumer loop from the event envelope,
so a post can be followed from its 201 through moderation to the notification.
Never log post bodies, passwords, tokens or IP addresses: log ids instead.
"""

from __future__ import annotations

import contextvars
import logging
import sys

from pythonjsonlogger.json import JsonFormatter

trace_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="")


class _TraceIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.trace_id = trace_id_var.get()
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route the root logger to stderr as one JSON object per line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_TraceIdFilter())
    handler.setFormatter(
        JsonFormatter(
            "{asctime}{levelname}{name}{message}{trace_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            static_fields={"service": service},
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiokafka is chatty at INFO about every (re)connection attempt while a broker is down.
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
