"""The deployment application file: its keys are a contract that scripts write."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime, timedelta
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


ASSESSMENT_KINDS = ("dpia", "fria", "equality", "registration")
# The paperwork each mode needs before it may start (live: the AI Act's Art. 27 FRIA and Art. 49 registration too).
REQUIRED_ASSESSMENTS = {"live": ("dpia", "fria", "equality", "registration"), "retrospective": ("dpia",)}


class Assessment(BaseModel):
    """A document the authority reads before approving: `apply` reads `file`, stores it encrypted and hashes it;
    a `sha256` given beside it must match what was read."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["dpia", "fria", "equality", "registration"]
    ref: str = Field(min_length=1, max_length=200)
    file: str = Field(min_length=1)
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")


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
    # One reviewer only under the AI Act Art. 14(5) exception: the legal provision relied on, which the
    # authority must accept explicitly and the public record states.
    single_reviewer_exception: str | None = Field(None, min_length=10)
    assessments: list[Assessment] = Field(min_length=1)
    public_notice: str = Field(min_length=1)

    @field_validator("threshold")
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError("threshold must be a finite number")
        return value

    @model_validator(mode="after")
    def _two_people(self) -> DeploymentSpec:
        if self.reviewers_required < 2 and not self.single_reviewer_exception:
            raise ValueError(
                "reviewers_required must be at least 2 unless single_reviewer_exception states the legal "
                "exception relied on (AI Act Art. 14(5))"
            )
        return self

    @model_validator(mode="after")
    def _paperwork(self) -> DeploymentSpec:
        given = {a.kind for a in self.assessments}
        missing = [k for k in REQUIRED_ASSESSMENTS[self.mode] if k not in given]
        if missing:
            raise ValueError(f"a {self.mode} deployment needs the assessments: {', '.join(missing)} (missing)")
        return self

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
        problems = "\n".join(f"{'.'.join(map(str, e['loc'])) or 'file'}: {e['msg']}" for e in exc.errors())
        raise SpecError(problems) from None


EXAMPLE_DOCUMENTS = {
    "dpia": ("dpia.md", "Data protection impact assessment (GDPR Art. 35; LED Art. 27)"),
    "fria": ("fria.md", "Fundamental rights impact assessment (AI Act Art. 27)"),
    "equality": ("equality.md", "Equality impact assessment"),
    "registration": ("registration.md", "Registration in the EU database (AI Act Art. 49)"),
}


def example_document(kind: str) -> str:
    """A placeholder the applicant replaces: it says so on its first line, so an authority reading it knows."""
    title = EXAMPLE_DOCUMENTS[kind][1]
    return f"# EXAMPLE — replace with the real document before applying\n\n{title}\n"


def template(calibrated_threshold: float | None = None, now: datetime | None = None) -> str:
    """A complete application that applies and can be approved as printed (with the example documents
    `overt deployment template --out DIR` writes beside it): a window from now, quoted values, and the
    threshold comment on the calibrated scale."""
    start = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    end = start + timedelta(hours=12)
    scale = (
        f"the calibrated default is {calibrated_threshold:g}; omit to use it, or give a stricter (higher) value"
        if calibrated_threshold is not None
        else "omit for the calibrated default (overt models shows it); never below it"
    )
    assessments = "\n".join(
        f'  - {{kind: {kind}, ref: "{kind.upper()}-2026-1", file: "{name}"}}   # {title}'
        for kind, (name, title) in EXAMPLE_DOCUMENTS.items()
    )
    return f"""\
# A deployment application. Every key is required unless marked optional.
name: "Central station, search for a missing child"
purpose: "search for a missing person"        # one of the lawful objectives (overt deployment purposes)
legal_basis: "Police Act s.12; court order 2026/123"
mode: live                                    # live (cameras) or retrospective (searches of stills, with --case)
authority: judge                              # the user name of the authority asked to approve
cameras: [station-n]                          # registered cameras (overt camera add) before approval
windows:                                      # ahead of now, in order, each ending after it starts
  - {{start: "{start:%Y-%m-%dT%H:%M:%SZ}", end: "{end:%Y-%m-%dT%H:%M:%SZ}"}}
watchlists: [missing-persons]                 # created with overt watchlist create before enrolling
categories: [missing-person]
max_watchlist_size: 10
# threshold: {(calibrated_threshold or 0) + 0.5:g}                              # optional: {scale}
retention_days: {{alerts: 30, evidence: 7}}
reviewers_required: 2                         # at least 2 (1 only with single_reviewer_exception, AI Act Art. 14(5))
# Documents beside this file; apply reads, hashes and stores each (encrypted). Add sha256: "..." to pin one.
# Live needs dpia, fria, equality and registration; retrospective needs dpia.
assessments:
{assessments}
public_notice: "Live facial recognition is in use at this station today to find a missing child."
"""
