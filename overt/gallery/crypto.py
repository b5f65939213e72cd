"""Encryption at rest for templates, reference images and evidence (AES-256-GCM).

The key lives outside the database (a 0600 file in the keys folder, or OVERT_KEY), so a copy of
the database alone reveals no biometric data. Each ciphertext names its key by id, so a wrong key
is reported as such instead of as corrupt data, and a rotation interrupted half-way stays readable.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"OVT1"
KEY_FILE = "templates.key"
NEXT_KEY_FILE = "templates.key.next"


class EncryptionKeyError(Exception):
    """A missing, malformed or wrong encryption key; nothing was decrypted."""


def key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"overt-key-id" + key).digest()[:8]


def new_key() -> bytes:
    return AESGCM.generate_key(bit_length=256)


def _decode(text: str, origin: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except ValueError:
        raise EncryptionKeyError(f"{origin}: not base64") from None
    if len(key) != 32:
        raise EncryptionKeyError(f"{origin}: expected a 256-bit key, got {len(key) * 8} bits")
    return key


def write_key_file(path: Path, key: bytes) -> None:
    """Owner-only from the first byte: the file is created with mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(base64.b64encode(key).decode() + "\n")
    os.replace(tmp, path)


def read_key_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise EncryptionKeyError(f"encryption key not found at {path} (run `overt init`, or set OVERT_KEY)") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise EncryptionKeyError(f"{path} is readable by others: chmod 600 it")
    return _decode(path.read_text(), str(path))


class KeyRing:
    """The current key encrypts; any known key (current, or the next during a rotation) decrypts."""

    def __init__(self, current: bytes, others: list[bytes] | None = None) -> None:
        self.current = current
        self._by_id = {key_id(k): AESGCM(k) for k in [current, *(others or [])]}
        self._current_id = key_id(current)

    @classmethod
    def load(cls, keys_dir: Path, env_key: str | None = None) -> KeyRing:
        if env_key:
            return cls(_decode(env_key, "OVERT_KEY"))
        current = read_key_file(keys_dir / KEY_FILE)
        others = [read_key_file(keys_dir / NEXT_KEY_FILE)] if (keys_dir / NEXT_KEY_FILE).exists() else []
        return cls(current, others)

    @property
    def current_id(self) -> str:
        return self._current_id.hex()

    def encrypt(self, plaintext: bytes, context: str) -> bytes:
        """`context` (e.g. "template") is bound as associated data: a ciphertext cannot be moved to another use."""
        nonce = os.urandom(12)
        sealed = self._by_id[self._current_id].encrypt(nonce, plaintext, context.encode())
        return MAGIC + self._current_id + nonce + sealed

    def decrypt(self, blob: bytes, context: str) -> bytes:
        if len(blob) < 4 + 8 + 12 + 16 or blob[:4] != MAGIC:
            raise EncryptionKeyError("stored data is not an Overt ciphertext")
        aead = self._by_id.get(blob[4:12])
        if aead is None:
            raise EncryptionKeyError("stored data was encrypted with a different key (wrong OVERT_KEY or key file?)")
        try:
            return aead.decrypt(blob[12:24], blob[24:], context.encode())
        except InvalidTag:
            raise EncryptionKeyError("stored data failed authentication: it was altered or moved") from None

    def is_current(self, blob: bytes) -> bool:
        return blob[4:12] == self._current_id
