"""Learned heads on the sentence encoder: crisis level, sourcing, abuse aimed at someone.

The heads are linear layers trained by ``python -m services.moderation.cli.train``
together with the encoder's top layers (fine-tuned) on the labelled corpus in
``data/corpus``, and committed in ``services/moderation/models/`` as plain data:
``heads.json`` (weights, the thresholds chosen on a validation split, the
training report, the sha256 of ``encoder_top.safetensors``), the fine-tuned
layers, and ``examples.npy`` + ``examples.json`` (the embedded labelled
examples shown to staff as evidence). No pickle is ever loaded.

The crisis head is one 4-way softmax (none / watch / high / imminent); what it
gives the policy is cumulative: ``P(at least watch)``, ``P(at least high)``,
``P(imminent)``, so a post torn between high and imminent still counts as at
least high. A post of several windows is as strong as its strongest window.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from services.common.domain import CRISIS_LEVELS
from services.common.errors import ConfigError
from services.moderation.detectors.encoder import TopLayers

MODELS_DIR = Path(__file__).resolve().parents[1] / "models"
HEADS_FILE = "heads.json"
EXAMPLES_VECTORS = "examples.npy"
EXAMPLES_FILE = "examples.json"
TOP_LAYERS_FILE = "encoder_top.safetensors"
HEAD_NAMES = ("crisis", "sourcing", "abuse")
CRISIS_CLASSES = ("none", *CRISIS_LEVELS)


@dataclass(frozen=True)
class LinearHead:
    """A logistic regression: one row of weights for a binary head, one per class for a softmax."""

    classes: tuple[str, ...]
    weights: np.ndarray  # (1 or classes, dim)
    bias: np.ndarray

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """(n, classes) probabilities for (n, dim) unit vectors."""
        logits = vectors @ self.weights.T + self.bias
        if self.weights.shape[0] == 1:
            positive = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.stack([1.0 - positive, positive], axis=1)
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def as_json(self) -> dict[str, Any]:
        return {"classes": list(self.classes), "weights": self.weights.tolist(), "bias": self.bias.tolist()}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> LinearHead:
        return cls(tuple(raw["classes"]), np.asarray(raw["weights"], dtype=np.float64),
                   np.asarray(raw["bias"], dtype=np.float64))


@dataclass(frozen=True)
class HeadScores:
    """One text's scores: cumulative crisis probabilities per level, sourcing, abuse."""

    crisis: dict[str, float]
    sourcing: float
    abuse: float
    strongest: np.ndarray  # the window that scored highest for crisis (for nearest examples)


class Examples:
    """Labelled training posts, embedded, shown to staff as the nearest cases to a flagged post."""

    def __init__(self, vectors: np.ndarray, items: list[dict[str, Any]]) -> None:
        self.items = items
        labels = np.array([item["label"] for item in items])
        # per label, once: float32 vectors and the items' indices (a lookup is one small matrix product)
        self._by_label = {label: (np.flatnonzero(labels == label),
                                  vectors[labels == label].astype(np.float32)) for label in set(labels)}

    def nearest(self, vector: np.ndarray, label: str, k: int = 3) -> list[dict[str, Any]]:
        if label not in self._by_label:
            return []
        indices, vectors = self._by_label[label]
        similarity = vectors @ vector.astype(np.float32)
        top = np.argsort(-similarity, kind="stable")[:k]
        return [{**self.items[indices[i]], "similarity": round(float(similarity[i]), 3)} for i in top]


@dataclass(frozen=True)
class Heads:
    version: str
    crisis: LinearHead
    sourcing: LinearHead
    abuse: LinearHead
    thresholds: dict[str, Any]  # {"crisis": {level: p}, "sourcing": p, "abuse": p}: chosen on a validation split
    examples: Examples
    top_layers: TopLayers | None = None  # the encoder's fine-tuned top layers these heads were trained on

    def score(self, windows: list[np.ndarray]) -> list[HeadScores]:
        """Scores per text from its windows' vectors (each text has at least one window)."""
        scores = []
        for vectors in windows:
            # per window; the text is as strong as its strongest window
            at_least = at_least_level(self.crisis.probabilities(vectors))
            strongest = int(np.argmax(at_least[:, 0]))
            scores.append(HeadScores(
                crisis={level: float(at_least[:, i].max()) for i, level in enumerate(CRISIS_LEVELS)},
                sourcing=float(self.sourcing.probabilities(vectors)[:, 1].max()),
                abuse=float(self.abuse.probabilities(vectors)[:, 1].max()),
                strongest=vectors[strongest],
            ))
        return scores

    @classmethod
    def load(cls, directory: Path = MODELS_DIR) -> Heads:
        try:
            raw = json.loads((directory / HEADS_FILE).read_text(encoding="utf-8"))
            vectors = np.load(directory / EXAMPLES_VECTORS, allow_pickle=False)
            items = json.loads((directory / EXAMPLES_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ConfigError(f"cannot load the learned heads from {directory}: {e} "
                              "(rebuild them with `python -m services.moderation.cli.train`)") from e
        if len(items) != len(vectors):
            raise ConfigError(f"{directory}: {len(items)} examples but {len(vectors)} vectors; retrain")
        top = raw.get("encoder_top")
        return cls(raw["version"], *(LinearHead.from_json(raw["heads"][name]) for name in HEAD_NAMES),
                   thresholds=raw["thresholds"], examples=Examples(vectors, items),
                   top_layers=TopLayers(directory / top["file"], top["sha256"]) if top else None)


def at_least_level(crisis_probabilities: np.ndarray) -> np.ndarray:
    """(n, levels) P(this level or higher) from the (n, 4) none/watch/high/imminent softmax."""
    return np.flip(np.cumsum(np.flip(crisis_probabilities[:, 1:], axis=1), axis=1), axis=1)


def learned_level(probabilities: dict[str, float], thresholds: dict[str, float]) -> str | None:
    """The highest crisis level whose cumulative probability reaches its threshold, or None."""
    for level in reversed(CRISIS_LEVELS):
        if probabilities.get(level, 0.0) >= thresholds[level]:
            return level
    return None
