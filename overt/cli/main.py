"""`overt`: one command-line tool over the service layer."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from ..audit import AuditKeyError
from ..audit.merkle import ProofError
from ..audit.tree import TreeError
from ..config import Settings
from ..engine import EngineError, ImageError, NoFaceError
from ..gallery.crypto import EncryptionKeyError
from ..gallery.store import GalleryError
from ..governance.permissions import Refused
from ..governance.spec import SpecError
from ..services import NotInitialised, Overt
from . import (
    admin_cmds,
    audit_cmds,
    camera_cmds,
    cluster_cmds,
    cohort_cmds,
    engine_cmds,
    evaluate_cmds,
    gallery_cmds,
    governance_cmds,
    observatory_cmds,
    report_cmds,
    review_cmds,
    rights_cmds,
    serve_cmds,
    stream_cmds,
)
from .output import (
    EXIT_BAD_IMAGE,
    EXIT_ERROR,
    EXIT_INTEGRITY,
    EXIT_NO_FACE,
    EXIT_REFUSED,
    EXIT_USAGE,
    err_console,
)

# Expected failures and their exit codes; most specific first.
EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (Refused, EXIT_REFUSED),
    (TreeError, EXIT_INTEGRITY),
    (ProofError, EXIT_USAGE),
    (AuditKeyError, EXIT_ERROR),
    (NoFaceError, EXIT_NO_FACE),
    (ImageError, EXIT_BAD_IMAGE),
    (SpecError, EXIT_USAGE),
    (EngineError, EXIT_ERROR),
    (GalleryError, EXIT_ERROR),
    (EncryptionKeyError, EXIT_ERROR),
    (NotInitialised, EXIT_ERROR),
    (OSError, EXIT_ERROR),
)

app = typer.Typer(
    name="overt",
    help="Accountable facial recognition: authorised, reviewed, audited.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    home: Path | None = typer.Option(
        None, "--home", help="Data directory (default $OVERT_HOME or ~/.local/share/overt)."
    ),
    as_user: str | None = typer.Option(
        None, "--as", help="Act as this user (default $OVERT_USER); needs that user's token in $OVERT_TOKEN."
    ),
) -> None:
    overrides: dict = {}
    if home is not None:
        overrides["home"] = home
    if as_user is not None:
        overrides["user"] = as_user
    ctx.obj = Overt(Settings(**overrides))
    ctx.call_on_close(ctx.obj.checkpoint)


for module in (
    engine_cmds,
    evaluate_cmds,
    cohort_cmds,
    admin_cmds,
    audit_cmds,
    gallery_cmds,
    governance_cmds,
    camera_cmds,
    report_cmds,
    serve_cmds,
    stream_cmds,
    observatory_cmds,
    review_cmds,
    rights_cmds,
    cluster_cmds,
):
    module.register(app)


def main() -> None:
    """Entry point: expected failures are one line on stderr, never a traceback (OVERT_DEBUG=1 shows it)."""
    try:
        app(standalone_mode=True)
    except tuple(error for error, _ in EXIT_CODES) as exc:
        code = next(code for error, code in EXIT_CODES if isinstance(exc, error))
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        sys.exit(code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # last resort: still one line
        if os.environ.get("OVERT_DEBUG"):
            raise
        err_console.print(f"[red]error:[/red] {exc.__class__.__name__}: {exc}", highlight=False)
        sys.exit(EXIT_ERROR)
