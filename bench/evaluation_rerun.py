"""An engine evaluation run twice: the first embeds every image, the re-run reads the embedding cache.

    python bench/evaluation_rerun.py --manifest docs/datasets/london.csv --root ../shared/data/faces

Both runs compute everything else in full (pairs, raw and normalised scores, per-group metrics with
1,000 identity bootstrap resamples, the report with its plots), so the ratio is what the cache saves.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from rich.console import Console

from overt.config import Settings
from overt.services import Overt
from overt.services.evaluation import EvaluationRequest

console = Console()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifest", type=Path, required=True)
    parser.add_argument("--root", type=Path)
    parser.add_argument("--by", default="gender,ethnicity")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        service = Overt(Settings(home=Path(home))).evaluation
        request = EvaluationRequest(args.manifest, Path(home) / "report", args.by.split(","), args.root)
        timings = []
        for label in ("first run (embeds every image)", "re-run (embedding cache)"):
            start = time.perf_counter()
            result = service.evaluate_engine(request)
            timings.append((label, time.perf_counter() - start, result["dataset"]["cached_embeddings"]))
    for label, seconds, cached in timings:
        console.print(f"{label}: {seconds:.1f} s ({cached} embeddings from the cache)")
    console.print(f"speed-up of the re-run: {timings[0][1] / timings[1][1]:.1f}x")
    if args.out:
        args.out.write_text(json.dumps([{"run": t[0], "seconds": t[1], "cached": t[2]} for t in timings], indent=2))


if __name__ == "__main__":
    main()
