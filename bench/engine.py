"""Engine throughput: detect + align + embed over the London set, against the face_recognition library.

Both use dlib's models. face_recognition runs its defaults (HOG with one upsampling on the full image,
5-point landmarks, one descriptor per face) in one process; Overt detects on a copy scaled to its
working size and uses every core. Accuracy is compared on the same images: genuine pairs matched and
within-group impostor pairs falsely matched, each at its own default (face_recognition: distance 0.6;
Overt: the calibrated threshold on normalised scores).

    pip install face_recognition --no-deps   # the baseline (its dlib dependency is dlib-bin here)
    python bench/engine.py --out bench-engine.json
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from overt.engine import EngineConfig, FaceEngine
from overt.engine.batch import analyse_paths, default_workers

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]
console = Console()


def london() -> tuple[list[Path], list[str], list[str]]:
    rows = list(csv.DictReader((REPO / "docs" / "datasets" / "london.csv").read_text().splitlines()))
    return ([SHARED / "faces" / r["path"] for r in rows], [r["identity"] for r in rows],
            [f"{r['gender']}/{r['ethnicity']}" for r in rows])


def accuracy(scores: np.ndarray, ids: list[str], groups: list[str], threshold: float) -> dict[str, float]:
    n = len(ids)
    genuine, impostor = [], {}
    for i, j in itertools.combinations(range(n), 2):
        if np.isnan(scores[i, j]):
            continue
        if ids[i] == ids[j]:
            genuine.append(scores[i, j] >= threshold)
        elif groups[i] == groups[j]:
            impostor.setdefault(groups[i], []).append(scores[i, j] >= threshold)
    rates = {g: float(np.mean(v)) for g, v in impostor.items() if len(v) >= 20}
    return {"genuine_match_rate": float(np.mean(genuine)), "worst_group_fmr": max(rates.values()),
            "worst_group": max(rates, key=rates.get), "best_group_fmr": min(rates.values())}


def run_face_recognition(paths: list[Path]) -> tuple[float, np.ndarray, int]:
    import face_recognition

    start, encodings, faces = time.perf_counter(), [], 0
    for path in paths:
        image = face_recognition.load_image_file(str(path))
        locations = face_recognition.face_locations(image)
        found = face_recognition.face_encodings(image, locations)
        faces += len(found)
        encodings.append(found[0] if found else np.full(128, np.nan))
    return time.perf_counter() - start, np.array(encodings), faces


def run_overt(paths: list[Path], workers: int) -> tuple[float, np.ndarray, np.ndarray, int]:
    start = time.perf_counter()
    results = list(analyse_paths(paths, EngineConfig(), workers=workers))
    elapsed = time.perf_counter() - start
    vectors = np.array([r.faces[0].embedding.vector if r.faces else np.full(128, np.nan) for r in results])
    return elapsed, vectors, sum(len(r.faces) for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--workers", type=int, default=default_workers())
    args = parser.parse_args()
    paths, ids, groups = london()
    engine = FaceEngine()
    scorer, calibration = engine.scorer(), engine.calibration()

    fr_time, fr_enc, fr_faces = run_face_recognition(paths)
    fr_dist = np.linalg.norm(fr_enc[:, None] - fr_enc[None], axis=-1)
    fr_acc = accuracy(-fr_dist, ids, groups, -0.6)

    results = {}
    for label, workers in (("overt, 1 process", 1), (f"overt, {args.workers} processes", args.workers)):
        elapsed, vectors, faces = run_overt(paths, workers)
        ok = ~np.isnan(vectors[:, 0])
        means, stds = np.full(len(vectors), np.nan), np.full(len(vectors), np.nan)
        means[ok], stds[ok] = scorer.stats(vectors[ok])
        raw = vectors @ vectors.T
        scores = scorer.normalise(raw, means[:, None], stds[:, None], means[None, :], stds[None, :])
        results[label] = {"seconds": elapsed, "faces": faces, "faces_per_second": faces / elapsed,
                          **accuracy(scores, ids, groups, calibration.threshold)}
    results["face_recognition (baseline)"] = {"seconds": fr_time, "faces": fr_faces,
                                              "faces_per_second": fr_faces / fr_time, **fr_acc}
    base = results["face_recognition (baseline)"]["faces_per_second"]
    table = Table("system", "images", "faces/s", "× baseline", "genuine matched", "worst-group FMR", "best-group FMR")
    for label, r in results.items():
        r["speedup"] = r["faces_per_second"] / base
        table.add_row(label, str(len(paths)), f"{r['faces_per_second']:.2f}", f"{r['speedup']:.2f}",
                      f"{r['genuine_match_rate']:.3f}", f"{r['worst_group_fmr']:.3f} ({r['worst_group']})",
                      f"{r['best_group_fmr']:.3f}")
    console.print(table)
    if args.out:
        args.out.write_text(json.dumps({"images": len(paths), "results": results}, indent=2) + "\n")


if __name__ == "__main__":
    main()
