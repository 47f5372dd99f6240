"""Train the learned heads on the sentence encoder, deterministically, from the committed corpus.

    python -m services.moderation.cli.train [--corpus PATH ...] [--out DIR] [--threads N] [--limit N]

Reads every ``*.jsonl`` under the corpus paths (default ``data/corpus`` and the
rule probe sets in ``bench/eval``; label lines as in ``docs/labels.md``; ``pii``
counts as not crisis, sourcing or abuse), embeds each post with the encoder,
and fits three logistic regressions (scikit-learn): crisis (none / watch / high
/ imminent, one softmax), sourcing and abuse (binary). Then:

* the regularisation ``C`` of each head is chosen by the log loss of 5-fold
  out-of-fold predictions (a validation split of the training corpus, never the
  evaluation set in ``data/eval``);
* each threshold is chosen on the same out-of-fold probabilities, for recall
  first (the crisis path): the highest threshold that still catches
  ``RECALL_TARGETS`` of the validation positives; the false-positive rate on ok
  posts that costs is reported beside it;
* the final heads are fitted on the whole corpus and written to ``--out``
  (``heads.json``, ``examples.npy``, ``examples.json``) with a training report
  (``training_report.md``): data hash, counts, chosen C and thresholds, the
  out-of-fold figures.

Same data, same heads: folds and solvers are seeded, torch runs with a fixed
thread count, and the files are written in a fixed order (a test checks it).
Progress goes to stderr. About a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from services.common.domain import CRISIS_LEVELS, PAGING_LEVELS
from services.moderation.cli.common import LABELS
from services.moderation.detectors.encoder import (
    EMBEDDING_SIZE,
    MODEL_ID,
    EncoderConfig,
    SentenceEncoder,
    apply_top_layers,
    default_cache_dir,
    sha256_of,
)
from services.moderation.detectors.heads import (
    CRISIS_CLASSES,
    EXAMPLES_FILE,
    EXAMPLES_VECTORS,
    HEAD_NAMES,
    HEADS_FILE,
    MODELS_DIR,
    TOP_LAYERS_FILE,
    LinearHead,
    at_least_level,
)

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_CORPUS = (ROOT / "data" / "corpus", ROOT / "bench" / "eval")
VERSION = "v2"
SEED = 20261206
VALIDATION = 0.2
TOP_LAYERS = 3  # of 6: the layers below stay the published weights
EPOCHS = 4
BATCH = 32
ENCODER_LR = 5e-5
HEAD_LR = 2e-3
SCALE = 10.0  # unit vectors times this into the linear layer: logits of a useful range from the start
OUTPUTS = 6  # crisis none / watch / high / imminent, sourcing, abuse
# Each threshold, on the validation split: the highest that still reaches its recall TARGET, unless that
# flags more ok posts than its BUDGET allows; then the lowest within the budget. A watch escalation
# publishes the post and pages nobody, so it gets the largest budget: a missed crisis reaches no screen,
# but a feed of false escalations teaches crisis staff to skim it. A page (high and up) wakes someone:
# its budget is small. Measured first with recall targets alone (0.92 / 0.90 / 0.80): 24 % of the
# validation ok posts were paged, which no rota survives.
TARGETS = {"crisis:watch": 0.95, "crisis:high": 0.90, "crisis:imminent": 0.80, "sourcing": 0.90, "abuse": 0.90}
BUDGETS = {"crisis:watch": 0.08, "crisis:high": 0.02, "crisis:imminent": 0.01, "sourcing": 0.03, "abuse": 0.03}
EXAMPLE_CHARS = 240


@dataclass(frozen=True)
class Post:
    """One labelled post of the corpus (docs/labels.md); ``id`` is ``<file stem>:<its id in the file>``."""

    id: str
    lang: str
    label: str
    severity: str | None
    text: str

    @property
    def crisis_class(self) -> int:
        return CRISIS_CLASSES.index(self.severity) if self.label == "crisis" else 0

    @property
    def stratum(self) -> str:
        return f"{self.label}:{self.severity or ''}"


def read_corpus(paths: Sequence[Path]) -> tuple[list[Post], str]:
    """Every labelled post under ``paths`` (files in name order) and the sha256 of their bytes."""
    files = sorted({f for p in paths for f in ([p] if p.is_file() else p.glob("*.jsonl"))})
    digest = hashlib.sha256()
    posts: list[Post] = []
    seen: set[str] = set()
    for path in files:
        raw = path.read_bytes()
        digest.update(path.name.encode() + b"\0" + raw)
        for number, line in enumerate(raw.decode("utf-8").splitlines(), 1):
            if not line.strip():
                continue
            item = json.loads(line)
            label, severity = item["label"], item.get("severity")
            if label not in LABELS or (label == "crisis") != (severity in CRISIS_LEVELS):
                raise ValueError(f"{path}:{number}: label {label!r} severity {severity!r} is not valid")
            text = item["text"].strip()
            if text in seen:
                continue  # the same post twice would leak between folds
            seen.add(text)
            posts.append(Post(f"{path.stem}:{item['id']}", item.get("lang", "en"), label,
                              severity if label == "crisis" else None, text))
    return posts, digest.hexdigest()


def targets(posts: Sequence[Post]) -> dict[str, np.ndarray]:
    return {"crisis": np.array([p.crisis_class for p in posts]),
            "sourcing": np.array([int(p.label == "sourcing") for p in posts]),
            "abuse": np.array([int(p.label == "abuse") for p in posts])}


def split(posts: Sequence[Post], validation: float = VALIDATION) -> tuple[list[int], list[int]]:
    """(training, validation) indices, stratified by label and crisis level, seeded."""
    from sklearn.model_selection import StratifiedShuffleSplit

    counts = Counter(p.stratum for p in posts)
    strata = [p.stratum if counts[p.stratum] >= 2 else "rare" for p in posts]  # a tiny corpus (tests) still splits
    train, held = next(StratifiedShuffleSplit(1, test_size=validation, random_state=SEED)
                       .split(np.zeros(len(posts)), strata))
    return sorted(int(i) for i in train), sorted(int(i) for i in held)


def fine_tune(encoder: SentenceEncoder, posts: Sequence[Post], train_idx: Sequence[int], *, epochs: int,
              top_layers: int, progress: Any = sys.stderr) -> Any:
    """Train the encoder's top layers and the heads' linear layer together; returns the linear layer."""
    import torch

    model = encoder.model
    for parameter in model.parameters():
        parameter.requires_grad = False
    trained = [p for layer in model.encoder.layer[-top_layers:] for p in layer.parameters()]
    for parameter in trained:
        parameter.requires_grad = True
    linear = torch.nn.Linear(model.config.hidden_size, OUTPUTS)
    ids = [encoder.token_ids(p.text) for p in posts]
    ys = {name: torch.tensor(values) for name, values in targets(posts).items()}
    train_idx = list(train_idx)
    crisis_counts = np.bincount(ys["crisis"][train_idx].numpy(), minlength=len(CRISIS_CLASSES))
    crisis_weight = torch.tensor(len(train_idx) / (len(CRISIS_CLASSES) * np.maximum(crisis_counts, 1)),
                                 dtype=torch.float32)
    positive_weight = {name: torch.tensor(_balance(ys[name][train_idx].numpy())) for name in ("sourcing", "abuse")}
    optimiser = torch.optim.AdamW([{"params": trained, "lr": ENCODER_LR},
                                   {"params": list(linear.parameters()), "lr": HEAD_LR}], weight_decay=0.01)
    order = random.Random(SEED)
    model.train()
    for epoch in range(epochs):
        shuffled = list(train_idx)
        order.shuffle(shuffled)
        started, total = time.perf_counter(), 0.0
        for start in range(0, len(shuffled), BATCH):
            batch = shuffled[start:start + BATCH]
            out = linear(encoder.forward([ids[i] for i in batch]) * SCALE)
            loss = (torch.nn.functional.cross_entropy(out[:, :4], ys["crisis"][batch], weight=crisis_weight)
                    + _binary(out[:, 4], ys["sourcing"][batch], positive_weight["sourcing"])
                    + _binary(out[:, 5], ys["abuse"][batch], positive_weight["abuse"]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach())
        print(f"train: epoch {epoch + 1}/{epochs}: mean loss {total / max(1, math.ceil(len(shuffled) / BATCH)):.4f} "
              f"({time.perf_counter() - started:.0f} s)", file=progress, flush=True)
    model.eval()
    for parameter in model.parameters():
        parameter.requires_grad = False
    return linear


def _balance(y: np.ndarray) -> float:
    positives = max(1, int(y.sum()))
    return float(max(1, len(y) - positives)) / positives


def _binary(logits: Any, y: Any, positive_weight: Any) -> Any:
    import torch

    return torch.nn.functional.binary_cross_entropy_with_logits(logits, y.float(), pos_weight=positive_weight)


def shipped_top_layers(encoder: SentenceEncoder, top_layers: int) -> dict[str, Any]:
    """The fine-tuned layers as they ship (float16), loaded back into the model so it runs exactly those."""
    import torch

    count = len(encoder.model.encoder.layer)
    prefixes = tuple(f"encoder.layer.{i}." for i in range(count - top_layers, count))
    state = {name: tensor.detach().to(torch.float16).contiguous()
             for name, tensor in encoder.model.state_dict().items() if name.startswith(prefixes)}
    apply_top_layers(encoder.model, {name: tensor.float() for name, tensor in state.items()})
    return state


def linear_heads(linear: Any) -> dict[str, Any]:
    """The linear layer as the three heads :mod:`heads` reads (the vector scale folded into the weights)."""
    weights = linear.weight.detach().double().numpy() * SCALE
    bias = linear.bias.detach().double().numpy()
    return {"crisis": LinearHead(CRISIS_CLASSES, weights[:4], bias[:4]).as_json(),
            "sourcing": LinearHead(("no", "yes"), weights[4:5], bias[4:5]).as_json(),
            "abuse": LinearHead(("no", "yes"), weights[5:6], bias[5:6]).as_json()}


def embed(encoder: SentenceEncoder, posts: Sequence[Post]) -> np.ndarray:
    """One unit vector per post (its first window), as the fine-tuned encoder sees it."""
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(posts), 64):
            out.append(encoder.forward([encoder.token_ids(p.text) for p in posts[start:start + 64]]).numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros((0, EMBEDDING_SIZE))


def probabilities(heads: dict[str, Any], vectors: np.ndarray) -> dict[str, np.ndarray]:
    return {name: LinearHead.from_json(heads[name]).probabilities(vectors) for name in HEAD_NAMES}


def threshold_for_recall(positive_scores: np.ndarray, recall: float) -> float:
    """The highest threshold t with share(scores >= t) >= recall (1.0 when there is no positive)."""
    if len(positive_scores) == 0:
        return 1.0
    ordered = np.sort(positive_scores)[::-1]
    return float(ordered[min(len(ordered), max(1, math.ceil(recall * len(ordered)))) - 1])


def threshold_within_budget(negative_scores: np.ndarray, budget: float) -> float:
    """The lowest threshold t with share(negatives >= t) <= budget."""
    if len(negative_scores) == 0:
        return 0.0
    ordered = np.sort(negative_scores)[::-1]
    allowed = int(math.floor(budget * len(ordered)))
    return float(np.nextafter(ordered[allowed], np.inf)) if allowed < len(ordered) else 0.0


def choose_thresholds(posts: Sequence[Post], scores: dict[str, np.ndarray]) -> dict[str, Any]:
    severity = np.array([p.severity or "" for p in posts])
    label = np.array([p.label for p in posts])
    ok = label == "ok"
    crisis = at_least_level(scores["crisis"])
    positives = {"watch": severity != "", "high": np.isin(severity, PAGING_LEVELS),
                 "imminent": severity == "imminent"}

    def pick(name: str, values: np.ndarray, positive: np.ndarray) -> float:
        return max(threshold_for_recall(values[positive], TARGETS[name]),
                   threshold_within_budget(values[ok], BUDGETS[name]))

    chosen: dict[str, Any] = {"crisis": {level: pick(f"crisis:{level}", crisis[:, i], positives[level])
                                         for i, level in enumerate(CRISIS_LEVELS)}}
    for head in ("sourcing", "abuse"):
        chosen[head] = pick(head, scores[head][:, 1], label == head)
    return {"crisis": {k: round(v, 6) for k, v in chosen["crisis"].items()},
            "sourcing": round(chosen["sourcing"], 6), "abuse": round(chosen["abuse"], 6)}


def validation_figures(posts: Sequence[Post], scores: dict[str, np.ndarray], thresholds: dict[str, Any]) -> dict:
    """Recall and false-positive rates on the validation split at the chosen thresholds, per language."""
    crisis = at_least_level(scores["crisis"])
    t = thresholds["crisis"]
    # as the policy reads them (learned_level): the highest level whose own threshold is reached
    paged = (crisis[:, 1] >= t["high"]) | (crisis[:, 2] >= t["imminent"])
    escalated = paged | (crisis[:, 0] >= t["watch"])
    severity = np.array([p.severity or "" for p in posts])
    label = np.array([p.label for p in posts])
    figures: dict[str, Any] = {}
    for lang in sorted({p.lang for p in posts}):
        mask = np.array([p.lang == lang for p in posts])
        benign = mask & (label == "ok")

        def rate(hit: np.ndarray, among: np.ndarray) -> dict[str, Any]:
            n = int(among.sum())
            hits = int((hit & among).sum())
            return {"hits": hits, "of": n, "rate": round(hits / n, 4) if n else None}

        sourcing = scores["sourcing"][:, 1] >= thresholds["sourcing"]
        abuse = scores["abuse"][:, 1] >= thresholds["abuse"]
        figures[lang] = {
            "crisis_escalated": rate(escalated, mask & (severity != "")),
            **{f"{level}_escalated": rate(escalated, mask & (severity == level)) for level in CRISIS_LEVELS},
            "high_or_imminent_paged": rate(paged, mask & np.isin(severity, PAGING_LEVELS)),
            "ok_escalated": rate(escalated, benign),
            "ok_paged": rate(paged, benign),
            "sourcing_held": rate(sourcing, mask & (label == "sourcing")),
            "ok_sourcing_held": rate(sourcing, benign),
            "abuse_held": rate(abuse, mask & (label == "abuse")),
            "ok_abuse_held": rate(abuse, benign),
        }
    return figures


def examples(posts: Sequence[Post], vectors: np.ndarray) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The labelled crisis, sourcing and abuse posts, embedded: staff see the nearest ones as evidence."""
    items = [{"id": p.id, "label": p.label, "severity": p.severity, "text": p.text[:EXAMPLE_CHARS]} for p in posts]
    return vectors.astype(np.float16), items


