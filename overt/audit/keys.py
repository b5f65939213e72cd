"""The audit signing key: Ed25519, kept in a file outside the database.

Checkpoints are signed with it, so someone who can rewrite the database (and recompute every hash)
still cannot produce a checkpoint that verifies. The private key lives in `keys_dir` with owner-only
permissions; the public key is written beside it for auditors, who need nothing else to verify.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_FILE = "audit_ed25519.key"
PUBLIC_FILE = "audit_ed25519.pub"


class AuditKeyError(Exception):
    """The audit key is missing, unreadable, malformed or too widely readable (one-line message)."""


def key_id(public_key: Ed25519PublicKey) -> str:
    """First 16 hex digits of sha256 of the raw public key: names the key in every checkpoint."""
    return hashlib.sha256(_raw(public_key)).hexdigest()[:16]


def verify_signature(public_key: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    """True when `signature` (hex) is `public_key`'s signature of `message`; False for anything malformed."""
    try:
        public_key.verify(bytes.fromhex(signature), message)
    except (InvalidSignature, ValueError):
        return False
    return True


def public_key_from_hex(raw: str) -> Ed25519PublicKey:
    """A public key from its 64 hex digits (as rotation records and the public site carry it)."""
    return Ed25519PublicKey.from_public_bytes(bytes.fromhex(raw))


def public_key_hex(public_key: Ed25519PublicKey) -> str:
    return _raw(public_key).hex()


def rotation_message(new_key_id: str, new_public_hex: str) -> bytes:
    """What the old signing key signs when it hands over to a new one."""
    return f"overt-key-rotation-v1:{new_key_id}:{new_public_hex}".encode()


class SigningKey:
    """The private key with its public half and key id; its repr never shows key material."""

    __slots__ = ("key_id", "private_key", "public_key")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self.private_key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    def sign(self, message: bytes) -> str:
        """Hex Ed25519 signature (128 characters, the width of the checkpoint column)."""
        return self.private_key.sign(message).hex()

    def __repr__(self) -> str:
        return f"SigningKey(key_id={self.key_id!r})"


def load_or_create_signing_key(keys_dir: Path) -> SigningKey:
    """The installation's audit key, created on first use (0600 in a 0700 directory) with its .pub beside it.

    Safe when two processes start at once: the key file appears atomically and only one wins.
    """
    path = keys_dir / KEY_FILE
    if not path.exists():
        _create(keys_dir, path)
    key = SigningKey(_read_private(path))
    _ensure_public(keys_dir / PUBLIC_FILE, key.public_key)
    return key


def write_secret(path: Path, data: bytes, *, replace: bool = False) -> None:
    """Write key material owner-only (0600) and durably: a new file (refused if it exists) unless `replace`,
    which overwrites. Callers that must never expose a half-written key write a temporary name and then
    link or rename it into place."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if replace else os.O_EXCL)
    fd = os.open(path, flags, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def new_signing_key(keys_dir: Path) -> SigningKey:
    """A fresh signing key for a rotation, written as `audit_ed25519.<key id>.key` (0600) beside the first."""
    key = SigningKey(Ed25519PrivateKey.generate())
    pem = key.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = keys_dir / f"audit_ed25519.{key.key_id}.key"
    try:
        write_secret(path, pem)
    except OSError as exc:
        raise AuditKeyError(f"cannot write audit signing key {path}: {exc.strerror}") from None
    return key


def load_signing_keys(keys_dir: Path) -> dict[str, SigningKey]:
    """Every audit signing key of the installation by id: the first and those made by rotations."""
    keys = {}
    for path in [keys_dir / KEY_FILE, *sorted(keys_dir.glob("audit_ed25519.*.key"))]:
        if path.exists():
            key = SigningKey(_read_private(path))
            keys[key.key_id] = key
    return keys


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An auditor's copy of the public key (PEM), e.g. `audit_ed25519.pub`."""
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as exc:
        raise AuditKeyError(f"cannot read audit public key {path}: {exc.strerror}") from None
    except (ValueError, UnsupportedAlgorithm):
        raise AuditKeyError(f"{path} is not a PEM public key") from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditKeyError(f"{path} is not an Ed25519 public key")
    return key


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _create(keys_dir: Path, path: Path) -> None:
    try:
        keys_dir.mkdir(parents=True, mode=0o700)
    except FileExistsError:
        pass
    else:
        os.chmod(keys_dir, 0o700)  # mkdir's mode is subject to the umask; be exact
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = keys_dir / f".{KEY_FILE}.{os.getpid()}.tmp"
    try:
        write_secret(tmp, pem)
        os.link(tmp, path)  # atomic and refuses to replace: a concurrent creator's key wins
    except FileExistsError:
        pass
    except OSError as exc:
        raise AuditKeyError(f"cannot create audit signing key {path}: {exc.strerror}") from None
    finally:
        tmp.unlink(missing_ok=True)


def _read_private(path: Path) -> Ed25519PrivateKey:
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise AuditKeyError(f"audit signing key {path} has loose permissions {mode:04o}; run: chmod 600 {path}")
        data = path.read_bytes()
    except OSError as exc:
        raise AuditKeyError(f"cannot read audit signing key {path}: {exc.strerror}") from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise AuditKeyError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditKeyError(f"{path} is not an Ed25519 private key")
    return key


def _ensure_public(path: Path, public_key: Ed25519PublicKey) -> None:
    """Write the .pub if missing; refuse one of another key, since auditors would verify against it."""
    if path.exists():
        if _raw(load_public_key(path)) != _raw(public_key):
            raise AuditKeyError(f"{path} does not match the audit signing key beside it")
        return
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(pem)
        os.replace(tmp, path)
    except OSError as exc:
        raise AuditKeyError(f"cannot write audit public key {path}: {exc.strerror}") from None
