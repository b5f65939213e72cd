"""Building blocks for tests that need an installation with users and deployments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from overt.config import Settings
from overt.governance.spec import LAWFUL_PURPOSES
from overt.services import Actor, Overt

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
    overt.system.init()
    admin = overt.actor("admin")
    for name, role in ROLES.items():
        overt.system.add_user(admin, name, role)
    return overt


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
        "assessments": [{"kind": "DPIA", "ref": "DPIA-1", "sha256": "a" * 64}],
        "public_notice": "Facial recognition in use.",
    }
    data.update(overrides)
    return yaml.safe_dump(data)


def approved(overt: Overt, **overrides: Any) -> int:
    deployment_id = overt.deployments.apply(Actor("op", "operator"), spec(**overrides))
    overt.deployments.decide(Actor("judge", "authority"), deployment_id, "approve", "necessary and proportionate")
    return deployment_id


def actor(name: str) -> Actor:
    return Actor(name, ROLES.get(name, "admin"))
