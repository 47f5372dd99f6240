"""A first crisis detector: rules shaped like the Columbia scale (C-SSRS).

Levels (DESIGN.md): ``watch`` — a current wish to die or self-harm thoughts,
no plan; ``high`` — intent, a plan, preparations, goodbyes, stockpiling;
``imminent`` — plan + means + a time that is now or within 48 h, or an
overdose / attempt / self-harm in progress (the author's or someone else's).

The rules work sentence by sentence so that a past-tense recovery story
("two years ago I took all my pills") does not fire: a sentence that carries a
past or recovery marker is not read as a present crisis. Idioms ("this
craving is killing me") never match because every intent pattern needs the
author as the one who dies or is hurt. A drug name alone never escalates;
means + intent + time do. This is deliberately conservative on *recall* for
imminent risk: a missed crisis costs more than a crisis worker's minute.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.moderation.signals import Signal

_I = r"(?:i|i'm|im|i am|i've|ive|i have|i'll|ill|i will|i'd)"

# In progress right now: an overdose, an attempt, someone not breathing.
_IN_PROGRESS = [
    r"\b(?:i'?m|i am|im)\s+(?:overdosing|od'?ing|dying)\b",
    r"\bi\s+(?:just\s+|already\s+)?(?:took|swallowed|have taken|'ve taken)\s+(?:all|every|the whole|a whole|\d+|twenty|thirty|fifty)\b[^.!?]*\b(?:pills?|tablets?|bottle|pack|them|it)\b",
    r"\b(?:he|she|they|my \w+|someone|a friend|my friend)\s+(?:is|'s|are|isn't|is not|won't)\s+(?:overdosing|not breathing|turning blue|unresponsive|breathing)\b",
    r"\b(?:i'?m|i am|im)\s+(?:cutting|bleeding)\b[^.!?]*\b(?:now|right now|badly|a lot)\b",
    r"\bme\s+(?:estoy|he)\s+(?:muriendo|tomado todas)\b",
]
# Intent, plans, preparations, goodbyes.
_INTENT = [
    rf"\b{_I}\s+(?:going to|gonna|about to|will|want to|plan to|planning to|ready to)\s+(?:kill myself|end (?:it|my life|things)|take (?:all|every|them all)|die)\b",
    r"\b(?:taking|take|swallow(?:ing)?)\s+(?:all|every one|the whole)\s+(?:of\s+)?(?:them|the pills|my pills|it|the bottle)\b",
    rf"\b{_I}\s+(?:have|got|'ve got)\s+(?:a|the|my)\s+plan\b",
    r"\b(?:this is my last (?:post|message|night)|goodbye (?:everyone|all|forever)|won'?t be (?:here|around) (?:tomorrow|much longer)|by the time you read this)\b",
    rf"\b{_I}\s+(?:have been|'ve been|was|been)\s+(?:saving|stockpiling|collecting|hoarding)\b[^.!?]*\b(?:pills?|meds|medication|tablets)\b",
    rf"\b{_I}\s+(?:wrote|have written|'ve written)\s+(?:a|my)\s+(?:suicide\s+)?(?:note|letters?)\b",
    r"\b(?:me voy a matar|voy a quitarme la vida|esta es mi [úu]ltima)\b",
]
# Current wish to die, self-harm thoughts.
_WISH = [
    r"\b(?:i|i just|i really)\s+(?:want|wanna|wish)\s+(?:to\s+)?(?:die|be dead|kill myself|not wake up|disappear forever)\b",
    r"\bi\s+wish\s+i\s+(?:was|were)\s+dead\b",
    r"\b(?:i\s+)?(?:don'?t|do not)\s+want\s+to\s+(?:live|be alive|wake up)\b",
    r"\b(?:thinking|thoughts)\s+(?:about|of)\s+(?:suicide|killing myself|ending it|ending my life|hurting myself|cutting)\b",
    rf"\b{_I}\s+(?:want to|wanna|keep wanting to|feel like)\s+(?:hurt|cut|harm)\s+myself\b",
    r"\b(?:quiero morir(?:me)?|me quiero morir|no quiero vivir|quiero matarme)\b",
]
_MEANS = r"\b(?:pills?|tablets?|meds|medication|bottle|rope|gun|pistol|knife|blade|razor|bridge|fentanyl|heroin|insulin|everything i have|all of them)\b"
_SOON = r"\b(?:tonight|right now|now|today|this (?:evening|morning|afternoon|weekend)|tomorrow|in an hour|in a few hours|after (?:work|dinner)|esta noche|ahora|hoy|mañana)\b"
_PAST = r"\b(?:years? ago|months? ago|weeks? ago|used to|back when|when i was|back then|in the past|survived|i was in|had been|clean (?:for|since)|sober (?:for|since)|recovery|recovered|my therapist asked|she asked me|he asked me|asked if)\b"
_HARM_REDUCTION = r"\b(?:narcan|naloxone|test strips?|never use alone|call 911 if)\b"

_SENTENCE = re.compile(r"[^.!?\n]+[.!?\n]?")


def _compile(patterns: list[str]) -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


@dataclass(frozen=True)
class CrisisDetector:
    """Returns at most one ``crisis`` signal with the highest level found."""

    name: str = "crisis-rules-v1"

    def __post_init__(self) -> None:
        object.__setattr__(self, "_in_progress", _compile(_IN_PROGRESS))
        object.__setattr__(self, "_intent", _compile(_INTENT))
        object.__setattr__(self, "_wish", _compile(_WISH))
        object.__setattr__(self, "_means", re.compile(_MEANS, re.IGNORECASE))
        object.__setattr__(self, "_soon", re.compile(_SOON, re.IGNORECASE))
        object.__setattr__(self, "_past", re.compile(_PAST, re.IGNORECASE))
        object.__setattr__(self, "_harm_reduction", re.compile(_HARM_REDUCTION, re.IGNORECASE))

    def detect(self, text: str) -> list[Signal]:
        present = [s for s in _SENTENCE.findall(text.replace("’", "'")) if not self._past.search(s)]
        body = " ".join(present)
        if not body.strip():
            return []
        if match := _first(self._in_progress, present):
            return [self._signal("imminent", 0.97, match, method=True)]
        intent = _first(self._intent, present)
        if intent:
            means = self._means.search(body)
            soon = self._soon.search(body)
            if means and soon:
                return [self._signal("imminent", 0.95, intent, method=True, means=means.group(0), when=soon.group(0))]
            return [self._signal("high", 0.85, intent, method=bool(means))]
        if (wish := _first(self._wish, present)) and not self._harm_reduction.search(body):
            return [self._signal("watch", 0.6, wish, method=False)]
        return []

    def _signal(self, level: str, score: float, evidence: str, *, method: bool, **extra: str) -> Signal:
        return Signal("crisis", score, evidence, self.name, {"level": level, "method_detail": method, **extra})


def _first(patterns: list[re.Pattern[str]], sentences: list[str]) -> str | None:
    for sentence in sentences:
        for pattern in patterns:
            if match := pattern.search(sentence):
                return match.group(0)
    return None
