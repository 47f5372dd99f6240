"""The classify CLI's line shape and its --report arithmetic (the CLI end to end is an integration test)."""

from __future__ import annotations

import io
import json

from services.moderation.cli.classify import classify, format_report, predicted_label, report
from services.moderation.policy import Policy
from services.moderation.detectors.pipeline import Detectors


class QuietScorer:
    model_name = "quiet-model"

    async def score(self, texts):
        return [{"toxicity": 0.01, "threat": 0.01} for _ in texts]


def line(item_id, action="publish", escalate=False, categories=(), redacted=None, severity=None):
    return {"id": item_id, "action": action, "escalate": escalate, "severity": severity,
            "categories": list(categories), "signals": [], "redacted_text": redacted}


async def test_one_line_per_input_in_order_with_errors_in_place():
    stdin = [json.dumps({"id": 1, "text": "day 10, feeling good"}), "not json", "",
             json.dumps({"id": "b", "text": "Call me at 617-555-0123"}), json.dumps({"text": "no id"})]
    out = io.StringIO()
    outputs, bad = await classify(stdin, Detectors(QuietScorer()), Policy(), out)
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert lines == outputs and bad == 2
    assert [x.get("id") for x in lines] == [1, None, "b", None]
    assert lines[0]["action"] == "publish" and lines[0]["redacted_text"] is None
    assert set(lines[0]) == {"id", "action", "escalate", "severity", "categories", "signals", "redacted_text"}
    assert lines[2]["action"] == "hold" and lines[2]["categories"] == ["privacy"]
    assert lines[2]["redacted_text"] == "Call me at [phone removed]"
    assert "error" in lines[1] and "error" in lines[3]


def test_predicted_label_prefers_crisis_then_sourcing_privacy_abuse():
    assert predicted_label(line(1, "hold", True, ["crisis", "privacy"])) == "crisis"
    assert predicted_label(line(1, "hold", False, ["sourcing", "privacy"])) == "sourcing"
    assert predicted_label(line(1, "hold", False, ["privacy"])) == "pii"
    assert predicted_label(line(1, "hold", False, ["threat"])) == "abuse"
    assert predicted_label(line(1, "hold", False, ["model_unavailable"])) == "other"
    assert predicted_label(line(1)) == "ok"


def test_report_counts_precision_recall_confusion_and_checks():
    labels = {1: {"id": 1, "label": "ok"}, 2: {"id": 2, "label": "ok"}, 3: {"id": 3, "label": "crisis",
              "severity": "high"}, 4: {"id": 4, "label": "sourcing"}, 5: {"id": 5, "label": "pii"}}
    outputs = [line(1), line(2, "hold", False, ["abuse"]), line(3, "hold", True, ["crisis"], severity="high"),
               line(4), line(5, "publish", False, ["privacy"], redacted="x [phone removed]"), line(6)]
    result = report(outputs, labels)
    assert result["compared"] == 5 and result["unlabelled"] == 1
    assert result["confusion"]["ok"]["abuse"] == 1 and result["confusion"]["sourcing"]["ok"] == 1
    assert result["per_class"]["ok"] == {"precision": 0.5, "recall": 0.5, "support": 2, "predicted": 2}
    assert result["per_class"]["crisis"]["precision"] == 1.0
    checks = result["checks"]
    assert (checks["crisis_escalated"]["hits"], checks["sourcing_held"]["hits"]) == (1, 0)
    assert checks["pii_redacted_or_held"]["hits"] == 1 and checks["ok_published"]["rate"] == 0.5
    text = format_report(result)
    assert "precision" in text and "confusion" in text and "ok_published" in text
