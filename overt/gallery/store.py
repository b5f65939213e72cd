"""Watchlists, subjects and encrypted templates in the database (the source of truth for every index)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..engine import Embedding
from ..storage.models import ReferenceImage, Subject, Template, Watchlist
from .crypto import KeyRing

TEMPLATE_CONTEXT = "template"
IMAGE_CONTEXT = "reference-image"


class GalleryError(Exception):
    """A watchlist or subject operation that cannot be done as asked (duplicate, unknown, ...)."""


@dataclass(frozen=True)
class NewTemplate:
    embedding: Embedding
    quality: float
    image_sha256: str
    forced_reason: str = ""
    cohort_mean: float | None = None
    cohort_std: float | None = None
    cohort_sha256: str | None = None


def get_watchlist(session: Session, name: str) -> Watchlist:
    watchlist = session.scalar(select(Watchlist).where(Watchlist.name == name))
    if watchlist is None:
        raise GalleryError(f"no watchlist named {name!r}")
    return watchlist


def create_watchlist(
    session: Session, name: str, *, purpose: str, categories: list[str], owner: str, expires_at: datetime | None
) -> Watchlist:
    if session.scalar(select(Watchlist.id).where(Watchlist.name == name)) is not None:
        raise GalleryError(f"a watchlist named {name!r} already exists")
    watchlist = Watchlist(name=name, purpose=purpose, categories=categories, owner=owner, expires_at=expires_at)
    session.add(watchlist)
    session.flush()
    return watchlist


def subject_count(session: Session, watchlist_id: int) -> int:
    return session.scalar(select(func.count(Subject.id)).where(Subject.watchlist_id == watchlist_id)) or 0


def bump(session: Session, watchlist_id: int) -> None:
    session.execute(update(Watchlist).where(Watchlist.id == watchlist_id).values(revision=Watchlist.revision + 1))


def ensure_new_reference(session: Session, watchlist: Watchlist, reference: str) -> None:
    """References are unique per watchlist: a second enrolment under one is refused before any search."""
    if (
        session.scalar(select(Subject.id).where(Subject.watchlist_id == watchlist.id, Subject.reference == reference))
        is not None
    ):
        raise GalleryError(f"subject {reference!r} is already on watchlist {watchlist.name!r}")


def add_subject(
    session: Session,
    keys: KeyRing,
    watchlist: Watchlist,
    reference: str,
    *,
    templates: list[NewTemplate],
    added_by: str,
    category: str = "",
    legal_basis: str = "",
    image_source: str = "",
    image_date: str = "",
    expires_at: datetime | None = None,
    reference_jpeg: bytes | None = None,
) -> Subject:
    ensure_new_reference(session, watchlist, reference)
    subject = Subject(
        watchlist_id=watchlist.id,
        reference=reference,
        category=category,
        legal_basis=legal_basis,
        image_source=image_source,
        image_date=image_date,
        added_by=added_by,
        expires_at=expires_at,
    )
    for new in templates:
        subject.templates.append(
            Template(
                model=new.embedding.model,
                vector=keys.encrypt(new.embedding.vector.astype(np.float32).tobytes(), TEMPLATE_CONTEXT),
                quality=new.quality,
                image_sha256=new.image_sha256,
                forced_reason=new.forced_reason,
                cohort_mean=new.cohort_mean,
                cohort_std=new.cohort_std,
                cohort_sha256=new.cohort_sha256,
            )
        )
    if reference_jpeg is not None:
        subject.image = ReferenceImage(data=keys.encrypt(reference_jpeg, IMAGE_CONTEXT))
    session.add(subject)
    session.flush()
    bump(session, watchlist.id)
    return subject


def remove_subject(session: Session, watchlist: Watchlist, reference: str) -> tuple[int, int]:
    """Delete a subject with its templates and image; returns (subject id, templates deleted)."""
    subject = session.scalar(
        select(Subject).where(Subject.watchlist_id == watchlist.id, Subject.reference == reference)
    )
    if subject is None:
        raise GalleryError(f"no subject {reference!r} on watchlist {watchlist.name!r}")
    subject_id, templates = subject.id, len(subject.templates)
    session.delete(subject)
    bump(session, watchlist.id)
    return subject_id, templates


def decrypt_vector(keys: KeyRing, blob: bytes) -> np.ndarray:
    return np.frombuffer(keys.decrypt(blob, TEMPLATE_CONTEXT), dtype=np.float32)


@dataclass(frozen=True)
class StoredTemplates:
    """One watchlist's templates of one model, decrypted for an in-memory index."""

    ids: np.ndarray  # (n,) int64
    vectors: np.ndarray  # (n, d) float32
    subject_ids: np.ndarray  # (n,) int64
    references: list[str]
    cohort_mean: np.ndarray  # (n,) float, NaN where not computed for the cohort in force
    cohort_std: np.ndarray
    cohort_sha256: list[str | None]


def template_ids(session: Session, watchlist_id: int, model: str) -> np.ndarray:
    """The template ids of one watchlist and model, without touching (or decrypting) the vectors."""
    ids = session.scalars(
        select(Template.id)
        .join(Subject, Template.subject_id == Subject.id)
        .where(Subject.watchlist_id == watchlist_id, Template.model == model)
    ).all()
    return np.array(sorted(ids), dtype=np.int64)


def load_templates(
    session: Session, keys: KeyRing, watchlist_id: int, model: str, only: np.ndarray | None = None
) -> StoredTemplates:
    """Decrypt one watchlist's templates of one model (or just the ids in `only`)."""
    query = (
        select(
            Template.id,
            Template.vector,
            Subject.id,
            Subject.reference,
            Template.cohort_mean,
            Template.cohort_std,
            Template.cohort_sha256,
        )
        .join(Subject, Template.subject_id == Subject.id)
        .where(Subject.watchlist_id == watchlist_id, Template.model == model)
        .order_by(Template.id)
    )
    if only is not None:
        query = query.where(Template.id.in_(only.tolist()))
    rows = session.execute(query).all()
    return StoredTemplates(
        ids=np.array([r[0] for r in rows], dtype=np.int64),
        vectors=np.stack([decrypt_vector(keys, r[1]) for r in rows]) if rows else np.zeros((0, 0), np.float32),
        subject_ids=np.array([r[2] for r in rows], dtype=np.int64),
        references=[r[3] for r in rows],
        cohort_mean=np.array([np.nan if r[4] is None else r[4] for r in rows], dtype=np.float64),
        cohort_std=np.array([np.nan if r[5] is None else r[5] for r in rows], dtype=np.float64),
        cohort_sha256=[r[6] for r in rows],
    )


def reencrypt_all(session: Session, old: KeyRing, new: KeyRing) -> dict[str, int]:
    """Key rotation: every template and reference image, in the caller's transaction."""
    counts = {"templates": 0, "images": 0}
    for template in session.scalars(select(Template)):
        template.vector = new.encrypt(old.decrypt(template.vector, TEMPLATE_CONTEXT), TEMPLATE_CONTEXT)
        counts["templates"] += 1
    for image in session.scalars(select(ReferenceImage)):
        image.data = new.encrypt(old.decrypt(image.data, IMAGE_CONTEXT), IMAGE_CONTEXT)
        counts["images"] += 1
    return counts
