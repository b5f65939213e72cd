"""Every action Overt can audit, as a typed event: this module is the list of what the system can ever do.

Each event is a small frozen dataclass with a stable `name` (the audit log's `action` column) and a
docstring saying what happened and what its fields mean. Fields carry ids, counts, hashes, scores and
reasons only — never pixels, vectors, reference images or watchlist contents — and `_register` refuses
any field whose type is not a plain JSON-able scalar, a tuple of them, or a str-keyed dict of numbers or strings.
Who acted, the outcome, the deployment and the object acted on are columns of the record itself
(see `AuditLog.append`), so events do not repeat them.
"""

from __future__ import annotations

import inspect
import types
import typing
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, ClassVar, TypeVar

SCALARS: tuple[type, ...] = (str, int, float, bool, type(None), datetime)
# The record's own columns: a field with one of these names would be ambiguous in `details`, and helpers
# that take `actor=..., outcome=..., **fields` would silently swallow it.
RESERVED = frozenset(
    {
        "seq",
        "at",
        "actor",
        "action",
        "deployment_id",
        "object_type",
        "object_id",
        "outcome",
        "details",
        "hash",
    }
)


@dataclass(frozen=True, kw_only=True)
class Event:
    """Base of all audited events; `name` is stable forever, since reports and exports key on it."""

    name: ClassVar[str]

    def details(self) -> dict[str, Any]:
        """The fields as stored in the record's `details` (canonical JSON)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


E = TypeVar("E", bound=type[Event])

EVENTS: dict[str, type[Event]] = {}


def is_simple_type(annotation: Any) -> bool:
    """True for the types an event may carry: scalars, `X | None`, `tuple[X, ...]`, `dict[str, number]`."""
    if annotation in SCALARS:
        return True
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        return all(a in SCALARS for a in args)
    if origin is tuple:
        return len(args) == 2 and args[1] is Ellipsis and args[0] in SCALARS
    if origin is dict:
        return args in ((str, int), (str, float), (str, str))
    return False


def _register(cls: E) -> E:
    """Add an event class to EVENTS, refusing duplicate names and anything but simple field types."""
    if cls.name in EVENTS:
        raise TypeError(f"event name {cls.name!r} used twice ({EVENTS[cls.name].__name__}, {cls.__name__})")
    if (cls.__doc__ or "").startswith(f"{cls.__name__}("):  # dataclass's stand-in for a missing docstring
        raise TypeError(f"event {cls.__name__} needs a docstring saying what happened")
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if f.name in RESERVED:
            raise TypeError(f"event {cls.name}: field {f.name} is a column of the audit record itself")
        if not is_simple_type(hints[f.name]):
            raise TypeError(f"event {cls.name}: field {f.name} has type {hints[f.name]!r}, not a simple type")
    EVENTS[cls.name] = cls
    return cls


# --- installation, users, keys ----------------------------------------------------------------


@_register
@dataclass(frozen=True, kw_only=True)
class Initialised(Event):
    """The installation was created: data directory `home`, and whether a new template key was made."""

    name = "init"
    home: str
    created_key: bool


@_register
@dataclass(frozen=True, kw_only=True)
class UserCreated(Event):
    """A user account `user` was created with `role` (its token is never logged, not even hashed)."""

    name = "user.create"
    user: str
    role: str


@_register
@dataclass(frozen=True, kw_only=True)
class UserTokenReset(Event):
    """`user`'s access token was replaced; the old one stops working at once."""

    name = "user.token_reset"
    user: str


@_register
@dataclass(frozen=True, kw_only=True)
class UserDisabled(Event):
    """`user` was disabled (can no longer act) for `reason`; the account stays so the log keeps its name."""

    name = "user.disable"
    user: str
    reason: str


@_register
@dataclass(frozen=True, kw_only=True)
class KeyRotated(Event):
    """The template-encryption key `old_key` was replaced by `new_key` (key ids, not keys).

    reencrypted: how many items of each kind (templates, images, evidence) were re-encrypted.
    """

    name = "key.rotate"
    old_key: str
    new_key: str
    reencrypted: dict[str, int]


