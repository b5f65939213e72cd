"""A clearly marked demonstration installation, built only through the service layer.

`overt serve --demo` runs it in a fresh, temporary data directory so that no demo user, token or
deployment can ever land in a real installation. The faces are the consented, CC-BY portraits
bundled in `overt/samples/` (see ATTRIBUTION.md there).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from ..governance.spec import LAWFUL_PURPOSES, REQUIRED_ASSESSMENTS
from .cameras import CameraInfo
from .core import Actor, now
from .gallery import EnrolRequest

if TYPE_CHECKING:
    from . import Overt

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
MARK = "DEMO"
USERS = {
    "authority": "authority",
    "operator": "operator",
    "reviewer-1": "reviewer",
    "reviewer-2": "reviewer",
    "auditor": "auditor",
    "dpo": "dpo",
}
CAMERA = "demo-cam-1"
WATCHLIST = "demo-missing-persons"
SUBJECTS = ("001", "004", "042")  # enrolled; 025 also walks past the demo camera and must raise nothing
WALKERS = ("001", "004", "025", "042")


class DemoError(Exception):
    """The demo needs an empty data directory (it creates users whose tokens it must print)."""


@dataclass
class Demo:
    """What was seeded: user name -> (role, token), the deployments and the camera."""

    tokens: dict[str, tuple[str, str]] = field(default_factory=dict)
    live_deployment: int = 0
    retrospective_deployment: int = 0
    camera: str = CAMERA
    pending_alerts: list[int] = field(default_factory=list)


def _spec(mode: str, name: str) -> str:
    start = now() - timedelta(hours=1)
    return yaml.safe_dump(
        {
            "name": f"{MARK}: {name}",
            "purpose": LAWFUL_PURPOSES[1],
            "legal_basis": f"{MARK}: no legal basis, demonstration data only",
            "mode": mode,
            "authority": "authority",
            "cameras": [CAMERA],
            "windows": [{"start": start.isoformat(), "end": (start + timedelta(days=7)).isoformat()}],
            "watchlists": [WATCHLIST],
            "categories": ["missing-person"],
            "max_watchlist_size": 10,
            "retention_days": {"alerts": 7, "evidence": 1},
            "reviewers_required": 2,
            "assessments": [
                {"kind": kind, "ref": f"{MARK}-{kind.upper()}", "file": f"{MARK.lower()}-{kind}.md"}
                for kind in REQUIRED_ASSESSMENTS[mode]
            ],
            "public_notice": f"{MARK}: this is a demonstration of Overt; no real camera or person is involved.",
        }
    )


def seed_demo(overt: Overt, camera_source: str = "") -> Demo:
    """Users for every role, a demo camera (reading `camera_source`), a watchlist of the sample faces, two
    approved deployments covering the next week (live on the camera; retrospective for still searches)
    and one pending alert."""
    info = overt.system.init()
    if not info["admin_token"]:
        raise DemoError(f"{info['home']} is already initialised: the demo needs a fresh data directory")
    demo = Demo(tokens={"admin": ("admin", info["admin_token"]), info["dpo"]: ("dpo", info["dpo_token"])})
    admin, dpo = overt.actor("admin"), overt.actor(info["dpo"])
    for name, role in USERS.items():
        if name not in demo.tokens:
            demo.tokens[name] = (role, overt.system.add_user(admin, name, role))
            if role != "auditor":
                overt.system.approve_user(dpo, name)
    operator, authority = Actor("operator", "operator"), Actor("authority", "authority")
    overt.cameras.add(
        operator,
        CameraInfo(
            CAMERA,
            source=camera_source,
            name=f"{MARK} camera (not a real camera)",
            lat=51.5080,
            lon=-0.1281,
            direction=180,
            mount="pole",
            camera_type="fixed",
            zone="town",
            operator=f"{MARK} operator",
            public_notice=f"{MARK}: a demonstration camera; nothing is recorded here.",
        ),
    )
    overt.gallery.create_watchlist(
        operator, WATCHLIST, purpose=f"{MARK}: consented sample portraits", categories=["missing-person"]
    )
    documents = {
        f"{MARK.lower()}-{kind}.md": f"# {MARK}: a demonstration {kind} — not a real assessment\n".encode()
        for kind in REQUIRED_ASSESSMENTS["live"]
    }
    demo.live_deployment = overt.deployments.apply(
        operator, _spec("live", "live recognition on the demo camera"), documents
    )
    demo.retrospective_deployment = overt.deployments.apply(
        operator, _spec("retrospective", "searches of stills"), documents
    )
    reviewers = tuple(name for name, role in USERS.items() if role == "reviewer")
    for deployment_id in (demo.live_deployment, demo.retrospective_deployment):
        overt.deployments.decide(
            authority, deployment_id, "approve", f"{MARK}: approved for the demonstration", assign=reviewers
        )
    for number in SUBJECTS:
        request = EnrolRequest(
            f"demo-person-{number}",
            (SAMPLES / f"{number}_neutral.jpg",),
            category="missing-person",
            legal_basis=f"{MARK}: consented research portrait",
            image_source="Face Research Lab London Set (CC-BY 4.0)",
        )
        overt.gallery.enroll(operator, demo.live_deployment, WATCHLIST, request)
    found = overt.gallery.identify(
        operator, demo.retrospective_deployment, SAMPLES / "042_smiling.jpg", [WATCHLIST], case=f"{MARK}-CASE-1"
    )
    demo.pending_alerts = found["alerts"]
    return demo
