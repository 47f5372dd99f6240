"""Classify texts as the moderation worker would, from the command line (evaluation, policy work).

    python -m services.moderation.cli.classify [--checkpoint CKPT --hf-config DIR] [--policy FILE] \\
        [--community NAME] [--report LABELS.jsonl [--report-json OUT.json]] < texts.jsonl > decisions.jsonl

Reads JSON Lines ``{"id": ..., "text": ...}`` on stdin and writes one line per
input, in input order::

    {"id": ..., "action": "publish" | "hold" | "remove", "escalate": bool,
     "severity": null | "watch" | "high" | "imminent", "categories": [...],
     "signals": [...], "redacted_text": null | "..."}

with exactly the worker's detectors (:class:`services.moderation.detectors.pipeline.Detectors`)
and policy (:func:`services.moderation.policy.decide`): the base policy is the
service's (``POLICY_FILE`` or the shipped default, ``POLICY_*`` overrides),
``--policy`` merges a document onto it as a community's would be. The model is
configured as the service's: ``DETOXIFY_*`` / ``TORCH_THREADS`` variables, or
the flags, which win. ``redacted_text`` is null when nothing was redacted. An
input line that is not ``{"id", "text"}`` gives ``{"id", "error"}`` and exit
status 1 at the end.

``--report LABELS.jsonl`` (lines with ``id``, ``label`` — ok, crisis, abuse,
sourcing, pii — and ``severity`` for crisis) compares the decisions with the
labels and prints per-class precision and recall, the confusion table and the
acceptance checks to stderr (``--report-json`` writes them as JSON too).
Progress goes to stderr every ``--progress-every`` texts. Nothing is logged
about the texts themselves.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from services.common.cli import exit_status
from services.common.domain import CRISIS_LEVELS, PAGING_LEVELS
from services.common.errors import ConfigError
from services.moderation.cli.common import (
    LABELS,
    add_model_flags,
    load_setup,
    reason_categories,
    started_detectors,
)
from services.moderation.detectors.pipeline import Detectors
from services.moderation.policy import Decision, Policy, decide

ACTIONS = {"published": "publish", "held": "hold", "removed": "remove"}
CHUNK = 256


def outcome_line(item_id: Any, decision: Decision, signals: list) -> dict[str, Any]:
    return {"id": item_id, "action": ACTIONS[decision.outcome], "escalate": decision.escalation_level is not None,
            "severity": decision.escalation_level, "categories": reason_categories(decision.reasons),
            "signals": [s.to_json() for s in signals], "redacted_text": decision.redacted_text}


def predicted_label(line: dict[str, Any]) -> str:
    """The data set's label this output amounts to (for --report)."""
    categories = set(line.get("categories", []))
    if line.get("escalate"):
        return "crisis"
    for category, label in (("sourcing", "sourcing"), ("privacy", "pii"), ("abuse", "abuse"), ("threat", "abuse")):
        if category in categories:
            return label
    return "ok" if line.get("action") == "publish" else "other"


async def classify(lines: Iterable[str], detectors: Detectors, policy: Policy, out: TextIO, *,
                   progress: TextIO | None = None, progress_every: int = 1000) -> tuple[list[dict[str, Any]], int]:
    """Write one output line per input line; return (outputs, number of bad lines)."""
    outputs: list[dict[str, Any]] = []
    bad = 0
    started = time.perf_counter()
    for chunk in _chunks(_parse(lines), CHUNK):
        good = [(item_id, text) for item_id, text, error in chunk if error is None]
        signals = await detectors.run([t for _, t in good], [policy.watched] * len(good)) if good else []
        decided = iter(zip(good, signals))
        for item_id, text, error in chunk:
            if error is not None:
                bad += 1
                line = {"id": item_id, "error": error}
            else:
                (_, text), found = next(decided)
                line = outcome_line(item_id, decide(policy, text, found), found)
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            outputs.append(line)
            if progress and len(outputs) % progress_every == 0:
                rate = len(outputs) / max(time.perf_counter() - started, 1e-9)
                print(f"classify: {len(outputs)} texts, {rate:.0f}/s", file=progress, flush=True)
    out.flush()
    if progress:
        seconds = time.perf_counter() - started
        print(f"classify: {len(outputs)} texts in {seconds:.1f} s ({len(outputs) / max(seconds, 1e-9):.0f}/s)"
              + (f", {bad} bad lines" if bad else ""), file=progress, flush=True)
    return outputs, bad


