"""The schema. Biometric columns (templates, images, evidence) hold AES-GCM ciphertext only."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import DateTime, TypeDecorator


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on SQLite (which stores naive text) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Models whose rows gate action name their bound columns in `__audit_fields__`: changing those
    columns outside Overt (with SQL) is detected by `overt audit verify` (see overt/audit/binding.py)."""

    type_annotation_map = {datetime: UtcDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"
    __audit_fields__ = ("name", "role", "token_hash", "disabled", "person", "status", "countersigned_by")
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Separation of duties (#13): the person this account belongs to (one active account each), and whether
    # a DPO has countersigned a grant of an operational role (`pending` accounts cannot act).
    person: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")
    countersigned_by: Mapped[str | None] = mapped_column(String(64), default=None)


class Watchlist(Base):
    __tablename__ = "watchlists"
    __audit_fields__ = ("name", "categories", "owner", "expires_at")
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    purpose: Mapped[str] = mapped_column(Text, default="")
    categories: Mapped[list[Any]] = mapped_column(default=list)
    owner: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revision: Mapped[int] = mapped_column(Integer, default=0)  # bumped on every change; search indexes follow it
    subjects: Mapped[list[Subject]] = relationship(back_populates="watchlist", cascade="all, delete-orphan")


class Subject(Base):
    __tablename__ = "subjects"
    __audit_fields__ = ("watchlist_id", "reference", "category", "expires_at", "deployment_id")
    __table_args__ = (UniqueConstraint("watchlist_id", "reference"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    watchlist_id: Mapped[int] = mapped_column(ForeignKey("watchlists.id", ondelete="CASCADE"), index=True)
    reference: Mapped[str] = mapped_column(String(128))
    category: Mapped[str] = mapped_column(String(64), default="")
    legal_basis: Mapped[str] = mapped_column(Text, default="")
    image_source: Mapped[str] = mapped_column(Text, default="")
    image_date: Mapped[str] = mapped_column(String(32), default="")
    added_by: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deployment_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)  # enrolled under it
    # The subject record this one was linked to on purpose (`enroll --same-as`): both are one person.
    same_as: Mapped[int | None] = mapped_column(ForeignKey("subjects.id", ondelete="SET NULL"), default=None)
    watchlist: Mapped[Watchlist] = relationship(back_populates="subjects")
    templates: Mapped[list[Template]] = relationship(back_populates="subject", cascade="all, delete-orphan")
    image: Mapped[ReferenceImage | None] = relationship(cascade="all, delete-orphan")


class Template(Base):
    __tablename__ = "templates"
    __audit_fields__ = ("subject_id", "model", "vector", "image_sha256")
    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), index=True)
    model: Mapped[str] = mapped_column(String(128), index=True)
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # AES-GCM ciphertext of float32 bytes
    quality: Mapped[float] = mapped_column(Float)
    image_sha256: Mapped[str] = mapped_column(String(64))
    forced_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # AS-norm statistics of this template against the cohort (not biometric: two numbers), precomputed so
    # that 1:N search normalises candidates without touching the cohort; `cohort_sha256` says which cohort.
    cohort_mean: Mapped[float | None] = mapped_column(Float, default=None)
    cohort_std: Mapped[float | None] = mapped_column(Float, default=None)
    cohort_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    subject: Mapped[Subject] = relationship(back_populates="templates")


class ReferenceImage(Base):
    __tablename__ = "reference_images"
    __audit_fields__ = ("subject_id", "data")
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id", ondelete="CASCADE"), primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # AES-GCM ciphertext of the JPEG


class Camera(Base):
    __tablename__ = "cameras"
    __audit_fields__ = (
        "name", "source", "lat", "lon", "direction", "mount", "camera_type", "zone", "operator", "public_notice"
    )
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128), default="")
    source: Mapped[str] = mapped_column(Text, default="")
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    direction: Mapped[float | None] = mapped_column(Float, default=None)
    mount: Mapped[str] = mapped_column(String(32), default="")
    camera_type: Mapped[str] = mapped_column(String(32), default="")
    zone: Mapped[str] = mapped_column(String(32), default="")
    operator: Mapped[str] = mapped_column(String(128), default="")
    public_notice: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Deployment(Base):
    __tablename__ = "deployments"
    __audit_fields__ = (
        "name", "spec", "spec_sha256", "status", "applicant", "decided_by", "approval_expires_at", "urgent_started_at",
        "snapshot", "snapshot_sha256", "urgent_first_at",
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    spec: Mapped[dict[str, Any]] = mapped_column()
    spec_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending|approved|rejected|returned|revoked|urgent
    applicant: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by: Mapped[str | None] = mapped_column(String(64), default=None)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    approval_expires_at: Mapped[datetime | None] = mapped_column(default=None)
    urgent_justification: Mapped[str] = mapped_column(Text, default="")
    urgent_started_at: Mapped[datetime | None] = mapped_column(default=None)
    # #13: what the authority approved, as it was (cameras, threshold with its calibration, watchlists,
    # reviewers, retention), its hash, and what changed since when the gate suspended the deployment.
    snapshot: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    snapshot_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    drift: Mapped[list[Any] | None] = mapped_column(default=None)
    urgent_first_at: Mapped[datetime | None] = mapped_column(default=None)  # never reset: one urgent start
    decisions: Mapped[list[Decision]] = relationship(back_populates="deployment", order_by="Decision.id")


class Decision(Base):
    __tablename__ = "decisions"
    __audit_fields__ = ("deployment_id", "actor", "decision", "spec_sha256")
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    actor: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))  # applied|approved|rejected|returned|revoked|amended|urgent
    reason: Mapped[str] = mapped_column(Text, default="")
    spec_sha256: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    deployment: Mapped[Deployment] = relationship(back_populates="decisions")


