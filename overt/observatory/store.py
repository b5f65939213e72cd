"""The observatory's database and the deployments index over it: imports that keep a hash-chained
change history, reviewers' sign-off per version, aggregates for the public pages."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..storage.db import Database
from .models import Camera, IndexChange, IndexRecord, ObservatoryBase
from .schema import FIELDS, content_sha256, normalise

GENESIS = "0" * 64
CAMERA_PREFIX = "camera/"  # chain entries for moderators' decisions on cameras, not index records


class ObservatoryError(Exception):
    """An observatory action that cannot be done; the message says why."""


class Observatory:
    """One observatory database. `url` is any SQLAlchemy URL; a path means a SQLite file."""

    def __init__(self, url: str | Path) -> None:
        self.db = Database(url if isinstance(url, str) and "://" in url else f"sqlite:///{url}")
        ObservatoryBase.metadata.create_all(self.db.engine)

    @contextmanager
    def session(self, write: bool = False) -> Iterator[Session]:
        """One transaction. A writing one takes the write lock before its first read, so concurrent
        writers queue instead of forking the change chain (PostgreSQL) or failing on a stale snapshot
        (SQLite, whose deferred transactions cannot upgrade after another writer committed)."""
        with self.db.session() as session:
            if write:
                if self.db.is_sqlite:
                    session.connection().exec_driver_sql("DELETE FROM obs_changes WHERE 0")
                else:
                    session.connection().exec_driver_sql("LOCK TABLE obs_changes IN SHARE ROW EXCLUSIVE MODE")
            yield session

    def close(self) -> None:
        self.db.dispose()

    # --- the deployments index -------------------------------------------------------------------

    def import_records(self, records: list[dict[str, Any]], actor: str) -> dict[str, int]:
        """Create or update records by id; unchanged ones are left alone (so re-importing an export
        changes nothing). An update is a new version that needs a fresh sign-off."""
        counts = Counter(created=0, updated=0, unchanged=0)
        with self.session(write=True) as session:
            for raw in records:
                record = normalise(raw, f"record {raw.get('id')!r}")
                digest = content_sha256(record)
                row = session.scalar(select(IndexRecord).where(IndexRecord.record_id == record["id"]))
                if row is None:
                    row = IndexRecord(record_id=record["id"], version=1, content=record, content_sha256=digest)
                    session.add(row)
                    self._change(session, row, "created", actor, {f: record[f] for f in record if record[f]})
                    counts["created"] += 1
                elif row.content_sha256 == digest:
                    counts["unchanged"] += 1
                else:
                    changed = {f: [row.content.get(f), record[f]] for f in record if row.content.get(f) != record[f]}
                    row.content, row.content_sha256, row.version = record, digest, row.version + 1
                    self._change(session, row, "updated", actor, changed)
                    counts["updated"] += 1
        return dict(counts)

    def sign_off(self, record_id: str, reviewer: str, sha256: str, note: str = "") -> dict[str, Any]:
        """A reviewer vouches for one version of a record, named by its hash (so a sign-off never covers
        an edit made after it). The person who made the version cannot sign it off."""
        with self.session(write=True) as session:
            row = self._row(session, record_id)
            if sha256 != row.content_sha256:
                raise ObservatoryError(f"{record_id}: the record changed since you read it (version {row.version})")
            history = self._history(session, record_id)
            authors = {c.actor for c in history if c.version == row.version and c.action != "signed_off"}
            if reviewer in authors:
                raise ObservatoryError(f"{record_id}: {reviewer} edited version {row.version} and cannot sign it off")
            if any(c.actor == reviewer and c.version == row.version and c.action == "signed_off" for c in history):
                raise ObservatoryError(f"{record_id}: {reviewer} already signed off version {row.version}")
            self._change(session, row, "signed_off", reviewer, {}, note)
        return self.get(record_id)

    def get(self, record_id: str) -> dict[str, Any]:
        with self.session() as session:
            return self._public(session, self._row(session, record_id))

    def records(self, reviewed_only: bool = False) -> list[dict[str, Any]]:
        with self.session() as session:
            rows = session.scalars(select(IndexRecord).order_by(IndexRecord.record_id)).all()
            out = [self._public(session, row) for row in rows]
        return [r for r in out if r["review"]["signed_off_by"]] if reviewed_only else out

    def export(self) -> list[dict[str, Any]]:
        """The records in the exchange schema (no review metadata), for `read_file` to import again."""
        with self.session() as session:
            rows = session.scalars(select(IndexRecord).order_by(IndexRecord.record_id)).all()
            return [dict(row.content) for row in rows]

    def history(self, record_id: str) -> list[dict[str, Any]]:
        with self.session() as session:
            self._row(session, record_id)
            return [_change_dict(c) for c in self._history(session, record_id)]

    def head(self) -> dict[str, Any]:
        """The chain's head: publish it (the public API does) so that a later rewrite or truncation of the
        history, which SQL can make self-consistent, is caught by `verify_history(known_heads=...)`."""
        with self.session() as session:
            last = session.scalars(select(IndexChange).order_by(IndexChange.id.desc()).limit(1)).first()
            count = session.scalar(select(func.count()).select_from(IndexChange)) or 0
            return {"changes": count, "sha256": last.sha256 if last else GENESIS}

    def verify_history(self, known_heads: Iterable[str] = ()) -> list[str]:
        """Problems found replaying the change chain against the records and against heads published
        earlier: empty when intact."""
        problems: list[str] = []
        chain: set[str] = set()
        with self.session() as session:
            prev = GENESIS
            last: dict[str, IndexChange] = {}
            for change in session.scalars(select(IndexChange).order_by(IndexChange.id)):
                if change.prev_sha256 != prev or change.sha256 != _link(change):
                    problems.append(f"change {change.id} ({change.record_id}) does not match the chain")
                prev = change.sha256
                chain.add(change.sha256)
                last[change.record_id] = change
            for row in session.scalars(select(IndexRecord)):
                change = last.get(row.record_id)
                if (
                    change is None
                    or change.content_sha256 != row.content_sha256
                    or change.version != row.version
                    or change.sha256 != row.head_sha256
                ):
                    problems.append(f"record {row.record_id} differs from its last recorded change")
                elif content_sha256(row.content) != row.content_sha256:
                    problems.append(f"record {row.record_id} was edited outside the observatory")
            for camera in session.scalars(select(Camera).where(Camera.review.in_(("duplicate", "distinct")))):
                decision = last.get(camera_key(camera))
                if decision is None or decision.content_sha256 != decision_sha256(camera):
                    problems.append(f"camera {camera.id} ({camera_key(camera)}) differs from its moderator's decision")
        problems += [
            f"published head {h} is not in the history (rewritten or truncated)"
            for h in known_heads
            if h != GENESIS and h not in chain
        ]
        return problems

    def aggregates(self) -> dict[str, list[dict[str, Any]]]:
        """Counts of records by country, vendor, year (of start) and technology, largest first."""
        records = self.export()
        by: dict[str, Counter[str]] = {
            "country": Counter(),
            "vendor": Counter(),
            "year": Counter(),
            "technology": Counter(),
        }
        for r in records:
            by["country"][r["country"] or "unknown"] += 1
            by["vendor"][r["vendor"] or "unknown"] += 1
            by["year"][str(r["start_date"])[:4] or "unknown"] += 1
            for tech in r["technology"] or ["unspecified"]:
                by["technology"][tech] += 1
        return {
            key: [{key: name, "deployments": n} for name, n in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]
            for key, c in by.items()
        }

    # --- internals -------------------------------------------------------------------------------

    def _row(self, session: Session, record_id: str) -> IndexRecord:
        row = session.scalar(select(IndexRecord).where(IndexRecord.record_id == record_id))
        if row is None:
            raise ObservatoryError(f"no record {record_id!r} in the index")
        return row

    def _history(self, session: Session, record_id: str) -> list[IndexChange]:
        return list(
            session.scalars(select(IndexChange).where(IndexChange.record_id == record_id).order_by(IndexChange.id))
        )

    def _change(
        self, session: Session, row: IndexRecord, action: str, actor: str, changed: dict[str, Any], note: str = ""
    ) -> None:
        change = append_change(session, row.record_id, row.version, action, actor, changed, row.content_sha256, note)
        row.head_sha256 = change.sha256

    def _public(self, session: Session, row: IndexRecord) -> dict[str, Any]:
        history = self._history(session, row.record_id)
        signed = [c.actor for c in history if c.action == "signed_off" and c.version == row.version]
        return {
            **{f: row.content.get(f) for f in FIELDS},
            "sources": row.content.get("sources", []),
            "review": {
                "version": row.version,
                "sha256": row.content_sha256,
                "signed_off_by": signed,
                "changes": len(history),
            },
        }


def append_change(
    session: Session,
    record_id: str,
    version: int,
    action: str,
    actor: str,
    changed: dict[str, Any],
    content_hash: str,
    note: str = "",
) -> IndexChange:
    """Add an entry at the chain's tail (the caller holds the write lock: `Observatory.session(write=True)`)."""
    session.flush()
    prev = session.scalar(select(IndexChange.sha256).order_by(IndexChange.id.desc()).limit(1)) or GENESIS
    change = IndexChange(
        record_id=record_id,
        version=version,
        action=action,
        actor=actor,
        changed=changed,
        note=note,
        content_sha256=content_hash,
        prev_sha256=prev,
    )
    change.sha256 = _link(change)
    session.add(change)
    session.flush()
    return change


def camera_key(camera: Camera) -> str:
    """A moderated camera's name in the change chain."""
    return f"{CAMERA_PREFIX}{camera.origin}/{camera.origin_id}"


def decision_sha256(camera: Camera) -> str:
    """The hash a moderator's decision binds: the camera's review state and what it duplicates."""
    body = {"key": camera_key(camera), "review": camera.review, "duplicate_of": camera.duplicate_of}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _link(change: IndexChange) -> str:
    body = {
        "record_id": change.record_id,
        "version": change.version,
        "action": change.action,
        "actor": change.actor,
        "changed": change.changed,
        "note": change.note,
        "content_sha256": change.content_sha256,
        "prev": change.prev_sha256,
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def _change_dict(change: IndexChange) -> dict[str, Any]:
    return {
        "version": change.version,
        "action": change.action,
        "actor": change.actor,
        "at": change.at.isoformat(),
        "changed": change.changed,
        "note": change.note,
        "sha256": change.content_sha256,
    }