# --- watchlists and subjects ------------------------------------------------------------------


@_register
@dataclass(frozen=True, kw_only=True)
class WatchlistCreated(Event):
    """Watchlist `watchlist` (its unique name) was created, for the categories it may hold."""

    name = "watchlist.create"
    watchlist: str
    categories: tuple[str, ...]
    expires_at: datetime | None


@_register
@dataclass(frozen=True, kw_only=True)
class WatchlistDeleted(Event):
    """Watchlist `watchlist` was deleted with its `subjects` subjects and `templates` templates, for `reason`.

    The templates and reference images are gone with it; the log keeps only these counts.
    """

    name = "watchlist.delete"
    watchlist: str
    subjects: int
    templates: int
    reason: str


@_register
@dataclass(frozen=True, kw_only=True)
class SubjectEnrolled(Event):
    """Subject `subject_id` was enrolled into `watchlist`.

    template_ids: the templates created, one per reference image; image_sha256: those images' hashes in
    the same order (the images themselves stay encrypted in the gallery); forced_reason: why an image
    below the quality bar was accepted anyway, "" when none was forced.
    """

    name = "subject.enroll"
    watchlist: str
    subject_id: int
    template_ids: tuple[int, ...]
    image_sha256: tuple[str, ...]
    forced_reason: str


@_register
@dataclass(frozen=True, kw_only=True)
class SubjectRemoved(Event):
    """Subject `subject_id` was removed from `watchlist` with its `templates` templates, for `reason`."""

    name = "subject.remove"
    watchlist: str
    subject_id: int
    templates: int
    reason: str


# --- searches -------------------------------------------------------------------------------------


@_register
@dataclass(frozen=True, kw_only=True)
class Identified(Event):
    """A 1:N search of a probe image against `watchlists`.

    image_sha256: the probe's hash; faces_in_probe: faces found in it; candidates: results at or above
    `threshold`; top_score: the best score (None when the gallery was empty); case_ref: the case the
    search was made for.
    """

    name = "identify"
    watchlists: tuple[str, ...]
    image_sha256: str
    faces_in_probe: int
    candidates: int
    top_score: float | None
    threshold: float
    case_ref: str


@_register
@dataclass(frozen=True, kw_only=True)
class ImagesVerified(Event):
    """A laboratory 1:1 comparison of two files the caller supplied (nothing stored, no watchlist).

    a_sha256, b_sha256: the files' hashes; score: their similarity; match: score >= threshold, None when
    no calibrated threshold was available.
    """

    name = "verify"
    a_sha256: str
    b_sha256: str
    score: float
    threshold: float | None
    match: bool | None


# --- deployments --------------------------------------------------------------------------------


@_register
@dataclass(frozen=True, kw_only=True)
class DeploymentApplied(Event):
    """An application to deploy: `spec_sha256` is the hash of the submitted specification.

    mode: live or retrospective; authority: who is asked to decide.
    """

    name = "deployment.apply"
    sets_status: ClassVar[str] = "pending"
    spec_sha256: str
    mode: str
    authority: str


@dataclass(frozen=True, kw_only=True)
class _DeploymentDecision(Event):
    """An authority's decision on the specification `spec_sha256`, with its stated `reason`."""

    spec_sha256: str
    reason: str


@_register
@dataclass(frozen=True, kw_only=True)
class DeploymentApproved(_DeploymentDecision):
    """The authority approved the specification `spec_sha256`, giving `reason`."""

    name = "deployment.approve"
    sets_status: ClassVar[str] = "approved"


@_register
@dataclass(frozen=True, kw_only=True)
class DeploymentRejected(_DeploymentDecision):
    """The authority rejected the specification `spec_sha256`, giving `reason`."""

    name = "deployment.reject"
    sets_status: ClassVar[str] = "rejected"


