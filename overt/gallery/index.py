"""In-memory 1:N search over the templates of one model.

The database is the source of truth; this index is a rebuildable cache built
from ``(ids, vectors)`` at start-up and kept in step by ``add``/``remove``.

Structures (chosen by measurement on 2 cores, see ``docs/bench-search.md``):

* ``exact``: float32 matrix scanned with one BLAS matmul + ``argpartition``.
  Faster than faiss ``IndexFlatIP`` from 10k rows up, and scores are exact.
* ``ivf``: faiss ``IndexIVFScalarQuantizer`` with 8-bit codes (128 B per
  128-d template, so 10M templates take ~1.5 GB). Builds in seconds to
  minutes on 2 cores, removes natively through a hash-table direct map.
  Scores come from the 8-bit codes: mean error ~1e-3, at most ~0.005; callers that
  need exact scores can re-score the top k from the database.
* ``hnsw``: usearch HNSW with float16 storage and native removal. Precise
  scores, but a 1M build takes minutes on 2 cores, so ``auto`` never picks it.

``auto`` scans exactly up to ``exact_max`` templates and switches to ``ivf``
beyond; it does not switch back (the ivf store holds quantised vectors only),
a rebuild from the database does.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Literal

import faiss
import numpy as np
from usearch.index import Index as _UsearchIndex

Kind = Literal["auto", "exact", "hnsw", "ivf"]
_KINDS = ("auto", "exact", "hnsw", "ivf")

_CHUNK = 65_536  # rows per normalisation / insertion step: bounds temporary copies to ~32 MB
_QUERY_BLOCK_SCORES = 1 << 24  # exact search: at most this many scores (64 MB) materialised at once

# IVF: ~2*sqrt(n) lists, 32 training rows per list (k-means and list assignment dominate the
# build on 2 cores; 4*sqrt(n) lists recalled a little more per fraction probed but built 3x
# slower at 1M). Probing 1/6 of the lists gave recall@1 0.9955 / 0.998 / 0.9998 at 50k / 200k / 1M on
# mated queries of random 128-d vectors (1/8: 0.989 / 0.995 / 0.9985); real embeddings cluster,
# so this is conservative.
_IVF_LISTS_PER_SQRT_N = 2
_IVF_TRAIN_PER_LIST = 32
_IVF_KMEANS_ITERS = 10
_IVF_PROBE_FRACTION = 1 / 6
_IVF_MIN_PROBES = 32
_IVF_REGROW_FACTOR = 4  # retrain once the size is this many times the size trained for
_SQ_RANGE_MARGIN = 0.2

# HNSW: connectivity 16 gave recall@1 ~0.7 on random 128-d data even at ef=64; 32/128 reaches 1.0.
_HNSW_CONNECTIVITY = 32
_HNSW_EXPANSION_ADD = 128
_HNSW_EXPANSION_SEARCH = 128


class _RWLock:
    """Many concurrent searches or one mutation; waiting writers block new readers (no starvation)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writing or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            self._writers_waiting += 1
            while self._writing or self._readers:
                self._cond.wait()
            self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


# A batch of rows: ids, vectors and their L2 norms (None when already normalised).
_Segment = tuple[np.ndarray, np.ndarray, np.ndarray | None]


