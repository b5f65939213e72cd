"""Human review before action: each candidate is pending until enough distinct reviewers decide.

Reviewers decide blind (the API never shows one reviewer's decision to another before the alert
is final); confirmed needs every required reviewer to confirm, a unanimous rejection is a false
match, anything else is inconclusive.
"""

from __future__ import annotations

from datetime import datetime

from ..storage.models import Alert, Review
from .permissions import Refused

DECISIONS = ("confirm", "reject", "inconclusive")
FINAL = {"confirm": "confirmed", "reject": "rejected"}


def decide(alert: Alert, reviewer: str, decision: str, note: str, required: int, now: datetime) -> str | None:
    """Record one reviewer's decision; returns the alert's final status once it has one."""
    if decision not in DECISIONS:
        raise Refused("decision", f"decide one of {', '.join(DECISIONS)}")
    if alert.status != "pending":
        raise Refused("alert-closed", f"alert {alert.id} is already {alert.status}")
    if any(r.reviewer == reviewer for r in alert.reviews):
        raise Refused("second-review", f"{reviewer} has already reviewed alert {alert.id}")
    alert.reviews.append(Review(reviewer=reviewer, decision=decision, note=note, at=now))
    if len(alert.reviews) < required:
        return None
    decisions = {r.decision for r in alert.reviews}
    alert.status = FINAL[decisions.pop()] if len(decisions) == 1 and "inconclusive" not in decisions else "inconclusive"
    alert.decided_at = now
    return alert.status
