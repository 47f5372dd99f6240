"""A first crisis detector: rules shaped like the Columbia scale (C-SSRS), English and Spanish.

Levels (DESIGN.md): ``watch`` — a current wish to die or self-harm thoughts,
no plan; ``high`` — intent, a plan, preparations, goodbyes, stockpiling;
``imminent`` — plan + means + a time that is now or within 48 h, or an
overdose / attempt / self-harm in progress (the author's or someone else's).

How it reads a post:

* The text is cut into clauses (at sentence ends, commas, and words such as
  "and", "but", "so"), keeping each clause's offsets so evidence is always a
  span of the original text.
* A clause that tells the past ("two years ago", "used to", "in 2019", "when I
  was using") or retells someone's question ("my therapist asked if") is not
  read as a present crisis — unless it also says *now* ("tonight", "right
  now"). Only that clause is set aside, so "I've been in recovery for three
  years and tonight I'm taking all my pills" still escalates.
* Idioms never match: every intent pattern needs the author as the one who
  dies or is hurt, and "dying to / dying laughing / gonna die if" are excluded.
* A drug name alone never escalates; means + intent + time do.

It leans towards recall for imminent risk: a missed crisis costs more than a
crisis worker's minute. Deeper detection is the detectors issue's work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.moderation.signals import Signal

_I = r"(?:i|i'm|im|i am|i've|ive|i have|i'll|ill|i will|i'd)"
_WILL = r"(?:going to|gonna|about to|will|plan to|planning to|ready to)"
_AMOUNT = r"(?:all|every|the whole|a whole|\d+|ten|twenty|thirty|forty|fifty|a bottle|a handful)"
_PILLS = r"(?:pills?|tablets?|meds|medication|bottle|pack|of them|of my pills|of my meds)"
_NOT_IDIOM = r"(?!\s+(?:to\b|for\b|if\b|of (?:laughter|embarrassment|boredom)|laughing|inside|from\b|when\b))"

# In progress right now: an overdose, an attempt, someone not breathing.
_IN_PROGRESS = [
    rf"\b(?:i'?m|i am|im)\s+(?:overdosing|od'?ing|dying{_NOT_IDIOM})",
    rf"\bi\s+(?:just\s+|already\s+)?(?:took|swallowed|have taken|'ve taken|ate)\s+{_AMOUNT}\b[^.!?]*?\b{_PILLS}",
    r"\b(?:not|isn'?t|stopped|is not)\s+breathing\b",
    r"\b(?:turning blue|lips are blue|is blue and)\b",
    r"\b(?:is|'s|are)\s+(?:overdosing|od'?ing|unresponsive)\b",
    r"\b(?:i'?m|i am|im)\s+(?:cutting|bleeding)\b[^.!?]*?\b(?:now|right now|badly|a lot)\b",
    r"\bme\s+(?:he\s+tomado|tom[ée])\s+todas\b",
    r"\bme\s+estoy\s+muriendo\b(?!\s+de\s+(?:risa|hambre|sueño|calor|fr[íi]o|aburrimiento|ganas))",
    r"\b(?:no\s+respira|dej[óo]\s+de\s+respirar)\b",
]
# "Won't wake up" is an emergency only beside another sign of one.
_UNROUSABLE = r"\b(?:won'?t|can'?t|will not|doesn'?t)\s+wake\s+(?:up|him up|her up|them up)\b"
_EMERGENCY_CONTEXT = r"\b(?:blue|breathing|pills?|overdos\w*|od'?d|fentanyl|heroin|took|used|narcan|naloxone)\b"

# Intent, plans, preparations, goodbyes.
_INTENT = [
    rf"\b{_I}\s+{_WILL}\s+(?:kill myself|end (?:it|my life|things|everything)(?!\s+with\b)|die{_NOT_IDIOM}"
    rf"|take (?:all|every|them all)|jump\b|hang myself|shoot myself|overdose|od\b)",
    r"\b(?:taking|take|swallow(?:ing)?)\s+(?:all|every one|the whole)\s+(?:of\s+)?(?:them|the pills|my pills|it|the bottle)\b",
    rf"\b{_I}\s+(?:have|got|'ve got)\s+(?:a|the|my)\s+plan(?=\s*(?:[.!]|$)|\s+to\s+(?:kill|end|die|do it|take|overdose))",
    r"\b(?:this is my last (?:post|message|night)|goodbye (?:everyone|all|forever)|won'?t be (?:here|around) (?:tomorrow|much longer)|by the time you read this)\b",
    rf"\b{_I}\s+(?:have been|'ve been|was|been)\s+(?:saving|stockpiling|collecting|hoarding)\b[^.!?]*?\b(?:pills?|meds|medication|tablets)\b",
    rf"\b{_I}\s+(?:wrote|have written|'ve written)\s+(?:a|my)\s+(?:suicide\s+)?(?:note|letters?)\b",
    r"\b(?:me voy a matar|voy a matarme|voy a quitarme la vida|voy a tomarme todas|esta es mi [úu]ltima)\b",
    r"\btengo un plan(?:\s+para\s+(?:matarme|suicidarme|quitarme la vida))?(?=\s*(?:[.!]|$)|\s+para)",
]
_CASUAL_GOODBYE = r"\b(?:see you|logging off|for the night|good ?night|back tomorrow|talk tomorrow)\b"
# Current wish to die, self-harm thoughts.
_WISH = [
    r"\b(?:i|i just|i really)\s+(?:want|wanna|wish)\s+(?:to\s+)?(?:die|be dead|kill myself|not wake up|disappear forever)\b",
    r"\bi\s+wish\s+i\s+(?:was|were)\s+dead\b",
    r"\b(?:i\s+)?(?:don'?t|do not)\s+want\s+to\s+(?:live|be alive|wake up)\b",
    r"\b(?:thinking|thoughts)\s+(?:about|of)\s+(?:suicide|killing myself|ending it|ending my life|hurting myself|cutting)\b",
    rf"\b{_I}\s+(?:want to|wanna|keep wanting to|feel like)\s+(?:hurt|cut|harm)\s+myself\b",
    r"\b(?:quiero morir(?:me)?|me quiero morir|no quiero vivir|quiero matarme)\b",
    r"\bpensando\s+en\s+(?:suicidarme|matarme|quitarme la vida|el suicidio)\b",
]
_MEANS = (r"\b(?:pills?|tablets?|meds|medication|bottle|rope|gun|pistol|knife|blade|razor|bridge|fentanyl|heroin|"
          r"insulin|everything i have|all of them|pastillas?|cuerda|pistola|cuchillo|puente)\b")
_SOON = (r"\b(?:tonight|right now|now|today|this (?:evening|morning|afternoon|weekend)|tomorrow|in an hour|"
         r"in a few hours|after (?:work|dinner)|esta noche|ahora|hoy|mañana)\b")
_PAST = (r"\b(?:years? ago|months? ago|weeks? ago|used to|back when|when i was|back then|in the past|survived|"
         r"i was in|had been|clean (?:for|since)|sober (?:for|since)|recovery|recovered|in (?:19|20)\d\d|"
         r"last (?:year|month|week|summer|winter|spring|fall|autumn|time)|woke up in|ended up in|"
         r"asked (?:me )?(?:if|whether|about)|told (?:her|him|them) no|hace (?:años|meses))\b")
_PRESENT = r"\b(?:tonight|right now|now|today|esta noche|ahora|hoy)\b"
_HARM_REDUCTION = r"\b(?:narcan|naloxone|test strips?|never use alone|call 911 if)\b"
_CLAUSE_BREAK = re.compile(r"[.!?\n;,:]+|\s+(?:and|but|so|because|though|although|y|pero|porque)\s+", re.IGNORECASE)


def _compile(patterns: list[str]) -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


@dataclass(frozen=True)
class _Clause:
    start: int
    text: str


@dataclass(frozen=True)
class CrisisDetector:
    """Returns at most one ``crisis`` signal, at the highest level found."""

    name: str = "crisis-rules-v2"
    _in_progress: list[re.Pattern[str]] = field(default_factory=lambda: _compile(_IN_PROGRESS), repr=False)
    _intent: list[re.Pattern[str]] = field(default_factory=lambda: _compile(_INTENT), repr=False)
    _wish: list[re.Pattern[str]] = field(default_factory=lambda: _compile(_WISH), repr=False)

    def detect(self, text: str) -> list[Signal]:
        # Same length as ``text`` (one character for one), so match offsets are offsets into ``text``.
        normalized = text.replace("\u2019", "'").replace("\u2018", "'")
        clauses = [c for c in _clauses(normalized) if not _tells_the_past(c.text)]
        present = " ".join(c.text for c in clauses)
        if not present.strip():
            return []
        if span := _first(self._in_progress, clauses, text) or self._unrousable(clauses, present, text):
            return [self._signal("imminent", 0.97, span, method=True)]
        intent = _first(self._intent, clauses, text)
        if intent and re.search(r"goodbye", intent, re.IGNORECASE) and re.search(_CASUAL_GOODBYE, normalized, re.IGNORECASE):
            intent = None
        if intent:
            means = re.search(_MEANS, present, re.IGNORECASE)
            soon = re.search(_SOON, present, re.IGNORECASE)
            if means and soon:
                return [self._signal("imminent", 0.95, intent, method=True, means=means.group(0), when=soon.group(0))]
            return [self._signal("high", 0.85, intent, method=bool(means))]
        if (wish := _first(self._wish, clauses, text)) and not re.search(_HARM_REDUCTION, present, re.IGNORECASE):
            return [self._signal("watch", 0.6, wish, method=False)]
        return []

    def _unrousable(self, clauses: list[_Clause], present: str, text: str) -> str | None:
        if not re.search(_EMERGENCY_CONTEXT, present, re.IGNORECASE):
            return None
        return _first(_compile([_UNROUSABLE]), clauses, text)

    def _signal(self, level: str, score: float, evidence: str, *, method: bool, **extra: str) -> Signal:
        return Signal("crisis", score, evidence, self.name, {"level": level, "method_detail": method, **extra})


def _clauses(text: str) -> list[_Clause]:
    clauses, start = [], 0
    for brk in _CLAUSE_BREAK.finditer(text):
        clauses.append(_Clause(start, text[start:brk.start()]))
        start = brk.end()
    clauses.append(_Clause(start, text[start:]))
    return [c for c in clauses if c.text.strip()]


def _tells_the_past(clause: str) -> bool:
    return bool(re.search(_PAST, clause, re.IGNORECASE)) and not re.search(_PRESENT, clause, re.IGNORECASE)


def _first(patterns: list[re.Pattern[str]], clauses: list[_Clause], original: str) -> str | None:
    """The first match, as the span of the ORIGINAL text it covers."""
    for clause in clauses:
        for pattern in patterns:
            if match := pattern.search(clause.text):
                return original[clause.start + match.start(): clause.start + match.end()]
    return None
