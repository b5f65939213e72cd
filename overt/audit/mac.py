"""The audit MAC keys: every record is authenticated with a secret that is not in the database.

A hash chain alone needs no secret: whoever can write to the database can append a record, or rewrite
the chain and recompute every hash. An HMAC-SHA256 over each record's hash, under a key kept in the
keys folder (owner-only, beside the Ed25519 key), means that someone with the database alone cannot
add, change or renumber a record that verifies. The MAC is computed in the same transaction as the
record, so there is no window in which a record is unauthenticated.

Keys rotate (`overt keys rotate`); old keys stay in the ring so that old records still verify. The
ring is a JSON file of {"id", "key"} (base64) objects in the order they were made.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from .keys import AuditKeyError, write_secret

MAC_FILE = "audit_mac.json"


def mac_key_id(key: bytes) -> str:
    """16 hex digits that name a key without revealing it (an HMAC of a fixed label under the key)."""
    return hmac.new(key, b"overt-audit-mac-key-id", hashlib.sha256).hexdigest()[:16]


class MacKeyRing:
    """The audit MAC keys by id; `current` signs new records, all of them verify."""

    __slots__ = ("current_id", "keys", "path")

    def __init__(self, path: Path, keys: dict[str, bytes], current_id: str) -> None:
        self.path = path
        self.keys = keys
        self.current_id = current_id

    def mac(self, message: bytes, key_id: str | None = None) -> str:
        """Hex HMAC-SHA256 of `message` under `key_id` (default: the current key)."""
        return hmac.digest(self.keys[key_id or self.current_id], message, "sha256").hex()

    def check(self, key_id: str, message: bytes, mac: str) -> bool:
        """True when `mac` is `key_id`'s MAC of `message`; False for an unknown key or a wrong MAC."""
        key = self.keys.get(key_id)
        if key is None:
            return False
        return hmac.compare_digest(hmac.digest(key, message, "sha256").hex(), mac)

    def add_key(self) -> str:
        """Add a new key to the ring on disk (atomically) and return its id; it is not yet in force.

        Which key is in force is the log's business: the first authenticated record's key, then the key
        each `audit.keys_rotate` record names (see `AuditLog`), so a rotation that rolls back or a crash
        in the middle of one never leaves the ring and the log disagreeing.
        """
        key = secrets.token_bytes(32)
        self.keys[mac_key_id(key)] = key
        self._write()
        return mac_key_id(key)

    def __repr__(self) -> str:
        return f"MacKeyRing(current={self.current_id!r}, keys={len(self.keys)})"

    def _write(self) -> None:
        entries = [{"id": kid, "key": base64.b64encode(key).decode()} for kid, key in self.keys.items()]
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            write_secret(tmp, json.dumps(entries, indent=1).encode(), replace=True)
            os.replace(tmp, self.path)
        except OSError as exc:
            raise AuditKeyError(f"cannot write audit MAC keys {self.path}: {exc.strerror}") from None


def load_or_create_mac_keys(keys_dir: Path) -> MacKeyRing:
    """The installation's audit MAC keys, created on first use (0600); refused if others can read them."""
    path = keys_dir / MAC_FILE
    if not path.exists():
        _create(keys_dir, path)
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise AuditKeyError(f"audit MAC keys {path} have loose permissions {mode:04o}; run: chmod 600 {path}")
        entries = json.loads(path.read_bytes())
        keys = {str(e["id"]): base64.b64decode(e["key"], validate=True) for e in entries}
    except OSError as exc:
        raise AuditKeyError(f"cannot read audit MAC keys {path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError):
        raise AuditKeyError(f"{path} is not an audit MAC key file") from None
    if not keys or any(mac_key_id(key) != kid or len(key) != 32 for kid, key in keys.items()):
        raise AuditKeyError(f"{path} holds a malformed audit MAC key")
    return MacKeyRing(path, keys, next(reversed(keys)))


def _create(keys_dir: Path, path: Path) -> None:
    """Write a first key; atomic and first-wins when two processes start at once."""
    keys_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
    key = secrets.token_bytes(32)
    body = json.dumps([{"id": mac_key_id(key), "key": base64.b64encode(key).decode()}], indent=1).encode()
    tmp = keys_dir / f".{MAC_FILE}.{os.getpid()}.tmp"
    try:
        write_secret(tmp, body)
        os.link(tmp, path)
    except FileExistsError:
        pass
    except OSError as exc:
        raise AuditKeyError(f"cannot create audit MAC keys {path}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)
