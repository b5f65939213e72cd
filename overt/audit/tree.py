"""The Merkle tree over the audit records, kept in the database beside them (table `audit_tree`).

The integrator stores the complete subtrees that each leaf completes (one node on average), in the
records' own transaction; leaves themselves are derived from the records' hashes. Proofs then need
about log2(n)**2 node lookups, fetched in one or two queries, so they take milliseconds at a million
records. A node edited in the database only makes proofs fail to verify against the signed heads, and
`audit verify` recomputes the tree from the records.
"""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..storage.models import AuditRecord, AuditTreeNode
from .merkle import Key, Nodes, leaf_hash


class TreeError(Exception):
    """The stored tree lacks a node it should have (the database was edited, or the schema is older)."""


def stored_nodes(conn: Connection | Session) -> Nodes:
    """A node source over the database: leaves from `audit_log.hash`, inner nodes from `audit_tree`."""

    def fetch(keys: set[Key]) -> dict[Key, bytes]:
        found: dict[Key, bytes] = {}
        leaves = [idx + 1 for level, idx in keys if level == 0]
        inner = [key for key in keys if key[0] > 0]
        if leaves:
            rows = conn.execute(select(AuditRecord.seq, AuditRecord.hash).where(AuditRecord.seq.in_(leaves)))
            found.update({(0, seq - 1): leaf_hash(bytes.fromhex(h)) for seq, h in rows})
        by_level: dict[int, list[int]] = {}
        for level, idx in inner:
            by_level.setdefault(level, []).append(idx)
        if by_level:  # one query; each OR term is a primary-key search (a row-value IN scanned the table)
            rows = conn.execute(
                select(AuditTreeNode.level, AuditTreeNode.idx, AuditTreeNode.hash).where(
                    or_(*(and_(AuditTreeNode.level == level, AuditTreeNode.idx.in_(indexes))
                          for level, indexes in by_level.items()))
                )
            )
            found.update({(level, idx): bytes.fromhex(h) for level, idx, h in rows})
        missing = keys - found.keys()
        if missing:
            level, idx = min(missing)
            raise TreeError(f"the audit tree has no node at level {level}, index {idx}: run `overt audit verify`")
        return found

    return fetch


def insert_nodes(conn: Connection, rows: list[dict[str, object]]) -> None:
    """Store completed subtrees ({"level", "idx", "hash"}). A node already there means records were cut off
    and their seqs reused (the tamper is reported by verification); chaining must not fail on it, so the
    stale node is left as evidence."""
    if rows:
        conn.execute(_INSERT_NODES[conn.dialect.name], rows)


_INSERT_NODES = {name: dialect.insert(AuditTreeNode.__table__).on_conflict_do_nothing()
                 for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}
