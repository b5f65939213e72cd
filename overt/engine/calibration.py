"""Per-model decision thresholds, each with the evidence of how it was chosen.

A threshold is a claim about error rates on some population; it lives in a file that says which
data, which target and which method produced it, never as a constant in code.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelError

BUNDLED_DIR = Path(__file__).parent / "calibration"


@dataclass(frozen=True)
class Calibration:
    model: str
    threshold: float
    target_fmr: float
    method: str
    created: str
    dataset: dict[str, Any] = field(default_factory=dict)
    groups: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    normalisation: dict[str, Any] = field(default_factory=dict)  # {} = raw cosine; else how scores were normalised
    # Faces with fewer pixels between the eyes are detected, tracked and counted but not searched: below it
    # the threshold's error rates no longer hold (measured by bench/face_size.py; evidence in extra).
    min_inter_eye: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    @property
    def label(self) -> str:
        """Short provenance shown beside every decision."""
        name = self.dataset.get("name", "unknown data")
        return f"{self.method} on {name}, target FMR {self.target_fmr:g}, {self.created[:10]}"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("source")
        return data


def read_calibration(path: str | Path) -> Calibration:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
        known = {k: data[k] for k in Calibration.__dataclass_fields__ if k in data and k != "source"}
        return Calibration(**known, source=str(path))
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise ModelError(f"calibration file {path} is unreadable: {exc}") from None


def write_calibration(path: str | Path, calibration: Calibration) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(calibration.to_json(), indent=2, sort_keys=True) + "\n")
    return path


def find_calibration(model_id: str, search_dirs: list[Path] | None = None) -> Calibration:
    """The first calibration for `model_id` in the user's folders, then the one shipped with Overt."""
    for folder in [*(search_dirs or []), BUNDLED_DIR]:
        candidate = Path(folder) / f"{model_id}.json"
        if candidate.is_file():
            return read_calibration(candidate)
    raise ModelError(f"no calibration for model {model_id}: run `overt evaluate MANIFEST --calibrate` to make one")
