"""Benchmark of the evaluation package: every 1:1 metric on 10M synthetic scores, and the bootstrap.

    .venv/bin/python bench/evaluation.py [--n 10000000] [--groups 8] [--repeat 3] [--out FILE]

:func:`time_metrics` takes any :class:`~overt.evaluation.metrics.ScoreSet`, so engine-produced scores
(e.g. a cached re-run) can be timed with the same stages. Results go to a JSON file and a rich table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from overt.evaluation.bootstrap import bootstrap_rates, rich_progress
from overt.evaluation.calibrate import calibrate_score_set
from overt.evaluation.metrics import (
    ErrorCurve,
    ScoreSet,
    differentials,
    equal_error_rate,
    error_curve,
    fnmr_at_fmr,
    group_rates,
)
from overt.evaluation.report import build_metrics


def synthetic_scores(
    n: int, *, n_groups: int = 8, n_subjects: int = 100_000, genuine_share: float = 0.01, seed: int = 0
) -> ScoreSet:
    """Gaussian genuine/impostor scores with a per-group shift, so groups really differ."""
    rng = np.random.default_rng(seed)
    group = rng.integers(0, n_groups, n_subjects).astype(np.int32)
    a = rng.integers(0, n_subjects, n)
    b = np.where(rng.random(n) < genuine_share, a, rng.integers(0, n_subjects, n))
    same = a == b
    shift = np.linspace(0.0, 0.5, n_groups)[group[a]]
    scores = rng.normal(size=n) + 3.0 * same + shift
    names = tuple(f"group-{i}" for i in range(n_groups))
    return ScoreSet(scores, same, group[a], group[b], names, a, b)


def _first_and_best(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    """The first run pays page faults for fresh 10M-sized arrays; later runs reuse freed memory."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return {"first": runs[0], "best": min(runs)}


def time_metrics(ss: ScoreSet, *, target_fmr: float = 1e-4, repeat: int = 3) -> dict[str, dict[str, float]]:
    """Seconds (first run, best of ``repeat``) per stage and for :func:`build_metrics` without bootstrap."""
    curve = error_curve(ss.scores, ss.same)
    threshold = calibrate_score_set(ss, target_fmr).threshold
    rates = group_rates(ss, threshold)
    within = ss.group_a == ss.group_b

    def group_curves() -> None:
        for i in range(len(ss.group_names)):
            mask = within & (ss.group_a == i)
            ErrorCurve.from_scores(ss.scores[mask & ss.same], ss.scores[mask & ~ss.same])

    stages: dict[str, Callable[[], Any]] = {
        "overall_det_curve": lambda: error_curve(ss.scores, ss.same),
        "eer": lambda: equal_error_rate(curve),
        "fnmr_at_fmr": lambda: fnmr_at_fmr(curve, (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)),
        "worst_group_calibration": lambda: calibrate_score_set(ss, target_fmr),
        "group_rates": lambda: group_rates(ss, threshold),
        "group_det_curves": group_curves,
        "differentials": lambda: differentials(rates),
        "build_metrics_total": lambda: build_metrics(ss, target_fmr=target_fmr, n_bootstrap=0),
    }
    return {name: _first_and_best(fn, repeat) for name, fn in stages.items()}


def time_bootstrap(ss: ScoreSet, *, n_resamples: int, seed: int = 0) -> float:
    """Seconds for one bootstrap at the overall EER threshold, with a rich progress bar."""
    eer = equal_error_rate(error_curve(ss.scores, ss.same))
    assert eer is not None
    start = time.perf_counter()
    with rich_progress(f"bootstrap {n_resamples} x {len(ss):,} pairs") as progress:
        bootstrap_rates(ss, eer.threshold, n_resamples=n_resamples, seed=seed, progress=progress)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000_000, help="scores in the large set")
    parser.add_argument("--groups", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs per stage")
    parser.add_argument("--boot-pairs", type=int, default=50_000, help="pairs in the bootstrap set")
    parser.add_argument("--boot-resamples", type=int, default=1000)
    parser.add_argument(
        "--large-resamples", type=int, default=20, help="bootstrap resamples on the large set"
    )
    parser.add_argument("--out", type=Path, default=Path("out/bench-evaluation.json"))
    args = parser.parse_args(argv)
    console = Console()

    start = time.perf_counter()
    large = synthetic_scores(args.n, n_groups=args.groups)
    console.print(f"generated {args.n:,} scores in {time.perf_counter() - start:.1f} s")
    timings = time_metrics(large, repeat=args.repeat)
    small = synthetic_scores(
        args.boot_pairs, n_groups=args.groups, n_subjects=5_000, genuine_share=0.1, seed=1
    )
    boot_small = time_bootstrap(small, n_resamples=args.boot_resamples)
    boot_large = time_bootstrap(large, n_resamples=args.large_resamples)

    table = Table(
        title=f"overt.evaluation on {args.n:,} scores, {args.groups} groups ({args.repeat} runs each)"
    )
    table.add_column("stage")
    table.add_column("first run, s", justify="right")
    table.add_column("best, s", justify="right")
    for name, seconds in timings.items():
        table.add_row(name, f"{seconds['first']:.3f}", f"{seconds['best']:.3f}")
    table.add_row(f"bootstrap {args.boot_resamples} x {args.boot_pairs:,} pairs", f"{boot_small:.3f}", "")
    table.add_row(f"bootstrap {args.large_resamples} x {args.n:,} pairs", f"{boot_large:.3f}", "")
    console.print(table)

    result = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "n_scores": args.n,
        "n_groups": args.groups,
        "repeat": args.repeat,
        "seconds": timings,
        "bootstrap": {
            "small": {"pairs": args.boot_pairs, "resamples": args.boot_resamples, "seconds": boot_small},
            "large": {"pairs": args.n, "resamples": args.large_resamples, "seconds": boot_large},
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
