"""Privacy: phone numbers, e-mail and street addresses, government ids, handles, third parties' full names.

Returns one ``privacy`` signal listing what was found (``kinds``), the spans to
redact (``redact``: ``[start, end, label]`` over the text) and the redacted
text itself. Evidence names the kinds only ("phone number, e-mail address"),
never the value, so a decision row or a log line does not copy the data it
protects.

Where redaction is not safe — someone else's name together with where they
live or work, or "his address is ..." (doxxing) — ``redaction_safe`` is false
and ``third_party`` true: the policy holds such a post whatever it is told
about redaction.

Not personal data: toll-free and crisis numbers (800/888/877/866/855/844/833,
988, 911), which are resources members share on purpose; a first name with an
initial ("my sponsor Mike R."), the anonymity convention of the fellowships.

Every pattern is bounded ({m,n} repetitions), so matching stays linear.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

from services.moderation.detectors.lexicons import alternation
from services.moderation.detectors.text import fold, redact
from services.moderation.signals import Signal

LABELS = {"phone": "[phone removed]", "email": "[e-mail removed]", "address": "[address removed]",
          "government_id": "[id removed]", "card": "[card number removed]", "handle": "[handle removed]",
          "name": "[name removed]"}
EVIDENCE = {"phone": "phone number", "email": "e-mail address", "address": "street address",
            "government_id": "government id", "card": "payment card number", "handle": "social media handle",
            "name": "third party's full name"}
SCORES = {"phone": 0.9, "email": 0.9, "government_id": 0.95, "card": 0.95, "address": 0.8, "handle": 0.7, "name": 0.6}
TOLL_FREE = frozenset({"800", "888", "877", "866", "855", "844", "833"})
_ABBREVIATED = frozenset({"st", "ave", "rd", "blvd", "ln", "dr", "ct", "pl", "ter", "cir", "hwy", "pkwy", "trl", "sq"})
_FUNCTION_WORDS = frozenset({"my", "the", "a", "an", "with", "in", "of", "to", "for", "and", "days", "weeks",
                             "months", "years", "miles", "blocks", "hours", "minutes", "times", "down", "up", "on"})
# Phone shapes: digit-group lengths as written ("617-555-0123" is (3, 3, 4)).
_PHONE_SHAPES = frozenset({(3, 3, 4), (1, 3, 3, 4), (10,), (11,), (2, 4, 4), (2, 2, 2, 2, 2), (3, 3, 3),
                           (3, 2, 2, 2), (9,), (4, 3, 4), (5, 6), (5, 3, 3), (3, 4)})


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int


@dataclass(frozen=True)
class _Patterns:
    phone: re.Pattern[str]
    email: re.Pattern[str]
    email_spelled: re.Pattern[str]
    ssn: re.Pattern[str]
    national_id: re.Pattern[str]
    card: re.Pattern[str]
    address: re.Pattern[str]
    address_es: re.Pattern[str]
    lives_on: re.Pattern[str]
    handle: re.Pattern[str]
    relation_name: re.Pattern[str]
    naming_name: re.Pattern[str]
    title_name: re.Pattern[str]
    not_names: re.Pattern[str]
    locator: re.Pattern[str]
    their_contact: re.Pattern[str]
    address_lead: re.Pattern[str]
    residence: re.Pattern[str]
    app_handle: re.Pattern[str]


@cache
def _patterns() -> _Patterns:
    def a(name: str) -> str:
        return alternation("privacy", name)

    name_word = r"[A-ZÁÉÍÓÚÑÜ][a-záéíóúñü'\-]{1,20}"
    full_name = rf"({name_word}(?:\s+{name_word}){{1,2}})"
    apps = (r"insta(?:gram)?|ig|snap(?:chat)?|telegram|tg|kik|discord|wickr|whatsapp|whats|wasap|signal|tiktok|"
            r"twitter|threema")
    return _Patterns(
        phone=re.compile(r"(?<![\w$.,/:#-])\+?\(?\d[\d().\s-]{5,20}\d(?![\w%$/])"),
        email=re.compile(r"(?<![\w.+-])[a-z0-9][a-z0-9._%+-]{0,63}@[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63}){0,4}"
                         r"\.[a-z]{2,24}(?![\w-])"),
        email_spelled=re.compile(
            r"(?<![\w.])[a-z0-9][a-z0-9._-]{0,63}\s{0,3}(?:\[at\]|\(at\)|\{at\}|\s(?:at|arroba)\s)\s{0,3}"
            r"(?:[a-z0-9-]{1,63}\s{0,3}(?:\.|\[dot\]|\(dot\)|\s(?:dot|punto)\s)\s{0,3}){1,3}"
            r"(?:com|net|org|edu|es|mx|co|io|me|us|uk)(?![\w])"),
        ssn=re.compile(r"(?<![\d-])\d{3}-\d{2}-\d{4}(?![\d-])"),
        national_id=re.compile(r"(?<![\w])(?:\d{8}-?[a-z]|[xyz]-?\d{7}-?[a-z]|[a-z]{4}\d{6}[hm][a-z]{5}[a-z0-9]\d)"
                               r"(?![\w])"),
        card=re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])"),
        address=re.compile(
            rf"(?<![\w$#.,-])(\d{{1,6}}[a-z]?)\s+((?:[\w'.-]{{1,30}}\s+){{1,4}}?)(?i:({a('street_suffix')}))\.?"
            rf"(?![\w])(?:,?\s{{1,3}}(?i:{a('unit')})\s{{0,2}}[\w-]{{1,6}})?"
            rf"(?:,\s{{0,2}}[A-Z][A-Za-z. ]{{1,30}}(?:,\s{{0,2}}|\s)[A-Z]{{2}}(?:\s{{1,2}}\d{{5}}(?:-\d{{4}})?)?)?"),
        address_es=re.compile(
            rf"(?<![\w])(?i:{a('street_prefix')})\s+(?:[\w'.-]{{1,30}}\s+){{1,4}}?(?i:n[uú]m(?:ero)?\.?\s{{0,2}}|#\s{{0,2}}"
            rf"|no\.?\s{{0,2}})?\d{{1,5}}(?![\w])(?:,?\s{{1,3}}(?i:{a('unit')})\s{{0,2}}[\w-]{{1,6}})?"),
        lives_on=re.compile(rf"(?i:\b(?:lives?|living|stays?)\s+(?:on|at)\s+)((?:{name_word}\s+){{1,3}}"
                            rf"(?i:{a('street_suffix')})\b\.?)"),
        handle=re.compile(rf"(?i:(?:{a('handle_lead')})\s{{0,3}}[:=-]?\s{{0,3}}|(?<![\w])(?:{apps})\s{{0,2}}[:@]\s{{0,2}}|"
                          rf"(?<![\w])(?:{apps})\s+me\s+(?:at|@|on)\s{{0,2}})"
                          rf"(@?[A-Za-z0-9_][A-Za-z0-9_.]{{2,29}})"),
        relation_name=re.compile(
            rf"(?i:\b(?:{a('possessive')})\s+(?:(?:old|former|new|current|best|ex|last|first)\s+)?(?:{a('relation')})"
            rf"(?:'s)?(?:\s+(?:name\s+is|is\s+named|is\s+called|is|was|se\s+llama|es))?,?)\s+{full_name}"),
        naming_name=re.compile(rf"(?i:\b(?:{a('naming')}))\s+{full_name}"),
        title_name=re.compile(rf"\b(?:Mr|Mrs|Ms|Dr|Sr|Sra|Srta)\.?\s+{full_name}"),
        not_names=re.compile(rf"^(?:{a('not_names')})$"),
        locator=re.compile(rf"(?<![\w])(?:{a('locator')})(?![\w])"),
        their_contact=re.compile(r"(?<![\w])(?:his|her|their|su)\s+(?:address|number|phone|email|e-mail|home|"
                                 r"direccion|numero|telefono|correo)(?![\w])"),
        residence=re.compile(rf"(?<![\w])(?:{a('residence')})(?![\w])"),
        app_handle=re.compile(rf"(?i:\b(?:{apps})\b[^.!?\n]{{0,40}}?)(?<![\w@])(@[A-Za-z0-9_][A-Za-z0-9_.]{{2,29}})"),
        address_lead=re.compile(r"(?<![\w])(?:live at|lives at|address is|located at|come (?:by|to)|meet (?:me )?at|"
                                r"house is at|place is at|direccion es|vivo en)(?![\w])"),
    )


@dataclass(frozen=True)
class PrivacyDetector:
    """Returns at most one ``privacy`` signal, with the redacted text."""

    name: str = "privacy-rules-v1"

    def findings(self, text: str) -> list[Finding]:
        p = _patterns()
        folded = fold(text)
        found: list[Finding] = []
        found += [Finding("email", m.start(), m.end()) for m in p.email.finditer(folded)]
        found += [Finding("email", m.start(), m.end()) for m in p.email_spelled.finditer(folded)]
        found += [Finding("government_id", m.start(), m.end()) for m in p.ssn.finditer(folded)]
        found += [Finding("government_id", m.start(), m.end()) for m in p.national_id.finditer(folded)
                  if any(ch.isdigit() for ch in m.group(0))]
        found += [Finding("card", m.start(), m.end()) for m in p.card.finditer(folded) if _luhn(m.group(0))]
        found += [f for f in _phones(p, folded) if not _inside(f, found)]
        found += _addresses(p, text, folded)
        found += [Finding("handle", m.start(1), m.end(1)) for m in p.handle.finditer(text)]
        found += [f for f in (Finding("handle", m.start(1), m.end(1)) for m in p.app_handle.finditer(text))
                  if not _inside(f, found)]
        found += [f for f in _names(p, text) if not _inside(f, found)]
        return sorted(found, key=lambda f: (f.start, -f.end))

    def detect(self, text: str) -> list[Signal]:
        found = self.findings(text)
        if not found:
            return []
        p = _patterns()
        folded = fold(text)
        kinds = sorted({f.kind for f in found}, key=lambda k: -SCORES[k])
        named = any(f.kind == "name" for f in found)
        located = any(f.kind in ("address", "phone", "email", "handle") for f in found)
        doxxing = bool((named and (located or p.locator.search(folded))) or (located and p.their_contact.search(folded)))
        spans = [[f.start, f.end, LABELS[f.kind]] for f in found]
        details = {"kinds": kinds, "redact": spans, "redacted_text": redact(text, [tuple(s) for s in spans]),
                   "third_party": doxxing or named, "redaction_safe": not doxxing}
        score = 0.97 if doxxing else max(SCORES[k] for k in kinds)
        evidence = ", ".join(EVIDENCE[k] for k in kinds) + (" (someone else's, with where to find them)" if doxxing else "")
        return [Signal("privacy", score, evidence, self.name, details)]


def _phones(p: _Patterns, folded: str) -> list[Finding]:
    found = []
    for match in p.phone.finditer(folded):
        groups = [(m.start() + match.start(), m.end() + match.start()) for m in re.finditer(r"\d+", match.group(0))]
        best = _longest_phone(folded, groups, plus=match.group(0).startswith("+"))
        if best:
            found.append(Finding("phone", *best))
    return found


def _longest_phone(folded: str, groups: list[tuple[int, int]], *, plus: bool) -> tuple[int, int] | None:
    """The longest run of digit groups shaped like a phone number (not toll-free, not a crisis line)."""
    for size in range(len(groups), 0, -1):
        for first in range(0, len(groups) - size + 1):
            run = groups[first:first + size]
            shape = tuple(e - s for s, e in run)
            digits = "".join(folded[s:e] for s, e in run)
            international = plus and first == 0 and 8 <= len(digits) <= 15
            if not (international or shape in _PHONE_SHAPES):
                continue
            if shape == (3, 4) and (folded[run[0][1]] not in "-." or digits[0] in "01"):
                continue  # a local number is written 555-0123; "200 1000" is two amounts
            if shape in ((10,), (11,), (9,)) and not _plausible_unbroken(digits):
                continue
            national = digits[1:] if len(digits) == 11 and digits[0] == "1" else digits
            if len(national) == 10 and national[:3] in TOLL_FREE:
                return None
            start = run[0][0]
            while start > 0 and folded[start - 1] in "+(":
                start -= 1  # "+34 ..." and "(212) ..." keep their lead
            return start, run[-1][1]
    return None


def _plausible_unbroken(digits: str) -> bool:
    """An unbroken run of digits is a phone when it starts like one (not an order number or a year run)."""
    if len(digits) == 11:
        return digits[0] == "1" and digits[1] in "23456789"
    if len(digits) == 9:
        return digits[0] in "6789"
    return digits[0] in "23456789"


def _addresses(p: _Patterns, text: str, folded: str) -> list[Finding]:
    """Street addresses where someone lives or stays; a meeting place or a clinic's address is public."""
    return [f for f in _street_addresses(p, text, folded) if _personal(p, folded, f)]


