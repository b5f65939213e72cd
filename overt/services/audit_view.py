"""The audit log as the DPO, the auditor and the authority read it: filtered, paged over the whole log
(a keyset cursor on `seq`, so a page is as fast at record 10 as at record 10 million), and exported as
the filtered records in the chain's own JSON-lines form (each line's hash still checks offline)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, func, select

from ..audit.canonical import canonical_json
from ..audit.chain import CHAIN_COLUMNS, chain_payload
from ..storage.models import AuditRecord
from .core import Actor, operate

if TYPE_CHECKING:
    from . import Overt

MAX_PAGE = 500


@dataclass(frozen=True)
class AuditFilter:
    """Which records: all given conditions hold (since <= at < until)."""

    actor: str | None = None
    action: str | None = None
    deployment_id: int | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        out: list[ColumnElement[bool]] = []
        if self.actor:
            out.append(AuditRecord.actor == self.actor)
        if self.action:
            # "request." matches every request.* action; a full name matches itself
            out.append(
                AuditRecord.action.startswith(self.action)
                if self.action.endswith(".")
                else AuditRecord.action == self.action
            )
        if self.deployment_id is not None:
            out.append(AuditRecord.deployment_id == self.deployment_id)
        if self.outcome:
            out.append(AuditRecord.outcome == self.outcome)
        if self.since is not None:
            out.append(AuditRecord.at >= self.since)
        if self.until is not None:
            out.append(AuditRecord.at < self.until)
        return out

    def describe(self) -> str:
        parts = [f"{k}={v.isoformat() if isinstance(v, datetime) else v}" for k, v in self.__dict__.items() if v]
        return "filtered: " + (", ".join(parts) or "all")


def record_view(r: AuditRecord) -> dict[str, Any]:
    return {
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


class AuditViewService:
    def __init__(self, overt: Overt) -> None:
        self.overt = overt

    def page(self, actor: Actor, where: AuditFilter, *, cursor: int | None = None, limit: int = 50) -> dict[str, Any]:
        """Newest first; `next_cursor` continues the same filter below the last record shown (None at the end).

        The first page (no cursor) also counts the matching records and lists the actions in the log; later
        pages skip both (each a scan), so paging through millions of records costs one index range a page.
        """
        limit = max(1, min(limit, MAX_PAGE))
        with operate(self.overt, actor, "audit.read") as op:
            conditions = where.conditions()
            query: Select[Any] = select(AuditRecord).where(*conditions).order_by(AuditRecord.seq.desc())
            if cursor is not None:
                query = query.where(AuditRecord.seq < cursor)
            rows = list(op.session.scalars(query.limit(limit + 1)))
            more = len(rows) > limit
            rows = rows[:limit]
            page: dict[str, Any] = {
                "records": [record_view(r) for r in rows],
                "next_cursor": rows[-1].seq if more and rows else None,
            }
            if cursor is None:
                page["total"] = op.session.scalar(select(func.count()).select_from(AuditRecord).where(*conditions))
                page["actions"] = sorted(op.session.scalars(select(AuditRecord.action).distinct()))
            return page

    def export(self, actor: Actor, where: AuditFilter) -> tuple[list[str], str]:
        """The filtered records as chain JSON lines (oldest first) and their sha256; the export is recorded."""
        with operate(self.overt, actor, "audit.read") as op:
            query = select(*CHAIN_COLUMNS).where(*where.conditions()).order_by(AuditRecord.seq)
            lines = [
                canonical_json({**chain_payload(*fields), "hash": hash_}) + "\n"
                for *fields, hash_ in op.session.execute(query)
            ]
            digest = hashlib.sha256("".join(lines).encode()).hexdigest()
            last = json.loads(lines[-1])["seq"] if lines else 0
            op.record(
                "audit.export",
                destination=where.describe()[:200],
                since_seq=None,
                records=len(lines),
                last_seq=last,
                sha256=digest,
            )
            return lines, digest
