"""The HTTP metrics of one app instance."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram


@dataclass
class HttpMetrics:
    """Prometheus registry of one app instance (no process-global registry)."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "haven_http_requests", "HTTP requests by route and status", ["route", "status"], registry=self.registry
        )
        self.latency = Histogram("haven_http_request_seconds", "HTTP request latency", ["route"], registry=self.registry)
