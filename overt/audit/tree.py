"""The Merkle tree over the audit records, kept in the database beside them (table `audit_tree`).

The integrator stores the complete subtrees that each leaf completes (one node on average), in the
records' own transaction; leaves themselves are derived from the records' hashes. Proofs then need
about log2(n)**2 node lookups, fetched in one or two queries, so they take milliseconds at a million
records. A node edited in the database only makes proofs fail to verify against the signed heads, and
`audit verify` recomputes the tree from the records.
"""

from __future__ import annotations

import functools

from sqlalchemy import TextClause, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..storage.models import AuditTreeNode
from .merkle import Key, Nodes, leaf_hash


class TreeError(Exception):
    """The stored tree lacks a node it should have (the database was edited, or the schema is older)."""


def stored_nodes(conn: Connection | Session) -> Nodes:
    """A node source over the database: leaves from `audit_log.hash`, inner nodes from `audit_tree`."""

    def fetch(keys: set[Key]) -> dict[Key, bytes]:
        found: dict[Key, bytes] = {}
        leaves = [idx + 1 for level, idx in keys if level == 0]
        inner = sorted(key for key in keys if key[0] > 0)
        if leaves:
            rows = conn.execute(_LEAVES, {"seqs": leaves})
            found.update({(0, seq - 1): leaf_hash(bytes.fromhex(h)) for seq, h in rows})
        for start in range(0, len(inner), _TERMS):
            part = inner[start:start + _TERMS]
            params = {name: value for i, (level, idx) in enumerate(part)
                      for name, value in ((f"l{i}", level), (f"i{i}", idx))}
            found.update({(level, idx): bytes.fromhex(h) for level, idx, h in conn.execute(_nodes(len(part)), params)})
        missing = keys - found.keys()
        if missing:
            level, idx = min(missing)
            raise TreeError(f"the audit tree has no node at level {level}, index {idx}: run `overt audit verify`")
        return found

    return fetch


_LEAVES = text("SELECT seq, hash FROM audit_log WHERE seq IN :seqs").bindparams(bindparam("seqs", expanding=True))
_TERMS = 200  # OR terms a query (SQLite's expressions may nest 1,000 deep)


@functools.cache
def _nodes(count: int) -> TextClause:
    """`count` nodes by primary key, one OR term each (a row-value IN made SQLite scan the table). Text
    built once per count: building the expression at every call took 1.5 ms for a chain end of twelve
    nodes, seventy times the query, and a writer that had to rebuild its chain end paid it under the lock."""
    terms = " OR ".join(f"(level = :l{i} AND idx = :i{i})" for i in range(count))
    return text(f"SELECT level, idx, hash FROM audit_tree WHERE {terms}")


def insert_nodes(conn: Connection, rows: list[dict[str, object]]) -> None:
    """Store completed subtrees ({"level", "idx", "hash"}). A node already there means records were cut off
    and their seqs reused (the tamper is reported by verification); chaining must not fail on it, so the
    stale node is left as evidence."""
    if rows:
        conn.execute(_INSERT_NODES[conn.dialect.name], rows)


_INSERT_NODES = {name: dialect.insert(AuditTreeNode.__table__).on_conflict_do_nothing()
                 for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}