@_register
@dataclass(frozen=True, kw_only=True)
class DeploymentReturned(_DeploymentDecision):
    """The authority returned the specification `spec_sha256` for changes, giving `reason`."""

    name = "deployment.return"
    sets_status: ClassVar[str] = "returned"


@_register
@dataclass(frozen=True, kw_only=True)
class DeploymentRevoked(Event):
    """An approved deployment was revoked for `reason`; it stops at once."""

    name = "deployment.revoke"
    sets_status: ClassVar[str] = "revoked"
    reason: str


@_register
@dataclass(frozen=True, kw_only=True)
class DeploymentAmended(Event):
    """The specification changed from `previous_sha256` to `spec_sha256`; it needs deciding again."""

    name = "deployment.amend"
    sets_status: ClassVar[str] = "pending"
    previous_sha256: str
    spec_sha256: str


@_register
@dataclass(frozen=True, kw_only=True)
class UrgentStarted(Event):
    """Operation started before approval under the urgency procedure, for the stated `justification`."""

    name = "deployment.urgent_start"
    sets_status: ClassVar[str] = "urgent"
    spec_sha256: str
    justification: str


@_register
@dataclass(frozen=True, kw_only=True)
class UrgentLapsed(Event):
    """An urgent deployment was refused or not approved in time: everything it produced was deleted.

    deleted: how many of each kind (alerts, evidence, reviews, activity counts) were deleted.
    """

    name = "deployment.urgent_lapsed"
    sets_status: ClassVar[str] = "lapsed"
    deleted: dict[str, int]


# --- the gate and failures ---------------------------------------------------------------------


@_register
@dataclass(frozen=True, kw_only=True)
class GateRefused(Event):
    """`operation` was refused by `rule` (a stable rule name) because of `reason`; nothing was done."""

    name = "gate.refused"
    operation: str
    rule: str
    reason: str


@_register
@dataclass(frozen=True, kw_only=True)
class OperationFailed(Event):
    """`operation` was allowed but failed with `error` (a one-line message that carries no biometric data)."""

    name = "operation.failed"
    operation: str
    error: str


# --- cameras and streams ----------------------------------------------------------------------------


@_register
@dataclass(frozen=True, kw_only=True)
class CameraAdded(Event):
    """Camera `camera` (its id) was registered, of `camera_type` in `zone`."""

    name = "camera.add"
    camera: str
    camera_type: str
    zone: str


@_register
@dataclass(frozen=True, kw_only=True)
class CameraUpdated(Event):
    """Camera `camera`'s registration changed; `changed` names the fields that changed."""

    name = "camera.update"
    camera: str
    changed: tuple[str, ...]


@_register
@dataclass(frozen=True, kw_only=True)
class CameraRemoved(Event):
    """Camera `camera` was removed from the register for `reason`."""

    name = "camera.remove"
    camera: str
    reason: str


@_register
@dataclass(frozen=True, kw_only=True)
class StreamStarted(Event):
    """Live recognition started on `camera` against `watchlists` at `threshold`."""

    name = "stream.start"
    camera: str
    watchlists: tuple[str, ...]
    threshold: float


@_register
@dataclass(frozen=True, kw_only=True)
class StreamStopped(Event):
    """Live recognition stopped on `camera` because of `reason` (stopped, window ended, revoked, error).

    frames, faces_seen, tracks, alerts: what the run processed and raised, as counts only.
    """

    name = "stream.stop"
    camera: str
    reason: str
    frames: int
    faces_seen: int
    tracks: int
    alerts: int


# --- alerts and review ---------------------------------------------------------------------------------


@_register
@dataclass(frozen=True, kw_only=True)
class AlertRaised(Event):
    """A possible match waiting for human review.

    alert_id: the alert; camera: where ("" for a retrospective search); subject_id: the watchlist
    subject matched; score and threshold: the similarity and the bar it passed; track: the tracker's
    id for the face on that camera (None for a still image).
    """

    name = "alert.raise"
    alert_id: int
    camera: str
    subject_id: int
    score: float
    threshold: float
    track: int | None


