"""The evaluation CLI end to end on the labelled development set, with the marker checkpoint.

Runs ``python -m services.moderation.classify`` as an operator would (a subprocess,
Detoxify's real loading code, the shipped default policy) and checks the acceptance
criteria of issue 3 on its output. The set is ``data/moderation_dev.jsonl`` (a copy of
the team's ``shared/datasets/moderation_dev.jsonl``); ``HAVEN_MODERATION_DATASET``
points the test at another labelled set.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

DATASET = Path(os.environ.get("HAVEN_MODERATION_DATASET", Path(__file__).parent / "data" / "moderation_dev.jsonl"))


def _classify(model: tuple[Path, Path], report_json: Path) -> subprocess.CompletedProcess:
    checkpoint, config_dir = model
    return subprocess.run(
        [sys.executable, "-m", "services.moderation.classify", "--checkpoint", str(checkpoint),
         "--hf-config", str(config_dir), "--report", str(DATASET), "--report-json", str(report_json)],
        input=DATASET.read_text(encoding="utf-8"), capture_output=True, text=True, timeout=170,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})


async def test_the_development_set_meets_the_acceptance_criteria(marker_model, tmp_path) -> None:
    result = await asyncio.get_running_loop().run_in_executor(None, _classify, marker_model, tmp_path / "report.json")
    assert result.returncode == 0, result.stderr[-2000:]
    labels = {item["id"]: item for item in map(json.loads, DATASET.read_text(encoding="utf-8").splitlines())}
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == list(labels), "one line per input, in input order"
    by_label: dict[str, list[dict]] = {}
    for line in lines:
        by_label.setdefault(labels[line["id"]]["label"], []).append(line)

    missed = [x["id"] for x in by_label["crisis"] if not x["escalate"]]
    assert not missed, f"every crisis escalates; missed {missed}"
    assert all(x["action"] != "remove" for x in by_label["crisis"]), "a crisis is never removed"
    sourcing_held = [x for x in by_label["sourcing"] if x["action"] == "hold" and "sourcing" in x["categories"]]
    assert len(sourcing_held) >= 0.9 * len(by_label["sourcing"]), [x["id"] for x in by_label["sourcing"]]
    unprotected = [x["id"] for x in by_label["pii"] if x["action"] == "publish" and x["redacted_text"] is None]
    assert not unprotected, f"every pii example is redacted or held; not {unprotected}"
    for line in by_label["pii"]:
        original = labels[line["id"]]["text"]
        assert line["redacted_text"] and line["redacted_text"] != original
    escalated_ok = [x["id"] for x in by_label["ok"] if x["escalate"]]
    assert not escalated_ok, f"no ok example escalates; {escalated_ok} did"
    published_ok = [x for x in by_label["ok"] if x["action"] == "publish"]
    assert len(published_ok) >= 0.95 * len(by_label["ok"]), [x["id"] for x in by_label["ok"] if x["action"] != "publish"]

    report = json.loads((tmp_path / "report.json").read_text())
    assert report["compared"] == len(labels)
    assert report["checks"]["crisis_escalated"]["rate"] == 1.0
    assert "precision" in result.stderr and "confusion" in result.stderr
    assert not any(labels[i]["text"] in result.stderr for i in labels), "progress and report never repeat a text"
