"""Complaints from the public: anyone files one (no login), the DPO triages and answers it.

An attached image is re-encoded (no EXIF: location, device), then encrypted like evidence, and deleted
with the answer. The register's counts and outcomes go to the annual report through the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..engine import ImageError
from ..gallery.crypto import KeyRing
from ..governance.permissions import Refused
from ..reports.data import iso
from ..rights import requests as rules
from ..storage.models import Complaint, Deployment
from .cameras import clean_photo
from .core import PUBLIC, Actor, Operation, operate

if TYPE_CHECKING:
    from . import Overt

ATTACHMENT_CONTEXT = "complaint-attachment"
PRIORITIES = ("low", "normal", "urgent")
OUTCOMES = ("upheld", "partly-upheld", "not-upheld", "referred")
MAX_BYTES = 5 * 1024 * 1024


def complaint_view(complaint: Complaint) -> dict[str, Any]:
    return {
        "id": complaint.id,
        "what": complaint.what,
        "place": complaint.place,
        "when": complaint.when,
        "contact": complaint.contact,
        "deployment": complaint.deployment_id,
        "has_attachment": complaint.attachment is not None,
        "status": complaint.status,
        "priority": complaint.priority,
        "triage_note": complaint.triage_note,
        "outcome": complaint.outcome,
        "answer": complaint.answer,
        "handled_by": complaint.handled_by,
        "received": iso(complaint.received_at),
        "answered": iso(complaint.answered_at),
    }


def _days(since: datetime, at: datetime) -> float:
    return round((at - since).total_seconds() / 86400, 2)


def reencrypt_attachments(session: Session, old: KeyRing, new: KeyRing) -> dict[str, int]:
    """Key rotation: the attachments of complaints not yet answered, in the caller's transaction."""
    complaints = list(session.scalars(select(Complaint).where(Complaint.attachment.is_not(None))))
    for complaint in complaints:
        assert complaint.attachment is not None
        complaint.attachment = new.encrypt(old.decrypt(complaint.attachment, ATTACHMENT_CONTEXT), ATTACHMENT_CONTEXT)
    return {"complaint_attachments": len(complaints)}


class ComplaintService:
    def __init__(self, overt: Overt) -> None:
        self.overt = overt

    def submit(
        self,
        what: str,
        *,
        place: str = "",
        when: str = "",
        contact: str = "",
        attachment: bytes | None = None,
        max_bytes: int = MAX_BYTES,
    ) -> int:
        """Anyone may complain (no login). An attached image is re-encoded (no EXIF: GPS, device), then encrypted."""
        what = rules.check_text("what happened", what, required=True)
        place, contact = rules.check_text("where", place), rules.check_text("the contact", contact)
        when = rules.check_text("when", when)[:64]
        try:
            cleaned = clean_photo(attachment, max_bytes) if attachment else None
        except ImageError as exc:
            raise Refused("attachment", f"the attachment is not a readable image: {exc}") from None
        with self.overt.db.session() as session:
            complaint = Complaint(
                what=what,
                place=place,
                when=when,
                contact=contact,
                attachment=self.overt.keys.encrypt(cleaned, ATTACHMENT_CONTEXT) if cleaned else None,
            )
            session.add(complaint)
            session.flush()
            self.overt.record(
                session,
                "complaint.receive",
                actor=PUBLIC.name,
                object_type="complaint",
                object_id=str(complaint.id),
                complaint_id=complaint.id,
                with_attachment=cleaned is not None,
                with_contact=bool(contact),
            )
            return complaint.id

    def _complaint(self, op: Operation, complaint_id: int) -> Complaint:
        complaint = op.session.get(Complaint, complaint_id, with_for_update=True)
        if complaint is None:
            raise Refused("unknown-complaint", f"no complaint {complaint_id}")
        return complaint

    def list(self, actor: Actor, status: str | None = None) -> list[dict[str, Any]]:
        with operate(self.overt, actor, "complaint.manage") as op:
            query = select(Complaint).order_by(Complaint.id.desc())
            if status == "pending":
                query = query.where(Complaint.status != "answered")
            elif status:
                query = query.where(Complaint.status == status)
            return [complaint_view(c) for c in op.session.scalars(query)]

    def show(self, actor: Actor, complaint_id: int) -> dict[str, Any]:
        with operate(self.overt, actor, "complaint.manage") as op:
            return complaint_view(self._complaint(op, complaint_id))

    def attachment(self, actor: Actor, complaint_id: int) -> bytes:
        with operate(self.overt, actor, "complaint.manage") as op:
            complaint = self._complaint(op, complaint_id)
            if complaint.attachment is None:
                raise Refused("no-attachment", f"complaint {complaint_id} has no attachment (none sent, or answered)")
            return self.overt.keys.decrypt(complaint.attachment, ATTACHMENT_CONTEXT)

    def triage(
        self, actor: Actor, complaint_id: int, priority: str, note: str = "", deployment_id: int | None = None
    ) -> dict[str, Any]:
        if priority not in PRIORITIES:
            raise Refused("priority", f"priority is one of {', '.join(PRIORITIES)}")
        with operate(self.overt, actor, "complaint.manage") as op:
            complaint = self._complaint(op, complaint_id)
            if complaint.status == "answered":
                raise Refused("complaint-answered", f"complaint {complaint_id} was already answered")
            if deployment_id is not None and op.session.get(Deployment, deployment_id) is None:
                raise Refused("unknown-deployment", f"no deployment {deployment_id}")
            complaint.status, complaint.priority = "triaged", priority
            complaint.triage_note = rules.check_text("the note", note)
            complaint.deployment_id, complaint.handled_by = deployment_id, actor.name
            op.record(
                "complaint.triage",
                object_type="complaint",
                object_id=complaint_id,
                complaint_id=complaint_id,
                priority=priority,
                concerns_deployment=deployment_id,
            )
            return complaint_view(complaint)

    def answer(self, actor: Actor, complaint_id: int, outcome: str, answer: str) -> dict[str, Any]:
        """The DPO's answer and its outcome; the attachment is deleted with it (it served the triage)."""
        if outcome not in OUTCOMES:
            raise Refused("outcome", f"outcome is one of {', '.join(OUTCOMES)}")
        with operate(self.overt, actor, "complaint.manage") as op:
            complaint = self._complaint(op, complaint_id)
            if complaint.status == "answered":
                raise Refused("complaint-answered", f"complaint {complaint_id} was already answered")
            complaint.answer = rules.check_text("the answer", answer, required=True)
            complaint.status, complaint.outcome, complaint.answered_at = "answered", outcome, op.at
            complaint.handled_by, complaint.attachment = actor.name, None
            op.record(
                "complaint.answer",
                object_type="complaint",
                object_id=complaint_id,
                complaint_id=complaint_id,
                result=outcome,
                days_to_answer=_days(complaint.received_at, op.at),
            )
            return complaint_view(complaint)
