"""Automation-bias and limitation notices shown with every alert (issue 14).

A reviewer who trusts the score too much is the failure human review exists to prevent. Each alert
therefore carries what the installation measured about its own error rates: the worst group's
false-match rate at the calibrated threshold (from the calibration evidence the threshold came from)
and how many people were searched. It never says anything inferred from the face in the alert.
"""

from __future__ import annotations

from typing import Any

from ..engine.calibration import Calibration


def worst_group(calibration: Calibration) -> tuple[str, float, int] | None:
    """(group, false-match rate, impostor pairs) of the worst group with enough pairs to be measured."""
    measured = [(name, g["fmr"], g["impostor"]) for name, g in calibration.groups.items()
                if g.get("supported") and g.get("fmr") is not None]
    return max(measured, key=lambda m: m[1]) if measured else None


def limitation_notice(calibration: Calibration, threshold: float, watchlist_size: int | None) -> dict[str, Any]:
    """The notice as data (for the API) and as one sentence (for people)."""
    worst = worst_group(calibration)
    unmeasured = sum(1 for g in calibration.groups.values() if not g.get("supported"))
    parts = ["A candidate is not an identification: compare the faces yourself and do not defer to the score."]
    if worst is not None:
        stricter = threshold > calibration.threshold
        parts.append(
            f"Measured worst-group false-match rate at the calibrated threshold {calibration.threshold:.4g}: "
            f"{worst[1]:.2%} ({worst[2]} impostor pairs; {calibration.label})"
            + (f"; this deployment's threshold {threshold:.4g} is stricter." if stricter else ".")
        )
    if unmeasured:
        parts.append(f"{unmeasured} groups had too few pairs for their rate to be measured at all.")
    if watchlist_size is not None:
        parts.append(f"This search compared the face against {watchlist_size} people: the more people searched, "
                     "the more likely a false match.")
    return {
        "text": " ".join(parts),
        "worst_group_fmr": worst[1] if worst else None,
        "worst_group": worst[0] if worst else None,
        "calibrated_threshold": calibration.threshold,
        "unmeasured_groups": unmeasured,
        "watchlist_size": watchlist_size,
    }
