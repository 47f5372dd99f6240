"""A first crisis detector: rules shaped like the Columbia scale (C-SSRS), English and Spanish.

Levels (docs/architecture.md, "The crisis path"): ``watch`` — a current wish to die or self-harm thoughts,
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

* A few patterns span a conjunction ("go to sleep and not wake up", "the
  engine is running and the garage door is shut") and are read per sentence.
* An anniversary ("two years ago tonight I swallowed...") tells the past.

It leans towards recall for imminent risk: a missed crisis costs more than a
crisis worker's minute. v3 (issue 3) adds self-harm that will not stop
bleeding, a car running in a closed garage, standing on a ledge, "the night I
finally end my life", "don't try to stop me", feeling a burden ("better off
without me"), wishing not to wake up, and rates a wish to die "right now" high.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from services.moderation.detectors.text import Clause, split
from services.moderation.signals import Signal

_I = r"(?:i|i'm|im|i am|i've|ive|i have|i'll|ill|i will|i'd)"
_WILL = r"(?:going to|gonna|about to|will|plan to|planning to|ready to)"
_AMOUNT = r"(?:all|every|the whole|a whole|\d+|ten|twenty|thirty|forty|fifty|a bottle|a handful)"
_PILLS = r"(?:pills?|tablets?|meds|medication|bottle|pack|of them|of my pills|of my meds)"
_LARGE_AMOUNT = (r"(?:all|every|everything|the whole|a whole|\d{2,3}|ten|twenty|thirty|forty|fifty|a bottle|a handful|"
                 r"a bunch|a fistful|handfuls)")
_SUBSTANCE = (r"(?:pills?|tablets?|meds|medication|of them|xanax|xans|bars|percs?|oxys?|oxycodone|fent(?:anyl)?|"
              r"benzos?|klonopin|valium|tylenol|advil|ibuprofen|aspirin|sleeping pills|insulin|pastillas|seroquel|"
              r"trazodone|ambien|lithium|antidepressants|painkillers|pain meds)")
_NOT_IDIOM = r"(?!\s+(?:to\b|for\b|if\b|of (?:laughter|embarrassment|boredom)|laughing|inside|from\b|when\b))"

# In progress right now: an overdose, an attempt, someone not breathing.
_IN_PROGRESS = [
    rf"\b(?:i'?m|i am|im)\s+(?:overdosing|od'?ing|dying{_NOT_IDIOM})",
    rf"\bi\s+(?:just\s+|already\s+)?(?:took|swallowed|have taken|'ve taken|ate)\s+(?:like\s+|about\s+|around\s+)?"
    rf"{_AMOUNT}\b[^.!?]*?\b{_PILLS}",
    rf"\bi(?:'ve|\s+have)\s+(?:just\s+|already\s+)?(?:taken|swallowed|downed)\s+(?:like\s+|about\s+|around\s+|over\s+)?"
    rf"{_LARGE_AMOUNT}\b[^.!?]{{0,40}}?\b{_SUBSTANCE}",
    rf"\bi\s+(?:just\s+|already\s+)?(?:took|swallowed|downed|popped)\s+(?:a bunch|a handful|a fistful|handfuls)\s+of\s+"
    rf"(?:my\s+|the\s+|his\s+|her\s+)?{_SUBSTANCE}",
    # the subject dropped ("just took 20 xanax"): only with a large amount, at the start of a clause
    rf"^\s*(?:just\s+|already\s+)?(?:took|swallowed|downed|popped|ate)\s+(?:like\s+|about\s+|around\s+|maybe\s+|"
    rf"almost\s+|over\s+)?{_LARGE_AMOUNT}\b[^.!?]{{0,40}}?"
    rf"\b{_SUBSTANCE}",
    r"\b(?:took|swallowed|downed)\s+(?:my|the|a|his|her)\s+(?:whole|entire)\s+(?:prescription|bottle|supply|script|pack|"
    r"box|month'?s\s+supply)\b",
    r"\b(?:took|swallowed|downed|popped)\s+everything\s+(?:in\s+the\s+(?:medicine\s+)?(?:cabinet|cupboard|drawer)|"
    r"i\s+(?:had|have|could find))\b",
    r"\b(?:not|isn'?t|stopped|is not)\s+breathing\b",
    r"\b(?:turning blue|lips are blue|is blue and)\b",
    r"\b(?:is|'s|are)\s+(?:overdosing|od'?ing|unresponsive)\b",
    r"\b(?:i'?m|i am|im)\s+(?:cutting|bleeding)\b[^.!?]*?\b(?:now|right now|badly|a lot)\b",
    r"\bme\s+(?:he\s+tomado|tom[ée])\s+todas\b",
    r"\bme\s+estoy\s+muriendo\b(?!\s+de\s+(?:risa|hambre|sueño|calor|fr[íi]o|aburrimiento|ganas))",
    r"\b(?:no\s+respira|dej[óo]\s+de\s+respirar)\b",
    # self-harm that will not stop, a car running in a closed garage, standing on the edge
    r"\b(?:can'?t|cannot|won'?t)\s+(?:get\s+(?:it|the bleeding)\s+to\s+)?stop\s+(?:the\s+)?bleeding\b",
    r"\b(?:i'?m|i am|im)\s+(?:sitting\s+|sat\s+)?in\s+(?:my|the)\s+car\b[^.!?]{0,60}\b(?:engine|motor)\s+"
    r"(?:is\s+|still\s+)?running\b",
    r"\b(?:i'?m|i am|im)\s+(?:standing|sitting)\s+on\s+(?:the|a)\s+(?:ledge|railing|edge of the (?:roof|bridge|"
    r"building|cliff))\b",
    r"\bno\s+(?:para|deja)\s+de\s+sangrar\b",
    r"^\s*(?:i\s+|just\s+|i\s+just\s+)?(?:cut|slit|slashed)\s+(?:my|both\s+my)\s+wrists?\b",
    r"\b(?:me\s+cort[eé]\s+las\s+venas|estoy\s+en\s+(?:la\s+azotea|el\s+puente)\b[^.!?]{0,40}\bsaltar)",
]
# "Won't wake up" is an emergency only beside another sign of one.
_UNROUSABLE = (r"\b(?:won'?t|can'?t|will not|doesn'?t|isn'?t|is not|still not)\s+(?:wake|waking)\s+(?:up|him up|her up|"
               r"them up)\b|\b(?:isn'?t|is not|not|won'?t|doesn'?t)\s+(?:respond|responding|responsive)\b|"
               r"\bfoaming\s+at\s+the\s+mouth\b"
               r"|\b(?:breathing|breaths?)\s+(?:is\s+|are\s+)?(?:really\s+|very\s+|super\s+|so\s+)?(?:slow|shallow|"
               r"weird|faint|gurgling|rattling)\b|\b(?:barely|hardly)\s+breathing\b|\b(?:passed out|unconscious|limp)\b[^.!?]{0,30}\b(?:not|isn'?t|won'?t)\s+"
               r"(?:responding|waking)\b|\b(?:snoring|gurgling)\s+(?:and|but)\s+(?:won'?t|can'?t|not)\b")
_EMERGENCY_CONTEXT = (r"\b(?:blue|purple|grey|gray|pills?|overdos\w*|od'?d|od'?ing|fent\w*|heroin|dope|took|used|"
                      r"shot up|shooting up|snorted|smoked|xanax|bars|narcan|naloxone|passed out)\b")

# Intent, plans, preparations, goodbyes.
_INTENT = [
    rf"\b{_I}\s+{_WILL}\s+(?:kill myself|end (?:it|my life|things|everything)(?!\s+with\b)|die{_NOT_IDIOM}"
    rf"|take (?:all|every|them all)|jump\b|hang myself|shoot myself|overdose|od\b)",
    r"\b(?:taking|take|swallow(?:ing)?)\s+(?:all|every one|the whole)\s+(?:of\s+)?(?:them|the pills|my pills|it|the bottle)\b",
    rf"\b{_I}\s+(?:have|got|'ve got)\s+(?:a|the|my)\s+plan(?:\s+(?:now|already|tonight|ready))?"
    r"(?=\s*(?:[.!]|$)|\s+to\s+(?:kill|end|die|do it|take|overdose))",
    r"\b(?:this is my last (?:post|message|night)|goodbye (?:everyone|all|forever)|won'?t be (?:here|around) (?:tomorrow|much longer)|by the time you read this)\b",
    rf"\b{_I}\s+(?:have been|'ve been|was|been)\s+(?:saving|stockpiling|collecting|hoarding)\b[^.!?]*?\b(?:pills?|meds|medication|tablets)\b",
    rf"\b{_I}\s+(?:wrote|have written|'ve written|am writing|'m writing)\s+(?:a\s+|my\s+|some\s+)?"
    r"(?:suicide\s+|goodbye\s+)?(?:note|letters?)\b",
    rf"\b{_I}\s+(?:just\s+|already\s+)?(?:gave|have given|'ve given|am giving|'m giving)\s+away\s+(?:my|all my)\s+"
    r"(?:dog|cat|pets?|things|stuff|belongings|possessions|everything)\b",
    r"\b(?:this is|i'?m saying|wanted to say|just wanted to say)\s+goodbye\b",
    r"\b(?:please\s+)?tell\s+my\s+(?:mom|mum|dad|mother|father|kids|children|son|daughter|family|wife|husband|sister|"
    r"brother|parents)\s+(?:that\s+)?i\s+(?:love|loved)\s+(?:her|him|them)\b",
    r"\b(?:have|got|holding|'ve got)\s+(?:the|a|my)\s+(?:gun|pistol|knife|blade|razor|rope|noose)\s+"
    r"(?:in my (?:hand|lap|mouth)|to my (?:head|wrist|throat)|loaded|ready|right here)\b",
    r"\b(?:me voy a matar|voy a matarme|voy a quitarme la vida|voy a tomarme todas|esta es mi [úu]ltima)\b",
    r"\btengo un plan(?:\s+para\s+(?:matarme|suicidarme|quitarme la vida))?(?=\s*(?:[.!]|$)|\s+para)",
    # "the night I finally end my life"; the author refusing to be stopped; self-harm again
    rf"\b{_I}\s+(?:finally\s+|will\s+finally\s+)?end\s+(?:my life|it all)\b",
    r"\b(?:day|night|time|moment|week(?:end)?)\s+(?:that\s+)?i\s+(?:finally\s+)?end\s+(?:it|things|everything|my life|"
    r"it all)\b",
    r"\b(?:wrote|writing|written|write)\s+(?:a\s+|my\s+|some\s+)?(?:suicide\s+notes?|goodbye\s+(?:notes?|letters?)\s+"
    r"(?:to|for)\s+(?:my\s+)?(?:parents|kids|children|family|wife|husband|mom|dad|mother|father|son|daughter|friends|"
    r"partner|girlfriend|boyfriend|everyone|sister|brother))\b",
    r"\b(?:don'?t|do not)\s+(?:try\s+to\s+)?(?:talk me out of it|stop me)(?=\s*(?:[.!,;]|$|now\b|this time\b))",
    rf"\b{_I}\s+(?:just\s+)?(?:cut\s+myself|self[- ]harmed)(?:\s+again\b|(?=\s+(?:tonight|just now|right now)))",
    r"\b(?:solo\s+)?quer[ií]a\s+despedirme\b|\bme\s+despido\s+de\s+(?:todos|ustedes)\b|\badi[óo]s\s+a\s+todos\b",
    r"\bno\s+(?:intenten|traten\s+de)\s+(?:detenerme|pararme)\b",
    # a plan: knowing how, researching how many it would take
    r"\b(?:know|knows|figured out|worked out|decided)\s+(?:exactly\s+)?how\s+(?:i'?d|i would|i'?m going to|i'?ll|to)\s+"
    r"(?:do it|end it|kill myself|die)\b",
    r"\bhow\s+many\s+(?:of\s+(?:my|these|the)\s+)?(?:pills|tablets|meds|of them)\b[^.!?]{0,30}\b(?:it\s+would\s+take|"
    r"would\s+it\s+take|to\s+(?:die|kill|end it|overdose)|is\s+(?:lethal|fatal|enough))\b",
    r"\b(?:lethal|fatal)\s+dose\s+of\b|\bresearch(?:ing|ed)?\s+(?:how\s+to|ways\s+to)\s+(?:die|kill myself|overdose)\b",
    r"\b(?:estoy|he\s+estado)\s+(?:guardando|juntando|acumulando)\s+(?:pastillas|medicinas|medicamentos)\b",
    # preparations: the rope tied, a car to be crashed
    r"\b(?:rope|noose)\s+(?:is\s+)?(?:tied|ready|up|set up|hung)\b|\btied\s+(?:the|a|my)\s+(?:rope|noose)\b",
    rf"\b{_I}\s+{_WILL}\s+(?:drive|crash|steer)\s+(?:my\s+|the\s+)?car\s+(?:into|off)\b",
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
    # to sleep and not wake up; feeling a burden ("better off without me")
    r"\b(?:wish|wishing|want|wanted|hope|hoping|pray|praying)\b[^.!?]{0,40}?\b(?:not|never|won'?t|don'?t|do not|"
    r"will not)\s+wake\s+up\b",
    r"\b(?:thinking|thoughts|think)\s+(?:about|of)\s+(?:not\s+being\s+(?:around|here|alive)|dying|death|ending\s+it)\b",
    r"\bpoint\s+(?:in|of)\s+(?:staying|being|remaining)\s+alive\b",
    r"\b(?:don'?t|do not)\s+want\s+to\s+be\s+(?:here|around)\s+anymore\b",
    r"\bdeath\s+(?:sounds|seems|feels|would\s+be)\s+(?:like\s+)?(?:a\s+)?(?:relief|peaceful|better|easier|welcome|nice)\b",
    r"\b(?:don'?t|do not)\s+care\s+(?:if|whether)\s+i\s+live\s+or\s+die\b",
    r"\bquisiera\s+morir(?:me)?\b|\bojal[aá]\s+(?:me\s+muera|no\s+despertar)\b",
    r"\b(?:better off without me|better for everyone if i (?:was|were|am) (?:gone|dead))\b",
    r"\b(?:everyone|everybody|they|people|my family|the world)\s+would\s+be\s+(?:better|happier|fine|relieved)"
    r"(?:\s+off)?\s+(?:if\s+i\s+(?:was|were|died)(?:\s+(?:dead|gone))?|without\s+me)\b",
    r"\b(?:wish|want)\s+(?:i\s+could\s+|to\s+)?(?:just\s+)?(?:stop existing|not exist|cease to exist)\b",
    r"\bi\s+wish\s+i\s+(?:wasn'?t|weren'?t)\s+(?:here|alive)\b|\bwish\s+i'?d\s+never\s+been\s+born\b",
    r"\b(?:nobody|no one)\s+would\s+(?:even\s+)?(?:notice|care|miss me)\s+if\s+i\s+(?:was|were|died|disappeared)\b",
    r"\b(?:estar[ií]an|estar[ií]a)\s+mejor\s+sin\s+m[ií]\b|\bnadie\s+me\s+extra[ñn]ar[ií]a\b",
    # no point in living, tired of being alive
    r"\b(?:don'?t|do not|can'?t|cannot)\s+see\s+(?:the\s+|any\s+)?point\s+(?:in|of)\s+(?:living|life|going on|"
    r"being alive)\b",
    r"\b(?:no|any)\s+reason\s+(?:left\s+)?to\s+(?:live|keep living|go on|stay alive)\b",
    # "sick of living like this" is the wish to change, not to die
    r"\b(?:tired|sick)\s+of\s+(?:living|being alive)\b(?!\s+(?:like\s+this|like\s+that|this\s+way|that\s+way|"
    r"in\b|with\b|on\b|under\b))",
    r"\bno\s+le\s+veo\s+sentido\s+a\s+(?:la\s+vida|vivir|seguir)\b|\bno\s+quiero\s+seguir\s+viviendo\b|"
    r"\bcansad[oa]\s+de\s+vivir\b",
]
# Matched on whole sentences: these span a conjunction the clause cutter would cut at.
_IN_PROGRESS_SENTENCE = [
    r"\b(?:i'?m|i am|im)\s+(?:on|at)\s+(?:the|a|my)\s+(?:roof|rooftop|bridge|ledge|balcony|edge|top)\b[^.!?]{0,60}"
    r"\bjump(?:ing)?\b(?!\s+(?:rope|in\b|into\b|on\b|at\b|ship))",
    r"\b(?:engine|car)\s+(?:is\s+|still\s+)?running\b[^.!?]{0,40}\b(?:garage door (?:is )?(?:shut|closed)|"
    r"closed garage|doors? (?:is |are )?(?:shut|closed|sealed))\b",
]
# The means at hand ("sitting here with a razor", "bought a gun") is high when the post also speaks of an end
# ("I can't do this anymore", "won't need it for long"); either alone is no signal.
_MEANS_AT_HAND = (r"\b(?:with|holding|have|got|bought|buying|picked up|loaded)\s+(?:a|the|my|some)\s+(?:razor|blade|"
                  r"knife|gun|pistol|rope|noose)\b")
_FINALITY = (r"\b(?:can'?t|cannot|(?:don'?t|do not)\s+think\s+i\s+can)\s+(?:do|take)\s+(?:this|it)\s+anymore\b|"
             r"\bcan'?t\s+go\s+on\b|"
             r"\b(?:won'?t|not going to|not gonna)\s+(?:need|be needing)\s+(?:it|this|them)\s+(?:for\s+)?(?:long|much longer)\b|"
             r"\b(?:made up my mind|no way out|this is the end|it'?s time|i give up|i'?m done)\b")
_WISH_SENTENCE = [
    r"\b(?:wish|wishing|want|wanna|hope|hoping|pray|praying)\b[^.!?]{0,40}?\b(?:sleep|fall asleep)\s+and\s+"
    r"(?:not|never)\s+wake\s+up\b",
    r"\bquisiera\s+dormir(?:me)?\s+y\s+no\s+despertar\b",
]
_SENTENCE_BREAK = re.compile(r"[.!?\n;]+")
# A current wish with "right now" or "tonight" in its sentence is more than a wish: it is rated high.
_URGENT = r"\b(?:right now|tonight|this very moment|esta noche|ahora mismo)\b"
_MEANS = (r"\b(?:pills?|tablets?|meds|medication|bottle|rope|noose|gun|pistol|knife|blade|razor|bridge|fentanyl|heroin|"
          r"insulin|everything i have|all of them|pastillas?|cuerda|pistola|cuchillo|puente)\b")
_SOON = (r"\b(?:tonight|right now|now|today|this (?:evening|morning|afternoon|weekend)|tomorrow|in an hour|"
         r"in a few hours|after (?:work|dinner)|esta noche|ahora|hoy|mañana)\b")
_PAST = (r"\b(?:years? ago|months? ago|weeks? ago|used to|back when|when i was|back then|in the past|survived|"
         r"i was in|had been|clean (?:for|since)|sober (?:for|since)|recovery|recovered|in (?:19|20)\d\d|"
         r"last (?:year|month|week|summer|winter|spring|fall|autumn|time)|woke up in|ended up in|"
         r"asked (?:me )?(?:if|whether|about)|told (?:her|him|them) no|hace (?:años|meses))\b")
_PRESENT = r"\b(?:tonight|right now|now|today|esta noche|ahora|hoy)\b"
# "Two years ago tonight" is an anniversary: its "tonight" does not make the clause present.
_ANNIVERSARY = r"\b(?:ago|hace\s+\w+\s+(?:años|anos|meses))\s+(?:tonight|today|this (?:morning|evening|week)|esta noche|hoy)\b"
_HARM_REDUCTION = r"\b(?:narcan|naloxone|test strips?|never use alone|call 911 if)\b"
_CLAUSE_BREAK = re.compile(r"[.!?\n;,:]+|(?<!\s)\s+(?:and|but|so|because|though|although|y|pero|porque)\s+",
                           re.IGNORECASE)  # (?<!\s): one try per run of spaces, so a run of them stays linear


def _compile(patterns: list[str]) -> list[re.Pattern[str]]:
    return [re.compile(p, re.IGNORECASE) for p in patterns]


@dataclass(frozen=True)
class CrisisDetector:
    """Returns at most one ``crisis`` signal, at the highest level found."""

    name: str = "crisis-rules-v3"
    _in_progress: list[re.Pattern[str]] = field(default_factory=lambda: _compile(_IN_PROGRESS), repr=False)
    _intent: list[re.Pattern[str]] = field(default_factory=lambda: _compile(_INTENT), repr=False)
    _wish: list[re.Pattern[str]] = field(default_factory=lambda: _compile(_WISH), repr=False)
    _wish_sentence: list[re.Pattern[str]] = field(default_factory=lambda: _compile(_WISH_SENTENCE), repr=False)
    _in_progress_sentence: list[re.Pattern[str]] = field(default_factory=lambda: _compile(_IN_PROGRESS_SENTENCE),
                                                         repr=False)

    def detect(self, text: str) -> list[Signal]:
        # Same length as ``text`` (one character for one), so match offsets are offsets into ``text``.
        normalized = text.replace("\u2019", "'").replace("\u2018", "'")
        clauses = [c for c in _clauses(normalized) if not _tells_the_past(c.text)]
        present = " ".join(c.text for c in clauses)
        if not present.strip():
            return []
        sentences = [c for c in split(normalized, _SENTENCE_BREAK) if not _tells_the_past(c.text)]
        if span := (_first(self._in_progress, clauses, text) or _first(self._in_progress_sentence, sentences, text)
                    or self._unrousable(clauses, present, text)):
            return [self._signal("imminent", 0.97, span, method=True)]
        if (at_hand := _first(_compile([_MEANS_AT_HAND]), clauses, text)) and re.search(_FINALITY, present, re.IGNORECASE):
            return [self._signal("high", 0.85, at_hand, method=True)]
        intent = _first(self._intent, clauses, text)
        if intent and re.search(r"goodbye", intent, re.IGNORECASE) and re.search(_CASUAL_GOODBYE, normalized, re.IGNORECASE):
            intent = None
        if intent:
            means = re.search(_MEANS, present, re.IGNORECASE)
            soon = re.search(_SOON, present, re.IGNORECASE)
            if means and soon:
                return [self._signal("imminent", 0.95, intent, method=True, means=means.group(0), when=soon.group(0))]
            return [self._signal("high", 0.85, intent, method=bool(means))]
        wish = _first_in(self._wish, clauses, text) or _first_in(self._wish_sentence, sentences, text)
        if wish and not re.search(_HARM_REDUCTION, present, re.IGNORECASE):
            span, clause = wish
            end = _SENTENCE_BREAK.search(normalized, clause.start)
            if re.search(_URGENT, normalized[clause.start:end.start() if end else len(normalized)], re.IGNORECASE):
                return [self._signal("high", 0.8, span, method=False, urgent=True)]
            return [self._signal("watch", 0.6, span, method=False)]
        return []

    def _unrousable(self, clauses: list[Clause], present: str, text: str) -> str | None:
        if not re.search(_EMERGENCY_CONTEXT, present, re.IGNORECASE):
            return None
        return _first(_compile([_UNROUSABLE]), clauses, text)

    def _signal(self, level: str, score: float, evidence: str, *, method: bool, **extra: object) -> Signal:
        return Signal("crisis", score, evidence, self.name, {"level": level, "method_detail": method, **extra})


def _clauses(text: str) -> list[Clause]:
    return split(text, _CLAUSE_BREAK)


def _tells_the_past(clause: str) -> bool:
    if not re.search(_PAST, clause, re.IGNORECASE):
        return False
    return not re.search(_PRESENT, re.sub(_ANNIVERSARY, " ", clause, flags=re.IGNORECASE), re.IGNORECASE)


def _first(patterns: list[re.Pattern[str]], clauses: list[Clause], original: str) -> str | None:
    """The first match, as the span of the ORIGINAL text it covers."""
    found = _first_in(patterns, clauses, original)
    return found[0] if found else None


def _first_in(patterns: list[re.Pattern[str]], clauses: list[Clause], original: str) -> tuple[str, Clause] | None:
    """The first match and the clause it is in."""
    for clause in clauses:
        for pattern in patterns:
            if match := pattern.search(clause.text):
                return original[clause.start + match.start(): clause.start + match.end()], clause
    return None
