"""Sourcing rules (docs/architecture.md "The post lifecycle"): asking for, offering or selling drugs or someone's prescription.

Cases are written for this file, not copied from the data set. Scores at or above 0.5
are what the default policy holds.
"""

from __future__ import annotations

import pytest

from services.moderation.detectors.sourcing import SourcingDetector

HOLD = 0.5

POSITIVES = [
    # asking to obtain
    "anyone selling percs around here?",
    "where can i get xanax without a script",
    "Can someone hook me up with some bars tonight",
    "Need someone to get me oxy 30s asap",
    "Who can sell me some of their adderall?",
    "looking for a plug in Dallas",
    "who's holding? sick as hell",
    "How do I get my doctor to prescribe me xanax, what should I tell him",
    # offering and selling, with prices, quantities and hand-offs
    "got blues $25 each, tele @plugman",
    "Selling my extra adderall, 10 for $50, pickup downtown",
    "I can get you clean dope, hmu on wickr",
    "WTS gabapentin 600mg, cash app only",
    "Have extra subs, $15 each, DM me",
    "need to re-up, who's got fetty",
    "dm me for pricing on carts",
    "where do people get their percs these days",
    "anyone in the 615 want some blues? text me",
    "trying to find someone with adderall, will pay good",
    "anybody got a line on some molly for saturday?",
    "my guy sells bars, dm me",
    # Spanish
    "Vendo pastillas, envíos a todo el país, escríbeme por whats",
    "¿Alguien tiene cristal en Tijuana? pago bien",
    "¿Dónde consigo clonazepam sin receta?",
    "Te consigo perico, mándame un mensaje",
    "Tengo un contacto que vende cristal, mándame MD",
]

HARD_NEGATIVES = [
    # treatment, harm reduction
    "Where can I get naloxone near me?",
    "Does anyone know where to get fentanyl test strips in Ohio?",
    "Anyone know a suboxone doctor who takes Medicaid?",
    "Where can I get suboxone treatment without insurance?",
    "Where can I get suboxone?",  # asking where to get treatment medication, on its own, is not trade
    "My methadone clinic moved my dose to 60mg",
    "Narcan is free at the health department, grab a few",
    # telling the past, refusing, disposing
    "I used to sell pills out of my car; today I sponsor two guys.",
    "I was buying bars off the dark web for years; 2 years clean now",
    "I'm not buying pills anymore.",
    "I have extra pills from surgery, how do I dispose of them safely?",
    "Xanax bars wrecked my twenties.",
    "My old dealer texted me on snap today and I blocked him.",
    # the words, other meanings
    "Who's holding the meeting tonight?",
    "Anyone have experience tapering off xanax?",
    "I need to get off benzos safely, how do people taper?",
    "Selling my car to pay for rehab, any tips?",
    "Hit me up if you want to talk, I've been there.",
    "Meeting at 7 pm, DM me if you need a ride",
    "get well soon buddy",
    "Tengo pastillas para dormir recetadas por mi doctor",
    # about someone else, or rhetorical
    "My brother sells weed and I need to stop seeing him",
    "He's selling pills again and my mom doesn't know",
    "How do I get my friend to stop selling drugs?",
    "Does anyone else need pills to sleep the first month?",
    "Who needs drugs when you have friends like these",
    "Selling candles to raise money for our NA group, dm me",
    "¿Dónde hay reuniones de NA en Monterrey?",
    "",
]


@pytest.fixture(scope="module")
def detector() -> SourcingDetector:
    return SourcingDetector()


@pytest.mark.parametrize("text", POSITIVES)
def test_sourcing_is_detected_above_the_hold_threshold(detector, text):
    (signal,) = detector.detect(text)
    assert signal.category == "sourcing" and signal.score >= HOLD, signal
    assert signal.evidence and signal.evidence in text


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_hard_negatives_stay_below_the_hold_threshold(detector, text):
    assert all(s.score < HOLD for s in detector.detect(text)), detector.detect(text)


def test_a_hand_off_and_a_price_raise_the_score(detector):
    plain = detector.detect("anyone selling percs?")[0].score
    handed = detector.detect("anyone selling percs? dm me")[0].score
    priced = detector.detect("anyone selling percs? dm me, $20 each")[0].score
    assert plain < handed < priced


def test_a_treatment_medication_becomes_sourcing_with_trade_talk(detector):
    assert detector.detect("Where can I get suboxone?")[0].score < HOLD
    assert detector.detect("Where can I get suboxone? will pay cash, dm me")[0].score >= HOLD


def test_a_past_sentence_does_not_hide_a_present_one(detector):
    text = "I used to sell pills. Now I'm selling again, bars $5 each, hmu"
    assert detector.detect(text)[0].score >= HOLD


def test_the_signal_names_its_kind_cues_and_drug(detector):
    (signal,) = detector.detect("Selling my extra adderall, 10 for $50, pickup downtown")
    assert signal.details["kind"] == "offer" and signal.details["drug"] == "adderall"
    assert {"handoff", "price"} <= set(signal.details["cues"])
