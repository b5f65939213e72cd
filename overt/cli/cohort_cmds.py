"""cohort: the reference faces that score normalisation compares against."""

from __future__ import annotations

from pathlib import Path

import typer

from .context import overt
from .output import console, fail, print_json, progress_bar

cohort_app = typer.Typer(help="Cohorts for score normalisation.", no_args_is_help=True)


@cohort_app.command("build")
def cohort_build(
    ctx: typer.Context,
    folder: Path,
    source: str = typer.Option(..., "--source", help="Where the faces come from (dataset, URL, DOI)."),
    licence: str = typer.Option(..., "--licence", help="Their licence, e.g. CC-BY-4.0."),
    attribution: str = typer.Option("", "--attribution"),
    out: Path | None = typer.Option(None, "--out", help="Write here instead of installing (unsigned)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Embed a folder of openly licensed faces into a signed cohort (embeddings only, no images)."""
    if not folder.is_dir():
        fail(f"{folder}: not a folder")
    with progress_bar(disable=as_json) as bar:
        task = bar.add_task("cohort", total=None)
        result = overt(ctx).cohorts.build(
            folder, source=source, licence=licence, attribution=attribution, out=out, on_image=lambda: bar.advance(task)
        )
    if as_json:
        print_json(result)
    else:
        console.print(f"cohort of {result['faces']} faces for {result['model']} written to {result['path']}")
        console.print("re-calibrate now: `overt evaluate MANIFEST --by COLS --calibrate --normalise as-norm`")


def register(app: typer.Typer) -> None:
    app.add_typer(cohort_app, name="cohort")
