"""Public-space defaults against face_recognition's: detection recall per face size, throughput, accuracy.

In one run, on this machine (ratios, not absolute numbers, are what carry over):

1. crowd frames (London faces composited at 24-120 px onto the background photos, 1280x720, see
   overt/streams/crowd.py): recall per face width and false positives per frame for each detector;
   false positives on the 18 background photos; failure to acquire on 200 FairFace photos;
2. throughput, detect + landmarks + 128-d descriptor of every face, Overt at its defaults against the
   `face_recognition` library at its defaults (HOG, one upsampling, dlib's descriptor), on the London
   portraits and on the crowd frames;
3. dlib's descriptor: dlib itself (one core, one face at a time) against Overt's ONNX port (batched,
   every core), faces per second and the largest difference between their descriptors;
4. accuracy on the London set at the calibrated default: genuine match rate and worst-group FMR.

    pip install face_recognition --no-deps   # the baseline (its dlib dependency is dlib-bin here)
    python bench/detect.py --out docs/bench-detect.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path

import dlib
import numpy as np
from engine import SHARED, accuracy, london, run_face_recognition
from rich.console import Console
from rich.table import Table

from overt.engine import EngineConfig, FaceEngine, load_image
from overt.engine.batch import analyse_paths, default_workers
from overt.engine.detect import DetectorSettings
from overt.engine.embed import DlibOnnxEmbedder, dlib_chip
from overt.engine.models import dlib_model_path
from overt.streams.crowd import CrowdImage, DetectionScore, crowd_set
from overt.streams.synthetic import london_faces

console = Console(width=200)

DETECTORS = {  # label: (detector, min_face)
    "blazeface (default)": ("blazeface", 32),
    "blazeface-full": ("blazeface-full", 32),
    "dlib HOG, old default (min_face 80)": ("hog", 80),
    "dlib HOG, min_face 40": ("hog", 40),
}


class FaceRecognitionDetector:
    """face_recognition's face_locations at its defaults (HOG, upsample once), boxes as (x, y, w, h)."""

    def __init__(self) -> None:
        import face_recognition

        self._locate = face_recognition.face_locations

    def boxes(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        return [(left, top, right - left, bottom - top) for top, right, bottom, left in self._locate(image)]


def detection(scenes: list[CrowdImage], backgrounds: list[Path], fairface: list[Path]) -> dict:
    results = {}
    engines = {label: FaceEngine(EngineConfig(detector=d, detection=DetectorSettings(min_face=m))).detect
               for label, (d, m) in DETECTORS.items()}
    face_recognition = FaceRecognitionDetector()
    finders = {label: (lambda image, f=f: [face.box for face in f(image)]) for label, f in engines.items()}
    finders["face_recognition defaults"] = face_recognition.boxes
    background_images = [load_image(p) for p in backgrounds]
    fairface_images = [load_image(p) for p in fairface]
    for label, find in finders.items():
        find(scenes[0].image)  # load models
        score, start = DetectionScore(), time.perf_counter()
        for scene in scenes:
            score.add(scene.boxes, find(scene.image))
        seconds = (time.perf_counter() - start) / len(scenes)
        on_backgrounds = sum(len(find(image)) for image in background_images)
        missed = sum(not find(image) for image in fairface_images)
        results[label] = {**score.to_json(), "ms_per_frame": round(1000 * seconds, 1),
                          "background_false_positives_per_image": round(on_backgrounds / len(backgrounds), 3),
                          "fairface_failure_to_acquire": round(missed / len(fairface), 4)}
    return results


def face_recognition_throughput(images: list[np.ndarray]) -> tuple[float, int]:
    import face_recognition

    start, faces = time.perf_counter(), 0
    for image in images:
        faces += len(face_recognition.face_encodings(image, face_recognition.face_locations(image)))
    return time.perf_counter() - start, faces


def overt_throughput(images: list[np.ndarray]) -> tuple[float, int]:
    engine = FaceEngine()
    engine.analyse(images[0])
    start = time.perf_counter()
    faces = sum(len(engine.analyse(image)) for image in images)
    return time.perf_counter() - start, faces


def descriptor(chips: np.ndarray) -> dict:
    net = dlib.face_recognition_model_v1(str(dlib_model_path("resnet")))
    start = time.perf_counter()
    reference = np.array([net.compute_face_descriptor(chip) for chip in chips])
    dlib_s = time.perf_counter() - start
    onnx = DlibOnnxEmbedder()
    batch = chips.astype(np.float32)
    onnx._session.run(None, {"chips": batch[:2]})
    start = time.perf_counter()
    ported = np.concatenate([onnx._session.run(None, {"chips": batch[i:i + 16]})[0] for i in range(0, len(batch), 16)])
    onnx_s = time.perf_counter() - start
    return {"faces": len(chips), "dlib_faces_per_second": round(len(chips) / dlib_s, 2),
            "onnx_faces_per_second": round(len(chips) / onnx_s, 2), "speedup": round(dlib_s / onnx_s, 2),
            "onnx_threads": len(os.sched_getaffinity(0)),
            "max_abs_difference": float(np.abs(ported - reference).max())}


def london_accuracy(paths: list[Path], ids: list[str], groups: list[str], config: EngineConfig) -> dict:
    engine = FaceEngine(config)
    scorer, calibration = engine.scorer(), engine.calibration()
    results = list(analyse_paths(paths, config, workers=default_workers()))
    vectors = np.array([r.faces[0].embedding.vector if r.faces else np.full(128, np.nan) for r in results])
    ok = ~np.isnan(vectors[:, 0])
    means, stds = np.full(len(vectors), np.nan), np.full(len(vectors), np.nan)
    means[ok], stds[ok] = scorer.stats(vectors[ok])
    scores = scorer.normalise(vectors @ vectors.T, means[:, None], stds[:, None], means[None, :], stds[None, :])
    return {"images_without_face": int((~ok).sum()), **accuracy(scores, ids, groups, calibration.threshold)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crowd", type=int, default=18, help="crowd frames (12 faces each)")
    parser.add_argument("--portraits", type=int, default=60, help="London portraits for throughput")
    parser.add_argument("--no-accuracy", action="store_true", help="skip the London accuracy part (~2 min)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    load = {"load_average_start": os.getloadavg()}
    paths, ids, groups = london()
    backgrounds = sorted((SHARED / "backgrounds").glob("*.jpg"))
    with open(SHARED / "fairface" / "labels.csv", newline="") as handle:
        fairface = [SHARED / "fairface" / r["path"] for r in csv.DictReader(handle)][:200]
    scenes = crowd_set(london_faces(SHARED), backgrounds, args.crowd, seed=2026)

    found = detection(scenes, backgrounds, fairface)
    table = Table("detector", *[f"recall {k} px" for k in next(iter(found.values()))["recall_by_width"]],
                  "recall ≥32", "FP/frame", "FP/background", "FairFace FTA", "ms/frame")
    for label, r in found.items():
        table.add_row(label, *[f"{v:.3f}" for v in r["recall_by_width"].values()], f"{r['recall_32px_up']:.3f}",
                      f"{r['false_positives_per_image']:.2f}", f"{r['background_false_positives_per_image']:.2f}",
                      f"{r['fairface_failure_to_acquire']:.3f}", f"{r['ms_per_frame']:.0f}")
    console.print(table)

    speed = {}
    portraits = [load_image(p) for p in paths[:args.portraits]]
    crowd = [s.image for s in scenes[:6]]
    for name, images in (("london portraits", portraits), ("crowd frames 1280x720", crowd)):
        fr_s, fr_faces = face_recognition_throughput(images)
        ov_s, ov_faces = overt_throughput(images)
        speed[name] = {"images": len(images), "face_recognition_faces": fr_faces, "overt_faces": ov_faces,
                       "face_recognition_images_per_second": round(len(images) / fr_s, 2),
                       "overt_images_per_second": round(len(images) / ov_s, 2),
                       "speedup_images": round(fr_s / ov_s, 2),
                       "speedup_faces": round((ov_faces / ov_s) / max(fr_faces / fr_s, 1e-9), 2)}
    table = Table("images", "face_recognition img/s (faces)", "overt img/s (faces)", "× images/s", "× faces/s")
    for name, r in speed.items():
        table.add_row(name, f"{r['face_recognition_images_per_second']} ({r['face_recognition_faces']})",
                      f"{r['overt_images_per_second']} ({r['overt_faces']})", f"{r['speedup_images']}",
                      f"{r['speedup_faces']}")
    console.print(table)

    engine = FaceEngine()
    chips = np.stack([dlib_chip(image, engine.detect(image)[0]) for image in portraits[:48]])
    ported = descriptor(chips)
    console.print(f"descriptor: dlib {ported['dlib_faces_per_second']} faces/s, ONNX {ported['onnx_faces_per_second']}"
                  f" faces/s ({ported['speedup']}x), max |difference| {ported['max_abs_difference']:.2e}")

    accuracies = {} if args.no_accuracy else compare_accuracy(paths, ids, groups)
    load["load_average_end"] = os.getloadavg()
    console.print(f"load average: start {load['load_average_start']}, end {load['load_average_end']}")
    if args.out:
        args.out.write_text(json.dumps({"crowd_frames": len(scenes), "detection": found, "throughput": speed,
                                        "descriptor": ported, "accuracy": accuracies, **load}, indent=2) + "\n")


def compare_accuracy(paths: list[Path], ids: list[str], groups: list[str]) -> dict:
    _, fr_enc, _ = run_face_recognition(paths)
    fr_dist = np.linalg.norm(fr_enc[:, None] - fr_enc[None], axis=-1)
    accuracies = {
        "overt defaults (blazeface + ONNX descriptor)": london_accuracy(paths, ids, groups, EngineConfig()),
        "overt old defaults (HOG 80 + dlib descriptor)": london_accuracy(
            paths, ids, groups, EngineConfig(detector="hog", detection=DetectorSettings(min_face=80),
                                             descriptor_runtime="dlib")),
        "face_recognition (distance 0.6)": accuracy(-fr_dist, ids, groups, -0.6),
    }
    table = Table("system", "genuine matched", "worst-group FMR", "best-group FMR")
    for label, r in accuracies.items():
        table.add_row(label, f"{r['genuine_match_rate']:.3f}", f"{r['worst_group_fmr']:.3f} ({r['worst_group']})",
                      f"{r['best_group_fmr']:.3f}")
    console.print(table)
    return accuracies


if __name__ == "__main__":
    main()