def write(out: Path, layers: dict[str, Any], heads: dict, thresholds: dict, report: dict,
          example_vectors: np.ndarray, example_items: list[dict[str, Any]]) -> None:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    save_file(layers, str(out / TOP_LAYERS_FILE))  # no metadata: its order is not stable between runs
    (out / TOP_LAYERS_FILE).chmod(0o644)
    document = {"version": VERSION, "encoder": MODEL_ID, "heads": heads,
                "encoder_top": {"file": TOP_LAYERS_FILE, "sha256": sha256_of(out / TOP_LAYERS_FILE)},
                "thresholds": thresholds, "report": report}
    (out / HEADS_FILE).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    np.save(out / EXAMPLES_VECTORS, example_vectors, allow_pickle=False)
    (out / EXAMPLES_FILE).write_text(json.dumps(example_items, ensure_ascii=False, indent=0) + "\n",
                                     encoding="utf-8")
    (out / "training_report.md").write_text(format_report(report, thresholds), encoding="utf-8")


def format_report(report: dict[str, Any], thresholds: dict[str, Any]) -> str:
    lines = ["# Training report (written by `python -m services.moderation.cli.train`)", "",
             f"- data sha256: `{report['data_sha256']}`",
             f"- posts: {report['posts']} ({', '.join(f'{k} {v}' for k, v in report['counts'].items())}); "
             f"training {report['training_posts']}, validation {report['validation_posts']} (stratified, seed "
             f"{report['seed']})",
             f"- encoder: {report['encoder']} (published weights sha256 `{report['encoder_sha256']}`), top "
             f"{report['top_layers']} of 6 layers fine-tuned for {report['epochs']} epochs with the heads",
             f"- thresholds (on the validation split, the highest reaching the recall targets {report['targets']} "
             f"unless that flags more ok posts than the budgets {report['budgets']}): `{json.dumps(thresholds)}`",
             "",
             "Validation figures at those thresholds (the validation split of the training corpus, NOT the "
             "evaluation set; the heads alone, without the rules; `make eval` measures the whole system on the "
             "blind set):", ""]
    for lang, figures in report["validation"].items():
        lines += [f"## {lang}", "", "| measure | hits | of | rate |", "|---|---|---|---|"]
        for name, f in figures.items():
            rate = "-" if f["rate"] is None else f"{f['rate']:.1%}"
            lines.append(f"| {name} | {f['hits']} | {f['of']} | {rate} |")
        lines.append("")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.moderation.cli.train", description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, nargs="+", default=list(DEFAULT_CORPUS))
    parser.add_argument("--out", type=Path, default=MODELS_DIR)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (fixed: same data, same files)")
    parser.add_argument("--limit", type=int, help="only the first N posts (tests)")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--top-layers", dest="top_layers", type=int, default=TOP_LAYERS, choices=range(1, 7))
    return parser


