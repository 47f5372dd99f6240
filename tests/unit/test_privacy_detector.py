"""Privacy rules: what identifies a person is found, redacted, and never copied into evidence."""

from __future__ import annotations

import pytest

from services.moderation.detectors.privacy import PrivacyDetector

FOUND = [
    ("Text me at (212) 555-0199 tonight", "phone", "Text me at [phone removed] tonight"),
    ("my number is +34 612 345 678", "phone", "my number is [phone removed]"),
    ("Llámame al 612 34 56 78", "phone", "Llámame al [phone removed]"),
    ("call 555-0142 after six", "phone", "call [phone removed] after six"),
    ("write to jo.doe+rec@proton.me", "email", "write to [e-mail removed]"),
    ("my email is jane_doe99 at gmail dot com", "email", "my email is [e-mail removed]"),
    ("I live at 22 oak street", "address", "I live at [address removed]"),
    ("Come to 415 W 42nd St, Apt 7C", "address", "Come to [address removed]"),
    ("Vivo en Calle Luna 12, piso 3", "address", "Vivo en [address removed]"),
    ("My SSN is 123-45-6789", "government_id", "My SSN is [id removed]"),
    ("card 4111 1111 1111 1111 exp 09/27", "card", "card [card number removed] exp 09/27"),
    ("Add me on snap: sober_sam22", "handle", "Add me on snap: [handle removed]"),
    ("My sponsor John Smith says hi", "name", "My sponsor [name removed] says hi"),
    ("Mi padrino se llama Juan Pérez", "name", "Mi padrino se llama [name removed]"),
]
NOT_PERSONAL = [
    "SAMHSA helpline is 1-800-662-4357, free and confidential",
    "Call 988 if you are in crisis, or 911",
    "I've been sober since 2019-03-14 and it's day 1,832",
    "Down to 40mg from 120mg over 6 months",
    "I walked 3 miles down Main Street today",
    "12 days with my dr's help",
    "My sponsor Mike R. told me to call him",
    "We meet Tuesday at 7 pm at St. Mark's church",
    "My order number was 100200300400",
    "went from 200 1000 steps a day",
    "@river thanks for the reply",
    "Big Book page 417 says it well",
]


@pytest.fixture(scope="module")
def detector() -> PrivacyDetector:
    return PrivacyDetector()


@pytest.mark.parametrize(("text", "kind", "redacted"), FOUND)
def test_personal_data_is_found_and_redacted(detector, text, kind, redacted):
    (signal,) = detector.detect(text)
    assert signal.category == "privacy" and kind in signal.details["kinds"]
    assert signal.details["redacted_text"] == redacted


@pytest.mark.parametrize(("text", "kind", "redacted"), FOUND)
def test_evidence_never_repeats_the_data(detector, text, kind, redacted):
    (signal,) = detector.detect(text)
    removed = [text[s:e] for s, e, _ in signal.details["redact"]]
    assert all(value not in signal.evidence for value in removed)


@pytest.mark.parametrize("text", NOT_PERSONAL)
def test_resources_dates_doses_and_anonymous_names_are_not_personal_data(detector, text):
    assert detector.detect(text) == []


@pytest.mark.parametrize("text", ["his name is Carlos Mendez and he works at the Walmart on 5th",
                                  "her address is 1400 Elm Avenue, go tell her what you think",
                                  "My ex Dana Whitfield lives on Birch Lane"])
def test_someone_elses_name_or_address_with_where_to_find_them_is_doxxing(detector, text):
    (signal,) = detector.detect(text)
    assert signal.details["third_party"] and not signal.details["redaction_safe"]
    assert signal.score > 0.95


def test_own_contact_details_are_safe_to_redact(detector):
    (signal,) = detector.detect("Call me at 617-555-0188 any time")
    assert signal.details["redaction_safe"] and not signal.details["third_party"]
