"""Installation-wide operations: init, users, key rotation, retention, audit verification and export."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit import ExportResult, VerifyResult, load_or_create_signing_key
from ..gallery.crypto import KEY_FILE, NEXT_KEY_FILE, KeyRing, new_key, write_key_file
from ..gallery.store import bump, reencrypt_all
from ..governance import deployments as deployment_rules
from ..governance.users import create_user, disable_user, reset_token
from ..storage.db import Database
from ..storage.models import Alert, AuditRecord, CameraReport, Deployment, Evidence, Sighting, Subject, User, Watchlist
from .alerts import EVIDENCE_CONTEXT
from .cameras import REPORT_CONTEXT
from .core import Actor, now, operate

if TYPE_CHECKING:
    from . import Overt


def delete_products(session: Session, deployment_id: int) -> dict[str, int]:
    """Everything a deployment produced (alerts and their evidence and reviews), deleted through the session
    so that each deletion is bound to the audit log."""
    counts = {"alerts": 0, "evidence": 0}
    for alert in session.scalars(select(Alert).where(Alert.deployment_id == deployment_id)):
        counts["evidence"] += len(alert.evidence)
        session.delete(alert)
        counts["alerts"] += 1
    return counts


def reencrypt_evidence(session: Session, old: KeyRing, new: KeyRing) -> dict[str, int]:
    """Alert evidence and the public's report photos, which the gallery's re-encryption does not cover."""
    counts = {"evidence": 0, "report_photos": 0}
    for item in session.scalars(select(Evidence)):
        item.data = new.encrypt(old.decrypt(item.data, EVIDENCE_CONTEXT), EVIDENCE_CONTEXT)
        counts["evidence"] += 1
    for sighting in session.scalars(select(Sighting).where(Sighting.crop.is_not(None))):
        sighting.crop = new.encrypt(old.decrypt(sighting.crop, EVIDENCE_CONTEXT), EVIDENCE_CONTEXT)
        counts["evidence"] += 1
    for report in session.scalars(select(CameraReport).where(CameraReport.photo.is_not(None))):
        report.photo = new.encrypt(old.decrypt(report.photo, REPORT_CONTEXT), REPORT_CONTEXT)
        counts["report_photos"] += 1
    return counts


class SystemService:
    def __init__(self, overt: Overt) -> None:
        self.overt = overt

    def init(self) -> dict[str, Any]:
        """Create the data directory, keys, schema and the `admin` user (idempotent; the token shows once)."""
        settings = self.overt.settings
        settings.home.mkdir(parents=True, exist_ok=True)
        os.chmod(settings.home, 0o700)
        created_key = False
        if not settings.key and not (settings.keys_dir / KEY_FILE).exists():
            write_key_file(settings.keys_dir / KEY_FILE, new_key())
            created_key = True
        load_or_create_signing_key(settings.keys_dir)
        db = Database(settings.db_url)
        db.migrate()
        self.overt.attach(db)
        token = None
        with db.session() as session:
            if session.scalar(select(User.id).where(User.name == "admin")) is None:
                _, token = create_user(session, "admin", "admin")
                self.overt.record(session, "init", actor="admin", home=str(settings.home), created_key=created_key)
        return {
            "home": str(settings.home),
            "database": settings.db_url.split("@")[-1],
            "admin_token": token,
            "created_key": created_key,
        }

    def add_user(self, actor: Actor, name: str, role: str) -> str:
        with operate(self.overt, actor, "user.manage") as op:
            user, token = create_user(op.session, name, role)
            op.record("user.create", object_type="user", object_id=user.name, user=user.name, role=role)
        return token

    def reset_token(self, actor: Actor, name: str) -> str:
        with operate(self.overt, actor, "user.manage") as op:
            token = reset_token(op.session, name)
            op.record("user.token_reset", object_type="user", object_id=name, user=name)
        return token

    def disable_user(self, actor: Actor, name: str, reason: str) -> None:
        with operate(self.overt, actor, "user.manage") as op:
            disable_user(op.session, name)
            op.record("user.disable", object_type="user", object_id=name, user=name, reason=reason)

    def users(self, actor: Actor) -> list[dict]:
        with operate(self.overt, actor, "user.manage") as op:
            return [
                {"name": u.name, "role": u.role, "created": u.created_at.isoformat(), "disabled": u.disabled}
                for u in op.session.scalars(select(User).order_by(User.name))
            ]

    def rotate_key(self, actor: Actor) -> dict[str, int]:
        """Re-encrypt everything under a new key; a crash half-way leaves both keys readable (by key id)."""
        settings = self.overt.settings
        if settings.key:
            raise OSError("the key comes from OVERT_KEY: rotate it where it is kept")
        old = self.overt.keys
        fresh = new_key()
        write_key_file(settings.keys_dir / NEXT_KEY_FILE, fresh)
        new = KeyRing(fresh, [old.current])
        with operate(self.overt, actor, "key.rotate") as op:
            counts = reencrypt_all(op.session, old, new)
            counts.update(reencrypt_evidence(op.session, old, new))
            for watchlist_id in op.session.scalars(select(Watchlist.id)):
                bump(op.session, watchlist_id)
            op.record("key.rotate", old_key=old.current_id, new_key=new.current_id, reencrypted=counts)
        os.replace(settings.keys_dir / NEXT_KEY_FILE, settings.keys_dir / KEY_FILE)
        self.overt.__dict__.pop("keys", None)
        self.overt.__dict__.pop("search_index", None)
        with operate(self.overt, actor, "key.rotate") as op:
            self.overt.audit.rotate_keys(op.session, actor.name, settings.keys_dir)
        counts["audit_keys"] = 1
        return counts

    def retention(self, actor: Actor, at: datetime | None = None) -> dict[str, int]:
        """Delete what has outlived its retention; lapsed urgent deployments lose everything they produced."""
        at = at or now()
        counts = {"alerts": 0, "evidence": 0, "subjects": 0, "watchlists": 0, "lapsed_deployments": 0}
        with operate(self.overt, actor, "retention.run") as op:
            session = op.session
            for item in session.scalars(select(Evidence).where(Evidence.expires_at <= at)):
                session.delete(item)
                counts["evidence"] += 1
            for sighting in session.scalars(
                select(Sighting).where(Sighting.expires_at <= at, Sighting.crop.is_not(None))
            ):
                sighting.crop = None
                counts["evidence"] += 1
            for alert in session.scalars(select(Alert).where(Alert.expires_at <= at)):
                session.delete(alert)
                counts["alerts"] += 1
            for subject in session.scalars(select(Subject).where(Subject.expires_at <= at)):
                bump(session, subject.watchlist_id)
                session.delete(subject)
                counts["subjects"] += 1
            for watchlist in session.scalars(select(Watchlist).where(Watchlist.expires_at <= at)):
                session.delete(watchlist)
                counts["watchlists"] += 1
            for deployment in session.scalars(select(Deployment).where(Deployment.urgent_started_at.is_not(None))):
                if deployment_rules.urgent_lapsed(deployment, at):
                    removed = delete_products(session, deployment.id)
                    if deployment.status == "urgent":
                        deployment.status = "lapsed"
                    deployment.urgent_started_at = None
                    counts["lapsed_deployments"] += 1
                    counts["alerts"] += removed["alerts"]
                    counts["evidence"] += removed["evidence"]
                    op.session.flush()
                    self.overt.record(
                        session,
                        "deployment.urgent_lapsed",
                        actor=actor.name,
                        deployment_id=deployment.id,
                        deleted=removed,
                    )
            op.record("retention.purge", deleted=counts)
        self.vacuum()
        return counts

    def vacuum(self) -> None:
        """SQLite keeps deleted pages in the file: secure_delete zeroes them, VACUUM gives them back."""
        db = self.overt.db
        if db.is_sqlite:
            raw = db.engine.raw_connection()  # VACUUM must run outside any transaction
            try:
                raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                raw.driver_connection.execute("VACUUM")
            finally:
                raw.close()

    def verify_audit(self, actor: Actor) -> VerifyResult:
        """Verify first, then record the verdict (so a tampered log is reported, not extended silently)."""
        return self.overt.audit_service.verify(actor)

    def audit_records(
        self, actor: Actor, *, before_seq: int | None = None, limit: int = 100, action: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest records first (a page before `before_seq`), for the console's view of the log."""
        with operate(self.overt, actor, "audit.read") as op:
            query = select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(limit)
            if before_seq is not None:
                query = query.where(AuditRecord.seq < before_seq)
            if action:
                query = query.where(AuditRecord.action == action)
            return [
                {
                    "seq": r.seq,
                    "at": r.at.isoformat(),
                    "actor": r.actor,
                    "action": r.action,
                    "deployment": r.deployment_id,
                    "object_type": r.object_type,
                    "object_id": r.object_id,
                    "outcome": r.outcome,
                    "details": json.loads(r.details),
                    "hash": r.hash,
                }
                for r in op.session.scalars(query)
            ]

    def export_audit(self, actor: Actor, out: Path | TextIO, since_seq: int | None = None) -> ExportResult:
        with operate(self.overt, actor, "audit.read") as op:
            result = self.overt.audit.export(out, since_seq)
            op.record(
                "audit.export",
                destination=str(out) if isinstance(out, Path) else "stream",
                since_seq=since_seq,
                records=result.records,
                last_seq=result.last_seq,
                sha256=result.sha256,
            )
        return result
