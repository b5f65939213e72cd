"""The audit trail: typed events appended to a hash chain, signed checkpoints, verification and export.

Every biometric action lands here, in the same transaction as the action itself.
"""

from .events import EVENTS, Event, describe_events
from .guard import LogGuard, NotInLog
from .keys import AuditKeyError, SigningKey, load_or_create_signing_key, load_public_key
from .log import AuditEntry, AuditLog, ExportResult
from .mac import MacKeyRing, load_or_create_mac_keys
from .verify import VerifyResult, verify_chain

__all__ = [
    "EVENTS",
    "AuditEntry",
    "AuditKeyError",
    "AuditLog",
    "Event",
    "ExportResult",
    "LogGuard",
    "MacKeyRing",
    "NotInLog",
    "SigningKey",
    "VerifyResult",
    "describe_events",
    "load_or_create_mac_keys",
    "load_or_create_signing_key",
    "load_public_key",
    "verify_chain",
]