class Alert(Base):
    __tablename__ = "alerts"
    __audit_fields__ = (
        "deployment_id", "camera_id", "subject_reference", "watchlist", "score", "threshold", "status", "outcome",
        "outcome_kind", "case_ref", "expires_at", "key",
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    camera_id: Mapped[str | None] = mapped_column(String(64), default=None)
    subject_id: Mapped[int | None] = mapped_column(ForeignKey("subjects.id", ondelete="SET NULL"), default=None)
    subject_reference: Mapped[str] = mapped_column(String(128))
    watchlist: Mapped[str] = mapped_column(String(128))
    score: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    track: Mapped[int | None] = mapped_column(Integer, default=None)
    frame: Mapped[int | None] = mapped_column(Integer, default=None)
    case_ref: Mapped[str] = mapped_column(String(128), default="")
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    outcome: Mapped[str] = mapped_column(Text, default="")  # what the operator did after confirmation
    outcome_kind: Mapped[str] = mapped_column(String(24), default="")  # arrest|charge|no-further-action|...
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    expires_at: Mapped[datetime] = mapped_column()
    # One alert per person and place per window (issue 14): `key` is its first sighting's idempotency key;
    # `open_key` (deployment, place, subject) is set only while sightings may join it, so the database
    # itself refuses a second open alert for the same person at the same place.
    key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    open_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    window_ends_at: Mapped[datetime | None] = mapped_column(default=None)
    watchlist_size: Mapped[int | None] = mapped_column(Integer, default=None)  # subjects searched, for the notice
    reviews: Mapped[list[Review]] = relationship(cascade="all, delete-orphan", order_by="Review.id")
    evidence: Mapped[list[Evidence]] = relationship(cascade="all, delete-orphan")
    sightings: Mapped[list[Sighting]] = relationship(cascade="all, delete-orphan", order_by="Sighting.id")


class Review(Base):
    __tablename__ = "reviews"
    __audit_fields__ = ("alert_id", "reviewer", "decision")
    __table_args__ = (UniqueConstraint("alert_id", "reviewer"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    reviewer: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))  # confirm|reject|inconclusive
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Evidence(Base):
    __tablename__ = "evidence"
    __audit_fields__ = ("alert_id", "kind", "data")
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # crop|thumbnail
    data: Mapped[bytes] = mapped_column(LargeBinary)  # AES-GCM ciphertext of a JPEG
    expires_at: Mapped[datetime] = mapped_column()


class Sighting(Base):
    """One appearance of an alert's subject: when, where, how well it matched, and its encrypted face crop.

    `key` (deployment, camera, track, subject, window) makes raising it idempotent: a restarted worker
    that raises the same sighting again neither loses nor doubles it.
    """

    __tablename__ = "sightings"
    __audit_fields__ = ("alert_id", "score", "at", "key", "crop")
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    camera_id: Mapped[str | None] = mapped_column(String(64), default=None)
    track: Mapped[int | None] = mapped_column(Integer, default=None)
    frame: Mapped[int | None] = mapped_column(Integer, default=None)
    score: Mapped[float] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column()
    key: Mapped[str] = mapped_column(String(200), unique=True)
    crop: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # AES-GCM ciphertext of a JPEG
    expires_at: Mapped[datetime] = mapped_column()  # the crop's; the row (numbers only) lives with the alert


class Pause(Base):
    """A safe stop (AI Act Art. 14(4)(e)): a camera (or, with no camera, a whole deployment) is paused
    from `at` until an operator resumes it; the gate refuses everything it covers meanwhile."""

    __tablename__ = "pauses"
    __audit_fields__ = ("deployment_id", "camera_id", "at", "resumed_at")
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    camera_id: Mapped[str | None] = mapped_column(String(64), default=None)
    reason: Mapped[str] = mapped_column(Text, default="")
    by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column()
    resumed_by: Mapped[str | None] = mapped_column(String(64), default=None)
    resumed_at: Mapped[datetime | None] = mapped_column(default=None)


class ActivityCount(Base):
    """What remains of faces that matched nothing: numbers, per deployment, camera and hour."""

    __tablename__ = "activity_counts"
    __table_args__ = (UniqueConstraint("deployment_id", "camera_id", "hour"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    camera_id: Mapped[str] = mapped_column(String(64), default="")
    hour: Mapped[datetime] = mapped_column()
    frames: Mapped[int] = mapped_column(Integer, default=0)
    faces_seen: Mapped[int] = mapped_column(Integer, default=0)
    tracks: Mapped[int] = mapped_column(Integer, default=0)
    searches: Mapped[int] = mapped_column(Integer, default=0)


class AuditRecord(Base):
    """Append-only, hash-chained; database triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    deployment_id: Mapped[int | None] = mapped_column(Integer, default=None, index=True)
    object_type: Mapped[str] = mapped_column(String(32), default="")
    object_id: Mapped[str] = mapped_column(String(128), default="")
    outcome: Mapped[str] = mapped_column(String(16))  # ok|refused|error
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # HMAC-SHA256 of `hash` under the audit MAC key `mac_key_id` (not in the database): without the key,
    # nobody can add or change a record that verifies. NULL only for records written before version 0003.
    mac: Mapped[str | None] = mapped_column(String(64), default=None)
    mac_key_id: Mapped[str | None] = mapped_column(String(16), default=None)
    # The writer's lane and its place in it (see audit/lanes.py); covered by the MAC. NULL before 0009.
    lane: Mapped[str | None] = mapped_column(String(40), default=None)
    lane_seq: Mapped[int | None] = mapped_column(Integer, default=None)


class AuditQueued(Base):
    """An audit entry committed with its writer's work but not yet chained (audit/sequencer.py).

    Authenticated like a record (HMAC over its content, lane and place in the lane), so it cannot be forged;
    the integrator moves it into `audit_log` in chain order and deletes it here, in one transaction.
    """

    __tablename__ = "audit_queue"
    __table_args__ = (UniqueConstraint("lane", "lane_seq", name="uq_audit_queue_lane"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    lane: Mapped[str] = mapped_column(String(40))
    lane_seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    deployment_id: Mapped[int | None] = mapped_column(Integer, default=None)
    object_type: Mapped[str] = mapped_column(String(32), default="")
    object_id: Mapped[str] = mapped_column(String(128), default="")
    outcome: Mapped[str] = mapped_column(String(16))
    details: Mapped[str] = mapped_column(Text)
    mac: Mapped[str] = mapped_column(String(64))
    mac_key_id: Mapped[str] = mapped_column(String(16))


class AuditCheckpoint(Base):
    """A signed tree head: the log's first `seq` records have Merkle root `root` (hex); `hash` is record
    `seq`'s chain hash. Signed with the Ed25519 audit key `key_id`; published on the public site."""

    __tablename__ = "audit_checkpoints"
    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column()
    key_id: Mapped[str] = mapped_column(String(16))
    signature: Mapped[str] = mapped_column(String(128))
    root: Mapped[str | None] = mapped_column(String(64), default=None)  # NULL before version 0003


class AuditTreeNode(Base):
    """A complete subtree of the Merkle tree over the audit records (level >= 1; level 0 is derived from
    the records' hashes), stored so that inclusion and consistency proofs take a few lookups."""

    __tablename__ = "audit_tree"
    level: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))


class CameraReport(Base):
    """A member of the public's report of an unregistered camera, waiting for moderation."""

    __tablename__ = "camera_reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")
    photo: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # encrypted
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AssessmentDocument(Base):
    """A DPIA, FRIA, equality assessment or registration record filed with an application (#13)."""

    __tablename__ = "assessment_documents"
    __audit_fields__ = ("sha256", "kind")
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(256))  # the file's name
    sha256: Mapped[str] = mapped_column(String(64))  # of the plaintext, hashed on arrival
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)  # AES-GCM ciphertext
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Assignment(Base):
    """An operator or reviewer assigned to a deployment (in its approval, or by the DPO) (#13)."""

    __tablename__ = "deployment_assignments"
    __table_args__ = (UniqueConstraint("deployment_id", "user_name"),)
    __audit_fields__ = ("deployment_id", "user_name")
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    user_name: Mapped[str] = mapped_column(String(64))
    assigned_by: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class DeploymentDay(Base):
    """The public figures of one day of use, kept as they were that day (#13)."""

    __tablename__ = "deployment_days"
    __table_args__ = (UniqueConstraint("deployment_id", "day"),)
    __audit_fields__ = ("watchlist_size", "reviewers_required")
    id: Mapped[int] = mapped_column(primary_key=True)
    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id"), index=True)
    day: Mapped[str] = mapped_column(String(10))
    watchlist_size: Mapped[int] = mapped_column(Integer, default=0)
    reviewers_required: Mapped[int] = mapped_column(Integer, default=2)


