"""Data-subject requests and complaints: the DPO's desk, over the one road (who acts → gate → work → audit).

An access request searches every watchlist and the evidence still within retention for the requester's
face, under its own action (`subject-request`, the DPO's alone). That search raises no alert and is
audited with ids only. The photo is decoded only after the permission check, kept encrypted (like
templates) while the request is open, and deleted when it closes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..engine import EngineError
from ..engine.compare import compare
from ..engine.types import Embedding
from ..gallery import store
from ..gallery.crypto import KeyRing
from ..governance.permissions import Refused
from ..reports import ConfigError, load_config
from ..reports.data import iso
from ..rights import requests as rules
from ..rights.letter import render_letter
from ..storage.models import (
    Alert,
    Camera,
    Deployment,
    Evidence,
    RequestPhoto,
    Subject,
    SubjectRequest,
    Watchlist,
)
from .alerts import EVIDENCE_CONTEXT
from .core import Actor, Operation, now, operate, record_failure
from .reports import CONFIG_FILE

if TYPE_CHECKING:
    from . import Overt

ACTION = "subject-request"
PHOTO_CONTEXT = "request-photo"
TEMPLATE_CONTEXT = "request-template"
SEARCH_TOP = 100  # watchlist entries listed per request: more than one person ever holds on one face


def request_view(request: SubjectRequest, at: datetime) -> dict[str, Any]:
    """A request as the DPO's desk shows it: its state, deadline and what was found or done."""
    return {
        "id": request.id,
        "kind": request.kind,
        "requester": request.requester,
        "channel": request.channel,
        "identity_ref": request.identity_ref,
        "details": request.details,
        "status": request.status,
        "outcome": request.outcome,
        "reason": request.reason,
        "legal_ground": request.legal_ground,
        "note": request.note,
        "opened_by": request.opened_by,
        "opened": iso(request.opened_at),
        "deadline": iso(request.deadline),
        "extension_reason": request.extension_reason,
        "overdue": request.status != "closed" and at > request.deadline,
        "decided": iso(request.decided_at),
        "closed": iso(request.closed_at),
        "has_photo": request.photo is not None,
        "found": request.findings.get("found", []),
        "alerts": request.findings.get("alerts", []),
        "searched": request.findings.get("searched", {}),
        "deleted": request.done,
    }


def reencrypt_requests(session: Session, old: KeyRing, new: KeyRing) -> dict[str, int]:
    """Key rotation: requesters' photos and templates, in the caller's transaction."""
    photos = list(session.scalars(select(RequestPhoto)))
    for photo in photos:
        photo.image = new.encrypt(old.decrypt(photo.image, PHOTO_CONTEXT), PHOTO_CONTEXT)
        photo.template = new.encrypt(old.decrypt(photo.template, TEMPLATE_CONTEXT), TEMPLATE_CONTEXT)
    return {"request_photos": len(photos)}


@dataclass(frozen=True)
class EvidenceMatches:
    """The alerts whose evidence shows the requester's face, and how many evidence images were compared."""

    alert_ids: frozenset[int]
    compared: int


