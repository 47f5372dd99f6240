"""Test-side names for the locally built Detoxify checkpoints (they live in the package for ``make run``)."""

from services.moderation.detectors.synthetic import (  # noqa: F401 - re-exported for tests
    DETOXIFY_ORIGINAL_LABELS,
    JIGSAW_ORIGINAL_CLASSES,
    MARKER_WORDS,
    build_bert_base_checkpoint,
    build_marker_checkpoint,
    build_tiny_checkpoint,
    vocabulary,
)
