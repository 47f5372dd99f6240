"""Text helpers the rule detectors share: folding, clauses, and a compact form for watched words.

Every function here keeps offsets: :func:`fold` returns a string of the same
length as its input (one character for one), and :func:`compact` returns the
original offset of each character it keeps, so a match in the folded or
compact text is always a span of the text the member wrote.

Nothing here is quadratic: each function is one pass over the text.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Typographic quotes and dashes members type on phones, as the ASCII the rules are written in.
_PUNCTUATION = {"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-",
                "\u2014": "-", "\u00a0": " ", "\u00bf": " ", "\u00a1": " "}
# What members write to dodge a word filter: digits and symbols for letters.
_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "@": "a", "$": "s"}


@lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    if char in _PUNCTUATION:
        return _PUNCTUATION[char]
    lower = char.lower()
    if len(lower) != 1:
        lower = char
    base = "".join(c for c in unicodedata.normalize("NFKD", lower) if not unicodedata.combining(c))
    return base if len(base) == 1 else lower


def fold(text: str) -> str:
    """Lower case, accents and width stripped, typographic quotes as ASCII; same length as ``text``.

    "Me TOMÉ ｔｏｄａｓ" -> "me tome todas". Rules are written against this form.
    """
    return "".join(map(_fold_char, text))


@dataclass(frozen=True)
class Clause:
    start: int
    text: str


def split(text: str, breaks: re.Pattern[str]) -> list[Clause]:
    """``text`` cut at every match of ``breaks``, each piece with its offset; empty pieces dropped."""
    found, start = [], 0
    for brk in breaks.finditer(text):
        found.append(Clause(start, text[start:brk.start()]))
        start = brk.end()
    found.append(Clause(start, text[start:]))
    return [c for c in found if c.text.strip()]


SENTENCE_BREAK = re.compile(r"[.!?\n;]+(?=\s|$)|[!?\n;]+|\.{2,}")


def sentences(text: str) -> list[Clause]:
    """Sentences (a dot inside "t.me" or "3.5" does not end one)."""
    return split(text, SENTENCE_BREAK)


def compact(folded: str, *, leet: bool = True) -> tuple[str, list[int]]:
    """Only the letters and digits of ``folded`` (leetspeak as letters), with each one's offset.

    "B u-y  $p1ce" -> ("buyspice", [0, 2, 4, 7, 8, 9, 10, 11]): what a watched word
    is matched against, so spacing, punctuation and case never hide it.
    """
    kept: list[str] = []
    offsets: list[int] = []
    for index, char in enumerate(folded):
        if leet and char in _LEET:
            char = _LEET[char]
        if char.isalnum():
            kept.append(char)
            offsets.append(index)
    return "".join(kept), offsets


def compact_word(word: str) -> str:
    """A watched word in the same compact form as the text it is matched against."""
    return compact(fold(word))[0]


def is_word_char(char: str) -> bool:
    return char.isalnum() or char in _LEET


def redact(text: str, spans: list[tuple[int, int, str]]) -> str:
    """``text`` with each ``(start, end, label)`` span replaced by ``label``; overlapping spans merge."""
    merged: list[list] = []
    for start, end, label in sorted((s, e, lbl) for s, e, lbl in spans if 0 <= s < e <= len(text)):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
            continue
        merged.append([start, end, label])
    out, position = [], 0
    for start, end, label in merged:
        out.append(text[position:start])
        out.append(label)
        position = end
    out.append(text[position:])
    return "".join(out)