def _personal(p: _Patterns, folded: str, found: Finding) -> bool:
    start = max(folded.rfind(".", 0, found.start), folded.rfind("\n", 0, found.start)) + 1
    end = min((i for i in (folded.find(".", found.end), folded.find("\n", found.end)) if i >= 0), default=len(folded))
    sentence = folded[start:end]
    unit = re.search(r"(?<![\w])(?:apt|apartment|unit|suite|piso|depto|departamento|interior)(?![\w])", folded[found.start:found.end])
    return bool(unit or p.residence.search(sentence))


def _street_addresses(p: _Patterns, text: str, folded: str) -> list[Finding]:
    found = []
    for match in p.address.finditer(text):
        words = match.group(2).split()
        suffix = match.group(3).lower()
        named = all(w[:1].isupper() or re.fullmatch(r"\d{1,4}(?:st|nd|rd|th)|[NSEW]\.?", w) for w in words)
        plain = (suffix in _ABBREVIATED and len(match.group(1)) >= 3 and len(words) <= 2
                 and not any(w.lower() in _FUNCTION_WORDS for w in words))
        introduced = bool(p.address_lead.search(folded[max(0, match.start() - 20):match.start()]))
        if named or plain or (introduced and not any(w.lower() in _FUNCTION_WORDS for w in words)):
            found.append(Finding("address", match.start(), match.end()))
    for match in p.address_es.finditer(text):
        if match.group(0)[:1].isupper() or p.address_lead.search(folded[max(0, match.start() - 20):match.start()]):
            found.append(Finding("address", match.start(), match.end()))
    found += [Finding("address", m.start(1), m.end(1)) for m in p.lives_on.finditer(text)]
    return found


def _names(p: _Patterns, text: str) -> list[Finding]:
    found = []
    for pattern in (p.relation_name, p.naming_name, p.title_name):
        for match in pattern.finditer(text):
            words = list(re.finditer(r"\S+", match.group(1)))
            while words and p.not_names.match(fold(words[-1].group())):
                words.pop()  # "my sponsor Ana Diaz Tuesday" ends at the name
            if len(words) >= 2 and not any(p.not_names.match(fold(w.group())) for w in words):
                found.append(Finding("name", match.start(1), match.start(1) + words[-1].end()))
    return found


def _inside(finding: Finding, others: list[Finding]) -> bool:
    return any(o.start <= finding.start and finding.end <= o.end for o in others)


def _luhn(candidate: str) -> bool:
    digits = [int(c) for c in candidate if c.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0
