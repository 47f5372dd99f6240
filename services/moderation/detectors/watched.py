"""Watched words and links, per community: block (remove), hold, flag (review, stays up), censor (masked).

Matching is case-, accent-, spacing- and punctuation-insensitive and sees
through common digit-for-letter swaps: the watched word "spice gold" matches
"SPICE-GOLD", "s p i c e g o l d" and "$pice g0ld". It runs in time linear in
the text (plus the matches reported):

* words are compacted (letters and digits only, see :func:`.text.compact`) and
  all of a community's words go into one Aho–Corasick automaton, built once
  when the policy is loaded; a post is scanned once, whatever the list's size;
* a match counts only where it starts and ends on word edges of the original
  text ("ass" does not match "class"), unless the entry says ``substring: true``;
* links are matched by host: the text's URL-like tokens ("t.me/x", "t . me",
  "example[dot]com") are reduced to hosts, and a host or any parent domain is
  looked up in a set, so ``example.com`` also catches ``shop.example.com``.

No entry is a regular expression: a moderator's list can never make matching
catastrophic. Sizes are capped (:data:`MAX_WORDS`, :data:`MAX_LINKS`,
:data:`MAX_ENTRY_CHARS`) and checked when the policy is loaded.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from services.common.errors import ConfigError
from services.moderation.detectors.text import compact, compact_word, fold, is_word_char
from services.moderation.signals import Signal

ACTIONS = ("block", "hold", "flag", "censor")
LINK_ACTIONS = ("block", "hold", "flag")
MAX_WORDS = 5000
MAX_LINKS = 2000
MAX_ENTRY_CHARS = 100
MAX_MATCHES = 200  # per post: enough to act on; a post that is one watched word repeated stops here
DETECTOR = "watched-v1"
_DOMAIN = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.){1,10}[a-z]{2,24}$")
_DOT = re.compile(r"\s{0,3}(?:\[\.\]|\(\.\)|\[dot\]|\(dot\)|\{dot\}|\.|\s(?:dot|punto)\s)\s{0,3}")
_TOKEN_BREAK = re.compile(r"[^a-z0-9./:-]+")


@dataclass(frozen=True)
class Entry:
    text: str
    action: str
    kind: str = "word"  # word | link
    substring: bool = False


class _Automaton:
    """Aho–Corasick over compact words: every occurrence of every word in one pass."""

    def __init__(self, words: list[str]) -> None:
        self._goto: list[dict[str, int]] = [{}]
        self._fail: list[int] = [0]
        self._out: list[list[int]] = [[]]
        self._lengths = [len(w) for w in words]
        for index, word in enumerate(words):
            state = 0
            for char in word:
                nxt = self._goto[state].get(char)
                if nxt is None:
                    nxt = len(self._goto)
                    self._goto[state][char] = nxt
                    self._goto.append({})
                    self._fail.append(0)
                    self._out.append([])
                state = nxt
            self._out[state].append(index)
        queue = deque(self._goto[0].values())
        while queue:
            state = queue.popleft()
            for char, nxt in self._goto[state].items():
                queue.append(nxt)
                if state == 0:
                    continue  # depth one: fails to the root
                fallback = self._fail[state]
                while fallback and char not in self._goto[fallback]:
                    fallback = self._fail[fallback]
                self._fail[nxt] = self._goto[fallback].get(char, 0)
                self._out[nxt] = self._out[nxt] + self._out[self._fail[nxt]]

    def find(self, text: str, limit: int):
        """``(start, end, word index)`` for every occurrence, at most ``limit``."""
        state, found = 0, 0
        for position, char in enumerate(text):
            while state and char not in self._goto[state]:
                state = self._fail[state]
            state = self._goto[state].get(char, 0)
            for index in self._out[state]:
                yield position + 1 - self._lengths[index], position + 1, index
                found += 1
                if found >= limit:
                    return


@dataclass(frozen=True)
class WatchList:
    words: tuple[Entry, ...] = ()
    links: tuple[Entry, ...] = ()
    _automaton: _Automaton | None = field(default=None, repr=False, compare=False)
    _compact: tuple[str, ...] = field(default=(), repr=False, compare=False)
    _domains: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def build(cls, words: list[Entry], links: list[Entry]) -> WatchList:
        compacted = tuple(compact_word(e.text) for e in words)
        domains = {_host(e.text): i for i, e in enumerate(links)}
        return cls(tuple(words), tuple(links), _Automaton(list(compacted)) if words else None, compacted, domains)

    @classmethod
    def from_document(cls, section: Any) -> WatchList:
        """Validate the ``watched`` section of a policy document; :class:`ConfigError` names every problem."""
        section = section or {}
        problems: list[str] = []
        if not isinstance(section, dict) or set(section) - {"words", "links"}:
            raise ConfigError("policy watched: must be a mapping with 'words' and/or 'links'")
        words = _entries(section.get("words") or [], "word", ACTIONS, MAX_WORDS, problems)
        links = _entries(section.get("links") or [], "link", LINK_ACTIONS, MAX_LINKS, problems)
        if problems:
            raise ConfigError("policy watched: " + "; ".join(problems[:20]))
        return cls.build(words, links)

    def as_json(self) -> dict[str, Any]:
        return {"words": [_entry_json(e) for e in self.words], "links": [_entry_json(e) for e in self.links]}

    def __bool__(self) -> bool:
        return bool(self.words or self.links)

    def scan(self, text: str) -> list[Signal]:
        """One ``watched`` signal per entry found (evidence: the words as written)."""
        if not self:
            return []
        folded = fold(text)
        spans: dict[int, list[list]] = {}
        if self._automaton is not None:
            stream, offsets = compact(folded)
            for start, end, index in self._automaton.find(stream, MAX_MATCHES):
                first, last = offsets[start], offsets[end - 1] + 1
                entry = self.words[index]
                if entry.substring or _on_word_edges(folded, first, last):
                    spans.setdefault(index, []).append([first, last, "*" * (last - first)])
        signals = [Signal("watched", 1.0, text[found[0][0]:found[0][1]], DETECTOR,
                          {"action": self.words[i].action, "entry": self.words[i].text, "kind": "word",
                           **({"redact": found} if self.words[i].action == "censor" else {})})
                   for i, found in spans.items()]
        for host in _hosts(folded):
            if (index := self._domain_index(host)) is not None:
                entry = self.links[index]
                signals.append(Signal("watched", 1.0, host, DETECTOR,
                                      {"action": entry.action, "entry": entry.text, "kind": "link"}))
        return signals

    def _domain_index(self, host: str) -> int | None:
        parts = host.split(".")
        for first in range(len(parts) - 1):
            if (index := self._domains.get(".".join(parts[first:]))) is not None:
                return index
        return None


def _on_word_edges(folded: str, start: int, end: int) -> bool:
    return (start == 0 or not is_word_char(folded[start - 1])) and (end == len(folded) or not is_word_char(folded[end]))


def _hosts(folded: str) -> set[str]:
    """Hosts of URL-like tokens, with "[dot]" / " . " spellings undone."""
    hosts = set()
    for token in _TOKEN_BREAK.split(_DOT.sub(".", folded)):
        if "." not in token:
            continue
        token = re.sub(r"^[a-z]{2,10}://", "", token).split("/", 1)[0].split(":", 1)[0].strip(".-")
        token = token.removeprefix("www.")
        if _DOMAIN.match(token):
            hosts.add(token)
    return hosts


def _host(domain: str) -> str:
    return re.sub(r"^[a-z]{2,10}://", "", fold(domain).strip()).split("/", 1)[0].removeprefix("www.")


def _entries(raw: Any, kind: str, actions: tuple[str, ...], limit: int, problems: list[str]) -> list[Entry]:
    if not isinstance(raw, list):
        problems.append(f"{kind}s must be a list")
        return []
    if len(raw) > limit:
        problems.append(f"at most {limit} {kind}s, got {len(raw)}")
        return []
    entries = []
    for number, item in enumerate(raw, 1):
        if isinstance(item, str):
            item = {"text": item, "action": "hold"}
        key = "text" if kind == "word" else "domain"
        value = item.get(key, item.get("text")) if isinstance(item, dict) else None
        action = item.get("action", "hold") if isinstance(item, dict) else None
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_ENTRY_CHARS:
            problems.append(f"{kind} #{number}: '{key}' must be 1-{MAX_ENTRY_CHARS} characters")
            continue
        if action not in actions:
            problems.append(f"{kind} #{number} ({value!r}): action must be one of {', '.join(actions)}")
            continue
        if set(item) - {key, "text", "action", "substring"}:
            problems.append(f"{kind} #{number} ({value!r}): unknown keys {sorted(set(item) - {key, 'text', 'action', 'substring'})}")
            continue
        if kind == "word" and len(compact_word(value)) < 2:
            problems.append(f"word #{number} ({value!r}) has fewer than 2 letters or digits")
            continue
        if kind == "link" and not _DOMAIN.match(_host(value)):
            problems.append(f"link #{number} ({value!r}) is not a domain like example.com")
            continue
        entries.append(Entry(value.strip(), action, kind, bool(item.get("substring", False))))
    return entries


def _entry_json(entry: Entry) -> dict[str, Any]:
    key = "text" if entry.kind == "word" else "domain"
    return {key: entry.text, "action": entry.action, **({"substring": True} if entry.substring else {})}
