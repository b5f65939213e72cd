"""The service layer: the one road every operation travels (who acts → gate → operation → audit).

API routes, CLI commands, stream workers and the console call these services and nothing below them.
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Any

from ..audit import AuditLog, LogGuard, load_or_create_mac_keys, load_or_create_signing_key
from ..audit.events import EVENTS
from ..audit.head import HEAD_FILE
from ..audit.keys import load_signing_keys
from ..config import Settings
from ..engine import EngineError
from ..gallery.crypto import EncryptionKeyError, KeyRing
from ..gallery.search import GallerySearch
from ..gallery.store import GalleryError
from ..governance.calibrated import Calibrated
from ..governance.permissions import Refused
from ..governance.spec import SpecError
from ..governance.users import user_by_name, user_by_token
from ..storage.db import Database
from .alerts import AlertService
from .audit import AuditService
from .audit_view import AuditViewService
from .cameras import CameraService
from .cluster_view import ClusterViewService
from .cohorts import CohortService
from .complaints import ComplaintService
from .core import PUBLIC, Actor, operate
from .deployments import DeploymentService
from .evaluation import EvaluationService
from .gallery import GalleryService
from .lab import LabService
from .live import LiveService
from .pauses import PauseService
from .queue import ReviewQueueService
from .reports import ReportService
from .rights import RightsService
from .system import SystemService


def _file_sha256(source: Any) -> str:
    data = source if isinstance(source, bytes) else Path(source).read_bytes()
    return hashlib.sha256(data).hexdigest()


class NotInitialised(Exception):
    """The data directory has no database yet."""


class Overt:
    """One installation: its settings and the services over them, created lazily."""

    domain_errors: tuple[type[Exception], ...] = (GalleryError, EngineError, SpecError, EncryptionKeyError)

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings()
        self._unsigned = False  # the audit chain grew in this process since its head was last signed
        self._calibrated: tuple[Any, Calibrated] | None = None
        self.noted_days: set[tuple[int, str]] = set()  # (deployment, day) whose public figures were noted

    # --- the rooms below, opened on first use -------------------------------------------------
    @cached_property
    def db(self) -> Database:
        db = Database(self.settings.db_url)
        if not db.is_initialised():
            raise NotInitialised(f"no Overt database at {self.settings.db_url} (run `overt init`)")
        return self.attach(db)

    def attach(self, db: Database) -> Database:
        """Use `db`, with the audit log listening to its sessions before any of them writes."""
        self.__dict__["db"] = db
        keys_dir = self.settings.keys_dir
        self.__dict__["audit"] = AuditLog(
            db,
            load_or_create_signing_key(keys_dir),
            load_or_create_mac_keys(keys_dir),
            checkpoint_file=self.settings.home / "audit" / "checkpoints.jsonl",
            head_file=keys_dir / HEAD_FILE,
            signing_keys=load_signing_keys(keys_dir),
        )
        return db

    @cached_property
    def keys(self) -> KeyRing:
        return KeyRing.load(self.settings.keys_dir, self.settings.key)

    @cached_property
    def audit(self) -> AuditLog:
        self.db  # noqa: B018 - opening the database attaches the audit log
        return self.__dict__["audit"]

    @cached_property
    def log_guard(self) -> LogGuard:
        return LogGuard(self.audit.mac_keys, self.audit.witness)

    @cached_property
    def search_index(self) -> GallerySearch:
        return GallerySearch(self.keys, self.lab.engine.scorer())

    def calibrated_threshold(self) -> float:
        return self.lab.engine.calibration().threshold

    def calibrated(self) -> Calibrated:
        """The calibration in force as the gate sees it: default threshold, score range, and the versions an
        approval pins (model, calibration file, cohort)."""
        engine = self.lab.engine
        calibration = engine.calibration()  # read once per engine, so this is computed once per process
        if self._calibrated is not None and self._calibrated[0] is calibration:
            return self._calibrated[1]
        low, high = engine.scorer().score_range
        calibrated = Calibrated(
            threshold=calibration.threshold,
            low=low,
            high=high,
            model=engine.model_id,
            calibration_sha256=hashlib.sha256(
                json.dumps(calibration.to_json(), sort_keys=True).encode()
            ).hexdigest(),
            cohort_sha256=calibration.normalisation.get("cohort_sha256"),
        )
        self._calibrated = (calibration, calibrated)
        return calibrated

    # --- audit ------------------------------------------------------------------------------
    def record(
        self,
        session: Any,
        event: str,
        *,
        actor: str,
        outcome: str = "ok",
        deployment_id: int | None = None,
        object_type: str = "",
        object_id: str = "",
        **fields: Any,
    ) -> None:
        self.audit.append(
            session,
            EVENTS[event](**fields),
            actor=actor,
            outcome=outcome,
            deployment_id=deployment_id,
            object_type=object_type,
            object_id=object_id,
        )
        self._unsigned = True

    def checkpoint(self) -> None:
        """Sign the head of the audit chain now, if this process appended since the last signature.

        Called when a command ends, periodically by the server and when a camera worker stops, so that
        cutting records off the end of the log is detected (verification checks the signed heads).
        """
        if self._unsigned:
            self.audit.checkpoint()
            self._unsigned = False

    def record_if_installed(self, event: str, **fields: Any) -> None:
        """Lab work (evaluations, calibrations) runs without an installation too; inside one it is audited."""
        try:
            db = self.db
        except NotInitialised:
            return
        with db.session() as session:
            self.record(session, event, actor=self.settings.user, **fields)

    def record_separately(self, event: str, **kwargs: Any) -> None:
        """Record in a transaction of its own (refusals and failures, whose operation rolled back)."""
        with self.db.session() as session:
            self.record(session, event, **kwargs)

    # --- who acts ----------------------------------------------------------------------------
    def actor(self, name: str | None = None) -> Actor:
        with self.db.session() as session:
            user = user_by_name(session, name or self.settings.user)
            return Actor(user.name, user.role)

    def authenticate(self, token: str) -> Actor:
        with self.db.session() as session:
            user = user_by_token(session, token)
            return Actor(user.name, user.role)

    def installed(self) -> bool:
        """Whether the data directory holds a database (lab commands then act as a user, audited); an
        SQLite file that does not exist is not created by asking."""
        url = self.settings.db_url
        if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).is_file():
            return False
        try:
            return self.db is not None
        except NotInitialised:
            return False

    def verify(self, actor: Actor, a: Any, b: Any) -> dict:
        """1:1 inside an installation: the acting user's permission is checked before either image is
        decoded, and the comparison is audited (hashes and score only). Outside one, `lab.verify` is free."""
        with operate(self, actor, "evaluate") as op:
            result = self.lab.verify(a, b)
            op.record(
                "verify",
                a_sha256=_file_sha256(a),
                b_sha256=_file_sha256(b),
                score=float(result["score"]),
                threshold=result.get("threshold"),
                match=result.get("match"),
            )
            return result

    # --- the services ------------------------------------------------------------------------
    @cached_property
    def lab(self) -> LabService:
        return LabService(self.settings)

    @cached_property
    def cohorts(self) -> CohortService:
        return CohortService(self)

    @cached_property
    def evaluation(self) -> EvaluationService:
        return EvaluationService(self.settings, lambda: self.lab.engine, self.record_if_installed)

    @cached_property
    def system(self) -> SystemService:
        return SystemService(self)

    @cached_property
    def deployments(self) -> DeploymentService:
        return DeploymentService(self)

    @cached_property
    def gallery(self) -> GalleryService:
        return GalleryService(self)

    @cached_property
    def alerts(self) -> AlertService:
        return AlertService(self)

    @cached_property
    def live(self) -> LiveService:
        return LiveService(self)

    @cached_property
    def cameras(self) -> CameraService:
        return CameraService(self)

    @cached_property
    def audit_service(self) -> AuditService:
        return AuditService(self)

    @cached_property
    def reports(self) -> ReportService:
        return ReportService(self)

    @cached_property
    def pauses(self) -> PauseService:
        return PauseService(self)

    @cached_property
    def review_queue(self) -> ReviewQueueService:
        return ReviewQueueService(self)

    @cached_property
    def rights(self) -> RightsService:
        return RightsService(self)

    @cached_property
    def complaints(self) -> ComplaintService:
        return ComplaintService(self)

    @cached_property
    def audit_view(self) -> AuditViewService:
        return AuditViewService(self)

    @cached_property
    def cluster_view(self) -> ClusterViewService:
        return ClusterViewService(self)


__all__ = ["PUBLIC", "Actor", "NotInitialised", "Overt", "Refused", "operate"]
