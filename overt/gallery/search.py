"""1:N search over watchlists: one in-memory index per (watchlist, model), following the database.

Scores are normalised as the model's calibration says (AS-norm against the cohort, or raw cosine).
The index ranks by raw cosine; its top candidates are re-scored with each template's cohort statistics,
kept with the template at enrolment, so normalisation costs one small vectorised step per search.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..engine.cohort import Scorer
from ..storage.models import Watchlist
from .crypto import KeyRing
from .index import TemplateIndex
from .store import StoredTemplates, load_templates, template_ids

INCREMENTAL_MAX = 10_000  # changes applied to a live index in place; more trigger a rebuild from the database
FETCH = 32  # raw candidates re-scored after normalisation (chosen by bench/normalised_search.py)


@dataclass(frozen=True)
class Candidate:
    subject_id: int
    subject: str
    watchlist: str
    score: float
    raw_score: float
    template_id: int

    def to_json(self) -> dict:
        return {
            "subject": self.subject,
            "watchlist": self.watchlist,
            "score": round(self.score, 4),
            "raw_score": round(self.raw_score, 4),
        }


@dataclass
class WatchlistIndex:
    """One watchlist's templates in an index, with what normalisation needs about each of them
    (arrays aligned with `ids`, sorted, so candidates are re-scored in one vectorised step)."""

    index: TemplateIndex
    ids: np.ndarray  # sorted template ids
    subject_ids: np.ndarray
    references: list[str]
    means: np.ndarray
    stds: np.ndarray
    max_templates_per_subject: int
    revision: int = 0

    @classmethod
    def build(
        cls,
        ids: np.ndarray,
        vectors: np.ndarray,
        subject_ids: np.ndarray,
        references: list[str],
        means: np.ndarray,
        stds: np.ndarray,
        *,
        exact_max: int = 200_000,
        revision: int = 0,
    ) -> WatchlistIndex:
        order = np.argsort(ids, kind="stable")
        index = TemplateIndex.build(ids, vectors, exact_max=exact_max) if len(ids) else TemplateIndex(vectors.shape[1])
        per_subject = Counter(subject_ids.tolist())
        return cls(
            index,
            ids[order],
            subject_ids[order],
            [references[i] for i in order],
            np.asarray(means, np.float64)[order],
            np.asarray(stds, np.float64)[order],
            max(per_subject.values(), default=1),
            revision,
        )

    def candidates(
        self, scorer: Scorer, query: np.ndarray, mean_q: float, std_q: float, *, threshold: float, top: int
    ) -> list[tuple[int, str, float, float, int]]:
        """(subject id, reference, normalised score, raw score, template id) at or above `threshold`.

        The index ranks by raw cosine; its top FETCH candidates are re-scored in one vectorised step. A
        template outside them whose normalisation lifts it over the threshold is missed:
        bench/normalised_search.py measures how often, against a full normalised scan.
        """
        k = min(len(self.index), max(FETCH, top * self.max_templates_per_subject * 4))
        if not k or not len(self.ids):
            return []
        raw_scores, ids = self.index.search(query, k)
        found = ids[0] >= 0
        raw_scores, ids = raw_scores[0][found].astype(np.float64), ids[0][found]
        rows = np.minimum(np.searchsorted(self.ids, ids), max(len(self.ids) - 1, 0))
        known = self.ids[rows] == ids  # an index updated under a running search may hold ids added since
        raw_scores, ids, rows = raw_scores[known], ids[known], rows[known]
        scores = scorer.normalise(raw_scores, mean_q, std_q, self.means[rows], self.stds[rows])
        keep = np.flatnonzero(scores >= threshold)
        return [
            (
                int(self.subject_ids[rows[i]]),
                self.references[rows[i]],
                float(scores[i]),
                float(raw_scores[i]),
                int(ids[i]),
            )
            for i in keep
        ]


class GallerySearch:
    """Indexes are built from the database on first use and rebuilt when a watchlist's revision moves,
    so a crash or another process's enrolment never leaves search out of step with the source of truth."""

    def __init__(self, keys: KeyRing, scorer: Scorer, exact_max: int = 200_000) -> None:
        self._keys = keys
        self._scorer = scorer
        self._exact_max = exact_max
        self._entries: dict[tuple[int, str], WatchlistIndex] = {}
        self._lock = threading.Lock()
        self._locks: dict[tuple[int, str], threading.Lock] = {}

    def _stats(self, stored: StoredTemplates, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cohort statistics as kept with the templates; recomputed for those kept for another cohort."""
        means, stds = stored.cohort_mean.copy(), stored.cohort_std.copy()
        if self._scorer.cohort is None:
            return np.zeros_like(means), np.ones_like(stds)
        stale = np.array([sha != self._scorer.cohort.sha256 for sha in stored.cohort_sha256], dtype=bool)
        if stale.any():
            means[stale], stds[stale] = self._scorer.stats(vectors[stale])
        return means, stds

    def _update(
        self, session: Session, watchlist: Watchlist, model: str, entry: WatchlistIndex, revision: int
    ) -> WatchlistIndex | None:
        """Apply enrolments and removals to the live index; None when a full rebuild is simpler."""
        current = template_ids(session, watchlist.id, model)
        added = np.setdiff1d(current, entry.ids, assume_unique=True)
        removed = np.setdiff1d(entry.ids, current, assume_unique=True)
        if len(added) + len(removed) > INCREMENTAL_MAX:
            return None
        new = load_templates(session, self._keys, watchlist.id, model, only=added)
        means, stds = self._stats(new, new.vectors) if len(new.ids) else (np.zeros(0), np.zeros(0))
        entry.index.remove(removed)  # searches running on `entry` skip what its arrays do not know
        if len(new.ids):
            entry.index.add(new.ids, new.vectors)
        keep = ~np.isin(entry.ids, removed)
        ids = np.concatenate([entry.ids[keep], new.ids])
        order = np.argsort(ids, kind="stable")
        subject_ids = np.concatenate([entry.subject_ids[keep], new.subject_ids])[order]
        references = [entry.references[i] for i in np.flatnonzero(keep)] + new.references
        _, per_subject = np.unique(subject_ids, return_counts=True)
        return WatchlistIndex(
            entry.index,
            ids[order],
            subject_ids,
            [references[i] for i in order],
            np.concatenate([entry.means[keep], means])[order],
            np.concatenate([entry.stds[keep], stds])[order],
            int(per_subject.max(initial=1)),
            revision,
        )

    def _build(self, session: Session, watchlist: Watchlist, model: str, dim: int, revision: int) -> WatchlistIndex:
        stored = load_templates(session, self._keys, watchlist.id, model)
        vectors = stored.vectors if len(stored.ids) else np.zeros((0, dim), np.float32)
        means, stds = self._stats(stored, vectors)
        return WatchlistIndex.build(
            stored.ids,
            vectors,
            stored.subject_ids,
            stored.references,
            means,
            stds,
            exact_max=self._exact_max,
            revision=revision,
        )

    def _entry(self, session: Session, watchlist: Watchlist, model: str, dim: int) -> WatchlistIndex:
        key = (watchlist.id, model)
        revision = session.scalar(select(Watchlist.revision).where(Watchlist.id == watchlist.id)) or 0
        with self._lock:  # held only to find this watchlist's own lock
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:  # a rebuild makes searches of this watchlist wait (never a stale answer), not the others
            entry = self._entries.get(key)
            if entry is not None and entry.revision != revision:
                entry = self._update(session, watchlist, model, entry, revision)
            if entry is None or entry.revision != revision:
                entry = self._build(session, watchlist, model, dim, revision)
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
        """Best template per subject, at or above `threshold` after normalisation, best first, at most `top`."""
        query = query.reshape(1, -1).astype(np.float32)
        (mean_q,), (std_q,) = self._scorer.stats(query)
        best: dict[int, Candidate] = {}
        for watchlist in watchlists:
            entry = self._entry(session, watchlist, model, query.shape[-1])
            for subject_id, reference, score, raw, template_id in entry.candidates(
                self._scorer, query, mean_q, std_q, threshold=threshold, top=top
            ):
                current = best.get(subject_id)
                if current is None or score > current.score:
                    best[subject_id] = Candidate(subject_id, reference, watchlist.name, score, raw, template_id)
        return sorted(best.values(), key=lambda c: c.score, reverse=True)[:top]
