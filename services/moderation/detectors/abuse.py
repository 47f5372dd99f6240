"""Abuse rules: insults and slurs aimed at someone, harassment, threats (English and Spanish).

Detoxify scores swearing as toxic whatever its target, and the ``original``
model reads English only. These rules are the cheap, language-aware half:

* an insult counts only in a sentence aimed at someone (you, your, @name,
  "tú", "eres"), and not when the speaker is the one insulted ("I'm such an
  idiot", "me siento una basura") or the insult is denied ("you're not a
  loser");
* harassment is abuse on its own: telling someone to kill themselves ("kys"),
  to relapse, that nobody wants them here;
* a group of people in recovery called subhuman;
* threats of violence against someone are a ``threat`` signal.

A self-directed "I'm going to kill myself" is never a threat here: every
threat pattern needs a second person. That is the crisis detector's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from services.moderation.detectors.lexicons import alternation
from services.moderation.detectors.text import fold, sentences
from services.moderation.signals import Signal

_W = r"(?<![\w@])"
_E = r"(?![\w])"
_COUNTERFACTUAL = re.compile(r"\bif\s+(?:you|u|ya)\s+(?:weren'?t|wasn'?t|were\s+not)\b|\bsi\s+no\s+fueras\b")


@dataclass(frozen=True)
class _Patterns:
    target: re.Pattern[str]
    insult: re.Pattern[str]
    self_insult: re.Pattern[str]
    negation: re.Pattern[str]
    harassment: re.Pattern[str]
    group: re.Pattern[str]
    threat: re.Pattern[str]


@cache
def _patterns() -> _Patterns:
    def a(name: str) -> str:
        return alternation("abuse", name)

    return _Patterns(
        target=re.compile(rf"(?<!thank ){_W}{a('target')}{_E}(?!\.)"),
        insult=re.compile(rf"{_W}{a('insult')}{_E}"),
        self_insult=re.compile(rf"{_W}{a('self')}(?:{a('insult')}){_E}"),
        negation=re.compile(rf"{_W}{a('negation')}{_E}"),
        harassment=re.compile(rf"{_W}{a('harassment')}{_E}"),
        group=re.compile(rf"{_W}{a('group')}{_E}"),
        threat=re.compile(rf"{_W}{a('threat')}{_E}"),
    )


@dataclass(frozen=True)
class AbuseDetector:
    """At most one ``abuse`` and one ``threat`` signal."""

    name: str = "abuse-rules-v1"

    def detect(self, text: str) -> list[Signal]:
        p = _patterns()
        folded = fold(text)
        abuse: tuple[float, str, str] | None = None
        threat: tuple[float, str, str] | None = None
        for sentence in sentences(folded):
            s, offset = sentence.text, sentence.start
            if threat is None and (m := p.threat.search(s)):
                threat = (0.85, text[offset + m.start():offset + m.end()], "threat")
            for score, kind, pattern in ((0.9, "harassment", p.harassment), (0.8, "group", p.group)):
                if (m := pattern.search(s)) and (abuse is None or abuse[0] < score):
                    abuse = (score, text[offset + m.start():offset + m.end()], kind)
            if (abuse is None or abuse[0] < 0.75) and (insult := self._aimed_insult(p, s)):
                abuse = (0.75, text[offset + insult[0]:offset + insult[1]], "insult")
        signals = []
        if abuse:
            signals.append(Signal("abuse", abuse[0], abuse[1], self.name, {"kind": abuse[2]}))
        if threat:
            signals.append(Signal("threat", threat[0], threat[1], self.name, {"kind": threat[2]}))
        return signals

    @staticmethod
    def _aimed_insult(p: _Patterns, sentence: str) -> tuple[int, int] | None:
        if not p.target.search(sentence):
            return None
        self_spans = [m.span() for m in p.self_insult.finditer(sentence)]
        for match in p.insult.finditer(sentence):
            if any(s <= match.start() and match.end() <= e for s, e in self_spans):
                continue  # "I'm such an idiot": the speaker is the one insulted
            before = sentence[max(0, match.start() - 30):match.start()]
            if p.negation.search(before) and not _COUNTERFACTUAL.search(before):
                continue  # "you're not a loser" (but "if you weren't such a loser" is no denial)
            return match.start(), match.end()
        return None
