"""Watched words and links: insensitive to case, spacing and swaps; linear; capped; never a regex."""

from __future__ import annotations

import random
import time

import pytest

from services.common.errors import ConfigError
from services.moderation.detectors.text import compact, fold
from services.moderation.detectors.watched import MAX_WORDS, WatchList, _Automaton


def watch(*words, links=()) -> WatchList:
    return WatchList.from_document({"words": list(words), "links": list(links)})


@pytest.mark.parametrize("text", ["SPICE GOLD for sale", "spice-gold", "s p i c e  g o l d", "$pice g0ld", "SpIcEgOlD",
                                  "spicé gold", "（ｓｐｉｃｅ gold）"])
def test_a_watched_word_is_found_whatever_the_spelling(text):
    (signal,) = watch({"text": "spice gold", "action": "block"}).scan(text)
    assert signal.details == {"action": "block", "entry": "spice gold", "kind": "word"}
    assert signal.evidence in text


@pytest.mark.parametrize("text", ["my class is fine", "assessment tomorrow", "compass", "bass guitar"])
def test_a_word_inside_another_word_is_not_found(text):
    assert watch({"text": "ass", "action": "censor"}).scan(text) == []


def test_substring_entries_match_inside_words():
    assert watch({"text": "kratom", "action": "flag", "substring": True}).scan("kratomshop.biz")


def test_censor_gives_the_spans_to_mask():
    (signal,) = watch({"text": "crap", "action": "censor"}).scan("what a crap day, crap")
    assert signal.details["redact"] == [[7, 11, "****"], [17, 21, "****"]]


@pytest.mark.parametrize(("text", "host"), [("join t.me/dealz", "t.me"), ("join t . me / dealz", "t.me"),
                                             ("https://shop.example.com/x?y=1", "shop.example.com"),
                                             ("example[dot]com", "example.com"), ("EXAMPLE.COM", "example.com")])
def test_a_watched_domain_catches_its_subdomains_and_spellings(text, host):
    found = watch(links=[{"domain": "t.me", "action": "hold"}, {"domain": "https://www.example.com", "action": "block"}]
                  ).scan(text)
    assert [s.evidence for s in found] == [host]


def test_an_unrelated_host_is_not_caught():
    assert watch(links=[{"domain": "example.com", "action": "block"}]).scan("see notexample.com and example.co") == []


def test_aho_corasick_finds_exactly_what_a_naive_search_finds():
    rng = random.Random(3)
    words = ["he", "she", "his", "hers", "ushers", "s", "aa", "aaa", "abcab", "bca"]
    automaton = _Automaton(words)
    for _ in range(300):
        text = "".join(rng.choice("abcehirsu") for _ in range(rng.randint(0, 40)))
        naive = sorted((i, i + len(w), k) for k, w in enumerate(words) for i in range(len(text))
                       if text.startswith(w, i))
        assert sorted(automaton.find(text, 10_000)) == naive, text


def test_scanning_is_linear_in_the_text_and_independent_of_the_list_size():
    rng = random.Random(5)
    entries = [{"text": "".join(rng.choice("abcdefghij") for _ in range(8)), "action": "hold"}
               for _ in range(MAX_WORDS)]
    big = WatchList.from_document({"words": entries})
    text = "word " * 2000 + "a" * 10_000
    started = time.perf_counter()
    big.scan(text)
    assert time.perf_counter() - started < 1.0


def test_the_lists_are_capped_and_every_problem_is_named():
    with pytest.raises(ConfigError, match=f"at most {MAX_WORDS}"):
        watch(*[f"word{i}" for i in range(MAX_WORDS + 1)])
    with pytest.raises(ConfigError, match="1-100 characters"):
        watch({"text": "x" * 101, "action": "hold"})
    with pytest.raises(ConfigError, match="not a domain"):
        watch(links=[{"domain": "not a domain", "action": "hold"}])


def test_fold_and_compact_keep_offsets_into_the_original():
    text = "Ｍe TOMÉ — todas"
    assert len(fold(text)) == len(text) and fold(text).startswith("me tome")
    stream, offsets = compact(fold(text))
    assert stream == "metometodas" and [text[i] for i in offsets][:2] == ["Ｍ", "e"]
