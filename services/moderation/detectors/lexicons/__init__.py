"""Rule lexicons, one module per language (``en``, ``es``); a new language is a new module here.

Each module holds, per detector, named lists of regular-expression fragments
written against :func:`services.moderation.detectors.text.fold` output (lower
case, no accents). Detectors join every language's fragments for a name into
one alternation, so a post is read with all lexicons at once (members mix
languages) and no language guess can hide a signal.

Fragments must stay linear: bounded repetitions only (``{0,3}``, never ``+``
inside a repeated group), so no input can make matching catastrophic.
"""

from __future__ import annotations

from types import ModuleType

from services.moderation.detectors.lexicons import en, es

LANGUAGES: dict[str, ModuleType] = {"en": en, "es": es}


def fragments(detector: str, name: str) -> list[str]:
    """Every language's fragments for ``detector``'s list ``name`` (a language may lack one)."""
    found: list[str] = []
    for module in LANGUAGES.values():
        found.extend(getattr(module, detector.upper(), {}).get(name, []))
    return found


def alternation(detector: str, name: str) -> str:
    """``(?:f1|f2|...)`` of all languages' fragments (never empty: an empty list matches nothing)."""
    parts = fragments(detector, name)
    return "(?:" + "|".join(parts) + ")" if parts else "(?!x)x"
