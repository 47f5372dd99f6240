"""How much one member's report weighs: their standing, not just their click.

An ordinary reporter weighs 1.0, so the default hide threshold of 3.0 means
"three ordinary reporters". A new account weighs half (brigading with fresh
accounts takes twice as many), and a reporter with a track record is weighed
by it: between 0.5 (nothing they reported was upheld) and 1.5 (all of it was).
"""

from __future__ import annotations

from datetime import datetime, timezone

MIN_HISTORY = 3


def reporter_weight(*, resolved: int, upheld: int, account_created: datetime | None,
                    new_account_hours: float, now: datetime | None = None) -> float:
    now = now or datetime.now(timezone.utc)
    weight = 1.0
    if account_created is not None and (now - account_created).total_seconds() < new_account_hours * 3600:
        weight *= 0.5
    if resolved >= MIN_HISTORY:
        weight *= 0.5 + upheld / resolved
    return round(weight, 3)