def main(argv: Sequence[str] | None = None, environ: dict[str, str] | None = None) -> int:
    args = _parser().parse_args(argv)
    environ = dict(os.environ if environ is None else environ)
    started = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    posts, data_hash = read_corpus(args.corpus)
    if args.limit:
        posts = posts[:args.limit]
    counts = Counter(p.stratum.rstrip(":") for p in posts)
    print(f"train: {len(posts)} posts, data sha256 {data_hash[:16]}…: {dict(sorted(counts.items()))}",
          file=sys.stderr)
    config = EncoderConfig(cache_dir=str(default_cache_dir(environ)))
    encoder = SentenceEncoder(config)
    encoder.load()
    train_idx, held_idx = split(posts)
    linear = fine_tune(encoder, posts, train_idx, epochs=args.epochs, top_layers=args.top_layers)
    layers = shipped_top_layers(encoder, args.top_layers)
    heads = linear_heads(linear)
    print("train: embedding the corpus with the fine-tuned encoder", file=sys.stderr, flush=True)
    vectors = embed(encoder, posts)
    held = [posts[i] for i in held_idx]
    scores = probabilities(heads, vectors[held_idx])
    thresholds = choose_thresholds(held, scores)
    report = {"data_sha256": data_hash, "posts": len(posts), "counts": dict(sorted(counts.items())),
              "training_posts": len(train_idx), "validation_posts": len(held_idx),
              "encoder": MODEL_ID, "encoder_sha256": config.sha256,
              "top_layers": args.top_layers, "epochs": args.epochs, "targets": TARGETS, "budgets": BUDGETS,
              "seed": SEED,
              "validation": validation_figures(held, scores, thresholds)}
    keep = [i for i, p in enumerate(posts) if p.label in HEAD_NAMES]
    write(args.out, layers, heads, thresholds, report, *examples([posts[i] for i in keep], vectors[keep]))
    print(f"train: wrote {args.out} in {time.perf_counter() - started:.0f} s; thresholds {json.dumps(thresholds)}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
