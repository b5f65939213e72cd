"""Building blocks for tests that need an installation with users and deployments."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from overt.config import Settings
from overt.governance.spec import LAWFUL_PURPOSES, REQUIRED_ASSESSMENTS
from overt.services import Actor, Overt
from overt.services.cameras import CameraInfo

DOCUMENTS = Path(__file__).parent / "data" / "assessments"
# Users approved() assigns to the deployments it approves (the applicant, op, is assigned by applying).
ASSIGNED = ("rev1", "rev2", "rev3")

ROLES = {
    "op": "operator",
    "op2": "operator",
    "judge": "authority",
    "judge2": "authority",
    "rev1": "reviewer",
    "rev2": "reviewer",
    "rev3": "reviewer",
    "aud": "auditor",
    "dpo": "dpo",
}


def make_overt(home: Path, database_url: str | None = None) -> Overt:
    overt = Overt(
        Settings(home=home, database_url=database_url if database_url and "postgres" in database_url else None)
    )
    overt.system.init()  # makes the first DPO, `dpo`, who countersigns the others
    admin = overt.actor("admin")
    for name, role in ROLES.items():
        if name != "dpo":
            overt.system.add_user(admin, name, role)
    for name, role in ROLES.items():
        if name != "dpo" and role in ("operator", "authority", "reviewer"):
            overt.system.approve_user(Actor("dpo", "dpo"), name)
    return overt


def assessments(mode: str) -> list[dict[str, str]]:
    """The paperwork `mode` needs, as files of the test-suite (apply reads and hashes them)."""
    return [
        {"kind": kind, "ref": f"{kind.upper()}-1", "file": str(DOCUMENTS / f"{kind}.md")}
        for kind in REQUIRED_ASSESSMENTS[mode]
    ]


def spec(**overrides: Any) -> str:
    now = datetime.now(UTC)
    data: dict[str, Any] = {
        "name": "Test deployment",
        "purpose": LAWFUL_PURPOSES[1],
        "legal_basis": "Test Act s.1",
        "mode": "retrospective",
        "authority": "judge",
        "cameras": ["cam-1"],
        "windows": [{"start": (now - timedelta(hours=1)).isoformat(), "end": (now + timedelta(hours=2)).isoformat()}],
        "watchlists": ["missing"],
        "categories": ["missing-person"],
        "max_watchlist_size": 3,
        "retention_days": {"alerts": 30, "evidence": 7},
        "reviewers_required": 2,
        "public_notice": "Facial recognition in use.",
    }
    data.update(overrides)
    data.setdefault("assessments", assessments(data["mode"]))
    return yaml.safe_dump(data)


def register_cameras(overt: Overt, text: str) -> None:
    """A live application's cameras must be registered before approval: those a test has not registered
    are, without a source."""
    if yaml.safe_load(text)["mode"] == "live":
        known = {c["id"] for c in overt.cameras.list(actor("admin"))}
        for camera in yaml.safe_load(text)["cameras"]:
            if camera not in known:
                overt.cameras.add(actor("admin"), CameraInfo(camera, name=camera))


def approved(overt: Overt, **overrides: Any) -> int:
    """An approved deployment applied for by `op`, with rev1-rev3 assigned as its reviewers; a live one's
    cameras are registered first (without a source) when a test has not registered them."""
    text = spec(**overrides)
    register_cameras(overt, text)
    deployment_id = overt.deployments.apply(Actor("op", "operator"), text)
    overt.deployments.decide(
        Actor("judge", "authority"), deployment_id, "approve", "necessary and proportionate", assign=ASSIGNED
    )
    return deployment_id


def actor(name: str) -> Actor:
    return Actor(name, ROLES.get(name, "admin"))


def api_body(text: str) -> dict[str, Any]:
    """An application with its documents as the API takes them: {"spec", "documents": {file: base64}}."""
    files = {a["file"] for a in yaml.safe_load(text)["assessments"]}
    return {"spec": text, "documents": {f: base64.b64encode(Path(f).read_bytes()).decode() for f in files}}


@contextmanager
def installation(home: Path, database_url: str | None = None) -> Iterator[Overt]:
    """make_overt with a watchlist `missing` (missing-person, suspect), disposed of afterwards."""
    overt = make_overt(home, database_url)
    overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person", "suspect"])
    try:
        yield overt
    finally:
        overt.db.dispose()