@_register
@dataclass(frozen=True, kw_only=True)
class ReviewDecided(Event):
    """A reviewer (the actor) decided on `alert_id`: confirm, reject or inconclusive.

    Other reviewers cannot see this decision through the API until the alert is final; the log has it.
    """

    name = "review.decide"
    alert_id: int
    decision: str


@dataclass(frozen=True, kw_only=True)
class _AlertFinal(Event):
    """An alert reached its final status after `reviews` independent reviews."""

    alert_id: int
    reviews: int


@_register
@dataclass(frozen=True, kw_only=True)
class AlertConfirmed(_AlertFinal):
    """Alert `alert_id` was confirmed as a match by its `reviews` reviews; the operator may act on it."""

    name = "alert.confirmed"


@_register
@dataclass(frozen=True, kw_only=True)
class AlertRejected(_AlertFinal):
    """Alert `alert_id` was rejected (not a match) after `reviews` reviews; nobody may act on it."""

    name = "alert.rejected"


@_register
@dataclass(frozen=True, kw_only=True)
class AlertInconclusive(_AlertFinal):
    """Alert `alert_id` could not be decided after `reviews` reviews; it is treated as no match."""

    name = "alert.inconclusive"


@_register
@dataclass(frozen=True, kw_only=True)
class AlertOutcome(Event):
    """What the operator did after confirmed alert `alert_id`: `action_taken`, in their own words."""

    name = "alert.outcome"
    alert_id: int
    action_taken: str


@_register
@dataclass(frozen=True, kw_only=True)
class EvidenceViewed(Event):
    """Someone looked at alert `alert_id`'s encrypted evidence of `kind` (crop or thumbnail)."""

    name = "evidence.view"
    alert_id: int
    kind: str


# --- retention, audit and reports ----------------------------------------------------------------------


@_register
@dataclass(frozen=True, kw_only=True)
class RetentionPurged(Event):
    """Data past its retention period was deleted; `deleted` counts it per kind."""

    name = "retention.purge"
    deleted: dict[str, int]


@_register
@dataclass(frozen=True, kw_only=True)
class AuditExported(Event):
    """The audit log was exported to `destination`: `records` records after `since_seq`.

    last_seq: the last record included; sha256: the hash of the exported file, to check the copy.
    """

    name = "audit.export"
    destination: str
    since_seq: int | None
    records: int
    last_seq: int
    sha256: str


@_register
@dataclass(frozen=True, kw_only=True)
class AuditVerified(Event):
    """The audit chain was verified: `ok`, over `records` records; `first_bad_seq` names the first failure."""

    name = "audit.verify"
    ok: bool
    records: int
    first_bad_seq: int | None


@_register
@dataclass(frozen=True, kw_only=True)
class StateBound(Event):
    """Rows of the tables that gate action changed in this transaction, through Overt.

    rows: each row ("table:primary key") mapped to a keyed digest of its bound columns ("" once deleted), so
    that `audit verify` can tell a change made through Overt from one made with SQL. Digests only: the log
    holds no values.
    """

    name = "state.bind"
    rows: dict[str, str]


@_register
@dataclass(frozen=True, kw_only=True)
class AuditKeysRotated(Event):
    """The audit keys were replaced; this record is authenticated with the old MAC key.

    old_mac_key, new_mac_key: MAC key ids (records after this one must use the new key);
    old_signing_key, new_signing_key: Ed25519 key ids; new_public_key: the new public key (hex);
    endorsement: the old signing key's signature of `rotation_message(new_signing_key, new_public_key)`,
    so witnesses who trust the old key can trust the new one.
    """

    name = "audit.keys_rotate"
    old_mac_key: str
    new_mac_key: str
    old_signing_key: str
    new_signing_key: str
    new_public_key: str
    endorsement: str


@_register
@dataclass(frozen=True, kw_only=True)
class ReportGenerated(Event):
    """A report of `kind` (deployment record, annual, accountability) was generated; `sha256` is its hash."""

    name = "report.generate"
    kind: str
    sha256: str


