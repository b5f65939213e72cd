"""Alerts per hour for the demo scene before and after grouping, and the reviewers' workload figures.

    .venv/bin/python bench/review.py --seconds 120 --out docs/bench-review.json

1. Renders the demo camera's scene (the sample people walking past, one of them never enrolled) for
   `--seconds`, seeds a demo installation, and runs the real camera pipeline over it through the
   service layer (gate, search, alerts, sightings, audit), as fast as it goes.
2. Before grouping, every (track, subject) raised an alert: that is the number of alerts plus the
   sightings that joined one. After grouping, only the alerts. Both per hour of scene time, and the
   steady state over an hour: the measured sighting times of each person repeated across an hour and
   grouped with the deployment's window, as the service groups them.
3. Two reviewers decide every alert from the service layer; the workload figures are then computed
   from the audit log exactly as the DPO's view and the annual report compute them.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from overt.config import Settings
from overt.governance.grouping import DEFAULT_WINDOW_MINUTES
from overt.services import Overt
from overt.services.demo import CAMERA, SAMPLES, SUBJECTS, WALKERS, seed_demo
from overt.streams import AlertRaised, PipelineSettings, SightingAdded, make_scene_video, run_pipeline, walkers


def render(folder: Path, seconds: float) -> tuple[Path, dict[str, int]]:
    """The demo camera's scene (as `overt serve --demo` renders it), and walk-pasts per person."""
    people = walkers([(f"demo-person-{n}", SAMPLES / f"{n}_smiling.jpg") for n in WALKERS], seconds=seconds,
                     concurrent=2, face_px=(130.0, 170.0))
    backdrop = np.linspace(60, 200, 960, dtype=np.uint8)[None, :, None].repeat(540, axis=0).repeat(3, axis=2)
    video = folder / "demo-scene.mp4"
    make_scene_video(video, people, backdrop, size=(960, 540), fps=10.0, seconds=seconds)
    passes: dict[str, int] = defaultdict(int)
    for person in people:
        if person.leave_s >= 0 and person.enter_s <= seconds:
            passes[person.identity] += 1
    return video, dict(passes)


def steady_state(times: dict[str, list[float]], scene_s: float, window_s: float) -> int:
    """Alerts in an hour if each person kept appearing as in the scene and nobody decided: one per person
    per window (a decision would close it earlier; the service's rule, replayed on the measured times)."""
    alerts = 0
    for seen in times.values():
        loops = range(int(3600 // scene_s) + 1)
        repeated = sorted(t + k * scene_s for k in loops for t in seen if t + k * scene_s < 3600)
        opened = None
        for t in repeated:
            if opened is None or t >= opened + window_s:
                opened, alerts = t, alerts + 1
    return alerts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0, help="scene length (the demo loops 40 s)")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        video, passes = render(folder, args.seconds)
        overt = Overt(Settings(home=folder / "home"))
        demo = seed_demo(overt, str(video))
        operator = overt.actor("operator")
        session = overt.live.open(operator, demo.live_deployment, CAMERA)
        events: list = []
        started = time.perf_counter()
        summary = run_pipeline(str(video), session, PipelineSettings(), on_event=events.append)
        session.close(summary)
        elapsed = time.perf_counter() - started
        raised = [e for e in events if isinstance(e, AlertRaised)]
        joined = [e for e in events if isinstance(e, SightingAdded)]
        times: dict[str, list[float]] = defaultdict(list)
        for e in raised + joined:
            times[e.subject_id].append(e.time)
        decided = time.perf_counter()
        for alert in overt.alerts.list(overt.actor("dpo"), deployment_id=demo.live_deployment, status="pending"):
            overt.alerts.review(overt.actor("reviewer-1"), alert["id"], "confirm", "faces match in detail")
            overt.alerts.review(overt.actor("reviewer-2"), alert["id"], "confirm", "faces match in detail")
        decided = time.perf_counter() - decided
        computed = time.perf_counter()
        figures = overt.review_queue.workload(overt.actor("dpo"), deployment_id=demo.live_deployment)
        computed = time.perf_counter() - computed
        overt.db.dispose()
    per_hour = 3600.0 / args.seconds
    result = {
        "scene_s": args.seconds,
        "walk_pasts": passes,
        "enrolled": [f"demo-person-{n}" for n in SUBJECTS],
        "frames": summary.frames,
        "tracks": summary.tracks,
        "pipeline_s": round(elapsed, 1),
        "alerts_before_grouping": len(raised) + len(joined),
        "alerts_after_grouping": len(raised),
        "sightings_joined": len(joined),
        "alerts_per_hour_before": round((len(raised) + len(joined)) * per_hour, 1),
        "alerts_per_hour_after_measured": round(len(raised) * per_hour, 1),
        "alerts_per_hour_after_steady_state": steady_state(times, args.seconds, DEFAULT_WINDOW_MINUTES * 60),
        "window_minutes": DEFAULT_WINDOW_MINUTES,
        "review_s": round(decided, 2),
        "workload": {k: v for k, v in figures.items() if k != "queue"},
        "workload_compute_ms": round(computed * 1000, 1),
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
