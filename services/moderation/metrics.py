"""moderation's own metrics: crisis escalations nobody has acknowledged, and decision latency.

* ``haven_crisis_escalations_unacknowledged{level}`` and
  ``haven_crisis_escalation_oldest_unacknowledged_seconds{level}``: sampled
  from ``escalations`` every few seconds by a background
  :class:`~services.common.sampling.QuerySampler` (a collector cannot await a
  query; see that module). Every level is exported, 0 when none is open, so
  an alert rule sees a series at all times. These are the whole schema's
  numbers: every moderation replica reports the same (aggregate with ``max``).
* ``haven_moderation_decision_latency_seconds``: a histogram of the time from
  the post event's ``occurred_at`` (forum writes it in the transaction that
  answers 201) to moderation storing its decision for that version. The
  design budget is "decision applied p99 < 1 s after the 201".

Wiring, in ``create_app`` (after ``app.cleanup_ctx.extend([...])``)::

    app[MODERATION_METRICS] = install_metrics(app)

and the decision worker (``handlers.PostsHandler``) observes
``metrics.observe_decision(event.occurred_at)`` when it stores a new decision.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from aiohttp import web
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import GaugeMetricFamily

from services.common.domain import CRISIS_LEVELS
from services.common.http.appkeys import METRICS
from services.common.resources import POOL, background_ctx
from services.common.sampling import QuerySampler

log = logging.getLogger(__name__)

# 'open' is the state before anyone acknowledged (open -> acknowledged -> resolved).
ESCALATIONS_QUERY = """
SELECT level, count(*) AS unacknowledged,
       COALESCE(EXTRACT(EPOCH FROM now() - min(coalesce(upgraded_at, opened_at))), 0)::float8 AS oldest_seconds
FROM escalations WHERE status = 'open'
GROUP BY level
"""

# Around the 1 s budget, with a tail long enough to show outages and sweeper re-emits.
DECISION_LATENCY_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0, 10.0, 30.0, 60.0,
                                                300.0)


class ModerationMetrics:
    """The metrics moderation observes itself (registered on the app's own registry)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.decision_latency = Histogram(
            "haven_moderation_decision_latency_seconds",
            "Seconds from the post event (forum's 201) to moderation storing its decision",
            registry=registry, buckets=DECISION_LATENCY_BUCKETS)

    def observe_decision(self, occurred_at: str, now: datetime | None = None) -> None:
        """Record one decision for an event that occurred at ``occurred_at`` (RFC 3339); never raises."""
        try:
            started = datetime.fromisoformat(occurred_at)
        except (TypeError, ValueError):
            log.debug("decision latency not recorded: unreadable occurred_at")
            return
        if started.tzinfo is None:
            started = started.replace(tzinfo=timezone.utc)
        elapsed = ((now or datetime.now(timezone.utc)) - started).total_seconds()
        self.decision_latency.observe(max(0.0, elapsed))


class EscalationCollector:
    """Reads the last escalation sample; exports nothing while the sample is stale (database away)."""

    def __init__(self, sampler: QuerySampler) -> None:
        self._sampler = sampler

    def collect(self):
        rows = self._sampler.rows()
        if rows is None:
            return []
        by_level = {row["level"]: row for row in rows}
        count = GaugeMetricFamily("haven_crisis_escalations_unacknowledged",
                                  "Crisis escalations open and not yet acknowledged, by level", labels=["level"])
        oldest = GaugeMetricFamily("haven_crisis_escalation_oldest_unacknowledged_seconds",
                                   "Age of the oldest unacknowledged crisis escalation, by level (0 when none)",
                                   labels=["level"])
        for level in sorted(set(CRISIS_LEVELS) | set(by_level)):
            row = by_level.get(level)
            count.add_metric([level], row["unacknowledged"] if row else 0)
            oldest.add_metric([level], row["oldest_seconds"] if row else 0.0)
        return [count, oldest]


QUEUE_AGES_QUERY = """
SELECT EXTRACT(EPOCH FROM now() - created_at)::float8 AS age_seconds
FROM queue_items WHERE status = 'open' ORDER BY created_at LIMIT 100000
"""


class QueueCollector:
    """Open review-queue items, how many are overdue, and the oldest one's age: nothing is dropped silently."""

    def __init__(self, sampler: QuerySampler, overdue_seconds: float) -> None:
        self._sampler = sampler
        self._overdue_seconds = overdue_seconds

    def collect(self):
        rows = self._sampler.rows()
        if rows is None:
            return []
        ages = [row["age_seconds"] for row in rows]
        open_items = GaugeMetricFamily("haven_review_queue_open", "Open review-queue items")
        open_items.add_metric([], len(ages))
        overdue = GaugeMetricFamily("haven_review_queue_overdue",
                                    "Open review-queue items older than QUEUE_OVERDUE_SECONDS")
        overdue.add_metric([], sum(1 for age in ages if age > self._overdue_seconds))
        oldest = GaugeMetricFamily("haven_review_queue_oldest_seconds", "Age of the oldest open item (0 when none)")
        oldest.add_metric([], max(ages, default=0.0))
        return [open_items, overdue, oldest]


def queue_metrics_ctx(overdue_seconds: float, interval: float = 5.0):
    def make(app: web.Application) -> QuerySampler:
        sampler = QuerySampler(app[POOL], QUEUE_AGES_QUERY, interval=interval, name="review-queue")
        app[METRICS].registry.register(QueueCollector(sampler, overdue_seconds))
        return sampler

    return background_ctx("queue-metrics", make)


def escalation_metrics_ctx(interval: float = 5.0):
    """Sample open escalations for the app's lifetime (needs the pool: runs after ``pool_ctx``)."""

    def make(app: web.Application) -> QuerySampler:
        sampler = QuerySampler(app[POOL], ESCALATIONS_QUERY, interval=interval, name="crisis-escalations")
        app[METRICS].registry.register(EscalationCollector(sampler))
        return sampler

    return background_ctx("escalation-metrics", make)


def install_metrics(app: web.Application, *, overdue_seconds: float = 3600.0) -> ModerationMetrics:
    """Add moderation's metrics to ``app`` (call once, in ``create_app`` after the cleanup contexts);
    the caller keeps what it returns (``appkeys.MODERATION_METRICS``) for the decision worker."""
    metrics = ModerationMetrics(app[METRICS].registry)
    app.cleanup_ctx.append(escalation_metrics_ctx())
    app.cleanup_ctx.append(queue_metrics_ctx(overdue_seconds))
    return metrics
