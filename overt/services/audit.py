"""The audit log as its readers use it: verification (also against a published head), signed tree heads,
inclusion and consistency proofs.

Heads and proofs are public, like a Certificate Transparency log's: they carry sizes, hashes and
signatures, nothing about any person, and outsiders need them to hold the operator to the log.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..audit import VerifyResult, verify_chain
from ..audit.against import check_against, read_head
from .core import Actor, operate

if TYPE_CHECKING:
    from . import Overt


class AuditService:
    def __init__(self, overt: Overt) -> None:
        self.overt = overt

    def public_keys(self) -> list[Any]:
        """Every audit public key this installation has had (the first and each rotation's)."""
        return [key.public_key for key in self.overt.audit.signing_keys.values()]

    def verify(self, actor: Actor, against: dict[str, Any] | None = None) -> VerifyResult:
        """Verify the whole log (and, given a published head, that the log extends it), then record the
        verdict - so a tampered log is reported, not silently extended."""
        with operate(self.overt, actor, "audit.read") as op:
            audit = self.overt.audit
            result = verify_chain(
                self.overt.db,
                self.public_keys(),
                audit.checkpoint_file,
                mac_keys=audit.mac_keys,
                witness=audit.witness,
            )
            if result.ok and against is not None:
                result = check_against(self.overt.db, against, self.public_keys(), result)
            op.record("audit.verify", ok=result.ok, records=result.records, first_bad_seq=result.first_bad_seq)
        return result

    def head(self, sign: bool = True) -> dict[str, Any] | None:
        """The newest signed tree head; `sign` first signs the current head if records came after it."""
        audit = self.overt.audit
        if sign:
            audit.checkpoint()  # chains anything queued; signs only if records came after the newest head
        return audit.latest_head()

    def heads(self, after_id: int = 0, limit: int = 100) -> list[dict[str, Any]]:
        return self.overt.audit.heads(after_id, min(max(limit, 1), 1000))

    def inclusion(self, seq: int, size: int | None = None) -> dict[str, Any]:
        head = self.head(sign=False)
        return self.overt.audit.inclusion_proof(seq, size if size is not None else (head or {"size": seq})["size"])

    def consistency(self, first: int, second: int) -> dict[str, Any]:
        return self.overt.audit.consistency_proof(first, second)

    def published_keys(self) -> list[dict[str, Any]]:
        """Every audit public key this installation has used, oldest first, with the rotation that
        introduced it (its endorsement by the previous key), so witnesses can follow a rotation."""
        return self.overt.audit.key_history()

    def read_head_file(self, path: Path) -> dict[str, Any]:
        return read_head(path)
