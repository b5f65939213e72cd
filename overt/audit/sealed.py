"""Small state files sealed with the audit MAC key, written in one piece so that a crash never halves them.

The head witness (`head.py`) and the writers' lanes (`lanes.py`) keep a few numbers outside the database:
how far the log had grown. Each state is canonical JSON with an HMAC under the audit key (so someone with
the database alone, or a file from another installation, cannot forge one), padded to a fixed size and
written with one `pwrite` at offset 0, never truncated first: a process killed at any instant leaves the
old state or the new one.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .mac import MacKeyRing


class SealedFileError(Exception):
    """The file is unreadable, malformed, or its MAC does not verify (one-line message)."""


def write_sealed(fd: int, ring: MacKeyRing, state: dict[str, Any], size: int) -> bytes:
    """Replace the file's state with `state`, sealed with the ring's current key, in one write; returns
    the bytes written."""
    message = _message(state)
    kid = ring.current_id
    line = json.dumps({"state": state, "key_id": kid, "mac": ring.mac(message, kid)}).encode()
    if len(line) > size:
        raise ValueError(f"a sealed state of {len(line)} bytes does not fit {size}")
    data = line.ljust(size)
    os.pwrite(fd, data, 0)
    return data


def read_sealed(data: bytes, ring: MacKeyRing, path: Path, what: str) -> dict[str, Any] | None:
    """The state in `data` (None when empty), checked against its MAC; SealedFileError otherwise."""
    if not data.strip():
        return None
    try:
        item = json.loads(data)
        state, kid, mac = item["state"], str(item["key_id"]), str(item["mac"])
        if not isinstance(state, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise SealedFileError(f"the {what} {path} is not a {what}") from None
    if not ring.check(kid, _message(state), mac):
        raise SealedFileError(f"the {what} {path} does not verify with the audit key (forged)")
    return state


def _message(state: dict[str, Any]) -> bytes:
    return json.dumps(state, sort_keys=True, separators=(",", ":")).encode()
