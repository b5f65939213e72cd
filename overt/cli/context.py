"""The installation a command acts on, and who is acting, from the global options."""

from __future__ import annotations

import typer

from ..services import Actor, Overt


def overt(ctx: typer.Context) -> Overt:
    root = ctx.find_root()
    if not isinstance(root.obj, Overt):
        raise RuntimeError("the overt command context was not initialised")
    return root.obj


def acting(ctx: typer.Context) -> Actor:
    """`--as NAME`, else $OVERT_USER, else admin: the command line is trusted like a database console,
    but it still records who acted."""
    return overt(ctx).actor()
