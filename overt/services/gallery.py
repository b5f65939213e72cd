"""Watchlists, enrolment and 1:N identification: gated by a deployment, audited, templates encrypted."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from sqlalchemy import select

from ..engine import EngineError, NoFaceError
from ..gallery import store
from ..gallery.persons import one_per_person, root
from ..gallery.store import GalleryError, NewTemplate
from ..governance.gate import Scope, effective_threshold
from ..governance.permissions import Refused
from ..storage.models import Subject, Watchlist
from .core import Actor, Operation, operate, record_failure
from .lab import IMAGE_SUFFIXES

if TYPE_CHECKING:
    from . import Overt

MIN_ENROL_QUALITY = 0.5


@dataclass(frozen=True)
class EnrolRequest:
    """One subject to enrol; images are files, or bytes (uploads, never written to disk unencrypted)."""

    reference: str
    images: tuple[Path | bytes, ...]
    category: str = ""
    legal_basis: str = ""
    image_source: str = ""
    image_date: str = ""
    expires_at: datetime | None = None
    same_as: str = ""  # an existing subject ("REF" or "WATCHLIST/REF") this one is the same person as, on purpose


def requests_from_folder(folder: Path, category: str = "") -> list[EnrolRequest]:
    """One subject per sub-folder (its name is the reference), or per image file when the folder is flat."""
    subdirs = sorted(p for p in folder.iterdir() if p.is_dir())
    if subdirs:
        return [
            EnrolRequest(d.name, tuple(sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)), category)
            for d in subdirs
        ]
    return [
        EnrolRequest(p.stem, (p,), category) for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES
    ]


def requests_from_csv(path: Path) -> list[EnrolRequest]:
    """Columns `path,subject`, optionally `category,legal_basis,image_source,image_date`; a subject's rows merge."""
    grouped: dict[str, dict[str, Any]] = {}
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"path", "subject"} <= set(reader.fieldnames):
            raise GalleryError(f"{path}: needs the columns path,subject")
        for number, row in enumerate(reader, start=2):
            if not row["path"] or not row["subject"]:
                raise GalleryError(f"{path}: row {number} lacks a path or subject")
            entry = grouped.setdefault(
                row["subject"],
                {
                    "images": [],
                    **{k: row.get(k) or "" for k in ("category", "legal_basis", "image_source", "image_date")},
                },
            )
            entry["images"].append(path.parent / row["path"])
    return [EnrolRequest(ref, tuple(v.pop("images")), **v) for ref, v in grouped.items()]


def face_crop_jpeg(image: np.ndarray, box: tuple[int, int, int, int]) -> bytes:
    """The face with a margin, as JPEG: what a reviewer compares (reference photos, probe evidence)."""
    x, y, w, h = box
    pad = int(0.3 * max(w, h))
    crop = image[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad]
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes() if ok else b""


