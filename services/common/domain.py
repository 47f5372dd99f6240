"""Haven's domain vocabulary, spelled once: crisis levels and who may do what.

Every service, the event schemas (``envelope.py``), the policy and the SQL that orders escalations
read these names from here; a level or a role spelled anywhere else is a bug waiting for a rename.
"""

from __future__ import annotations

#: Crisis levels, least to most urgent, shaped like the C-SSRS ladder (docs/architecture.md, "The crisis path"):
#: ``watch``: a wish to die or self-harm thoughts, no plan; ``high``: a method or plan;
#: ``imminent``: intent with means and time, or an act under way.
CRISIS_LEVELS: tuple[str, ...] = ("watch", "high", "imminent")
#: Levels that page the crisis rota at once (``watch`` is queued for a crisis worker's review).
PAGING_LEVELS: tuple[str, ...] = ("high", "imminent")
#: watch < high < imminent: compare levels by rank, never by name.
LEVEL_RANK: dict[str, int] = {level: rank for rank, level in enumerate(CRISIS_LEVELS)}

#: Every account role; a token carries exactly one.
ROLES: tuple[str, ...] = ("member", "moderator", "crisis_staff", "admin")
#: Staff: accounts whose bounds the staff-powers rules protect (docs/security.md).
STAFF_ROLES: tuple[str, ...] = ("moderator", "crisis_staff", "admin")
#: Who works the review queue.
MODERATORS: tuple[str, ...] = ("moderator", "admin")
#: Who works crisis escalations.
CRISIS_STAFF: tuple[str, ...] = ("crisis_staff", "admin")
#: The crisis team's own role: crisis notifications address it, and only its holders stay on the paging rota
#: (an admin may work escalations, but is not paged).
CRISIS_ROLE: str = "crisis_staff"

