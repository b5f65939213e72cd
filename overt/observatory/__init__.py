"""The observatory: what watchdogs and researchers use to track facial recognition from outside.

A deployments index (records of facial-recognition uses anywhere, with sources, history and sign-off),
camera maps from OpenStreetMap and citizens' reports, and a procurement-notice analyser. It needs no
cameras and no biometric data: it imports neither `overt.engine` nor `overt.gallery`, and keeps its own
database (`observatory.db` in the installation's home, or any SQLAlchemy URL), so a watchdog can run it
without ever running facial recognition.
"""

from __future__ import annotations

from .store import Observatory, ObservatoryError

__all__ = ["Observatory", "ObservatoryError"]
