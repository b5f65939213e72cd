"""How every command reports: a Rich table for people, `--json` for scripts, one line on failure."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

console = Console()
err_console = Console(stderr=True)

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_NO_FACE = 3
EXIT_BAD_IMAGE = 4
EXIT_REFUSED = 5
EXIT_INTEGRITY = 6


def progress_bar(disable: bool = False) -> Progress:
    """The one progress bar every long command shows (off for --json, so stdout stays machine-readable)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=disable,
    )


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, default=str) + "\n")
    sys.stdout.flush()


def fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def exit_code(exc: BaseException) -> int:
    """The documented exit code of an expected failure (the table in `overt.cli.main`), else 1."""
    from .main import EXIT_CODES  # the one table; imported here because main imports every command module

    return next((code for error, code in EXIT_CODES if isinstance(exc, error)), EXIT_ERROR)


def exit_for_failures(codes: list[int]) -> None:
    """After a batch has printed every item's result: exit with the code its failures share, else 1."""
    if codes:
        raise typer.Exit(codes[0] if len(set(codes)) == 1 else EXIT_ERROR)