class RightsService:
    def __init__(self, overt: Overt) -> None:
        self.overt = overt

    # --- opening a request -----------------------------------------------------------------------
    def access(
        self, actor: Actor, photo: bytes, *, requester: str, channel: str = "", identity_ref: str = ""
    ) -> dict[str, Any]:
        """Register an access request and answer it at once: what Overt holds about the requester's face."""
        return self.open(actor, "access", requester=requester, channel=channel, identity_ref=identity_ref, photo=photo)

    def open(
        self,
        actor: Actor,
        kind: str,
        *,
        requester: str,
        channel: str = "",
        identity_ref: str = "",
        details: str = "",
        photo: bytes | None = None,
    ) -> dict[str, Any]:
        """Register a request; with a photo, search for the face (the DPO sees what an erasure would delete)."""
        with operate(self.overt, actor, ACTION):  # the role first: the photo is decoded only after this
            rules.check_kind(kind)
            requester = rules.check_text("the requester", requester, required=True)
            if kind in ("access", "erasure") and photo is None:
                raise Refused(
                    "request-photo", f"an {kind} request needs the requester's photo: Overt holds faces, not names"
                )
        embedding = self._embed(actor, photo) if photo is not None else None
        evidence = self._evidence(embedding) if embedding is not None else None
        with operate(self.overt, actor, ACTION) as op:
            request = SubjectRequest(
                kind=kind,
                requester=requester,
                channel=rules.check_text("the channel", channel)[:64],
                identity_ref=rules.check_text("the identity check", identity_ref),
                details=rules.check_text("the details", details),
                opened_by=actor.name,
                opened_at=op.at,
                deadline=rules.add_months(op.at, 1),
                findings={},
                done={},
            )
            if photo is not None and embedding is not None:
                request.photo = RequestPhoto(
                    image=self.overt.keys.encrypt(photo, PHOTO_CONTEXT),
                    template=self.overt.keys.encrypt(embedding.vector.astype(np.float32).tobytes(), TEMPLATE_CONTEXT),
                    model=embedding.model,
                    image_sha256=hashlib.sha256(photo).hexdigest(),
                )
            op.session.add(request)
            op.session.flush()
            op.record(
                "request.open",
                object_type="subject_request",
                object_id=request.id,
                request_id=request.id,
                kind=kind,
                channel=request.channel,
                deadline=request.deadline,
                with_photo=photo is not None,
            )
            if embedding is not None and evidence is not None:
                self._search(op, request, embedding, evidence)
            return request_view(request, op.at)

    def _embed(self, actor: Actor, photo: bytes) -> Embedding:
        try:
            analysed, _ = self.overt.lab.engine.template(photo)
        except EngineError as exc:
            record_failure(self.overt, actor, ACTION, None, exc)
            raise
        assert analysed.embedding is not None
        return analysed.embedding

    def _stored_embedding(self, request: SubjectRequest) -> Embedding:
        if request.photo is None:
            raise Refused("request-photo", f"request {request.id} has no photo (none given, or it closed)")
        vector = np.frombuffer(self.overt.keys.decrypt(request.photo.template, TEMPLATE_CONTEXT), dtype=np.float32)
        return Embedding(vector, request.photo.model)

    # --- the search: watchlists, then evidence within retention -----------------------------------
    def _search(self, op: Operation, request: SubjectRequest, embedding: Embedding, evidence: EvidenceMatches) -> None:
        """Find the face on the watchlists; with the evidence matches found before the transaction, list the
        alerts (those that still exist); store what was found on the request (for the letter); audit ids only."""
        threshold = self.overt.calibrated_threshold()
        watchlists = list(op.session.scalars(select(Watchlist).order_by(Watchlist.name)))
        candidates = self.overt.search_index.search(
            op.session, watchlists, embedding.vector, embedding.model, threshold=threshold, top=SEARCH_TOP
        )
        found = []
        for candidate in candidates:
            subject = op.session.get(Subject, candidate.subject_id)
            assert subject is not None
            found.append(
                {
                    "watchlist": candidate.watchlist,
                    "subject": candidate.subject,
                    "subject_id": candidate.subject_id,
                    "category": subject.category,
                    "legal_basis": subject.legal_basis,
                    "added": iso(subject.created_at),
                    "expires": iso(subject.expires_at),
                    "score": round(candidate.score, 4),
                }
            )
        matched, compared = evidence.alert_ids, evidence.compared
        subject_ids = {f["subject_id"] for f in found}
        alerts = op.session.scalars(
            select(Alert)
            .where(Alert.expires_at > op.at)
            .where(Alert.subject_id.in_(subject_ids) | Alert.id.in_(matched))
            .order_by(Alert.id)
        ).all()
        listed = [self._alert_view(op.session, a, "evidence" if a.id in matched else "watchlist") for a in alerts]
        request.findings = {
            "found": found,
            "alerts": listed,
            "searched": {
                "watchlists": len(watchlists),
                "evidence": compared,
                "threshold": threshold,
                "at": iso(op.at),
            },
        }
        op.record(
            "request.search",
            object_type="subject_request",
            object_id=request.id,
            request_id=request.id,
            image_sha256=request.photo.image_sha256 if request.photo else "",
            watchlists=len(watchlists),
            evidence=compared,
            threshold=threshold,
            subject_ids=tuple(sorted(subject_ids)),
            alert_ids=tuple(a["id"] for a in listed),
        )

    def _evidence(self, embedding: Embedding) -> EvidenceMatches:
        """Alerts whose evidence (the face a camera or a search saw) is the requester's: decrypted and compared
        here, never returned. In a read-only session outside the write transaction: comparing many images must
        not hold up the cameras' alerts (SQLite has one writer). Called only after the permission check."""
        engine = self.overt.lab.engine
        calibration, scorer = engine.calibration(), engine.scorer()
        at = now()
        with self.overt.db.session() as session:
            rows = session.execute(
                select(Evidence.alert_id, Evidence.data)
                .join(Alert, Alert.id == Evidence.alert_id)
                .where(Evidence.expires_at > at, Alert.expires_at > at)
                .order_by(Evidence.id)
            ).all()
        matched: set[int] = set()
        compared = 0
        for alert_id, blob in rows:
            if alert_id in matched:
                continue
            compared += 1
            try:
                analysed, _ = engine.template(self.overt.keys.decrypt(blob, EVIDENCE_CONTEXT))
            except EngineError:
                continue  # a crop with no detectable face cannot be the requester's, as far as Overt can tell
            assert analysed.embedding is not None
            if compare(embedding, analysed.embedding, calibration, scorer).match:
                matched.add(alert_id)
        return EvidenceMatches(frozenset(matched), compared)

    def _prepare(self, actor: Actor, request_id: int, *, erasing: bool = False) -> tuple[Embedding, EvidenceMatches]:
        """The role and the request's state first, then the evidence search, outside the write transaction."""
        with operate(self.overt, actor, ACTION) as op:
            request = self._get(op, request_id)
            rules.check_open(request)
            if erasing:
                self._check_erasable(request)
            embedding = self._stored_embedding(request)
        return embedding, self._evidence(embedding)

    @staticmethod
    def _check_erasable(request: SubjectRequest) -> None:
        if request.kind != "erasure":
            raise Refused("request-kind", f"request {request.id} is an {request.kind} request, not an erasure")
        rules.check_undecided(request)

    @staticmethod
    def _alert_view(session: Session, alert: Alert, basis: str) -> dict[str, Any]:
        camera = session.get(Camera, alert.camera_id) if alert.camera_id else None
        deployment = session.get(Deployment, alert.deployment_id)
        return {
            "id": alert.id,
            "time": iso(alert.created_at),
            "deployment": alert.deployment_id,
            "deployment_name": deployment.name if deployment else "",
            "camera": alert.camera_id,
            "place": (camera.name or camera.id) if camera else "",
            "lat": camera.lat if camera else None,
            "lon": camera.lon if camera else None,
            "watchlist": alert.watchlist,
            "status": alert.status,
            "outcome": alert.outcome,
            "basis": basis,
            "expires": iso(alert.expires_at),
        }

    # --- the DPO's decisions --------------------------------------------------------------------
    def _get(self, op: Operation, request_id: int) -> SubjectRequest:
        """The request, its row locked (PostgreSQL) so that two decisions on it cannot both pass its checks."""
        request = op.session.get(SubjectRequest, request_id, with_for_update=True)
        if request is None:
            raise Refused("unknown-request", f"no request {request_id}")
        return request

    def list(self, actor: Actor, status: str | None = None) -> list[dict[str, Any]]:
        with operate(self.overt, actor, ACTION) as op:
            query = select(SubjectRequest).order_by(SubjectRequest.id.desc())
            if status == "pending":
                query = query.where(SubjectRequest.status != "closed")
            elif status:
                query = query.where(SubjectRequest.status == status)
            return [request_view(r, op.at) for r in op.session.scalars(query)]

    def show(self, actor: Actor, request_id: int) -> dict[str, Any]:
        with operate(self.overt, actor, ACTION) as op:
            return request_view(self._get(op, request_id), op.at)

    def search_again(self, actor: Actor, request_id: int) -> dict[str, Any]:
        """Search again with the stored template (the watchlists and evidence may have changed)."""
        embedding, evidence = self._prepare(actor, request_id)
        with operate(self.overt, actor, ACTION) as op:
            request = self._get(op, request_id)
            rules.check_open(request)
            self._search(op, request, embedding, evidence)
            return request_view(request, op.at)

    def extend(self, actor: Actor, request_id: int, reason: str, months: int = 1) -> dict[str, Any]:
        with operate(self.overt, actor, ACTION) as op:
            request = self._get(op, request_id)
            deadline = rules.extend(request, months, reason)
            op.record(
                "request.extend",
                object_type="subject_request",
                object_id=request_id,
                request_id=request_id,
                deadline=deadline,
                reason=reason.strip(),
            )
            return request_view(request, op.at)

    def decide(self, actor: Actor, request_id: int, decision: str, reason: str, ground: str = "") -> dict[str, Any]:
        """Grant or refuse (a refusal names its legal ground); erasures are granted by `erase`."""
        with operate(self.overt, actor, ACTION) as op:
            request = self._get(op, request_id)
            rules.decide(request, decision, reason, ground, op.at)
            op.record(
                "request.decide",
                object_type="subject_request",
                object_id=request_id,
                request_id=request_id,
                kind=request.kind,
                decision=decision,
                reason=request.reason,
                legal_ground=request.legal_ground,
            )
            return request_view(request, op.at)

    def erase(self, actor: Actor, request_id: int, reason: str = "") -> dict[str, Any]:
        """Delete what Overt holds about the face, found afresh now: watchlist entries (templates and
        reference photos) and alerts (reviews and evidence). The log keeps ids and counts only."""
        embedding, evidence = self._prepare(actor, request_id, erasing=True)
        with operate(self.overt, actor, ACTION) as op:
            request = self._get(op, request_id)
            self._check_erasable(request)  # again: another erasure may have run meanwhile
            self._search(op, request, embedding, evidence)
            subject_ids = sorted({f["subject_id"] for f in request.findings["found"]})
            alert_ids = sorted(a["id"] for a in request.findings["alerts"])
            deleted = self._delete(op.session, subject_ids, alert_ids)
            template_ids = deleted.pop("template_ids")
            request.done = {"subject_ids": subject_ids, "template_ids": template_ids, "alert_ids": alert_ids, **deleted}
            # what stays for the letter: where the data was, not who the entries named
            request.findings = {
                **request.findings,
                "found": [
                    {k: v for k, v in f.items() if k not in ("subject", "subject_id")}
                    for f in request.findings["found"]
                ],
            }
            request.reason = rules.check_text("the reason", reason) or "erasure requested (GDPR Art. 17)"
            request.status, request.outcome, request.decided_at = "decided", "erased", op.at
            op.record(
                "request.erase",
                object_type="subject_request",
                object_id=request_id,
                request_id=request_id,
                image_sha256=request.photo.image_sha256 if request.photo else "",
                subject_ids=tuple(subject_ids),
                template_ids=tuple(template_ids),
                alert_ids=tuple(alert_ids),
                deleted=deleted,
                reason=request.reason,
            )
            view = request_view(request, op.at)
        self.overt.system.vacuum()  # SQLite: the deleted pages leave the file and its WAL, not just the tables
        return view

    @staticmethod
    def _delete(session: Session, subject_ids: list[int], alert_ids: list[int]) -> dict[str, Any]:
        counts: dict[str, Any] = {"subjects": 0, "templates": 0, "photos": 0, "alerts": 0, "evidence": 0, "reviews": 0}
        template_ids: list[int] = []
        for alert_id in alert_ids:
            alert = session.get(Alert, alert_id)
            if alert is not None:
                counts["evidence"] += len(alert.evidence)
                counts["reviews"] += len(alert.reviews)
                counts["alerts"] += 1
                session.delete(alert)
        for subject_id in subject_ids:
            subject = session.get(Subject, subject_id)
            if subject is None:
                continue
            template_ids += [t.id for t in subject.templates]
            counts["templates"] += len(subject.templates)
            counts["photos"] += subject.image is not None
            counts["subjects"] += 1
            session.delete(subject)
            store.bump(session, subject.watchlist_id)
        session.flush()
        return {**counts, "template_ids": sorted(template_ids)}

    def close(self, actor: Actor, request_id: int, note: str = "") -> dict[str, Any]:
        """Close the request: the requester's photo and template are deleted in the same transaction."""
        with operate(self.overt, actor, ACTION) as op:
            request = self._get(op, request_id)
            days = rules.close(request, note, op.at)
            had_photo = request.photo is not None
            request.photo = None
            op.record(
                "request.close",
                object_type="subject_request",
                object_id=request_id,
                request_id=request_id,
                kind=request.kind,
                result=request.outcome,
                days_to_answer=days,
                on_time=op.at <= request.deadline,
                photo_deleted=had_photo,
            )
            view = request_view(request, op.at)
        self.overt.system.vacuum()
        return view

    def letter(self, actor: Actor, request_id: int, fmt: str = "html") -> bytes:
        """The answer the person receives (HTML or PDF): what was found or done, refusals with their ground."""
        with operate(self.overt, actor, ACTION) as op:
            view = request_view(self._get(op, request_id), op.at)
            data = render_letter(view, fmt, op.at)
            op.record(
                "request.letter",
                object_type="subject_request",
                object_id=request_id,
                request_id=request_id,
                format=fmt,
                sha256=hashlib.sha256(data).hexdigest(),
            )
            return data

    def contacts(self) -> dict[str, str]:
        """What the public rights page says about whom to write to (accountability.yaml; public statements)."""
        try:
            config = load_config(self.overt.settings.home / CONFIG_FILE)
        except ConfigError:
            return {}  # the reports say what is wrong with the file; this page falls back to plain words
        keys = ("agency", "contact", "complaint_procedure", "data_protection_authority")
        return {k: str(config[k]) for k in keys if config.get(k)}
