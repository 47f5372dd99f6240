"""Sourcing: buying, selling, trading or asking for drugs or someone else's prescription.

What counts: dealer handles, prices and quantities with a hand-off, tricks to
obtain prescriptions — and NOT treatment, meetings, naloxone, test strips, or
telling how one used to deal.

How a post is read (lexicons per language in :mod:`.lexicons`):

1. The text is folded (lower case, no accents) and harm-reduction and
   treatment phrases are blanked out ("fentanyl test strips", "naloxone",
   "suboxone doctor"), so the drug words inside them are never seen.
2. It is cut into sentences; a sentence that tells the past ("I used to sell",
   "I was a dealer for years") is set aside unless it also says *now*.
3. In each sentence it looks for a transaction aimed at a drug: an ask ("where
   can I get", "anyone selling", "WTB") or an offer ("selling", "I can get
   you") followed by the drug through small words only ("some", "pressed",
   "30mg"), or a drug followed by "for sale" / "$20 each"; trade talk that is
   sourcing on its own ("who's holding", "need a plug"); someone else's
   prescription ("without a script", "sell me your meds").
4. Across the post, a hand-off (DM me, meet, pickup, shipping, payment apps),
   a dealer handle (telegram, snap, wickr... beside a name) and a price raise
   the score. A hand-off alone ("DM me if you want to talk") is nothing.

Asking where to get a treatment medication (suboxone, methadone) scores below
the hold threshold unless trade talk, a price or a hand-off comes with it.
Scores are rule confidences, not probabilities: 0.35 weak, 0.6–0.7 a clear
ask or offer, 0.8–0.97 with a hand-off or price.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from services.moderation.detectors.lexicons import alternation
from services.moderation.detectors.text import fold, sentences
from services.moderation.signals import Signal

_W = r"(?<![\w$@])"
_E = r"(?![\w])"


@dataclass(frozen=True)
class _Patterns:
    ask: re.Pattern[str]
    offer: re.Pattern[str]
    offer_weak: re.Pattern[str]
    offer_after: re.Pattern[str]
    listing: re.Pattern[str]
    street: re.Pattern[str]
    diversion: re.Pattern[str]
    drug: re.Pattern[str]
    handoff: re.Pattern[str]
    handle: re.Pattern[str]
    price: re.Pattern[str]
    quantity: re.Pattern[str]
    safe: re.Pattern[str]
    past: re.Pattern[str]
    present: re.Pattern[str]
    negation: re.Pattern[str]
    third_party: re.Pattern[str]


@cache
def _patterns() -> _Patterns:
    def a(name: str) -> str:
        return alternation("sourcing", name)

    drug = rf"(?:(?P<drug>{a('drug')})|(?P<moud>{a('moud')}))"
    filler = rf"(?:{a('filler')}\s+){{0,4}}?"
    app = a("app")

    def c(pattern: str) -> re.Pattern[str]:
        return re.compile(pattern)

    return _Patterns(
        ask=c(rf"{_W}{a('ask')}\s+{filler}{drug}{_E}"),
        offer=c(rf"{_W}{a('offer')}\s+{filler}{drug}{_E}"),
        offer_weak=c(rf"{_W}{a('offer_weak')}\s+{filler}{drug}{_E}"),
        offer_after=c(rf"{_W}{drug}\s+(?:[\w$-]{{1,20}}\s+){{0,2}}?{a('offer_after')}"),
        listing=c(rf"{_W}{a('listing')}{_E}"),
        street=c(rf"{_W}{a('street')}{_E}"),
        diversion=c(rf"{_W}{a('diversion')}{_E}"),
        drug=c(rf"{_W}{drug}{_E}"),
        handoff=c(rf"{_W}{a('handoff')}{_E}"),
        handle=c(rf"{_W}(?:{a('app_lead')}\s+{app}{_E}|{app}\s*[:@]\s*@?[a-z0-9_.]{{3,30}}|@[a-z0-9_.]{{3,30}}\s+"
                 rf"(?:on\s+)?{app}{_E}|{app}\s+me{_E})"),
        price=c(rf"(?<![\w]){a('price')}(?![\w])"),
        quantity=c(rf"{_W}{a('quantity')}{_E}"),
        safe=c(rf"{_W}{a('safe')}{_E}"),
        past=c(rf"{_W}{a('past')}{_E}"),
        present=c(rf"{_W}{a('present')}{_E}"),
        negation=c(rf"{_W}{a('negation')}{_E}"),
        third_party=c(rf"{_W}{a('third_party')}$"),
    )


@dataclass(frozen=True)
class _Hit:
    kind: str
    start: int
    end: int
    drug: str | None = None


@dataclass(frozen=True)
class SourcingDetector:
    """Returns at most one ``sourcing`` signal."""

    name: str = "sourcing-rules-v1"

    def detect(self, text: str) -> list[Signal]:
        p = _patterns()
        masked = p.safe.sub(lambda m: " " * len(m.group(0)), fold(text))
        current = [s for s in sentences(masked) if not (p.past.search(s.text) and not p.present.search(s.text))]
        hits = [hit for s in current for hit in self._sentence_hits(p, s.text, s.start)]
        body = " ".join(s.text for s in current)
        if not hits and p.price.search(body) and p.handoff.search(body):
            # "a g for $60, text me": a quantity with a price and a hand-off is trade even without a drug's name
            for s in current:
                if quantity := p.quantity.search(s.text):
                    hits = [_Hit("street", s.start + quantity.start(), s.start + quantity.end())]
                    break
        if not hits:
            return []
        cues = {"handoff": bool(p.handoff.search(body)), "handle": bool(p.handle.search(body)),
                "price": bool(p.price.search(body)), "quantity": bool(p.quantity.search(body)),
                "street": any(h.kind == "street" for h in hits), "diversion": any(h.kind == "diversion" for h in hits),
                "drug": bool(p.drug.search(body))}
        score, hit = max(((self._score(hit, cues), hit) for hit in hits), key=lambda scored: scored[0])
        if score <= 0.0:
            return []
        evidence = text[hit.start:hit.end]
        details = {"kind": hit.kind, "cues": sorted(k for k, v in cues.items() if v)}
        if hit.drug:
            details["drug"] = hit.drug
        return [Signal("sourcing", round(score, 3), evidence, self.name, details)]

    def _sentence_hits(self, p: _Patterns, sentence: str, offset: int) -> list[_Hit]:
        hits: list[_Hit] = []
        for kind, pattern in (("ask", p.ask), ("offer", p.offer), ("offer", p.offer_after),
                              ("offer_weak", p.offer_weak)):
            for match in pattern.finditer(sentence):
                if _negated(p, sentence, match.start()):
                    continue
                moud_only = match.group("drug") is None
                drug = match.group("drug") or match.group("moud")
                if kind in ("ask", "offer") and p.third_party.search(sentence[max(0, match.start() - 30):match.start()]):
                    kind = "offer_weak"  # "my brother sells weed": about someone, unless a hand-off comes with it
                hits.append(_Hit(f"{kind}_moud" if moud_only else kind, offset + match.start(), offset + match.end(),
                                 drug))
        for kind, pattern in (("street", p.street), ("diversion", p.diversion)):
            for match in pattern.finditer(sentence):
                if not _negated(p, sentence, match.start()):
                    hits.append(_Hit(kind, offset + match.start(), offset + match.end()))
        if (listing := p.listing.search(sentence)) and not _negated(p, sentence, listing.start()):
            drugs = [m for m in p.drug.finditer(sentence) if m.group("drug")]
            if drugs and not p.third_party.search(sentence[max(0, listing.start() - 30):listing.start()]):
                start, end = min(listing.start(), drugs[0].start()), max(listing.end(), drugs[0].end())
                hits.append(_Hit("listing", offset + start, offset + end, drugs[0].group("drug")))
        if p.handle.search(sentence) and (drug := next((m for m in p.drug.finditer(sentence) if m.group("drug")), None)):
            hits.append(_Hit("handle", offset + drug.start(), offset + drug.end(), drug.group("drug")))
        return hits

    @staticmethod
    def _score(hit: _Hit, cues: dict[str, bool]) -> float:
        contact = cues["price"] or cues["handoff"] or cues["handle"]
        trade = contact or cues["street"] or cues["diversion"]
        base = {
            "ask": 0.7, "offer": 0.7,
            # a treatment medication, or a weak offer: only with trade talk beside it
            "ask_moud": 0.7 if trade else 0.35, "offer_moud": 0.7 if trade else 0.35,
            "offer_weak": 0.7 if contact else 0.3, "offer_weak_moud": 0.7 if contact else 0.3,
            "street": 0.7 if (cues["drug"] or cues["price"] or cues["handoff"]) else 0.6,
            # a listing verb and a drug in one sentence; a drug beside a messaging-app handle
            "listing": 0.6, "handle": 0.6,
            "diversion": 0.75 if (cues["drug"] or cues["price"] or cues["handoff"]) else 0.0,
        }[hit.kind]
        if base < 0.5:
            return base
        if cues["handoff"] or cues["handle"]:
            base += 0.15
        if cues["price"] or cues["quantity"]:
            base += 0.1
        return min(base, 0.97)


def _negated(p: _Patterns, sentence: str, start: int) -> bool:
    """A negation in the few words before the cue ("I'm not buying pills anymore")."""
    return bool(p.negation.search(sentence[max(0, start - 16):start]))
