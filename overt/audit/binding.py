"""State bound to the log: the rows that gate action can only change through Overt.

A model opts in by naming its bound columns, e.g. `__audit_fields__ = ("status", "outcome")`. Whenever a
transaction inserts, changes or deletes such a row through the ORM, one `state.bind` record joins the
log in that same transaction, mapping each row ("alerts:5") to a keyed digest of its bound columns ("" once
deleted). `audit verify` recomputes the digest of every current row and names each that disagrees with its
last binding: a row changed, added or deleted with SQL (`UPDATE alerts SET status='confirmed'`) cannot hide,
because nobody without the audit key can write a `state.bind` record that verifies.

Bulk INSERT/UPDATE/DELETE statements on bound tables bypass the ORM's bookkeeping, so they are refused
here: code must add, load and change rows through the session, which keeps this guarantee true by
construction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Float, inspect, select
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction

from ..storage.models import Base
from .canonical import canonical_json, format_time
from .mac import MacKeyRing

_PENDING = "overt.audit.bound_rows"


def bound_models() -> dict[str, type[Any]]:
    """Every model with `__audit_fields__`, by table name."""
    return {
        mapper.class_.__tablename__: mapper.class_
        for mapper in Base.registry.mappers
        if getattr(mapper.class_, "__audit_fields__", None)
    }


def row_key(obj: Any) -> str:
    """ "table:pk" (several primary-key columns joined with "/")."""
    mapper = inspect(type(obj))
    pk = mapper.primary_key_from_instance(obj)
    return f"{type(obj).__tablename__}:{'/'.join(str(v) for v in pk)}"


def _plain(value: Any, real: bool) -> Any:
    if isinstance(value, bytes):
        return hashlib.sha256(value).hexdigest()
    if isinstance(value, datetime):
        return format_time(value)
    if real and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # bound as the database will hand it back: 180 is stored and read as 180.0
    return value


@cache
def _real_fields(model: type[Any]) -> frozenset[str]:
    return frozenset(name for name in model.__audit_fields__ if isinstance(model.__table__.c[name].type, Float))


def row_values(obj: Any) -> dict[str, Any]:
    real = _real_fields(type(obj))
    return {name: _plain(getattr(obj, name), name in real) for name in type(obj).__audit_fields__}


def digest(ring: MacKeyRing, key_id: str, key: str, values: dict[str, Any]) -> str:
    """A keyed digest (32 hex digits) of one row: ids and values never appear in the log in clear."""
    return ring.mac(canonical_json({"row": key, "values": values}).encode(), key_id)[:32]


class Binder:
    """Collects the bound rows a transaction touches, and turns them into one `state.bind` record's rows."""

    def __init__(self) -> None:
        self.models = tuple(bound_models().values())

    def after_flush(self, session: Session, _context: UOWTransaction) -> None:
        pending: dict[str, Any] = session.info.setdefault(_PENDING, {})
        for obj in [*session.new, *session.dirty]:
            if isinstance(obj, self.models):
                pending[row_key(obj)] = obj
        for obj in session.deleted:
            if isinstance(obj, self.models):
                pending[row_key(obj)] = None

    def take(self, session: Session, ring: MacKeyRing) -> dict[str, str]:
        """The digests of the rows touched since the last call ("" for deleted rows), under the current key."""
        pending: dict[str, Any] = session.info.pop(_PENDING, {})
        return {
            key: "" if obj is None else digest(ring, ring.current_id, key, row_values(obj))
            for key, obj in pending.items()
        }

    def forget(self, session: Session) -> None:
        session.info.pop(_PENDING, None)

    def refuse_bulk_changes(self, state: ORMExecuteState) -> None:
        """Bulk INSERT or DELETE, or UPDATE of bound columns, on a bound model would escape the binding."""
        if not (state.is_update or state.is_delete or state.is_insert) or state.bind_mapper is None:
            return
        cls = state.bind_mapper.class_
        fields = getattr(cls, "__audit_fields__", None)
        if not fields:
            return
        if state.is_update:
            values = getattr(state.statement, "_values", None) or {}
            names = {getattr(column, "key", column) for column in values}
            if names and not names & set(fields):
                return
        verb = "UPDATE" if state.is_update else "DELETE" if state.is_delete else "INSERT"
        raise TypeError(f"bulk {verb} of {cls.__tablename__} bypasses the audit binding: add, change or delete "
                        "the rows through the session")

    def current_rows(self, session: Session) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every bound row now in the database, with its bound values."""
        for model in self.models:
            for obj in session.scalars(select(model)).yield_per(5000):
                yield row_key(obj), row_values(obj)


def compare(
    bindings: dict[str, tuple[str, str, int]],
    rows: Iterator[tuple[str, dict[str, Any]]],
    ring: MacKeyRing,
    limit: int = 50,
) -> list[str]:
    """Rows that disagree with their last binding (`key -> (digest, key_id, seq)`), each named in one line.

    Also lists rows bound in the log but gone from the tables without a deletion being recorded.
    """
    problems: list[str] = []
    seen: set[str] = set()
    add: Callable[[str], None] = problems.append
    for key, values in rows:
        seen.add(key)
        bound = bindings.get(key)
        if bound is None:
            add(f"{key} is not in the audit log: added outside Overt")
        elif bound[0] == "":
            add(f"{key} was deleted at record {bound[2]} but is back: re-inserted outside Overt")
        elif bound[1] not in ring.keys:
            add(f"{key}: its binding at record {bound[2]} uses an unknown key {bound[1]}")
        elif digest(ring, bound[1], key, values) != bound[0]:
            add(f"{key} differs from the audit log (last bound at record {bound[2]}): changed outside Overt")
        if len(problems) >= limit:
            return problems
    for key, (value, _kid, seq) in bindings.items():
        if value and key not in seen:
            add(f"{key} (bound at record {seq}) is missing: deleted outside Overt")
            if len(problems) >= limit:
                break
    return problems
