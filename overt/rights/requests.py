"""The life of a data-subject request: one month to answer, extendable by two with a reason (GDPR Art. 12(3)).

open → decided (a grant, a refusal with its legal ground, or an erasure) → closed (the letter is sent and
the requester's photo and template are deleted). An access request needs no decision: it is answered by
closing it with what was found.
"""

from __future__ import annotations

import calendar
from datetime import datetime

from ..governance.permissions import Refused
from ..storage.models import SubjectRequest

KINDS = ("access", "erasure", "rectification", "objection")
DECISIONS = ("grant", "refuse")
MAX_EXTENSION_MONTHS = 2
TEXT_MAX = 4000


def add_months(at: datetime, months: int) -> datetime:
    """The same day `months` later, or the month's last day when it has fewer days (31 Jan + 1 = 28/29 Feb)."""
    month0 = at.month - 1 + months
    year, month = at.year + month0 // 12, month0 % 12 + 1
    return at.replace(year=year, month=month, day=min(at.day, calendar.monthrange(year, month)[1]))


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise Refused("request-kind", f"a request is one of {', '.join(KINDS)}; not {kind!r}")


def check_text(label: str, value: str, *, required: bool = False) -> str:
    value = value.strip()
    if required and not value:
        raise Refused("request-field", f"{label} is required")
    if len(value) > TEXT_MAX:
        raise Refused("request-field", f"{label} is at most {TEXT_MAX} characters")
    return value


def check_open(request: SubjectRequest) -> None:
    if request.status == "closed":
        raise Refused("request-closed", f"request {request.id} is closed")


def check_undecided(request: SubjectRequest) -> None:
    check_open(request)
    if request.status == "decided":
        raise Refused("request-decided", f"request {request.id} was already decided ({request.outcome})")


def extend(request: SubjectRequest, months: int, reason: str) -> datetime:
    """Move the deadline; at most two months beyond the first one, and never without a reason."""
    check_open(request)
    reason = check_text("the reason for extending", reason, required=True)
    limit = add_months(add_months(request.opened_at, 1), MAX_EXTENSION_MONTHS)
    new = add_months(request.deadline, months)
    if months < 1 or new > limit:
        raise Refused(
            "extension",
            f"a deadline may be extended by at most {MAX_EXTENSION_MONTHS} months in all (to {limit:%Y-%m-%d})",
        )
    request.deadline = new
    request.extension_reason = "; ".join(r for r in (request.extension_reason, reason) if r)
    return new


def decide(request: SubjectRequest, decision: str, reason: str, ground: str, at: datetime) -> None:
    """A grant or a refusal; a refusal names its legal ground (the letter quotes it)."""
    check_undecided(request)
    if decision not in DECISIONS:
        raise Refused("decision", f"decide with {' or '.join(DECISIONS)}")
    request.reason = check_text("the reason", reason, required=True)
    request.legal_ground = check_text("the legal ground", ground, required=decision == "refuse")
    if decision == "grant" and request.kind == "erasure":
        raise Refused("erasure", f"grant an erasure by running it: `overt request erase {request.id}`")
    request.status, request.outcome, request.decided_at = "decided", "granted" if decision == "grant" else "refused", at


def close(request: SubjectRequest, note: str, at: datetime) -> float:
    """Close: an access request is answered by what was found; others need their decision first.
    Returns the days it took to answer."""
    check_open(request)
    if request.status != "decided":
        if request.kind != "access":
            raise Refused("request-undecided", f"{request.kind} request {request.id} needs a decision before closing")
        request.outcome = "answered"
    request.note = check_text("the note", note)
    request.status, request.closed_at = "closed", at
    return round((at - request.opened_at).total_seconds() / 86400, 2)
