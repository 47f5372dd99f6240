"""Per-community policies: the base, then '*', then the community's own document; bad layers are skipped."""

from __future__ import annotations

from services.moderation.policy_book import PolicyBook, StoredPolicy
from services.moderation.policy import Policy, decide
from services.moderation.signals import Signal

BLOCK_SPICE = {"version": "g-1", "watched": {"words": [{"text": "spice", "action": "block"}]}}


def test_without_stored_documents_every_community_gets_the_base():
    book = PolicyBook(Policy())
    assert book.for_community("general") == Policy() and book.for_community(None) == Policy()


def test_a_community_document_merges_onto_the_base_and_names_its_version():
    book = PolicyBook(Policy(), [StoredPolicy("general", "g-1", BLOCK_SPICE)])
    general, other = book.for_community("general"), book.for_community("es-apoyo")
    assert general.version == "default-1+general@g-1" and other.version == "default-1"
    assert [e.text for e in general.watched.words] == ["spice"] and not other.watched
    assert general.toxicity_hold == Policy().toxicity_hold, "what the community does not set is inherited"


def test_the_all_communities_layer_sits_between_the_base_and_a_community():
    stored = [StoredPolicy("*", "site-2", {"version": "site-2", "toxicity": {"abuse_hold": 0.6}}),
              StoredPolicy("general", "g-1", BLOCK_SPICE)]
    book = PolicyBook(Policy(), stored)
    assert book.for_community("general").version == "default-1+all@site-2+general@g-1"
    assert book.for_community("general").toxicity_hold == 0.6
    assert book.for_community("elsewhere").version == "default-1+all@site-2"


def test_an_invalid_stored_document_is_skipped_not_fatal():
    book = PolicyBook(Policy(), [StoredPolicy("general", "g-2", {"version": "g-2", "toxicity": {"abuse_hold": 7}})])
    assert book.for_community("general") == Policy()


def test_the_community_policy_decides_that_communitys_posts():
    book = PolicyBook(Policy(), [StoredPolicy("general", "g-1", BLOCK_SPICE)])
    policy = book.for_community("general")
    signals = policy.watched.scan("selling spice")
    assert [s.category for s in signals] == ["watched"]
    assert decide(policy, "selling spice", signals).outcome == "removed"
    assert decide(book.for_community("other"), "selling spice",
                  book.for_community("other").watched.scan("selling spice")).outcome == "published"


def test_rule_signal_from_another_policy_version_is_still_decided_by_thresholds():
    strict = PolicyBook(Policy(), [StoredPolicy("g", "v", {"version": "v", "categories": {"sourcing": {"remove": 0.9}}})])
    signal = Signal("sourcing", 0.95, "wtb bars", "sourcing-rules-v1", {})
    assert decide(strict.for_community("g"), "wtb bars", [signal]).outcome == "removed"
    assert decide(strict.for_community("h"), "wtb bars", [signal]).outcome == "held"
