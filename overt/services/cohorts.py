"""Cohorts for score normalisation: built from a folder of openly licensed faces, kept as embeddings only."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..audit import load_or_create_signing_key
from ..engine.batch import analyse_paths
from ..engine.cohort import Cohort
from .lab import expand_paths

if TYPE_CHECKING:
    from . import Overt

MIN_COHORT = 50


class CohortService:
    def __init__(self, overt: Overt) -> None:
        self.overt = overt

    def build(
        self,
        folder: Path,
        *,
        source: str,
        licence: str,
        attribution: str = "",
        out: Path | None = None,
        on_image: Callable[[], None] | None = None,
    ) -> dict[str, Any]:
        """Embed every face image under `folder` (largest face each); images themselves are not kept.

        Written to the installation's cohort folder (where it takes precedence over the bundled cohort) and
        signed with the installation's audit key, or to `out` for distribution.
        """
        settings = self.overt.settings
        paths = expand_paths([folder])
        vectors, digest, failures = [], hashlib.sha256(), 0
        for result in analyse_paths(
            paths,
            settings.engine_config(),
            largest_only=True,
            workers=settings.workers,
            on_result=lambda _: on_image() if on_image else None,
        ):
            digest.update(Path(result.path).read_bytes())
            if result.faces and result.faces[0].embedding is not None:
                vectors.append(result.faces[0].embedding.vector)
            else:
                failures += 1
        if len(vectors) < MIN_COHORT:
            raise ValueError(f"only {len(vectors)} faces found in {folder}: a cohort needs at least {MIN_COHORT}")
        model = self.overt.lab.engine.model_id
        provenance: dict[str, Any] = {
            "source": source,
            "licence": licence,
            "attribution": attribution,
            "images": len(paths),
            "faces": len(vectors),
            "failures_to_acquire": failures,
            "images_sha256": digest.hexdigest(),
            "built": datetime.now(UTC).isoformat(timespec="seconds"),
            "note": "embeddings only; no image is stored. Must share no identity with any evaluation set.",
        }
        cohort = Cohort(model, np.stack(vectors).astype(np.float32), provenance)
        signed = out is None
        if signed:
            key = load_or_create_signing_key(settings.keys_dir)
            provenance["signed_by"] = key.key_id
            provenance["signature"] = key.sign(cohort.sha256.encode())
        target = cohort.save(out or settings.cohort_dir / f"{model}.npz")
        if signed:
            with self.overt.db.session() as session:
                self.overt.record(
                    session,
                    "cohort.build",
                    actor=self.overt.settings.user,
                    cohort=str(target),
                    manifest_sha256=provenance["images_sha256"],
                    groups={"faces": len(vectors)},
                )
        return {
            "path": str(target),
            "model": model,
            "faces": len(vectors),
            "failures_to_acquire": failures,
            "sha256": cohort.sha256,
        }
