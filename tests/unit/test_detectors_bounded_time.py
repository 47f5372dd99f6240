"""No input makes a rule detector slow: every pattern is bounded, so a 10,000-character post
(the forum's limit) of the most awkward shapes is read in well under a second."""

from __future__ import annotations

import time

import pytest

from services.moderation.detectors.abuse import AbuseDetector
from services.moderation.detectors.crisis import CrisisDetector
from services.moderation.detectors.privacy import PrivacyDetector
from services.moderation.detectors.sourcing import SourcingDetector
from services.moderation.detectors.watched import WatchList

LIMIT = 10_000
AWKWARD = {
    "letters": "a" * LIMIT,
    "spaces": " " * LIMIT,
    "digits-and-dashes": "1-" * (LIMIT // 2),
    "digit-groups": "123 " * (LIMIT // 4),
    "at-signs": "a@" * (LIMIT // 2),
    "dots": "a." * (LIMIT // 2),
    "email-ish": ("x" * 60 + "@" + "y." * 20) * (LIMIT // 101),
    "cue-words": "where can i get some some some " * (LIMIT // 31),
    "you-insults": "you idiot " * (LIMIT // 10),
    "numbers-and-streets": "12 Main Main Main " * (LIMIT // 18),
    "capitals": "My sponsor Aa Bb Cc Dd " * (LIMIT // 23),
    "clauses": "and, but; so. " * (LIMIT // 14),
    "letter-space": "a " * (LIMIT // 2),
    "newlines": "\n" * LIMIT,
    "space-runs-and-words": (" " * 200 + "and i ") * (LIMIT // 206),
    "prices": "$1 " * (LIMIT // 3),
    "apostrophes": "i'm i'm " * (LIMIT // 8),
}
DETECTORS = [CrisisDetector(), SourcingDetector(), PrivacyDetector(), AbuseDetector(),
             WatchList.from_document({"words": ["aaaa", "where can", "1 1"], "links": ["a.aa"]})]


@pytest.mark.parametrize("shape", AWKWARD)
@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: type(d).__name__)
def test_awkward_posts_are_read_quickly(detector, shape):
    text = AWKWARD[shape][:LIMIT]
    run = detector.scan if isinstance(detector, WatchList) else detector.detect
    started = time.perf_counter()
    run(text)
    assert time.perf_counter() - started < 1.0, f"{type(detector).__name__} on {shape}"
