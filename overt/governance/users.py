"""Users and their API tokens (stored as SHA-256 hashes; shown once)."""

from __future__ import annotations

import hashlib
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..storage.models import User
from .people import COUNTERSIGNED_ROLES
from .permissions import Refused, Role

NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(session: Session, name: str, role: str, person: str | None = None) -> tuple[User, str]:
    """A new account for `person` (default: its name). Operational roles start `pending` until a DPO
    countersigns (see governance.people); the first DPO, made at init, is active."""
    if not NAME.match(name):
        raise Refused("user-name", "user names are 1-64 lowercase letters, digits, '.', '_' or '-'")
    if role not in {r.value for r in Role} or role == Role.PUBLIC:
        raise Refused("user-role", f"unknown role {role!r} (admin, authority, operator, reviewer, auditor, dpo)")
    if session.scalar(select(User.id).where(User.name == name)) is not None:
        raise Refused("user-exists", f"a user named {name!r} already exists")
    person = person or name
    if not NAME.match(person):
        raise Refused("user-name", "person names are 1-64 lowercase letters, digits, '.', '_' or '-'")
    if session.scalar(select(User.id).where(User.person == person, User.status == "active", User.disabled.is_(False))):
        raise Refused("one-account", f"person {person!r} already holds an active account")
    token = new_token()
    status = "pending" if role in COUNTERSIGNED_ROLES else "active"
    user = User(name=name, role=role, token_hash=hash_token(token), person=person, status=status)
    session.add(user)
    session.flush()
    return user, token


def new_token() -> str:
    return "ovt_" + secrets.token_urlsafe(32)


def reset_token(session: Session, name: str) -> str:
    """A new token for a user; the old one stops working at once."""
    user = session.scalar(select(User).where(User.name == name))  # pending accounts too: tokens get lost
    if user is None or user.disabled:
        raise Refused("unknown-user", f"no active user named {name!r}")
    token = new_token()
    user.token_hash = hash_token(token)
    return token


def disable_user(session: Session, name: str) -> User:
    user = user_by_name(session, name)
    if user.name == "admin":
        raise Refused("user-admin", "the admin user cannot be disabled (reset its token instead)")
    user.disabled = True
    return user


def user_by_name(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None or user.disabled:
        raise Refused("unknown-user", f"no active user named {name!r}")
    if user.status != "active":
        raise Refused("pending", f"user {name!r} waits for a DPO's countersignature (overt user approve)")
    return user


def user_by_token(session: Session, token: str) -> User:
    user = session.scalar(select(User).where(User.token_hash == hash_token(token)))
    if user is None or user.disabled:
        raise Refused("token", "invalid or revoked token")
    if user.status != "active":
        raise Refused("pending", f"user {user.name!r} waits for a DPO's countersignature (overt user approve)")
    return user
