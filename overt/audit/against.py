"""Is this log an extension of a head published earlier? The check an outsider's saved head makes possible.

Someone with root on the server holds the database and every key: they can rewrite the log, recompute
every MAC and re-sign every checkpoint, and local verification will pass. What they cannot change is a
signed head that somebody outside kept. If the first `size` records no longer have the published `root`,
or the log is shorter than `size`, the log was rewritten or cut after that head was published.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select

from ..storage.db import Database
from ..storage.models import AuditRecord
from .chain import STREAM_ROWS, head_message
from .keys import key_id, verify_signature
from .merkle import Frontier, leaf_hash
from .verify import VerifyResult

HEAD_FIELDS = ("size", "root", "at", "key_id", "signature")


class HeadError(ValueError):
    """A head file that is not a signed tree head (one-line message)."""


def read_head(path: Path) -> dict[str, Any]:
    """A signed tree head from a file (as `overt audit head --json` prints it)."""
    try:
        head = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise HeadError(f"cannot read head file {path}: {exc.strerror}") from None
    except ValueError:
        raise HeadError(f"{path} is not JSON") from None
    return parse_head(head, str(path))


def parse_head(head: Any, where: str) -> dict[str, Any]:
    if not isinstance(head, dict) or any(name not in head for name in HEAD_FIELDS):
        raise HeadError(f"{where} is not a signed tree head (needs {', '.join(HEAD_FIELDS)})")
    try:
        size = int(head["size"])
        bytes.fromhex(str(head["root"]))
    except ValueError:
        raise HeadError(f"{where}: size or root is malformed") from None
    if size < 1:
        raise HeadError(f"{where}: size must be at least 1")
    return {**head, "size": size}


def head_signed(head: dict[str, Any], keys: Iterable[Ed25519PublicKey]) -> bool:
    known = {key_id(k): k for k in keys}
    key = known.get(str(head["key_id"]))
    message = head_message(int(head["size"]), str(head["root"]), str(head["at"]))
    return key is not None and verify_signature(key, message, str(head["signature"]))


def root_of_prefix(db: Database, size: int) -> tuple[int, str]:
    """(records read, Merkle root of the first `size` records), recomputed from the records themselves."""
    frontier = Frontier()
    with db.engine.connect() as conn:
        rows = conn.execution_options(yield_per=STREAM_ROWS).execute(
            select(AuditRecord.hash).where(AuditRecord.seq <= size).order_by(AuditRecord.seq)
        )
        for (hash_,) in rows:
            frontier.append(leaf_hash(bytes.fromhex(hash_)))
    return frontier.size, frontier.root().hex()


def check_against(
    db: Database, head: dict[str, Any], keys: Iterable[Ed25519PublicKey], result: VerifyResult
) -> VerifyResult:
    """`result` (a passed local verification), failed if the log is not an extension of `head`."""
    size = int(head["size"])
    if not head_signed(head, keys):
        return _failed(result, None, f"the published head (size {size}) is not signed by any audit key this "
                                     "installation has had: its key was swapped, or the head is forged")
    read, root = root_of_prefix(db, size)
    if read < size:
        return _failed(result, read + 1, f"the log has {read} records but a published head covers {size}: "
                                         "records were cut off after it was published")
    if root != head["root"]:
        return _failed(result, None, f"the first {size} records no longer have the published root "
                                     f"{str(head['root'])[:16]}...: the log was rewritten after it was published")
    return result


def _failed(result: VerifyResult, seq: int | None, problem: str) -> VerifyResult:
    return dataclasses.replace(result, ok=False, first_bad_seq=seq, problem=problem)