# --- evaluation -----------------------------------------------------------------------------------------


@_register
@dataclass(frozen=True, kw_only=True)
class EvaluationRun(Event):
    """`model` was evaluated on the dataset whose manifest hashes to `dataset_sha256`.

    metrics: the summary numbers (e.g. FMR and FNMR at the threshold, per-group rates).
    """

    name = "evaluation.run"
    model: str
    dataset_sha256: str
    metrics: dict[str, float]


@_register
@dataclass(frozen=True, kw_only=True)
class CalibrationWritten(Event):
    """A calibration for `model` was written: `threshold`, derived from the dataset `dataset_sha256`.

    file_sha256: the hash of the calibration file, so later searches can cite which one they used.
    """

    name = "calibration.write"
    model: str
    dataset_sha256: str
    threshold: float
    file_sha256: str


@_register
@dataclass(frozen=True, kw_only=True)
class CohortBuilt(Event):
    """Evaluation cohort `cohort` was built: `manifest_sha256` hashes its manifest; `groups` sizes groups."""

    name = "cohort.build"
    cohort: str
    manifest_sha256: str
    groups: dict[str, int]


# --- the public -----------------------------------------------------------------------------------------


@_register
@dataclass(frozen=True, kw_only=True)
class PublicCameraReported(Event):
    """A member of the public reported an unregistered camera: report `report_id`, with a photo or not."""

    name = "public.camera_report"
    report_id: int
    with_photo: bool


@_register
@dataclass(frozen=True, kw_only=True)
class PublicModerated(Event):
    """Public report `report_id` was moderated: `decision` is accept or reject.

    camera: the camera registered from it, "" when none was.
    """

    name = "public.moderate"
    report_id: int
    decision: str
    camera: str


# --- review at live rates: sightings, linked subjects, safe stops -------------------------------------


@_register
@dataclass(frozen=True, kw_only=True)
class AlertSighting(Event):
    """Subject `subject_id` was seen again at `camera` while alert `alert_id` was open: a sighting joined it
    instead of a new alert. sighting_id: the sighting; score: its similarity; track: the tracker's id."""

    name = "alert.sighting"
    alert_id: int
    sighting_id: int
    camera: str
    subject_id: int
    score: float
    track: int | None


@_register
@dataclass(frozen=True, kw_only=True)
class SubjectLinked(Event):
    """Subject `subject_id` was enrolled although its template matches `same_as_id` at the calibrated
    threshold: the operator linked both records on purpose as one person (`score`: their similarity)."""

    name = "subject.link"
    subject_id: int
    same_as_id: int
    score: float


@_register
@dataclass(frozen=True, kw_only=True)
class DeploymentPaused(Event):
    """A safe stop: `camera` ("" for the whole deployment) was paused for `reason` (pause `pause_id`);
    `automatic` when the review queue outgrew the spec's limit rather than a person pressing stop."""

    name = "deployment.pause"
    pause_id: int
    camera: str
    reason: str
    automatic: bool


@_register
@dataclass(frozen=True, kw_only=True)
class DeploymentResumed(Event):
    """Pause `pause_id` of `camera` ("" for the whole deployment) was lifted by an operator, under the
    approval of `spec_sha256` that was still in force."""

    name = "deployment.resume"
    pause_id: int
    camera: str
    spec_sha256: str


def describe_events() -> str:
    """Markdown documentation of every event: name, what it means, and its fields with their types."""
    out = ["# Audited events", ""]
    for name in sorted(EVENTS):
        cls = EVENTS[name]
        hints = typing.get_type_hints(cls)
        out += [f"## `{name}`", "", inspect.getdoc(cls) or "", ""]
        out += [f"- `{f.name}`: `{_type_name(hints[f.name])}`" for f in fields(cls)]
        out.append("")
    return "\n".join(out)


def _type_name(annotation: Any) -> str:
    return annotation.__name__ if isinstance(annotation, type) else str(annotation).replace("NoneType", "None")
