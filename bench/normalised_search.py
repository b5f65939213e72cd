"""1:N latency with AS-norm against raw cosine, over the same index at up to 1M templates.

Normalised search needs the query's cohort statistics (one 418x128 product) and the candidates'
(precomputed at enrolment), then re-scores the index's top 1,024 raw candidates. The baseline is the
plain search (top 20 raw, thresholded). Recall is measured against a full normalised scan. Target:
latency unchanged within 10% at 1M.

The gallery is synthetic but face-like: vectors drawn from a Gaussian fitted to real dlib embeddings
of the bundled cohort, so the index's clusters and the cohort statistics behave as with faces.

    python bench/normalised_search.py --sizes 100000,1000000 --out bench-normalised.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from overt.engine import FaceEngine
from overt.engine.cohort import Scorer
from overt.gallery import search
from overt.gallery.search import WatchlistIndex

console = Console()


def face_like(cohort: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    mean = cohort.mean(axis=0)
    cov = np.cov(cohort, rowvar=False) * 1.5  # a little wider than the cohort: more people than 418
    out = np.empty((n, cohort.shape[1]), np.float32)
    for start in range(0, n, 200_000):
        block = rng.multivariate_normal(mean, cov, size=min(200_000, n - start), method="cholesky")
        out[start : start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def timed(
    index: WatchlistIndex, scorer: Scorer, queries: np.ndarray, threshold: float, vectors: np.ndarray
) -> dict[str, float]:
    """Latency per query, and recall of the exact answer (a full normalised scan) at top 5."""
    latencies, hits, recalled, expected = [], 0, 0, 0
    for query in queries:
        start = time.perf_counter()
        q = query.reshape(1, -1)
        (mean_q,), (std_q,) = scorer.stats(q)
        if scorer.cohort is None:  # the baseline: plain 1:N search as before normalisation (top 5, threshold)
            scores, ids = index.index.search(q, 20)
            found = [
                (0, "", float(sc), float(sc), int(i))
                for sc, i in zip(scores[0], ids[0], strict=True)
                if sc >= threshold
            ]
        else:
            found = index.candidates(scorer, q, mean_q, std_q, threshold=threshold, top=5)
        latencies.append(time.perf_counter() - start)
        hits += bool(found)
        exact = scorer.normalise(vectors @ query, mean_q, std_q, index.means, index.stds)
        best = set(np.argsort(-exact)[:5][np.sort(-exact)[:5] <= -threshold].tolist())
        recalled += len(best & {template for *_, template in found})
        expected += len(best)
    ms = np.array(latencies) * 1000
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "found_fraction": hits / len(queries),
        "recall_of_exact_top5": recalled / expected if expected else 1.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--fetch", default=str(search.FETCH), help="candidates re-scored, e.g. 64,256,1024")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    engine = FaceEngine()
    normalised, raw = engine.scorer(), Scorer()
    assert normalised.cohort is not None
    threshold = engine.calibration().threshold
    rng = np.random.default_rng(0)
    rows = []
    for n in (int(s) for s in args.sizes.split(",")):
        vectors = face_like(normalised.cohort.vectors, n, rng)
        ids = np.arange(n, dtype=np.int64)
        pick = rng.choice(n, args.queries, replace=False)
        noise = rng.standard_normal((args.queries, vectors.shape[1])).astype(np.float32) * 0.02
        queries = vectors[pick] + noise
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        start = time.perf_counter()
        index = WatchlistIndex.build(ids, vectors, ids, [f"s{i}" for i in range(n)], np.zeros(n), np.ones(n))
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        means, stds = normalised.stats(vectors)
        stats_s = time.perf_counter() - start
        raw_threshold = float(np.percentile(np.einsum("ij,ij->i", queries, vectors[pick]), 5))
        base = timed(index, raw, queries, raw_threshold, vectors)
        index = WatchlistIndex(index.index, index.ids, index.subject_ids, index.references, means, stds, 1)
        for fetch in (int(f) for f in args.fetch.split(",")):
            search.FETCH = fetch
            norm = timed(index, normalised, queries, threshold, vectors)
            rows.append(
                {
                    "templates": n,
                    "index": index.index.kind,
                    "fetch": fetch,
                    "build_s": build_s,
                    "cohort_stats_s": stats_s,
                    "raw": base,
                    "as_norm": norm,
                    "p99_ratio": norm["p99_ms"] / base["p99_ms"],
                    "p50_ratio": norm["p50_ms"] / base["p50_ms"],
                }
            )
    table = Table(
        "templates",
        "index",
        "fetch",
        "raw p50/p99 ms",
        "AS-norm p50/p99 ms",
        "p50 ratio",
        "p99 ratio",
        "mated found raw / AS-norm",
    )
    for r in rows:
        table.add_row(
            f"{r['templates']:,}",
            r["index"],
            str(r["fetch"]),
            f"{r['raw']['p50_ms']:.2f} / {r['raw']['p99_ms']:.2f}",
            f"{r['as_norm']['p50_ms']:.2f} / {r['as_norm']['p99_ms']:.2f}",
            f"{r['p50_ratio']:.2f}",
            f"{r['p99_ratio']:.2f}",
            f"{r['raw']['found_fraction']:.2f} / {r['as_norm']['found_fraction']:.2f}",
            f"{r['as_norm']['recall_of_exact_top5']:.3f}",
        )
    console.print(table)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
