"""Abuse rules: insults aimed at someone, harassment, threats — not swearing about oneself."""

from __future__ import annotations

import pytest

from services.moderation.detectors.abuse import AbuseDetector

ABUSE = [
    ("you are worthless", "insult"),
    ("@mike you absolute moron", "insult"),
    ("Nobody cares about your feelings, loser", "insult"),
    ("eres un inútil y un mentiroso", "insult"),
    ("shut up, you junkie", "insult"),
    ("maybe if you weren't such a loser people would listen", "insult"),
    ("hope you relapse", "harassment"),
    ("you deserve to relapse", "harassment"),
    ("kys", "harassment"),
    ("you should just overdose and save us the trouble", "harassment"),
    ("no one wants you here", "harassment"),
    ("ojalá te mueras", "harassment"),
    ("Junkies are subhuman and should all die", "group"),
    ("los drogadictos son basura", "group"),
]
THREATS = ["I'm going to kill you", "I know where you live", "I'll show up at your meeting and beat you up",
           "Te voy a matar, pendejo", "sé dónde vives"]
NOT_ABUSE = [
    "I'm such an idiot for relapsing",
    "You're not a loser for relapsing, you came back",
    "Thank you, I'm such a failure lately",
    "stupid craving, one more day",
    "I was a worthless drunk for ten years",
    "I'm a junkie and proud to be in recovery",
    "me siento una basura hoy",
    "I'm going to kill myself tonight",  # a crisis, never a threat
    "You're dead to me, old habits",
    "You guys are the best, thank you",
    "you're killing it, congrats on 90 days!",
    "Don't call yourself a junkie, you are a person",
    "fuck this disease",
]


@pytest.fixture(scope="module")
def detector() -> AbuseDetector:
    return AbuseDetector()


@pytest.mark.parametrize(("text", "kind"), ABUSE)
def test_abuse_aimed_at_someone_is_detected(detector, text, kind):
    found = [s for s in detector.detect(text) if s.category == "abuse"]
    assert [s.details["kind"] for s in found] == [kind]
    assert found[0].evidence in text


@pytest.mark.parametrize("text", THREATS)
def test_threats_against_someone_are_a_threat_signal(detector, text):
    assert "threat" in [s.category for s in detector.detect(text)]


@pytest.mark.parametrize("text", NOT_ABUSE)
def test_self_talk_denials_and_crises_are_not_abuse(detector, text):
    assert detector.detect(text) == []