def _parse(lines: Iterable[str]) -> Iterator[tuple[Any, str, str | None]]:
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError:
            yield None, "", f"line {number} is not JSON"
            continue
        if not isinstance(item, dict) or not isinstance(item.get("text"), str) or "id" not in item:
            yield (item.get("id") if isinstance(item, dict) else None), "", f"line {number} needs an id and a text"
            continue
        yield item["id"], item["text"], None


def _chunks(items: Iterable, size: int) -> Iterator[list]:
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# --- report -------------------------------------------------------------------------------------------------------


def report(outputs: Sequence[dict[str, Any]], labels: Mapping[Any, dict[str, Any]]) -> dict[str, Any]:
    """Precision/recall per class, the confusion table and the acceptance checks of issue 3."""
    pairs = [(labels[o["id"]], o) for o in outputs if "error" not in o and o["id"] in labels]
    truth = [lbl["label"] for lbl, _ in pairs]
    predicted = [predicted_label(o) for _, o in pairs]
    classes = list(dict.fromkeys([*LABELS, *truth, *predicted]))
    confusion = {t: {p: 0 for p in classes} for t in classes}
    for t, p in zip(truth, predicted):
        confusion[t][p] += 1
    per_class = {}
    for c in classes:
        tp = confusion[c][c]
        predicted_c = sum(confusion[t][c] for t in classes)
        actual_c = sum(confusion[c].values())
        if not actual_c and not predicted_c:
            continue
        precision = tp / predicted_c if predicted_c else None
        recall = tp / actual_c if actual_c else None
        per_class[c] = {"precision": precision, "recall": recall, "support": actual_c, "predicted": predicted_c}

    def count(label: str, test, among: str | tuple[str, ...] | None = None) -> dict[str, Any]:
        """How many posts labelled ``label`` (of severities ``among``, if given) pass ``test``."""
        severities = (among,) if isinstance(among, str) else among
        group = [(lbl, o) for lbl, o in pairs
                 if lbl["label"] == label and (severities is None or lbl.get("severity") in severities)]
        hits = sum(1 for lbl, o in group if test(lbl, o))
        return {"hits": hits, "of": len(group), "rate": hits / len(group) if group else None}

    checks = {
        "crisis_escalated": count("crisis", lambda _, o: o["escalate"]),
        **{f"{level}_escalated": count("crisis", lambda _, o: o["escalate"], among=level)
           for level in CRISIS_LEVELS},
        "high_or_imminent_paged": count("crisis", lambda _, o: o["severity"] in PAGING_LEVELS,
                                        among=PAGING_LEVELS),
        "crisis_severity_exact": count("crisis", lambda lbl, o: o["severity"] == lbl.get("severity")),
        "sourcing_held": count("sourcing", lambda _, o: o["action"] != "publish" and "sourcing" in o["categories"]),
        "pii_redacted_or_held": count("pii", lambda _, o: o["redacted_text"] is not None or o["action"] != "publish"),
        "abuse_held": count("abuse", lambda _, o: o["action"] != "publish"),
        "ok_escalated": count("ok", lambda _, o: o["escalate"]),
        "ok_published": count("ok", lambda _, o: o["action"] == "publish"),
    }
    severities = Counter((lbl.get("severity"), o["severity"]) for lbl, o in pairs if lbl["label"] == "crisis")
    return {"compared": len(pairs), "unlabelled": sum(1 for o in outputs if o.get("id") not in labels),
            "per_class": per_class, "confusion": confusion, "checks": checks,
            "severity_pairs": [{"label": a, "predicted": b, "n": n} for (a, b), n in sorted(severities.items(),
                                                                                            key=str)]}


