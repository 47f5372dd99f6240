"""The evaluation CLI end to end on the labelled development set, with the marker checkpoint.

Runs ``python -m services.moderation.cli.classify`` as an operator would (a subprocess,
Detoxify's real loading code, the shipped default policy) and checks the acceptance
criteria of issue 3 on its output. The set is ``tests/integration/data/moderation_dev.jsonl`` (the team's
labelled development set, copied into the repository); ``HAVEN_MODERATION_DATASET``
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
        [sys.executable, "-m", "services.moderation.cli.classify", "--checkpoint", str(checkpoint),
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

    report = json.loads((tmp_path / "report.json").read_text())["all"]
    assert report["compared"] == len(labels)
    assert report["checks"]["crisis_escalated"]["rate"] == 1.0
    assert "precision" in result.stderr and "confusion" in result.stderr
    assert not any(labels[i]["text"] in result.stderr for i in labels), "progress and report never repeat a text"


def _classify_without_toxicity(lines: list[dict]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "services.moderation.cli.classify", "--without-toxicity"],
        input="".join(json.dumps(line) + "\n" for line in lines), capture_output=True, text=True, timeout=170,
        env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "HF_HUB_OFFLINE": "1",
             "TRANSFORMERS_OFFLINE": "1", **({"HAVEN_CACHE_DIR": os.environ["HAVEN_CACHE_DIR"]}
                                            if "HAVEN_CACHE_DIR" in os.environ else {})})


async def test_classify_runs_the_learned_heads_beside_the_rules() -> None:
    """A crisis in words no rule knows is escalated by the crisis head, with its nearest labelled examples."""
    lines = [{"id": "unworded", "text": "the pills are counted out on the table. tonight. thanks for everything "
                                        "you all did for me"},
             {"id": "calm", "text": "Went to my Tuesday meeting, then coffee with my sponsor. Day 41."}]
    result = await asyncio.get_running_loop().run_in_executor(None, _classify_without_toxicity, lines)
    assert result.returncode == 0, result.stderr[-2000:]
    unworded, calm = (json.loads(line) for line in result.stdout.splitlines())
    assert unworded["escalate"] and unworded["severity"] in ("high", "imminent")
    learned = [s for s in unworded["signals"] if s["details"].get("label") == "crisis_model"]
    assert learned and learned[0]["details"]["nearest"], "the head's signal carries the nearest labelled examples"
    assert not [s for s in unworded["signals"] if s["detector"].startswith("crisis-rules")], "no rule fired"
    assert not calm["escalate"] and calm["action"] == "publish"
