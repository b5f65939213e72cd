"""One alert per person and place over a span of time: the keys that group sightings into alerts.

A live camera sees the same person many times (each walk-past, each time a track breaks). Reviewers
can only keep up if those sightings join one open alert; the keys below name that alert (`open_key`:
deployment, place, subject) and make raising a sighting idempotent (`sighting_key`: deployment,
camera, track, subject and the window it falls in), so a restarted worker neither loses nor doubles one.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

DEFAULT_WINDOW_MINUTES = 10


def window(spec: dict[str, Any]) -> timedelta:
    """How long an alert stays open for new sightings (the spec's `review.alert_window_minutes`)."""
    return timedelta(minutes=int((spec.get("review") or {}).get("alert_window_minutes", DEFAULT_WINDOW_MINUTES)))


def place(spec: dict[str, Any], camera: str) -> str:
    """The camera's site when the spec groups cameras into sites, else the camera itself."""
    for site, cameras in ((spec.get("review") or {}).get("sites") or {}).items():
        if camera in cameras:
            return f"site:{site}"
    return f"camera:{camera}"


def open_key(deployment_id: int, where: str, subject_id: int) -> str:
    return f"{deployment_id}/{where}/{subject_id}"


def sighting_key(deployment_id: int, camera: str, track: int, subject_id: int, at: datetime, span: timedelta) -> str:
    """The same track of the same subject at the same camera within one window is one sighting."""
    bucket = int(at.timestamp() // span.total_seconds())
    return f"{deployment_id}/{camera}/{track}/{subject_id}/{bucket}"
