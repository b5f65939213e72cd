"""The installation a command acts on, and who is acting, from the global options."""

from __future__ import annotations

import os
import sys

import typer

from ..governance.permissions import Refused
from ..services import Actor, Overt


def overt(ctx: typer.Context) -> Overt:
    root = ctx.find_root()
    if not isinstance(root.obj, Overt):
        raise RuntimeError("the overt command context was not initialised")
    return root.obj


def _claimed(ctx: typer.Context) -> str | None:
    """The user named with `--as` or $OVERT_USER, if any."""
    return ctx.find_root().params.get("as_user") or os.environ.get("OVERT_USER") or None


def acting(ctx: typer.Context) -> Actor:
    """Who acts: the holder of the token in $OVERT_TOKEN (or typed at a prompt on a terminal). `--as NAME`
    (or $OVERT_USER) must name that same user, so the log's "who" is a credential, not a claim.

    Only `overt init` acts without a token (it creates the first ones). Root on the server can still read
    the key files and the database directly; see README ("What root can still do").
    """
    service = overt(ctx)
    claimed = _claimed(ctx)
    token = os.environ.get("OVERT_TOKEN", "").strip()
    if not token and sys.stdin.isatty():
        token = typer.prompt(f"token for {claimed or 'your user'}", hide_input=True).strip()
    try:
        if not token:
            raise Refused(
                "credentials",
                f"acting as {claimed or 'a user'} needs that user's token in OVERT_TOKEN (or at a prompt)",
            )
        actor = service.authenticate(token)
        if claimed and actor.name != claimed:
            raise Refused("credentials", f"OVERT_TOKEN is not {claimed}'s token")
    except Refused as exc:
        service.record_separately(
            "gate.refused",
            actor=claimed or "unknown",
            outcome="refused",
            operation="authenticate",
            rule=exc.rule,
            reason=exc.message,
        )
        raise
    return actor
