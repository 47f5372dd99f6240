"""Length bucketing: batches of similar length, bounded in texts and in padded tokens."""

from __future__ import annotations

import random

from services.moderation.detectors.toxicity import buckets


def test_every_index_once_and_each_batch_within_its_bounds():
    rng = random.Random(1)
    lengths = [rng.choice([3, 8, 20, 60, 200, 512]) for _ in range(200)]
    groups = buckets(lengths, batch_size=16, max_batch_tokens=512)
    assert sorted(i for g in groups for i in g) == list(range(200))
    for group in groups:
        assert len(group) <= 16
        assert len(group) == 1 or len(group) * max(lengths[i] for i in group) <= 512


def test_short_texts_are_not_padded_to_a_long_one():
    lengths = [10] * 15 + [400]
    groups = buckets(lengths, batch_size=16, max_batch_tokens=512)
    assert [15] in groups and sorted(len(g) for g in groups) == [1, 15]


def test_a_text_longer_than_the_budget_goes_alone():
    assert buckets([600, 5, 5], batch_size=16, max_batch_tokens=512) == [[1, 2], [0]]
    assert buckets([], batch_size=4, max_batch_tokens=64) == []
