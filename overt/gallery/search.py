"""1:N search over watchlists: one in-memory index per (watchlist, model), following the database.

Scores are normalised as the model's calibration says (AS-norm against the cohort, or raw cosine).
The index ranks by raw cosine, so candidates are fetched in growing batches until no template left
unfetched could still reach the threshold after normalisation: the result is exact, and one batch
is almost always enough.
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
from .store import load_templates

FIRST_BATCH = 64


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
class _Entry:
    revision: int
    index: TemplateIndex
    owner: dict[int, tuple[int, str, float, float]]  # template id -> subject id, reference, cohort mean, std
    max_templates_per_subject: int
    lowest_mean: float
    std_range: tuple[float, float]


class GallerySearch:
    """Indexes are built from the database on first use and rebuilt when a watchlist's revision moves,
    so a crash or another process's enrolment never leaves search out of step with the source of truth."""

    def __init__(self, keys: KeyRing, scorer: Scorer, exact_max: int = 200_000) -> None:
        self._keys = keys
        self._scorer = scorer
        self._exact_max = exact_max
        self._entries: dict[tuple[int, str], _Entry] = {}
        self._lock = threading.Lock()

    def _build(self, session: Session, watchlist: Watchlist, model: str, dim: int, revision: int) -> _Entry:
        stored = load_templates(session, self._keys, watchlist.id, model)
        vectors = stored.vectors if len(stored.ids) else np.zeros((0, dim), np.float32)
        means, stds = stored.cohort_mean.copy(), stored.cohort_std.copy()
        if self._scorer.cohort is not None:  # stats kept with templates of another cohort are recomputed here
            current = self._scorer.cohort.sha256
            stale = np.array([sha != current for sha in stored.cohort_sha256], dtype=bool)
            if stale.any():
                means[stale], stds[stale] = self._scorer.stats(vectors[stale])
        else:
            means[:], stds[:] = 0.0, 1.0
        index = (
            TemplateIndex.build(stored.ids, vectors, exact_max=self._exact_max)
            if len(stored.ids)
            else TemplateIndex(dim)
        )
        owner = {
            int(t): (int(s), r, float(m), float(d))
            for t, s, r, m, d in zip(stored.ids, stored.subject_ids, stored.references, means, stds, strict=True)
        }
        per_subject = Counter(stored.subject_ids.tolist())
        return _Entry(
            revision,
            index,
            owner,
            max(per_subject.values(), default=1),
            float(means.min()) if len(means) else 0.0,
            (float(stds.min()), float(stds.max())) if len(stds) else (1.0, 1.0),
        )

    def _entry(self, session: Session, watchlist: Watchlist, model: str, dim: int) -> _Entry:
        key = (watchlist.id, model)
        revision = session.scalar(select(Watchlist.revision).where(Watchlist.id == watchlist.id)) or 0
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.revision != revision:
                entry = self._entries[key] = self._build(session, watchlist, model, dim, revision)
            return entry

    def _ceiling(self, entry: _Entry, raw: float, mean_q: float, std_q: float) -> float:
        """The highest normalised score any template with raw score <= `raw` could reach."""
        low_std, high_std = entry.std_range
        spread = low_std if raw - entry.lowest_mean > 0 else high_std
        return float(self._scorer.normalise(raw, mean_q, std_q, entry.lowest_mean, spread))

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
            size = len(entry.index)
            k = min(size, max(FIRST_BATCH, top * entry.max_templates_per_subject * 4))
            while k:
                raw_scores, ids = entry.index.search(query, k)
                found = ids[0] >= 0
                raw_scores, ids = raw_scores[0][found], ids[0][found]
                if k >= size or self._ceiling(entry, float(raw_scores[-1]), mean_q, std_q) < threshold:
                    break
                k = min(size, k * 4)
            for raw, template_id in zip(raw_scores if k else [], ids if k else [], strict=True):
                subject_id, reference, mean_t, std_t = entry.owner[int(template_id)]
                score = float(self._scorer.normalise(float(raw), mean_q, std_q, mean_t, std_t))
                if score < threshold:
                    continue
                current = best.get(subject_id)
                if current is None or score > current.score:
                    best[subject_id] = Candidate(
                        subject_id, reference, watchlist.name, score, float(raw), int(template_id)
                    )
        return sorted(best.values(), key=lambda c: c.score, reverse=True)[:top]