def reports_by_language(outputs: Sequence[dict[str, Any]], labels: Mapping[Any, dict[str, Any]]) -> dict[str, Any]:
    """:func:`report` for all labelled texts, then for each language apart (labels' ``lang``, default en)."""
    languages = sorted({lbl.get("lang", "en") for lbl in labels.values()})
    result = {"all": report(outputs, labels)}
    if len(languages) > 1:
        for lang in languages:
            subset = {k: v for k, v in labels.items() if v.get("lang", "en") == lang}
            result[lang] = report([o for o in outputs if o.get("id") in subset], subset)
    return result


def format_reports(results: dict[str, Any]) -> str:
    return "\n\n".join(f"=== {name} ===\n{format_report(result)}" for name, result in results.items())


def format_report(result: dict[str, Any]) -> str:
    def pct(value: float | None) -> str:
        return "   -" if value is None else f"{value * 100:5.1f}%"

    lines = [f"compared {result['compared']} labelled texts ({result['unlabelled']} without a label)", "",
             f"{'class':<10} {'precision':>9} {'recall':>8} {'support':>8} {'predicted':>9}"]
    for name, m in result["per_class"].items():
        lines.append(f"{name:<10} {pct(m['precision']):>9} {pct(m['recall']):>8} {m['support']:>8} {m['predicted']:>9}")
    classes = list(result["confusion"])
    lines += ["", "confusion (rows: label, columns: predicted)", " " * 10 + "".join(f"{c:>10}" for c in classes)]
    for t in classes:
        if sum(result["confusion"][t].values()) or any(result["confusion"][r][t] for r in classes):
            lines.append(f"{t:<10}" + "".join(f"{result['confusion'][t][p]:>10}" for p in classes))
    lines += ["", "checks"]
    for name, c in result["checks"].items():
        lines.append(f"  {name:<22} {c['hits']:>4}/{c['of']:<4} {pct(c['rate'])}")
    lines += ["", "crisis severity (label -> predicted: n)"]
    lines += [f"  {p['label']} -> {p['predicted']}: {p['n']}" for p in result["severity_pairs"]]
    return "\n".join(lines)


def read_labels(path: Path) -> dict[Any, dict[str, Any]]:
    labels = {}
    with path.open(encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            if raw.strip():
                item = json.loads(raw)
                if not isinstance(item, dict) or "id" not in item or "label" not in item:
                    raise ConfigError(f"{path}:{number}: a label line needs id and label")
                labels[item["id"]] = item
    return labels


# --- command line -------------------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.moderation.cli.classify",
                                     description="Moderate JSON Lines {id, text} from stdin as the worker would.")
    add_model_flags(parser)
    parser.add_argument("--policy", help="a policy document merged onto the base policy (as a community's)")
    parser.add_argument("--report", type=Path, help="labels (JSON Lines id, label, severity) to compare with")
    parser.add_argument("--report-json", dest="report_json", type=Path, help="also write the report as JSON here")
    parser.add_argument("--progress-every", dest="progress_every", type=int, default=1000)
    return parser


async def _run(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    toxicity, learned, policy = load_setup(args, environ)
    labels = read_labels(args.report) if args.report else None
    async with started_detectors(toxicity, learned) as detectors:
        outputs, bad = await classify(sys.stdin, detectors, policy, sys.stdout, progress=sys.stderr,
                                      progress_every=max(1, args.progress_every))
    if labels is not None:
        result = reports_by_language(outputs, labels)
        print(format_reports(result), file=sys.stderr)
        if args.report_json:
            args.report_json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 1 if bad else 0


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return exit_status("classify", lambda: asyncio.run(_run(args, os.environ if environ is None else environ)))


if __name__ == "__main__":
    sys.exit(main())