def _normalised_chunks(segment: _Segment) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (ids, unit float32 rows) in chunks so a 5 GB input is never copied whole."""
    ids, vectors, norms = segment
    for start in range(0, len(ids), _CHUNK):
        rows = np.asarray(vectors[start : start + _CHUNK], dtype=np.float32)
        if norms is not None:
            rows = rows / norms[start : start + _CHUNK, None]
        yield ids[start : start + _CHUNK], np.ascontiguousarray(rows)


def _sample_rows(segments: list[_Segment], count: int, seed: int = 0) -> np.ndarray:
    """Uniform random unit rows across segments, for k-means training."""
    sizes = [len(ids) for ids, _, _ in segments]
    total = sum(sizes)
    picks = np.sort(np.random.default_rng(seed).choice(total, size=min(count, total), replace=False))
    parts, start = [], 0
    for (_, vectors, norms), size in zip(segments, sizes, strict=True):
        lo, hi = np.searchsorted(picks, [start, start + size])  # picks are sorted
        local = picks[lo:hi] - start
        rows = np.asarray(vectors[local], dtype=np.float32)
        parts.append(rows / norms[local, None] if norms is not None else rows)
        start += size
    return np.concatenate(parts)


def _without(segments: list[_Segment], ids: np.ndarray) -> list[_Segment]:
    """Exported (already unit) segments minus the rows whose ids are about to be replaced."""
    ids = np.sort(ids)
    kept: list[_Segment] = []
    for seg_ids, vectors, _ in segments:
        keep = ids[np.searchsorted(ids, seg_ids).clip(max=len(ids) - 1)] != seg_ids
        kept.append((seg_ids, vectors, None) if keep.all() else (seg_ids[keep], vectors[keep], None))
    return kept


def _ivf_lists(n: int) -> int:
    return max(1, int(_IVF_LISTS_PER_SQRT_N * math.sqrt(n)))


def _pad(m: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((m, k), -np.inf, dtype=np.float32), np.full((m, k), -1, dtype=np.int64)


class _Exact:
    """Growable float32 matrix; removal moves the last row into the hole so the scan stays dense."""

    kind = "exact"

    def __init__(self, dim: int) -> None:
        self._vectors = np.empty((0, dim), dtype=np.float32)
        self._ids = np.empty(0, dtype=np.int64)
        self._rows: dict[int, int] = {}
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def contains(self, id_: int) -> bool:
        return id_ in self._rows

    def reserve(self, n: int) -> None:
        """Grow to hold n rows; doubling keeps one-by-one enrolment amortised O(1) per row."""
        if n > len(self._ids):
            capacity = max(n, 2 * len(self._ids), 1024)
            grown = np.empty((capacity, self._vectors.shape[1]), dtype=np.float32)
            grown[: self._n] = self._vectors[: self._n]
            self._vectors = grown
            self._ids = np.resize(self._ids, capacity)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        end = self._n + len(ids)
        self.reserve(end)
        self._vectors[self._n : end] = vectors
        self._ids[self._n : end] = ids
        self._rows.update(zip(ids.tolist(), range(self._n, end), strict=True))
        self._n = end

    def remove(self, ids: np.ndarray) -> int:
        removed = 0
        for id_ in ids.tolist():
            row = self._rows.pop(id_, None)
            if row is None:
                continue
            last = self._n - 1
            if row != last:
                moved = int(self._ids[last])
                self._vectors[row] = self._vectors[last]
                self._ids[row] = moved
                self._rows[moved] = row
            self._n = last
            removed += 1
        return removed

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        m, n = len(queries), self._n
        scores, ids = _pad(m, k)
        take = min(k, n)
        if take == 0:
            return scores, ids
        gallery = self._vectors[:n]
        block = max(1, _QUERY_BLOCK_SCORES // n)
        for start in range(0, m, block):
            sims = queries[start : start + block] @ gallery.T
            if take < n:
                cols = np.argpartition(sims, n - take, axis=1)[:, n - take :]
                top = np.take_along_axis(sims, cols, axis=1)
            else:
                cols = np.broadcast_to(np.arange(n), sims.shape)
                top = sims
            order = np.argsort(-top, axis=1, kind="stable")
            scores[start : start + block, :take] = np.take_along_axis(top, order, axis=1)
            ids[start : start + block, :take] = self._ids[np.take_along_axis(cols, order, axis=1)]
        return scores, ids

    def export(self) -> list[_Segment]:
        return [(self._ids[: self._n], self._vectors[: self._n], None)]

    def size_after(self, ids: np.ndarray) -> int:
        """Size once ids are added, replacing those already present."""
        return self._n + sum(1 for id_ in ids.tolist() if id_ not in self._rows)

    @property
    def params(self) -> dict[str, object]:
        return {"kind": self.kind, "storage": "float32"}

    @property
    def nbytes(self) -> int:
        return self._vectors.nbytes + self._ids.nbytes


class _IVF:
    """faiss IVF with 8-bit scalar-quantised codes; trained on the data, retrained as it grows."""

    kind = "ivf"

    def __init__(self, dim: int, nprobe: int | None) -> None:
        self._dim = dim
        self._nprobe = nprobe
        self._index: faiss.IndexIVFScalarQuantizer | None = None
        self._trained_for = 0

    def __len__(self) -> int:
        return 0 if self._index is None else self._index.ntotal

    def contains(self, id_: int) -> bool:
        if self._index is None:
            return False
        try:
            self._index.direct_map.get(id_)
        except RuntimeError:  # faiss reports a missing key by throwing
            return False
        return True

    def train(self, sample: np.ndarray, n: int) -> None:
        """Size the lists for n rows (bounded by the sample, >= 32 rows per list) and run k-means."""
        nlist = max(1, min(_ivf_lists(n), len(sample) // _IVF_TRAIN_PER_LIST))
        index = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(self._dim),
            self._dim,
            nlist,
            faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT,
            False,  # codes independent of the list: faster scan, same recall
        )
        # Widen the trained per-dimension ranges so rows outside the sample's min/max are not
        # clipped: this bounds the score error at ~0.005 (0.02 without, for the odd clipped row).
        index.sq.rangestat_arg = _SQ_RANGE_MARGIN
        index.cp.niter = _IVF_KMEANS_ITERS
        index.cp.min_points_per_centroid = 1  # nlist is sized from the sample above; silences faiss's warning
        index.train(sample)
        index.set_direct_map_type(faiss.DirectMap.Hashtable)  # O(1) remove / contains by id
        index.nprobe = min(nlist, self._nprobe or max(_IVF_MIN_PROBES, round(nlist * _IVF_PROBE_FRACTION)))
        self._index, self._trained_for = index, n

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._index.add_with_ids(vectors, ids)

    def remove(self, ids: np.ndarray) -> int:
        if self._index is None or not len(ids):
            return 0
        return int(self._index.remove_ids(ids))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if not len(self):
            return _pad(len(queries), k)
        scores, ids = self._index.search(queries, k)
        scores[ids < 0] = -np.inf  # faiss pads with -FLT_MAX
        np.minimum(scores, 1.0, out=scores)  # 8-bit codes can push a cosine just past 1
        return scores, ids

    def export(self) -> list[_Segment]:
        if self._index is None:
            return []
        lists = self._index.invlists
        segments: list[_Segment] = []
        for list_no in range(lists.nlist):
            size = lists.list_size(list_no)
            if size:
                ids = faiss.rev_swig_ptr(lists.get_ids(list_no), size).copy()
                segments.append((ids, self._index.reconstruct_batch(ids), None))
        return segments

    def outgrown(self, n: int) -> bool:
        """n may count replaced ids twice: an early retrain is harmless."""
        return self._index is None or n > _IVF_REGROW_FACTOR * self._trained_for

    @property
    def nbytes(self) -> int:
        if self._index is None:
            return 0
        return self._index.ntotal * (self._index.code_size + 8) + self._index.nlist * self._dim * 4

    @property
    def params(self) -> dict[str, object]:
        index = self._index
        return {
            "kind": self.kind,
            "storage": "sq8",
            "nlist": 0 if index is None else index.nlist,
            "nprobe": 0 if index is None else index.nprobe,
        }


class _HNSW:
    """usearch HNSW, float16 storage: native removal and scores within ~1e-4 of exact."""

    kind = "hnsw"

    def __init__(self, dim: int, ef_search: int | None, threads: int) -> None:
        self._index = _UsearchIndex(
            ndim=dim,
            metric="ip",
            dtype="f16",
            connectivity=_HNSW_CONNECTIVITY,
            expansion_add=_HNSW_EXPANSION_ADD,
            expansion_search=ef_search or _HNSW_EXPANSION_SEARCH,
        )
        self._threads = threads

    def __len__(self) -> int:
        return len(self._index)

    def contains(self, id_: int) -> bool:
        return id_ in self._index

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._index.add(ids.astype(np.uint64), vectors, threads=self._threads)

    def remove(self, ids: np.ndarray) -> int:
        if not len(ids):
            return 0
        return int(np.sum(self._index.remove(ids.astype(np.uint64), threads=self._threads)))

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        scores, ids = _pad(len(queries), k)
        if not len(self):
            return scores, ids
        # One query runs on one thread: spawning workers costs more than it saves.
        found = self._index.search(queries, k, threads=1 if len(queries) == 1 else self._threads)
        keys = np.atleast_2d(found.keys)
        width = keys.shape[1]
        valid = np.arange(width) < np.atleast_1d(getattr(found, "counts", width))[:, None]
        scores[:, :width][valid] = np.minimum(1.0 - np.atleast_2d(found.distances)[valid], 1.0)
        ids[:, :width][valid] = keys[valid].astype(np.int64)
        return scores, ids

    @property
    def nbytes(self) -> int:
        return int(self._index.memory_usage)

    @property
    def params(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "storage": "f16",
            "connectivity": self._index.connectivity,
            "expansion_add": self._index.expansion_add,
            "expansion_search": self._index.expansion_search,
        }


def _check_ids(ids: np.ndarray | Iterable[int]) -> np.ndarray:
    arr = ids if isinstance(ids, np.ndarray) else np.array(list(ids))
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(f"ids must be a 1-D sequence of integers, got dtype {arr.dtype} and shape {arr.shape}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and arr.min() < 0:
        raise ValueError("ids must be >= 0 (-1 marks padding in search results)")
    return arr


class TemplateIndex:
    """In-memory 1:N index over L2-normalised float32 templates of ONE model.

    Score = inner product of unit vectors (cosine), higher = more similar. Searches run
    concurrently; add/remove (and the rebuilds they trigger) take an exclusive lock.
    """

    def __init__(
        self,
        dim: int,
        *,
        exact_max: int = 200_000,
        kind: Kind = "auto",
        nprobe: int | None = None,
        ef_search: int | None = None,
        threads: int | None = None,
    ) -> None:
        """``nprobe`` (ivf) and ``ef_search`` (hnsw) trade speed for recall; None picks values that
        reach recall@1 >= 0.99 on mated queries. ``threads`` caps usearch's workers for batches
        (default: all cores); numpy/faiss use their process-wide pools."""
        if not isinstance(dim, int | np.integer) or dim < 1:
            raise ValueError(f"dim must be a positive int, got {dim!r}")
        if kind not in _KINDS:
            raise ValueError(f"kind must be one of {_KINDS}, got {kind!r}")
        if exact_max < 0:
            raise ValueError(f"exact_max must be >= 0, got {exact_max}")
        for name, value in (("nprobe", nprobe), ("ef_search", ef_search), ("threads", threads)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        self._dim = dim = int(dim)
        self._exact_max = exact_max
        self._requested = kind
        self._nprobe = nprobe
        self._lock = _RWLock()  # searches share it; swapping or mutating the structure excludes them
        self._mutating = threading.Lock()  # one add/remove at a time, held through a rebuild
        self._backend: _Exact | _IVF | _HNSW
        if kind == "hnsw":
            self._backend = _HNSW(dim, ef_search, threads or os.cpu_count() or 1)
        elif kind == "ivf":
            self._backend = _IVF(dim, nprobe)
        else:
            self._backend = _Exact(dim)

    @classmethod
    def build(cls, ids: np.ndarray | Iterable[int], vectors: np.ndarray, **kw: object) -> TemplateIndex:
        """Build from the database's (ids, vectors); large inputs go straight to the approximate structure."""
        shape = np.shape(vectors)
        if len(shape) != 2:
            raise ValueError(f"vectors must have shape (n, dim), got {shape}")
        index = cls(shape[1], **kw)  # type: ignore[arg-type]
        index.add(ids, vectors)
        return index

    @property
    def kind(self) -> str:
        """Structure in use now: "exact", "ivf" or "hnsw"."""
        return self._backend.kind

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def params(self) -> dict[str, object]:
        """Structure and its search parameters, e.g. to record alongside a search in the audit log."""
        with self._lock.read():
            return {**self._backend.params, "size": len(self._backend)}

    @property
    def nbytes(self) -> int:
        """Bytes held by vectors/codes, ids and centroids or graph (excludes id-lookup tables)."""
        with self._lock.read():
            return self._backend.nbytes

    def __len__(self) -> int:
        with self._lock.read():
            return len(self._backend)

    def __contains__(self, id_: object) -> bool:
        if not isinstance(id_, int | np.integer) or id_ < 0:
            return False
        with self._lock.read():
            return self._backend.contains(int(id_))

    def add(self, ids: np.ndarray | Iterable[int], vectors: np.ndarray) -> None:
        """Insert templates (normalised here); an id already present is replaced."""
        ids = _check_ids(ids)
        vectors, norms = self._check_vectors(vectors, "vectors")
        if len(ids) != len(vectors):
            raise ValueError(f"got {len(ids)} ids for {len(vectors)} vectors")
        if len(np.unique(ids)) != len(ids):
            raise ValueError("ids within one add() must be unique")
        if not len(ids):
            return
        incoming: _Segment = (ids, vectors, norms)
        with self._mutating:
            backend = self._backend
            if self._rebuild_due(backend, ids):
                # Build the replacement beside the current structure, which keeps answering searches.
                segments = [*_without(backend.export(), ids), incoming]
                rebuilt = self._build_ivf(segments, sum(len(segment[0]) for segment in segments))
                with self._lock.write():
                    self._backend = rebuilt
                return
            with self._lock.write():
                backend.remove(ids)
                if isinstance(backend, _Exact):
                    backend.reserve(len(backend) + len(ids))  # one allocation for a bulk build
                for chunk_ids, rows in _normalised_chunks(incoming):
                    backend.add(chunk_ids, rows)

    def remove(self, ids: np.ndarray | Iterable[int]) -> int:
        """Remove templates; returns how many were present (unknown ids are ignored)."""
        ids = np.unique(_check_ids(ids))
        with self._mutating, self._lock.write():
            return self._backend.remove(ids)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-k per query: (scores (m, k) float32, ids (m, k) int64), padded with -inf / -1."""
        if not isinstance(k, int | np.integer) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        queries, norms = self._check_vectors(queries, "queries")
        unit = np.ascontiguousarray(np.asarray(queries, dtype=np.float32) / norms[:, None])
        with self._lock.read():
            return self._backend.search(unit, int(k))

    def _rebuild_due(self, backend: _Exact | _IVF | _HNSW, ids: np.ndarray) -> bool:
        """auto crossing exact_max, or an ivf outgrowing the size its lists were trained for."""
        if isinstance(backend, _Exact):
            return self._requested == "auto" and backend.size_after(ids) > self._exact_max
        return isinstance(backend, _IVF) and backend.outgrown(len(backend) + len(ids))

    def _build_ivf(self, segments: list[_Segment], n: int) -> _IVF:
        ivf = _IVF(self._dim, self._nprobe)
        ivf.train(_sample_rows(segments, _IVF_TRAIN_PER_LIST * _ivf_lists(n)), n)
        for segment in segments:
            for chunk_ids, rows in _normalised_chunks(segment):
                ivf.add(chunk_ids, rows)
        return ivf

    def _check_vectors(self, vectors: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
        """Shape/finiteness checks and row norms, chunked so huge inputs are not copied whole."""
        arr = np.asarray(vectors)
        if arr.ndim == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[1] != self._dim or arr.dtype.kind not in "fiu":
            raise ValueError(
                f"{what} must be a real array of shape (n, {self._dim}), got {arr.dtype} {np.shape(vectors)}"
            )
        norms = np.empty(len(arr), dtype=np.float32)
        for start in range(0, len(arr), _CHUNK):
            rows = np.asarray(arr[start : start + _CHUNK], dtype=np.float32)
            norms[start : start + _CHUNK] = np.sqrt(np.einsum("ij,ij->i", rows, rows))
        if not np.isfinite(norms).all():
            raise ValueError(f"{what} row {int(np.argmin(np.isfinite(norms)))} contains NaN or infinite values")
        if not norms.all():
            raise ValueError(f"{what} row {int(np.argmin(norms != 0))} is all zeros and cannot be normalised")
        return arr, norms
