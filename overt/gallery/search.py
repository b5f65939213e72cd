"""1:N search over watchlists: one in-memory index per (watchlist, model), following the database."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..storage.models import Watchlist
from .crypto import KeyRing
from .index import TemplateIndex
from .store import load_templates


@dataclass(frozen=True)
class Candidate:
    subject_id: int
    subject: str
    watchlist: str
    score: float
    template_id: int

    def to_json(self) -> dict:
        return {"subject": self.subject, "watchlist": self.watchlist, "score": round(self.score, 4)}


@dataclass
class _Entry:
    revision: int
    index: TemplateIndex
    owners: dict[int, tuple[int, str]]
    max_templates_per_subject: int


class GallerySearch:
    """Indexes are built from the database on first use and rebuilt when a watchlist's revision moves,
    so a crash or another process's enrolment never leaves search out of step with the source of truth."""

    def __init__(self, keys: KeyRing, exact_max: int = 200_000) -> None:
        self._keys = keys
        self._exact_max = exact_max
        self._entries: dict[tuple[int, str], _Entry] = {}
        self._lock = threading.Lock()

    def _entry(self, session: Session, watchlist: Watchlist, model: str, dim: int) -> _Entry:
        key = (watchlist.id, model)
        revision = session.scalar(select(Watchlist.revision).where(Watchlist.id == watchlist.id))
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.revision == revision:
                return entry
            ids, vectors, owners = load_templates(session, self._keys, watchlist.id, model)
            if len(ids) == 0:
                vectors = np.zeros((0, dim), np.float32)
            index = TemplateIndex.build(ids, vectors, exact_max=self._exact_max) if len(ids) else TemplateIndex(dim)
            per_subject: dict[int, int] = {}
            for subject_id, _ in owners.values():
                per_subject[subject_id] = per_subject.get(subject_id, 0) + 1
            entry = _Entry(revision or 0, index, owners, max(per_subject.values(), default=1))
            self._entries[key] = entry
            return entry

    def search(
        self,
        session: Session,
        watchlists: list[Watchlist],
        query: np.ndarray,
        model: str,
        *,
        threshold: float,
        top: int,
    ) -> list[Candidate]:
        """Best template per subject, at or above `threshold`, best first, at most `top`."""
        best: dict[int, Candidate] = {}
        for watchlist in watchlists:
            entry = self._entry(session, watchlist, model, query.shape[-1])
            if len(entry.index) == 0:
                continue
            k = min(len(entry.index), top * entry.max_templates_per_subject)
            scores, ids = entry.index.search(query.reshape(1, -1).astype(np.float32), k)
            for score, template_id in zip(scores[0], ids[0], strict=True):
                if template_id < 0 or score < threshold:
                    continue
                subject_id, reference = entry.owners[int(template_id)]
                current = best.get(subject_id)
                if current is None or score > current.score:
                    best[subject_id] = Candidate(subject_id, reference, watchlist.name, float(score), int(template_id))
        return sorted(best.values(), key=lambda c: c.score, reverse=True)[:top]
