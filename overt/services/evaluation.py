"""Accuracy and demographic audits of our engine on labelled data, or of any vendor's scores."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import Settings
from ..engine import FaceEngine, ModelError
from ..engine.calibration import Calibration, write_calibration
from ..engine.cohort import Scorer, find_cohort
from ..evaluation.calibrate import calibrate_score_set
from ..evaluation.dataset import EmbeddingCache, embed_manifest, read_manifest
from ..evaluation.external import audit_classifier, load_score_csv, write_classifier_report
from ..evaluation.pairs import score_set_from_pairs
from ..evaluation.report import build_metrics, write_report
from ..evaluation.run import evaluate_variant, identification, native_variant, normalised_scores, score_pairs


@dataclass
class EvaluationRequest:
    manifest: Path
    out: Path
    by: list[str] = field(default_factory=list)
    root: Path | None = None
    threshold: float | None = None
    target_fmr: float = 0.01
    impostor_limit: int | None = 2_000_000
    seed: int = 0
    n_bootstrap: int = 1000
    calibrate: bool = False
    normalise: str | None = None  # "raw" or "as-norm"; default: what the model's calibration uses
    cohort_k: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)  # recorded in the calibration (e.g. how k was chosen)


class EvaluationService:
    def __init__(self, settings: Settings, engine: Callable[[], FaceEngine], record: Callable[..., None]) -> None:
        self.settings = settings
        self._engine = engine
        self._record = record

    def _scorers(self, model: str, request: EvaluationRequest) -> tuple[str, dict[str, Scorer]]:
        """Raw cosine and, when a cohort is installed, AS-norm: the report shows both side by side."""
        try:
            current = self._engine().calibration()
        except ModelError:
            current = None
        calibrated_kind = current.normalisation.get("kind", "raw") if current else "raw"
        primary_kind = request.normalise or calibrated_kind
        k = request.cohort_k or int((current.normalisation.get("k") if current else None) or DEFAULT_K)
        scorers = {"raw": Scorer()}
        cohort = find_cohort(model, [self.settings.cohort_dir])
        if cohort is not None:
            scorers["as-norm"] = Scorer(cohort, k)
        elif primary_kind == "as-norm":
            raise ModelError(f"no cohort installed for {model}: build one with `overt cohort build`")
        return primary_kind, scorers

    def evaluate_engine(
        self, request: EvaluationRequest, *, on_image: Callable[[], None] | None = None, progress: Any = None
    ) -> dict[str, Any]:
        """Embed (cached), score all genuine and sampled impostor pairs, report per group, optionally calibrate."""
        manifest = read_manifest(request.manifest, request.root)
        cache = EmbeddingCache(self.settings.home / "cache" / "embeddings.sqlite")
        try:
            embedded = embed_manifest(
                manifest, self.settings.engine_config(), cache, workers=self.settings.workers, on_image=on_image
            )
        finally:
            cache.close()
        scored = score_pairs(manifest, embedded, request.by, impostor_limit=request.impostor_limit, seed=request.seed)
        primary_kind, scorers = self._scorers(embedded.model, request)
        groups = manifest.groups(request.by)
        variants: dict[str, dict[str, Any]] = {}
        calibration = None
        for kind in sorted(scorers, key=lambda name: name != primary_kind):
            scorer = scorers[kind]
            scores = normalised_scores(embedded, scored.pairs, scored.cosine, scorer)
            score_set = score_set_from_pairs(scores, scored.pairs, manifest.identities, groups)
            threshold = request.threshold if kind == primary_kind else None
            if kind == primary_kind and request.calibrate:
                calibration = calibrate_score_set(score_set, request.target_fmr)
                threshold = safe_threshold(calibration.threshold)
            in_force = threshold is None and kind == primary_kind and not request.calibrate
            if in_force:
                threshold = self._engine().calibration().threshold
            metrics = evaluate_variant(
                score_set,
                threshold=threshold,
                target_fmr=request.target_fmr,
                seed=request.seed,
                n_bootstrap=request.n_bootstrap,
                progress=progress,
            )
            if in_force:  # nobody set it: it is the engine's calibration, and the report must say so
                metrics["settings"]["threshold_source"] = "in-force"
            metrics["identification"] = _identification(manifest, embedded, request, metrics, scorer)
            metrics["scorer"] = scorer.describe()
            variants[VARIANT_NAMES[kind].format(k=scorer.k)] = metrics
        native = native_variant(
            manifest, embedded, scored, request.by, seed=request.seed, n_bootstrap=request.n_bootstrap
        )
        if native is not None:
            variants["dlib distance at the customary 0.6"] = native
        dataset = {
            "name": manifest.name,
            "sha256": embedded.dataset_sha256,
            "n_images": len(manifest.paths),
            "n_identities": len(set(manifest.identities)),
            "model": embedded.model,
            "failures_to_acquire": int((~embedded.acquired).sum()),
            "cached_embeddings": embedded.cached,
            "grouped_by": request.by,
        }
        files = write_report(
            request.out,
            variants,
            title=f"Overt accuracy and demographic audit: {manifest.name}",
            dataset=dataset,
            notes=_notes(request),
        )
        primary = variants[next(iter(variants))]
        result: dict[str, Any] = {
            "report": str(files.html),
            "metrics": str(files.json),
            "dataset": dataset,
            "variants": list(variants),
            "overall": primary["overall"],
            "groups": primary["groups"],
            "differentials": primary["differentials"],
        }
        summary = {k: float(v) for k, v in primary["overall"].items() if isinstance(v, int | float) and v is not None}
        self._record("evaluation.run", model=embedded.model, dataset_sha256=embedded.dataset_sha256, metrics=summary)
        if calibration is not None:
            result["calibration"] = self._write_calibration(
                embedded.model, calibration, scorers[primary_kind], dataset, request
            )
        return result

    def _write_calibration(
        self, model: str, calibration: Any, scorer: Scorer, dataset: dict[str, Any], request: EvaluationRequest
    ) -> dict[str, Any]:
        body = calibration.to_dict()
        target = self.settings.calibration_dir / f"{model}.json"
        written = write_calibration(
            target,
            Calibration(
                model=model,
                threshold=safe_threshold(calibration.threshold),
                target_fmr=request.target_fmr,
                method=calibration.method,
                created=datetime.now(UTC).isoformat(timespec="seconds"),
                dataset={k: dataset[k] for k in ("name", "sha256", "n_images", "n_identities", "grouped_by")},
                groups=body["groups"],
                notes="\n".join(calibration.notes),
                normalisation={} if scorer.kind == "raw" else scorer.describe(),
                extra={"limiting_group": calibration.limiting_group, "overall": body["overall"], **request.evidence},
            ),
        )
        self._record(
            "calibration.write",
            model=model,
            dataset_sha256=dataset["sha256"],
            threshold=safe_threshold(calibration.threshold),
            file_sha256=hashlib.sha256(written.read_bytes()).hexdigest(),
        )
        return {
            "path": str(written),
            "threshold": safe_threshold(calibration.threshold),
            "limiting_group": calibration.limiting_group,
            "normalisation": scorer.kind,
        }

    def evaluate_scores(
        self,
        scores_csv: Path,
        out: Path,
        by: list[str],
        *,
        threshold: float | None,
        target_fmr: float | None,
        seed: int,
        n_bootstrap: int,
    ) -> dict[str, Any]:
        """Any system's comparison scores (`a,b,score,same,<labels>`): the same 1:1 metrics."""
        score_set = load_score_csv(scores_csv, by=by)
        metrics = build_metrics(
            score_set, threshold=threshold, target_fmr=target_fmr, seed=seed, n_bootstrap=n_bootstrap
        )
        files = write_report(
            out,
            {"scores": metrics},
            title=f"Audit of external scores: {scores_csv.name}",
            dataset={"name": scores_csv.name, "grouped_by": by},
        )
        return {
            "report": str(files.html),
            "metrics": str(files.json),
            **{k: metrics[k] for k in ("overall", "groups", "differentials")},
        }

    def evaluate_classifier(self, predictions: Path, truth: Path, out: Path, by: list[str]) -> dict[str, Any]:
        """A Gender-Shades-style audit of a vendor's attribute classifier, per intersectional subgroup."""
        audit = audit_classifier(predictions, truth, by=by)
        files = write_classifier_report(out, audit, title=f"Classifier audit: {predictions.name}")
        return {"report": str(files.html), "metrics": str(files.json), **audit.to_dict()}


def safe_threshold(threshold: float) -> float:
    """Round a calibrated threshold up to 0.001: it sits just above the worst group's highest impostor score,
    and two correct implementations may differ there in the last bits of floating point."""
    return math.ceil(threshold * 1000) / 1000


VARIANT_NAMES = {"raw": "raw cosine", "as-norm": "AS-norm (cohort k={k})"}
DEFAULT_K = 10


def _identification(
    manifest: Any, embedded: Any, request: EvaluationRequest, metrics: dict[str, Any], scorer: Scorer
) -> dict[str, Any] | None:
    ident = identification(manifest, embedded, request.by, metrics["overall"]["threshold"], request.seed, scorer)
    return None if ident is None else ident.to_dict()


def _notes(request: EvaluationRequest) -> list[str]:
    return [
        "Groups come from the dataset's own labels; Overt never infers any trait from a face.",
        f"Impostor pairs: all within each group when fewer than {request.impostor_limit}, else a seeded sample "
        f"(seed {request.seed}).",
    ]
