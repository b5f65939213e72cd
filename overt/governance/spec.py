"""The deployment application file: its keys are a contract that scripts write."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

LAWFUL_PURPOSES = (
    "targeted search for a specific victim of abduction, trafficking or sexual exploitation",
    "search for a missing person",
    "prevention of a specific, substantial and imminent threat to life or of a terrorist attack",
    "locating or identifying a suspect of a listed serious criminal offence",
)


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window times need a time zone (e.g. 2026-05-01T08:00:00Z)")
        if self.end <= self.start:
            raise ValueError("a window must end after it starts")
        return self


class Retention(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alerts: int = Field(30, ge=1, le=365, description="days an alert is kept")
    evidence: int = Field(7, ge=1, le=365, description="days face crops and thumbnails are kept")


class Assessment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str
    ref: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ReviewSettings(BaseModel):
    """How alerts reach reviewers: one alert per person and place per window, and a queue limit."""

    model_config = ConfigDict(extra="forbid")
    alert_window_minutes: int = Field(10, ge=1, le=24 * 60, description="sightings join an open alert this long")
    sites: dict[str, list[str]] = Field(
        default_factory=dict, description="optional: site name -> cameras whose sightings join one alert"
    )
    queue_limit: int | None = Field(None, ge=1, description="optional: pending alerts that pause the cameras")


class DeploymentSpec(BaseModel):
    """Everything an authority approves; any change needs a new approval."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    purpose: str
    legal_basis: str = Field(min_length=1)
    mode: Literal["live", "retrospective"]
    authority: str
    cameras: list[str] = Field(default_factory=list)
    windows: list[Window] = Field(min_length=1)
    watchlists: list[str] = Field(min_length=1)
    categories: list[str] = Field(min_length=1)
    max_watchlist_size: int = Field(ge=1, le=100_000)
    threshold: float | None = None
    retention_days: Retention = Field(default_factory=Retention)
    reviewers_required: int = Field(2, ge=1, le=5)
    assessments: list[Assessment] = Field(min_length=1)
    public_notice: str = Field(min_length=1)
    review: ReviewSettings = Field(default_factory=ReviewSettings)

    @field_validator("purpose")
    @classmethod
    def _lawful(cls, value: str) -> str:
        if value not in LAWFUL_PURPOSES:
            raise ValueError("purpose must be one of the lawful objectives: " + "; ".join(LAWFUL_PURPOSES))
        return value

    @model_validator(mode="after")
    def _live_needs_cameras(self) -> DeploymentSpec:
        if self.mode == "live" and not self.cameras:
            raise ValueError("a live deployment names its cameras")
        return self

    def canonical(self) -> dict:
        return json.loads(self.model_dump_json())

    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.canonical(), sort_keys=True).encode()).hexdigest()


class SpecError(ValueError):
    """The application file is unreadable or breaks the contract; the message lists every problem."""


def parse_spec(text: str) -> DeploymentSpec:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"not valid YAML or JSON: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise SpecError("the file must hold a mapping of deployment keys")
    try:
        return DeploymentSpec.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors())
        raise SpecError(problems) from None


TEMPLATE = """\
# A deployment application. Every key is required unless marked optional.
name: Central station, search for missing child
purpose: search for a missing person          # one of the lawful objectives (overt deployment purposes)
legal_basis: Police Act s.12; court order 2026/123
mode: live                                    # live (cameras) or retrospective (searches of stills, with --case)
authority: judge                              # the user name of the authority asked to approve
cameras: [station-north, station-south]
windows:
  - {start: "2026-12-01T08:00:00Z", end: "2026-12-01T20:00:00Z"}
watchlists: [missing-persons]
categories: [missing-person]
max_watchlist_size: 10
# threshold: 0.95                             # optional: omit for the calibrated default; never below it
retention_days: {alerts: 30, evidence: 7}
reviewers_required: 2
# review: {alert_window_minutes: 10, sites: {station: [station-north, station-south]}, queue_limit: 50}  # optional
assessments:
  - {kind: DPIA, ref: DPIA-2026-17, sha256: 0000000000000000000000000000000000000000000000000000000000000000}
  - {kind: FRIA, ref: FRIA-2026-04, sha256: 0000000000000000000000000000000000000000000000000000000000000000}
public_notice: Live facial recognition is in use at this station today to find a missing child.
"""