# --- people's rights: subject requests and complaints (overt/rights) -------------------------------


class SubjectRequest(Base):
    """A data subject's request (access, erasure, rectification, objection) and what became of it."""

    __tablename__ = "subject_requests"
    __audit_fields__ = ("kind", "status", "outcome", "deadline", "closed_at")
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # access|erasure|rectification|objection
    requester: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(64), default="")
    identity_ref: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[str] = mapped_column(Text, default="")  # what the person asks (rectification, objection)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open|decided|closed
    outcome: Mapped[str] = mapped_column(String(16), default="")  # answered|granted|erased|refused
    reason: Mapped[str] = mapped_column(Text, default="")
    legal_ground: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    deadline: Mapped[datetime] = mapped_column()
    extension_reason: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime | None] = mapped_column(default=None)
    closed_at: Mapped[datetime | None] = mapped_column(default=None)
    findings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what the search found, for the letter
    done: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what an erasure deleted (ids and counts)
    photo: Mapped[RequestPhoto | None] = relationship(cascade="all, delete-orphan")


class RequestPhoto(Base):
    """The requester's photo and template (AES-GCM ciphertext), deleted when the request closes."""

    __tablename__ = "request_photos"
    request_id: Mapped[int] = mapped_column(ForeignKey("subject_requests.id", ondelete="CASCADE"), primary_key=True)
    image: Mapped[bytes] = mapped_column(LargeBinary)
    template: Mapped[bytes] = mapped_column(LargeBinary)
    model: Mapped[str] = mapped_column(String(128))
    image_sha256: Mapped[str] = mapped_column(String(64))


