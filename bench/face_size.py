"""The smallest face worth searching, measured: genuine and impostor scores per face size on the London set.

Each person's smiling portrait is turned into what a street camera sends: scaled down so the face is
24-96 px wide, blurred (sigma 0.8 px, optics and motion) and JPEG-compressed (quality 50), then found
by the default detector and embedded; it is compared with every neutral portrait at full resolution
(the enrolment photo) using the calibrated score and threshold. Per size: failure to acquire, genuine
match rate, worst within-group false-match rate, mean scores, and the inter-eye distance the landmarks
measured. The rule picks the smallest inter-eye distance whose bin keeps the worst-group FMR at the
full-resolution level (no higher than the calibration's target) and the genuine match rate within
5 points of full resolution; `--write` records it and the evidence in the calibration file.

    python bench/face_size.py --out docs/bench-face-size.json [--write]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path

import cv2
import numpy as np
from engine import london
from rich.console import Console
from rich.table import Table

from overt.engine import EngineConfig, FaceEngine, load_image
from overt.engine.calibration import BUNDLED_DIR
from overt.engine.detect import DetectorSettings

WIDTHS = (24, 32, 40, 48, 64, 96)
BLUR_SIGMA = 0.8
JPEG_QUALITY = 50
GENUINE_MARGIN = 0.05
console = Console(width=200)


def street_camera(image: np.ndarray, face_width: float, target: int) -> np.ndarray:
    scale = target / face_width
    small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), BLUR_SIGMA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(small, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def rates(scores: np.ndarray, ids: list[str], groups: list[str], threshold: float) -> dict:
    """scores[i, j]: probe of person i against the enrolment of person j (NaN: probe not acquired)."""
    n = len(ids)
    genuine = [scores[i, i] >= threshold if not np.isnan(scores[i, i]) else False for i in range(n)]
    impostor: dict[str, list[bool]] = {}
    for i, j in itertools.permutations(range(n), 2):
        if groups[i] == groups[j] and not np.isnan(scores[i, j]):
            impostor.setdefault(groups[i], []).append(bool(scores[i, j] >= threshold))
    by_group = {g: float(np.mean(v)) for g, v in impostor.items() if len(v) >= 20}
    off_diagonal = scores[~np.eye(n, dtype=bool)]
    return {
        "genuine_match_rate": float(np.mean(genuine)),
        "worst_group_fmr": max(by_group.values()),
        "worst_group": max(by_group, key=by_group.get),
        "overall_fmr": float(np.nanmean(off_diagonal >= threshold)),
        "genuine_mean": float(np.nanmean(np.diag(scores))),
        "impostor_mean": float(np.nanmean(off_diagonal)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--write", action="store_true", help="record the result in the bundled calibration")
    args = parser.parse_args()
    load_start = os.getloadavg()
    paths, ids, groups = london()
    neutral = [i for i, p in enumerate(paths) if "neutral" in p.name]
    smiling = {ids[i]: i for i, p in enumerate(paths) if "smiling" in p.name}
    people = [i for i in neutral if ids[i] in smiling]
    person_ids, person_groups = [ids[i] for i in people], [groups[i] for i in people]

    engine = FaceEngine(EngineConfig(detection=DetectorSettings(min_face=16)))
    scorer, calibration = engine.scorer(), engine.calibration()
    start = time.perf_counter()
    enrolled = np.array([engine.template(paths[i])[0].embedding.vector for i in people])
    e_mean, e_std = scorer.stats(enrolled)

    probes = [load_image(paths[smiling[ids[i]]]) for i in people]
    full_faces = [engine.detect(image)[0] for image in probes]
    results: dict[str, dict] = {}
    for width in (None, *WIDTHS):
        vectors, inter_eye = np.full((len(people), 128), np.nan, np.float32), []
        for k, (image, face) in enumerate(zip(probes, full_faces, strict=True)):
            degraded = image if width is None else street_camera(image, face.box[2], width)
            found = engine.detect(degraded)
            if found:
                vectors[k] = engine.embed(degraded, found[0]).vector
                inter_eye.append(found[0].inter_eye)
        ok = ~np.isnan(vectors[:, 0])
        p_mean, p_std = np.full(len(people), np.nan), np.full(len(people), np.nan)
        p_mean[ok], p_std[ok] = scorer.stats(vectors[ok])
        scores = scorer.normalise(vectors @ enrolled.T, p_mean[:, None], p_std[:, None], e_mean[None, :],
                                  e_std[None, :])
        label = "full" if width is None else f"{width}px"
        results[label] = {"face_width": width, "failure_to_acquire": float(np.mean(~ok)),
                          "inter_eye_median": float(np.median(inter_eye)) if inter_eye else None,
                          **rates(scores, person_ids, person_groups, calibration.threshold)}

    full = results["full"]
    fmr_limit = max(full["worst_group_fmr"], 0.0)
    chosen = None
    for width in sorted(WIDTHS):
        r = results[f"{width}px"]
        if (r["worst_group_fmr"] <= max(fmr_limit, 1e-12) and r["worst_group_fmr"] <= calibration.target_fmr
                and r["genuine_match_rate"] >= full["genuine_match_rate"] - GENUINE_MARGIN):
            chosen = r
            break
    table = Table("face width", "inter-eye (median px)", "FTA", "genuine matched", "worst-group FMR", "overall FMR",
                  "genuine mean", "impostor mean")
    for label, r in results.items():
        table.add_row(label, f"{r['inter_eye_median']:.1f}" if r["inter_eye_median"] else "-",
                      f"{r['failure_to_acquire']:.3f}", f"{r['genuine_match_rate']:.3f}",
                      f"{r['worst_group_fmr']:.4f} ({r['worst_group']})", f"{r['overall_fmr']:.4f}",
                      f"{r['genuine_mean']:.2f}", f"{r['impostor_mean']:.2f}")
    console.print(table)
    minimum = None if chosen is None else float(np.floor(chosen["inter_eye_median"]))
    console.print(f"minimum inter-eye distance for search: {minimum} px "
                  f"({time.perf_counter() - start:.0f} s; load {load_start} -> {os.getloadavg()})")
    evidence = {
        "value": minimum,
        "rule": f"smallest face whose worst-group FMR stays at the full-resolution level ({fmr_limit:.4f}) and at "
                f"most the target, with genuine match rate within {GENUINE_MARGIN:g} of full resolution",
        "probe": f"London smiling portraits scaled to {list(WIDTHS)} px face width, blur sigma {BLUR_SIGMA}, "
                 f"JPEG {JPEG_QUALITY}, default detector; enrolment: neutral portraits at full resolution",
        "by_size": results,
        "command": "python bench/face_size.py --write",
    }
    if args.out:
        args.out.write_text(json.dumps(evidence, indent=2) + "\n")
    if args.write and minimum is not None:
        path = BUNDLED_DIR / f"{calibration.model}.json"
        data = json.loads(path.read_text())
        data["min_inter_eye"] = minimum
        data.setdefault("extra", {})["min_inter_eye"] = evidence
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        console.print(f"recorded in {path}")


if __name__ == "__main__":
    main()
