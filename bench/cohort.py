"""Choose the score normalisation by measurement, and price it on hard images.

For raw cosine and AS-norm (symmetric and one-sided, several k), on the London set (gender x
ethnicity labels from the dataset): the threshold at which every group's within-group FMR meets the
target (the worst group decides), then at that threshold the genuine match rate on London pairs,
on London smiling photos degraded the way cameras degrade faces (each degradation against the clean
neutral photo), and on the lisa/zoom photos; plus the worst and best group's FMR at the pooled
operating point (1% FMR over all groups together), which shows how unevenly one threshold falls.

    python bench/cohort.py --out docs/cohort-selection.json

Needs ../shared/data (London, FairFace cohort, lisa/zoom). Embeddings are cached in $OVERT_HOME.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
from rich.console import Console
from rich.table import Table

from overt.config import Settings
from overt.engine import FaceEngine
from overt.engine.cohort import find_cohort
from overt.evaluation.calibrate import calibrate_score_set
from overt.evaluation.dataset import EmbeddingCache, embed_manifest, read_manifest
from overt.evaluation.degrade import DEGRADATIONS
from overt.evaluation.metrics import ScoreSet

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REPO = Path(__file__).resolve().parents[1]
console = Console()


def degraded_manifest(folder: Path, engine: FaceEngine) -> Path:
    """Every London smiling photo under each degradation; the clean neutral photo is the reference."""
    manifest = folder / "degraded.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "identity", "degradation"])
        for row in csv.DictReader((REPO / "docs" / "datasets" / "london.csv").read_text().splitlines()):
            if row["expression"] != "smiling":
                continue
            image = engine.load(SHARED / "faces" / row["path"])
            faces = engine.detect(image)
            if not faces:
                continue
            for degradation in DEGRADATIONS:
                path = folder / f"{row['identity']}_{degradation.name}.png"
                cv2.imwrite(str(path), cv2.cvtColor(degradation.apply(image, faces[0].inter_eye), cv2.COLOR_RGB2BGR))
                writer.writerow([path.name, row["identity"], degradation.name])
    return manifest


def hard_manifest(folder: Path) -> Path:
    manifest = folder / "hard.csv"
    with open(manifest, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["path", "identity"])
        for row in csv.DictReader((SHARED / "faces" / "labels.csv").read_text().splitlines()):
            if row["subset"] in ("lisa", "zoom"):
                writer.writerow([row["path"], row["identity"]])
    return manifest


def stats(vectors: np.ndarray, cohort: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = vectors @ cohort.T
    top = np.partition(scores, -k, axis=1)[:, -k:] if k < scores.shape[1] else scores
    return top.mean(axis=1), np.maximum(top.std(axis=1), 1e-4)


def scorer(kind: str, k: int, cohort: np.ndarray):
    def score(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        raw = np.einsum("ij,ij->i", a, b)
        if kind == "raw":
            return raw
        ma, sa = stats(a, cohort, k)
        mb, sb = stats(b, cohort, k)
        if kind == "one-sided":
            return (raw - ma) / sa
        return 0.5 * ((raw - ma) / sa + (raw - mb) / sb)

    return score


def held_out(
    scores: np.ndarray,
    ia: np.ndarray,
    ib: np.ndarray,
    same: np.ndarray,
    identities: list[str],
    groups: list[str],
    deg_scores: np.ndarray,
    deg_ids: list[str],
    target: float,
    splits: int = 20,
) -> dict[str, float]:
    """Calibrate on a random half of the people, measure on the other half: what in-sample figures hide."""
    ids, grp = np.array(identities), np.array(groups)
    people = sorted(set(identities))
    rng = np.random.default_rng(0)
    worst, pooled, genuine = [], [], []
    for _ in range(splits):
        half = set(rng.permutation(people)[: len(people) // 2].tolist())
        in_a = np.array([i in half for i in ids])
        a_pairs, b_pairs = in_a[ia] & in_a[ib], ~in_a[ia] & ~in_a[ib]
        ss = ScoreSet.from_labels(
            scores[a_pairs],
            same[a_pairs],
            groups=grp[ia][a_pairs],
            groups_b=grp[ib][a_pairs],
            subjects=ids[ia][a_pairs],
            subjects_b=ids[ib][a_pairs],
        )
        t = calibrate_score_set(ss, target).threshold
        within = b_pairs & ~same & (grp[ia] == grp[ib])
        rates = [float((scores[within & (grp[ia] == g)] >= t).mean()) for g in set(grp[ia][within])]
        worst.append(max(rates))
        pooled.append(float((scores[within] >= t).mean()))
        held = np.array([i not in half for i in deg_ids])
        genuine.append(float((deg_scores[held] >= t).mean()))
    return {
        "splits": splits,
        "worst_group_fmr_mean": float(np.mean(worst)),
        "worst_group_fmr_max": max(worst),
        "within_group_fmr_mean": float(np.mean(pooled)),
        "degraded_genuine_mean": float(np.mean(genuine)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "cohort-selection.json")
    parser.add_argument("--target-fmr", type=float, default=0.01)
    args = parser.parse_args()
    settings = Settings()
    engine = FaceEngine(settings.engine_config())
    cohort = find_cohort(engine.model_id, [settings.cohort_dir])
    assert cohort is not None, "no cohort installed"
    cache = EmbeddingCache(settings.home / "cache" / "embeddings.sqlite")
    with tempfile.TemporaryDirectory() as tmp:
        london = read_manifest(REPO / "docs" / "datasets" / "london.csv", SHARED / "faces")
        degraded = read_manifest(degraded_manifest(Path(tmp), engine))
        hard = read_manifest(hard_manifest(Path(tmp)), SHARED / "faces")
        emb = {
            name: embed_manifest(m, settings.engine_config(), cache)
            for name, m in (("london", london), ("degraded", degraded), ("hard", hard))
        }
    groups = london.groups(["gender", "ethnicity"])
    n = len(london.paths)
    ia, ib = np.array(list(itertools.combinations(range(n), 2))).T
    same = np.array(london.identities)[ia] == np.array(london.identities)[ib]
    neutral = {london.identities[i]: i for i in range(n) if london.labels["expression"][i] == "neutral"}
    deg_ref = np.array([neutral[i] for i in degraded.identities])
    deg_kind = np.array(degraded.labels["degradation"])
    hard_pairs = np.array(
        [
            (a, b)
            for a, b in itertools.combinations(range(len(hard.paths)), 2)
            if hard.identities[a] == hard.identities[b]
        ]
    ).T
    L, D, H = emb["london"].vectors, emb["degraded"].vectors, emb["hard"].vectors
    rows = []
    configs = [("raw", 0)] + [
        (kind, k) for kind in ("symmetric", "one-sided") for k in (5, 10, 20, 50, 100, len(cohort))
    ]
    for kind, k in configs:
        score = scorer(kind, k, cohort.vectors)
        ss = ScoreSet.from_labels(
            score(L[ia], L[ib]),
            same,
            groups=np.array(groups)[ia],
            groups_b=np.array(groups)[ib],
            subjects=np.array(london.identities)[ia],
            subjects_b=np.array(london.identities)[ib],
        )
        calibration = calibrate_score_set(ss, args.target_fmr)
        t = calibration.threshold
        within = {
            g: ss.scores[(~ss.same) & (ss.group_a == gi) & (ss.group_b == gi)] for gi, g in enumerate(ss.group_names)
        }
        within = {g: v for g, v in within.items() if len(v)}
        pooled_t = np.quantile(np.concatenate(list(within.values())), 1 - args.target_fmr)
        pooled = {g: float((v >= pooled_t).mean()) for g, v in within.items()}
        deg_scores = score(L[deg_ref], D)
        held = held_out(
            ss.scores, ia, ib, same, london.identities, groups, deg_scores, degraded.identities, args.target_fmr
        )
        deg_rates = {d.name: float((deg_scores[deg_kind == d.name] >= t).mean()) for d in DEGRADATIONS}
        rows.append(
            {
                "normalisation": kind,
                "k": k,
                "threshold": t,
                "limiting_group": calibration.limiting_group,
                "london_genuine_match_rate": float((ss.scores[ss.same] >= t).mean()),
                "degraded_genuine_match_rate": float((deg_scores >= t).mean()),
                "degraded_by_kind": deg_rates,
                "lisa_zoom_genuine_match_rate": float((score(H[hard_pairs[0]], H[hard_pairs[1]]) >= t).mean()),
                "pooled_operating_point_worst_group_fmr": max(pooled.values()),
                "pooled_operating_point_worst_group": max(pooled, key=pooled.get),
                "pooled_operating_point_best_group_fmr": min(pooled.values()),
                "held_out": held,
            }
        )
    best = max(rows, key=lambda r: (r["degraded_genuine_match_rate"], -r["pooled_operating_point_worst_group_fmr"]))
    table = Table(
        "normalisation",
        "k",
        "threshold",
        "London genuine",
        "degraded genuine",
        "worst degradation",
        "lisa/zoom",
        "worst-group FMR @ pooled 1%",
    )
    for r in rows:
        worst = min(r["degraded_by_kind"], key=r["degraded_by_kind"].get)
        table.add_row(
            r["normalisation"],
            str(r["k"]),
            f"{r['threshold']:.3f}",
            f"{r['london_genuine_match_rate']:.3f}",
            f"{r['degraded_genuine_match_rate']:.3f}",
            f"{worst} {r['degraded_by_kind'][worst]:.3f}",
            f"{r['lisa_zoom_genuine_match_rate']:.3f}",
            f"{r['pooled_operating_point_worst_group_fmr']:.3f} ({r['pooled_operating_point_worst_group']})",
        )
    console.print(table)
    for r in rows:
        h = r["held_out"]
        console.print(
            f"held out ({h['splits']} splits, calibrate on half the people, test on the rest) "
            f"{r['normalisation']} k={r['k']}: worst-group FMR mean {h['worst_group_fmr_mean']:.3f} "
            f"max {h['worst_group_fmr_max']:.3f}; within-group FMR {h['within_group_fmr_mean']:.4f}; "
            f"degraded genuine {h['degraded_genuine_mean']:.3f}"
        )
    console.print(
        f"chosen: {best['normalisation']} k={best['k']} (highest degraded genuine match rate at the "
        f"worst-group-safe threshold; ties broken by the fairest pooled operating point)"
    )
    evidence = {
        "selection": {
            "rule": "maximise degraded genuine match rate at the threshold safe for every group; "
            "tie-break: lowest worst-group FMR at the pooled 1% operating point",
            "chosen": {"normalisation": best["normalisation"], "k": best["k"]},
            "cohort_sha256": cohort.sha256,
            "target_fmr": args.target_fmr,
            "candidates": rows,
        }
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(evidence, indent=2) + "\n")
    console.print(f"evidence written to {args.out}")


if __name__ == "__main__":
    main()
