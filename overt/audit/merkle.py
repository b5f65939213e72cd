"""A Merkle tree over the audit records, as Certificate Transparency builds it (RFC 9162, section 2.1).

Outsiders cannot read the database, but they can keep the signed tree heads an installation publishes.
Two heads are consistent when the later tree extends the earlier one; a consistency proof shows it with
about log2(n) hashes, and an inclusion proof shows that a record a report cites is in a published tree.
A log rewritten or cut by someone who holds every key still cannot produce a consistency proof from a
head published before the rewrite: that is how witnesses catch an operator with root on the server.

The functions here are storage-agnostic. A tree is read through `Nodes`: a function that returns the
hashes of complete subtrees, keyed by (level, index) — level 0 the leaf hashes, level L index i the
subtree over leaves [i * 2**L, (i + 1) * 2**L). Every proof is computed twice: once to learn which
nodes it needs (so a database fetches them in one query), once with the real hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

Key = tuple[int, int]
Nodes = Callable[[set[Key]], dict[Key, bytes]]
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A proof that does not verify, or a request for one that cannot exist (sizes out of range)."""


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): where RFC 9162 splits a tree of n leaves."""
    return 1 << ((n - 1).bit_length() - 1)


def subtrees(start: int, end: int) -> list[Key]:
    """The complete subtrees that cover leaves [start, end), left to right (start aligned, as in proofs)."""
    keys: list[Key] = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start % (1 << level):
            level -= 1
        keys.append((level, start >> level))
        start += 1 << level
    return keys


class _Tree:
    """Range hashes over a node source; in planning mode it only records which nodes are needed."""

    def __init__(self, nodes: dict[Key, bytes] | None) -> None:
        self.nodes = nodes
        self.needed: set[Key] = set()

    def range_hash(self, start: int, end: int) -> bytes:
        parts = subtrees(start, end)
        if self.nodes is None:
            self.needed.update(parts)
            return b""
        result = self.nodes[parts[-1]]
        for key in reversed(parts[:-1]):
            result = node_hash(self.nodes[key], result)
        return result

    def path(self, index: int, start: int, size: int) -> list[bytes]:
        if size == 1:
            return []
        k = split(size)
        if index < k:
            return [*self.path(index, start, k), self.range_hash(start + k, start + size)]
        return [*self.path(index - k, start + k, size - k), self.range_hash(start, start + k)]

    def subproof(self, m: int, start: int, n: int, complete: bool) -> list[bytes]:
        if m == n:
            return [] if complete else [self.range_hash(start, start + m)]
        k = split(n)
        if m <= k:
            return [*self.subproof(m, start, k, complete), self.range_hash(start + k, start + n)]
        return [*self.subproof(m - k, start + k, n - k, False), self.range_hash(start, start + k)]


def _twice(nodes: Nodes, compute: Callable[[_Tree], list[bytes]]) -> list[bytes]:
    plan = _Tree(None)
    compute(plan)
    return compute(_Tree(nodes(plan.needed)))


def root(size: int, nodes: Nodes) -> bytes:
    """The tree head's hash over the first `size` leaves."""
    if size == 0:
        return EMPTY_ROOT
    return _twice(nodes, lambda t: [t.range_hash(0, size)])[0]


def inclusion_proof(index: int, size: int, nodes: Nodes) -> list[bytes]:
    """The audit path for leaf `index` (0-based) in the tree of `size` leaves (RFC 9162 2.1.3.1)."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    return _twice(nodes, lambda t: t.path(index, 0, size))


def consistency_proof(first: int, second: int, nodes: Nodes) -> list[bytes]:
    """The proof that the tree of `second` leaves extends the tree of `first` (RFC 9162 2.1.4.1)."""
    if not 0 < first <= second:
        raise ProofError(f"no consistency proof from a tree of {first} to one of {second}")
    return _twice(nodes, lambda t: t.subproof(first, 0, second, True))


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that an inclusion proof leads to (RFC 9162 2.1.3.2); compare it with a signed head."""
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size}")
    fn, sn, result = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            result = node_hash(p, result)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            result = node_hash(result, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    return result


def check_consistency(first: int, second: int, first_root: bytes, second_root: bytes, proof: Sequence[bytes]) -> None:
    """Raise ProofError unless `proof` shows that tree `second` extends tree `first` (RFC 9162 2.1.4.2)."""
    if not 0 < first <= second:
        raise ProofError(f"no consistency between a tree of {first} and one of {second}")
    if first == second:
        if proof or first_root != second_root:
            raise ProofError(f"two different heads for the same size {first}: the log forked")
        return
    path = list(proof)
    if first & (first - 1) == 0:  # an exact power of two: the first tree is a complete subtree
        path.insert(0, first_root)
    if not path:
        raise ProofError("empty consistency proof")
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0 or fr != first_root or sr != second_root:
        raise ProofError(f"the tree of {second} does not extend the tree of {first}: the log was rewritten")


class Frontier:
    """The right edge of a growing tree: the roots of its complete subtrees, largest first.

    Appending costs one leaf hash and, on average, one node hash; the root of the tree so far is a fold
    of at most log2(n) hashes. Verification streams a million records through one of these.
    """

    __slots__ = ("size", "stack")

    def __init__(self) -> None:
        self.size = 0
        self.stack: list[tuple[int, bytes]] = []  # (level, hash)

    def append(self, leaf: bytes) -> list[tuple[Key, bytes]]:
        """Add one leaf hash; returns the complete subtrees (level >= 1) that it completed, lowest first."""
        completed: list[tuple[Key, bytes]] = []
        level, value, index = 0, leaf, self.size
        while self.stack and self.stack[-1][0] == level:
            value = node_hash(self.stack.pop()[1], value)
            level, index = level + 1, index >> 1
            completed.append(((level, index), value))
        self.stack.append((level, value))
        self.size += 1
        return completed

    @classmethod
    def at(cls, size: int, nodes: Nodes) -> Frontier:
        """The frontier of the tree of `size` leaves, rebuilt from stored nodes (its complete subtrees)."""
        keys: list[Key] = []
        start = 0
        for level in reversed(range(size.bit_length())):
            if size >> level & 1:
                keys.append((level, start >> level))
                start += 1 << level
        found = nodes(set(keys)) if keys else {}
        frontier = cls()
        frontier.size = size
        frontier.stack = [(level, found[(level, idx)]) for level, idx in keys]
        return frontier

    def copy(self) -> Frontier:
        twin = Frontier()
        twin.size, twin.stack = self.size, list(self.stack)
        return twin

    def root(self) -> bytes:
        if not self.stack:
            return EMPTY_ROOT
        result = self.stack[-1][1]
        for _level, value in reversed(self.stack[:-1]):
            result = node_hash(value, result)
        return result

    def edge(self) -> Iterable[Key]:
        """The keys of the complete subtrees on the right edge (for checking stored nodes)."""
        start = 0
        for level, _value in self.stack:
            yield (level, start >> level)
            start += 1 << level