class Complaint(Base):
    """A complaint from the public, triaged and answered by the DPO."""

    __tablename__ = "complaints"
    __audit_fields__ = ("status", "outcome", "answered_at")
    id: Mapped[int] = mapped_column(primary_key=True)
    what: Mapped[str] = mapped_column(Text)
    place: Mapped[str] = mapped_column(Text, default="")
    when: Mapped[str] = mapped_column(String(64), default="")
    contact: Mapped[str] = mapped_column(Text, default="")
    deployment_id: Mapped[int | None] = mapped_column(Integer, default=None)
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)  # encrypted, metadata stripped
    status: Mapped[str] = mapped_column(String(16), default="received", index=True)  # received|triaged|answered
    priority: Mapped[str] = mapped_column(String(16), default="")
    triage_note: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(String(16), default="")  # upheld|partly-upheld|not-upheld|referred
    answer: Mapped[str] = mapped_column(Text, default="")
    handled_by: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None] = mapped_column(default=None)
class ClusterLease(Base):
    """Who runs a once-per-cluster job (camera supervision, retention, audit checkpoints) until when.

    Times are the database's clock, so machines whose clocks disagree still agree on who holds it."""

    __tablename__ = "cluster_leases"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column()


class ConsoleSession(Base):
    """A console login shared by every API process: stored so that reading the table gives an
    insider nothing to log in with: a hash of the session id, and the token and CSRF value sealed under the id."""

    __tablename__ = "console_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[datetime] = mapped_column()


class RateBucket(Base):
    """A token bucket per (class, client address), shared by every API process."""

    __tablename__ = "rate_buckets"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    allowed: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column()