class GalleryService:
    def __init__(self, overt: Overt) -> None:
        self.overt = overt

    @property
    def engine(self):
        return self.overt.lab.engine

    # --- watchlists --------------------------------------------------------------------------
    def create_watchlist(
        self,
        actor: Actor,
        name: str,
        *,
        purpose: str = "",
        categories: list[str] | None = None,
        expires_at: datetime | None = None,
    ) -> int:
        with operate(self.overt, actor, "watchlist.manage") as op:
            watchlist = store.create_watchlist(
                op.session, name, purpose=purpose, categories=categories or [], owner=actor.name, expires_at=expires_at
            )
            op.record(
                "watchlist.create",
                object_type="watchlist",
                object_id=watchlist.id,
                watchlist=name,
                categories=tuple(categories or []),
                expires_at=expires_at,
            )
            return watchlist.id

    def delete_watchlist(self, actor: Actor, name: str, reason: str = "") -> int:
        with operate(self.overt, actor, "watchlist.manage") as op:
            watchlist = store.get_watchlist(op.session, name)
            subjects = store.subject_count(op.session, watchlist.id)
            templates = sum(len(s.templates) for s in watchlist.subjects)
            op.session.delete(watchlist)
            op.record(
                "watchlist.delete",
                object_type="watchlist",
                object_id=watchlist.id,
                watchlist=name,
                subjects=subjects,
                templates=templates,
                reason=reason,
            )
            return subjects

    def list_watchlists(self, actor: Actor) -> list[dict[str, Any]]:
        with operate(self.overt, actor, "watchlist.read") as op:
            return [
                self._describe(op.session, w) for w in op.session.scalars(select(Watchlist).order_by(Watchlist.name))
            ]

    def show_watchlist(self, actor: Actor, name: str) -> dict[str, Any]:
        with operate(self.overt, actor, "watchlist.read") as op:
            watchlist = store.get_watchlist(op.session, name)
            info = self._describe(op.session, watchlist)
            info["subjects"] = [
                {
                    "reference": s.reference,
                    "category": s.category,
                    "templates": len(s.templates),
                    "added_by": s.added_by,
                    "created": s.created_at.isoformat(),
                    "expires": s.expires_at.isoformat() if s.expires_at else None,
                }
                for s in watchlist.subjects
            ]
            return info

    @staticmethod
    def _describe(session, watchlist: Watchlist) -> dict[str, Any]:
        return {
            "name": watchlist.name,
            "purpose": watchlist.purpose,
            "categories": watchlist.categories,
            "owner": watchlist.owner,
            "size": store.subject_count(session, watchlist.id),
            "expires": watchlist.expires_at.isoformat() if watchlist.expires_at else None,
        }

    # --- enrolment ---------------------------------------------------------------------------
    def _templates(
        self, request: EnrolRequest, force_reason: str, face_index: int | None
    ) -> tuple[list[NewTemplate], bytes]:
        """Engine work before any transaction: refuse no face, several faces, or low quality (unless forced)."""
        templates, first_jpeg = [], b""
        for number, source in enumerate(request.images, start=1):
            path = f"image {number}" if isinstance(source, bytes) else source
            try:
                image = self.engine.load(source)
            except EngineError as exc:
                raise GalleryError(f"{path}: {exc}") from None
            digest = hashlib.sha256(source if isinstance(source, bytes) else Path(source).read_bytes()).hexdigest()
            analysed = self.engine.analyse(image)
            if not analysed:
                raise NoFaceError(f"{path}: no face found")
            if len(analysed) > 1 and face_index is None:
                raise GalleryError(f"{path}: {len(analysed)} faces; choose one with --face N (1 = largest)")
            chosen = analysed[(face_index or 1) - 1] if face_index and face_index <= len(analysed) else analysed[0]
            if chosen.quality.score < MIN_ENROL_QUALITY and not force_reason:
                raise GalleryError(
                    f"{path}: quality {chosen.quality.score:.2f} is too low "
                    f"({'; '.join(chosen.quality.reasons) or 'weak'}); --force REASON to enrol anyway"
                )
            assert chosen.embedding is not None
            scorer = self.engine.scorer()
            (mean,), (std,) = scorer.stats(chosen.embedding.vector)
            templates.append(
                NewTemplate(
                    chosen.embedding,
                    chosen.quality.score,
                    digest,
                    force_reason if chosen.quality.score < MIN_ENROL_QUALITY else "",
                    cohort_mean=float(mean) if scorer.cohort is not None else None,
                    cohort_std=float(std) if scorer.cohort is not None else None,
                    cohort_sha256=scorer.cohort.sha256 if scorer.cohort is not None else None,
                )
            )
            if not first_jpeg:
                first_jpeg = face_crop_jpeg(image, chosen.face.box)
        return templates, first_jpeg

    def enroll(
        self,
        actor: Actor,
        deployment_id: int,
        watchlist: str,
        request: EnrolRequest,
        *,
        force_reason: str = "",
        face_index: int | None = None,
    ) -> dict[str, Any]:
        with operate(self.overt, actor, "subject.enroll") as probe:  # the role first: refusals cost no engine time
            current = store.get_watchlist(probe.session, watchlist)
            size = store.subject_count(probe.session, current.id)
        try:
            if not request.images:
                raise GalleryError(f"subject {request.reference!r}: no images")
            templates, jpeg = self._templates(request, force_reason, face_index)
        except (GalleryError, EngineError) as exc:
            record_failure(self.overt, actor, "subject.enroll", deployment_id, exc)
            raise
        scope = Scope("enroll", watchlists=(watchlist,), watchlist_sizes=(size,), adding=1, category=request.category)
        with operate(self.overt, actor, "subject.enroll", deployment_id=deployment_id, scope=scope) as op:
            target = store.get_watchlist(op.session, watchlist)
            if target.categories and request.category not in target.categories:
                raise GalleryError(f"category {request.category!r} is not allowed on watchlist {watchlist!r}")
            store.ensure_new_reference(op.session, target, request.reference)
            link = self._same_person(op, templates, request.same_as)
            subject = store.add_subject(
                op.session,
                self.overt.keys,
                target,
                request.reference,
                templates=templates,
                added_by=actor.name,
                category=request.category,
                legal_basis=request.legal_basis,
                image_source=request.image_source,
                image_date=request.image_date,
                expires_at=request.expires_at,
                reference_jpeg=jpeg or None,
            )
            op.record(
                "subject.enroll",
                object_type="subject",
                object_id=subject.id,
                watchlist=watchlist,
                subject_id=subject.id,
                template_ids=tuple(t.id for t in subject.templates),
                image_sha256=tuple(t.image_sha256 for t in templates),
                forced_reason=force_reason,
            )
            if link is not None:
                subject.same_as = root(link[0])
                op.record("subject.link", object_type="subject", object_id=subject.id, subject_id=subject.id,
                          same_as_id=subject.same_as, score=round(link[1], 4))
            result = {"subject": request.reference, "watchlist": watchlist, "templates": len(templates)}
            return {**result, "same_as": link[0].reference} if link else result

    def _same_person(self, op: Operation, templates: list[NewTemplate], same_as: str) -> tuple[Subject, float] | None:
        """Search every watchlist of the installation: a face already enrolled is refused, naming its record,
        unless the operator links it on purpose (`same_as`); returns (the linked record, its score)."""
        every = list(op.session.scalars(select(Watchlist).order_by(Watchlist.id)))
        threshold = self.overt.calibrated_threshold()
        link: tuple[Subject, float] | None = None
        for template in templates:
            vector, model = template.embedding.vector, template.embedding.model
            for found in self.overt.search_index.search(op.session, every, vector, model, threshold=threshold, top=5):
                if same_as and same_as in (found.subject, f"{found.watchlist}/{found.subject}"):
                    if link is None or found.score > link[1]:
                        subject = op.session.get(Subject, found.subject_id)
                        assert subject is not None
                        link = (subject, found.score)
                    continue
                raise Refused(
                    "duplicate-subject",
                    f"this face matches subject {found.subject!r} on watchlist {found.watchlist!r} "
                    f"(score {found.score:.3f} at the calibrated threshold {threshold:.3f}); if it is the same "
                    f"person on purpose, enrol with --same-as {found.watchlist}/{found.subject}",
                )
        if same_as and link is None:
            raise Refused("same-as", f"no enrolled subject {same_as!r} matches this face at the calibrated threshold")
        return link

    def enroll_many(
        self,
        actor: Actor,
        deployment_id: int,
        watchlist: str,
        requests: list[EnrolRequest],
        *,
        on_result: Callable[[dict[str, Any]], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Each subject succeeds or fails on its own; failures are reported and audited, never fatal."""
        for request in requests:
            try:
                result = self.enroll(actor, deployment_id, watchlist, request)
            except (GalleryError, EngineError) as exc:
                result = {"subject": request.reference, "error": str(exc)}
            except Refused as exc:
                if exc.rule != "duplicate-subject":
                    raise
                result = {"subject": request.reference, "error": str(exc), "rule": exc.rule}
            if on_result:
                on_result(result)
            yield result

    def remove_subject(self, actor: Actor, watchlist: str, reference: str, reason: str = "") -> None:
        with operate(self.overt, actor, "subject.remove") as op:
            subject_id, templates = store.remove_subject(
                op.session, store.get_watchlist(op.session, watchlist), reference
            )
            op.record(
                "subject.remove",
                object_type="subject",
                object_id=subject_id,
                watchlist=watchlist,
                subject_id=subject_id,
                templates=templates,
                reason=reason,
            )

    # --- 1:N ---------------------------------------------------------------------------------
    def identify(
        self,
        actor: Actor,
        deployment_id: int,
        image: Path | bytes,
        watchlists: list[str],
        *,
        top: int = 5,
        case: str | None = None,
        threshold: float | None = None,
    ) -> dict[str, Any]:
        """Search the largest face in `image`; every candidate becomes a pending alert for review.

        A candidate keeps the probe's face crop as encrypted evidence (deleted with the deployment's
        evidence retention), since reviewers must compare faces; an unmatched probe leaves no image.
        """
        data = image if isinstance(image, bytes) else Path(image).read_bytes() if Path(image).is_file() else b""
        probe_sha = hashlib.sha256(data).hexdigest()
        with operate(self.overt, actor, "identify") as probe:  # the role first: refusals cost no engine time
            sizes = tuple(
                store.subject_count(probe.session, store.get_watchlist(probe.session, n).id) for n in watchlists
            )
        try:
            pixels = self.engine.load(image)
            analysed, faces = self.engine.template(pixels)
        except EngineError as exc:
            record_failure(self.overt, actor, "identify", deployment_id, exc)
            raise
        assert analysed.embedding is not None
        scope = Scope("identify", watchlists=tuple(watchlists), watchlist_sizes=sizes, threshold=threshold, case=case)
        with operate(self.overt, actor, "identify", deployment_id=deployment_id, scope=scope) as op:
            applied = max(threshold or 0.0, effective_threshold(op.deployment, self.overt.calibrated_threshold()))
            targets = [store.get_watchlist(op.session, n) for n in watchlists]
            candidates = one_per_person(op.session, self.overt.search_index.search(
                op.session, targets, analysed.embedding.vector, analysed.embedding.model, threshold=applied, top=top
            ))
            evidence = {"crop": face_crop_jpeg(pixels, analysed.face.box)} if candidates else None
            alerts = self.overt.alerts.raise_for(op, candidates, applied, case_ref=case or "", evidence=evidence)
            op.record(
                "identify",
                object_type="search",
                watchlists=tuple(watchlists),
                image_sha256=probe_sha,
                candidates=len(candidates),
                top_score=round(candidates[0].score, 4) if candidates else None,
                threshold=applied,
                case_ref=case or "",
                faces_in_probe=faces,
            )
            return {
                "candidates": [c.to_json() for c in candidates],
                "alerts": alerts,
                "threshold": applied,
                "model": analysed.embedding.model,
                "faces": faces,
                "notes": [f"{faces} faces in the image: searched the largest"] if faces > 1 else [],
            }

    def subject_image(self, session, subject_id: int) -> bytes | None:
        subject = session.get(Subject, subject_id)
        if subject is None or subject.image is None:
            return None
        return self.overt.keys.decrypt(subject.image.data, store.IMAGE_CONTEXT)
