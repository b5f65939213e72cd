"""Benchmark TemplateIndex against plain numpy brute force on random unit vectors.

    python bench/search.py --sizes 10000,100000,1000000 [--ten-million] --out results.json

Per gallery size: build time, memory (RSS delta / the index's own bytes), single-query
latency p50/p99, per-query latency in batches of 100, and recall@1 on mated queries
(gallery vectors + gaussian noise, cosine ~0.84 to their source, like a genuine face pair):
agreement with the exact top-1, hits on the source template, and the largest error of the
returned top-1 score against the exact cosine.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
import usearch
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from overt.gallery.index import TemplateIndex  # noqa: E402

_GEN_CHUNK = 1 << 20
_BRUTE_SCORES = 1 << 24  # scores per matmul block in the baseline (64 MB)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def unit_gallery(n: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Random unit vectors, generated in chunks so 10M x 128 needs no float64 temporaries."""
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, _GEN_CHUNK):
        block = out[start : start + _GEN_CHUNK]
        rng.standard_normal(block.shape, dtype=np.float32, out=block)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return out


def mated_queries(
    gallery: np.ndarray, count: int, noise: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(queries, source rows): per-dimension noise noise/sqrt(dim) gives cosine ~1/sqrt(1+noise^2)."""
    src = rng.choice(len(gallery), size=count, replace=False)
    scale = np.float32(noise / np.sqrt(gallery.shape[1]))  # a float64 scalar would upcast the queries
    q = gallery[src] + rng.standard_normal((count, gallery.shape[1]), dtype=np.float32) * scale
    return q / np.linalg.norm(q, axis=1, keepdims=True), src


def brute_force(gallery: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The baseline: matmul + argpartition over gallery blocks, keeping a running top k.

    Blocks hold at most _BRUTE_SCORES scores so 1000 queries x 10M rows stays within ~200 MB.
    Returns (scores, gallery rows).
    """
    assert queries.dtype == gallery.dtype == np.float32, "mixed dtypes would copy the gallery per query"
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    block = max(1, _BRUTE_SCORES // len(queries))
    for start in range(0, len(gallery), block):
        sims = queries @ gallery[start : start + block].T
        take = min(k, sims.shape[1])
        cols = np.argpartition(sims, sims.shape[1] - take, axis=1)[:, -take:]
        best_s = np.concatenate([best_s, np.take_along_axis(sims, cols, axis=1)], axis=1)
        best_i = np.concatenate([best_i, cols + start], axis=1)
        if best_s.shape[1] > k:
            keep = np.argpartition(best_s, best_s.shape[1] - k, axis=1)[:, -k:]
            best_s, best_i = np.take_along_axis(best_s, keep, axis=1), np.take_along_axis(best_i, keep, axis=1)
    order = np.argsort(-best_s, axis=1)
    return np.take_along_axis(best_s, order, axis=1), np.take_along_axis(best_i, order, axis=1)


def latencies(search: Callable[[np.ndarray], object], queries: np.ndarray, batch: int, budget_s: float) -> dict:
    """Single-query p50/p99 and per-query time in batches; stops early once budget_s is spent."""
    for q in queries[:5]:
        search(q[None])  # warm caches and thread pools
    single: list[float] = []
    deadline = time.perf_counter() + budget_s
    for q in queries:
        t0 = time.perf_counter()
        search(q[None])
        single.append(time.perf_counter() - t0)
        if time.perf_counter() > deadline and len(single) >= 20:
            break
    batched: list[float] = []
    deadline = time.perf_counter() + budget_s
    for start in range(0, len(queries) - batch + 1, batch):
        t0 = time.perf_counter()
        search(queries[start : start + batch])
        batched.append((time.perf_counter() - t0) / batch)
        if time.perf_counter() > deadline and len(batched) >= 2:
            break
    ms = np.array(single) * 1e3
    return {
        "single_p50_ms": float(np.percentile(ms, 50)),
        "single_p99_ms": float(np.percentile(ms, 99)),
        "single_n": len(single),
        "batch_per_query_ms": float(np.median(batched) * 1e3),
        "batch_n": len(batched),
    }


def bench_size(n: int, args: argparse.Namespace, progress: Progress) -> list[dict]:
    rng = np.random.default_rng(args.seed)
    task = progress.add_task(f"{n:,}: generating", total=None)
    gallery = unit_gallery(n, args.dim, rng)
    ids = np.arange(n, dtype=np.int64) * 3 + 1  # database ids are not row numbers
    queries, src = mated_queries(gallery, args.queries, args.noise, rng)
    mated_cos = float(np.mean(np.sum(queries * gallery[src], axis=1)))

    progress.update(task, description=f"{n:,}: exact ground truth")
    truth_scores, truth_rows = brute_force(gallery, queries, 1)
    truth = truth_rows[:, 0]
    rows = [
        {
            "size": n,
            "method": "numpy",
            "kind": "brute force",
            "build_s": 0.0,
            "rss_delta_mb": gallery.nbytes / 2**20,
            "index_mb": gallery.nbytes / 2**20,
            "recall_at_1": 1.0,
            "hit_at_1": float(np.mean(truth == src)),
            "score_err_max": 0.0,
            "mated_cos": mated_cos,
            **latencies(lambda q: brute_force(gallery, q, args.k), queries, args.batch, args.budget),
        }
    ]

    for kind in args.kinds:
        progress.update(task, description=f"{n:,}: building {kind}")
        gc.collect()
        rss0 = rss_bytes()
        t0 = time.perf_counter()
        index = TemplateIndex.build(ids, gallery, kind=kind, exact_max=args.exact_max, nprobe=args.nprobe)
        build_s = time.perf_counter() - t0
        gc.collect()
        rss_delta = rss_bytes() - rss0
        progress.update(task, description=f"{n:,}: searching {index.kind}")
        scores, found = index.search(queries, 1)
        agree = found[:, 0] == ids[truth]
        rows.append(
            {
                "size": n,
                "method": f"TemplateIndex({kind})",
                "kind": index.kind,
                "params": index.params,
                "build_s": build_s,
                "rss_delta_mb": rss_delta / 2**20,
                "index_mb": index.nbytes / 2**20,
                "recall_at_1": float(np.mean(agree)),
                "hit_at_1": float(np.mean(found[:, 0] == ids[src])),
                "score_err_max": float(np.max(np.abs(scores[agree, 0] - truth_scores[agree, 0]), initial=0.0)),
                "mated_cos": mated_cos,
                **latencies(lambda q, ix=index: ix.search(q, args.k), queries, args.batch, args.budget),
            }
        )
        del index
    progress.remove_task(task)
    return rows


def table(rows: list[dict]) -> Table:
    t = Table(title="1:N search, dim 128, k=10 (ratios vs numpy brute force at the same size)")
    cols = ("size", "method", "build s", "mem MB", "p50 ms", "p99 ms", "batch ms/q", "recall@1", "hit@1", "score err")
    for col in cols:
        t.add_column(col, justify="right")
    base = {r["size"]: r for r in rows if r["method"] == "numpy"}
    for r in rows:
        b = base[r["size"]]

        def vs(key: str, r: dict = r, b: dict = b) -> str:
            return f"{r[key]:.3g}" + ("" if r is b else f" ({r[key] / b[key]:.2g}x)")

        t.add_row(
            f"{r['size']:,}",
            r["method"] if r["method"] == "numpy" else f"{r['method']}->{r['kind']}",
            f"{r['build_s']:.1f}",
            f"{r['rss_delta_mb']:.0f}/{r['index_mb']:.0f}",
            vs("single_p50_ms"),
            vs("single_p99_ms"),
            vs("batch_per_query_ms"),
            f"{r['recall_at_1']:.4f}",
            f"{r['hit_at_1']:.4f}",
            f"{r['score_err_max']:.1e}",
        )
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated gallery sizes")
    parser.add_argument("--ten-million", action="store_true", help="also run 10M (about 7 GB RAM, minutes)")
    parser.add_argument("--kinds", default="auto", help="TemplateIndex kinds to run, comma-separated")
    parser.add_argument("--exact-max", type=int, default=200_000)
    parser.add_argument("--nprobe", type=int, default=None, help="override the ivf default")
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--noise", type=float, default=0.65, help="gaussian noise norm; 0.65 -> cosine ~0.84")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds per latency measurement at most")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="write JSON results here")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s] + ([10_000_000] if args.ten_million else [])
    args.kinds = [k for k in args.kinds.split(",") if k]

    console = Console()
    if not console.is_terminal:
        console = Console(width=150)  # piped to a file: don't squeeze the table into 80 columns
    env = {
        "cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "faiss": faiss.__version__,
        "usearch": usearch.__version__,
        "loadavg_start": os.getloadavg(),
    }
    rows: list[dict] = []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=console, transient=True
    ) as progress:
        for n in sizes:
            rows.extend(bench_size(n, args, progress))
            console.print(table([r for r in rows if r["size"] == n]))
    env["loadavg_end"] = os.getloadavg()
    console.print(table(rows))
    console.print(f"load average start {env['loadavg_start']}, end {env['loadavg_end']} (shared machine)")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps({"env": env, "args": vars(args) | {"out": str(args.out)}, "rows": rows}, indent=2)
        )
        console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
