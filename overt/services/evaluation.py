"""Accuracy and demographic audits of our engine on labelled data, or of any vendor's scores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..config import Settings
from ..engine.calibration import Calibration, write_calibration
from ..evaluation.calibrate import calibrate_score_set
from ..evaluation.dataset import EmbeddingCache, embed_manifest, read_manifest
from ..evaluation.external import audit_classifier, load_score_csv, write_classifier_report
from ..evaluation.report import build_metrics, write_report
from ..evaluation.run import evaluate_variant, identification, native_variant, score_pairs


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


class EvaluationService:
    def __init__(self, settings: Settings, calibration: Callable[[], Calibration]) -> None:
        self.settings = settings
        self._calibration = calibration

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
        calibration = None
        if request.calibrate:
            calibration = calibrate_score_set(scored.score_set, request.target_fmr)
        threshold = request.threshold
        if threshold is None:
            threshold = calibration.threshold if calibration else self._calibration().threshold
        ident = identification(manifest, embedded, request.by, threshold, request.seed)
        variants = {
            "Overt (cosine, calibrated threshold)": evaluate_variant(
                scored.score_set,
                threshold=threshold,
                target_fmr=request.target_fmr,
                seed=request.seed,
                n_bootstrap=request.n_bootstrap,
                identification_metrics=ident,
                progress=progress,
            )
        }
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
        result: dict[str, Any] = {
            "report": str(files.html),
            "metrics": str(files.json),
            "dataset": dataset,
            **{k: variants[next(iter(variants))][k] for k in ("overall", "differentials")},
        }
        if calibration is not None:
            target = self.settings.calibration_dir / f"{embedded.model}.json"
            written = write_calibration(
                target,
                Calibration(
                    model=embedded.model,
                    threshold=calibration.threshold,
                    target_fmr=request.target_fmr,
                    method=calibration.method,
                    created=datetime.now(UTC).isoformat(timespec="seconds"),
                    dataset={k: dataset[k] for k in ("name", "sha256", "n_images", "n_identities", "grouped_by")},
                    groups=calibration.to_dict()["groups"],
                    notes="\n".join(calibration.notes),
                    extra={"limiting_group": calibration.limiting_group, "overall": calibration.to_dict()["overall"]},
                ),
            )
            result["calibration"] = {
                "path": str(written),
                "threshold": calibration.threshold,
                "limiting_group": calibration.limiting_group,
            }
        return result

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
            **{k: metrics[k] for k in ("overall", "differentials")},
        }

    def evaluate_classifier(self, predictions: Path, truth: Path, out: Path, by: list[str]) -> dict[str, Any]:
        """A Gender-Shades-style audit of a vendor's attribute classifier, per intersectional subgroup."""
        audit = audit_classifier(predictions, truth, by=by)
        files = write_classifier_report(out, audit, title=f"Classifier audit: {predictions.name}")
        return {"report": str(files.html), "metrics": str(files.json), **audit.to_dict()}


def _notes(request: EvaluationRequest) -> list[str]:
    return [
        "Groups come from the dataset's own labels; Overt never infers any trait from a face.",
        f"Impostor pairs: all within each group when fewer than {request.impostor_limit}, else a seeded sample "
        f"(seed {request.seed}).",
    ]
