"""detect, verify, embed, models: the engine on files you pass (stores nothing)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from ..engine import EngineError, ImageError, NoFaceError
from .context import acting, overt
from .output import EXIT_BAD_IMAGE, EXIT_NO_FACE, console, fail, print_json, progress_bar

JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")


def _run_batch(ctx: typer.Context, paths: list[Path], embed: bool, as_json: bool) -> list:
    lab = overt(ctx).lab
    results = []
    if as_json or not console.is_terminal:
        results = list(lab.analyse(paths, embed=embed))
    else:
        with progress_bar() as bar:
            task = bar.add_task("faces", total=None)
            for result in lab.analyse(paths, embed=embed, on_result=lambda r: bar.advance(task)):
                results.append(result)
    if not results:
        fail("no image files found in the paths given")
    return results


def detect(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., help="Image files or folders."),
    as_json: bool = JsonOpt,
) -> None:
    """Find faces: box, detector confidence, five landmarks, quality and the reasons it is low."""
    results = _run_batch(ctx, paths, embed=False, as_json=as_json)
    if as_json:
        print_json([r.to_json() for r in results])
        return
    table = Table("path", "face", "box (x,y,w,h)", "confidence", "quality", "reasons")
    for r in results:
        if r.error:
            table.add_row(r.path, "[red]error[/red]", r.error, "", "", "")
        elif not r.faces:
            table.add_row(r.path, "0", "no face", "", "", "")
        for i, f in enumerate(r.faces, 1):
            table.add_row(
                r.path,
                str(i),
                ",".join(map(str, f.face.box)),
                f"{f.face.confidence:.2f}",
                f"{f.quality.score:.2f}",
                "; ".join(f.quality.reasons),
            )
    console.print(table)


def embed(ctx: typer.Context, paths: list[Path] = typer.Argument(...), as_json: bool = JsonOpt) -> None:
    """Templates (unit vectors) of every face, with the model that made them."""
    results = _run_batch(ctx, paths, embed=True, as_json=as_json)
    rows = []
    for r in results:
        if r.error:
            rows.append({"path": r.path, "error": r.error})
            continue
        rows.append(
            {
                "path": r.path,
                "faces": [
                    {
                        **f.face.to_json(),
                        "model": f.embedding.model,
                        "embedding": [round(float(v), 6) for v in f.embedding.vector],
                    }
                    for f in r.faces
                ],
            }
        )
    if as_json:
        print_json(rows)
        return
    table = Table("path", "faces", "model", "first values")
    for row in rows:
        if "error" in row:
            table.add_row(row["path"], "[red]error[/red]", row["error"], "")
        for f in row.get("faces", []):
            table.add_row(row["path"], "1", f["model"], " ".join(f"{v:+.3f}" for v in f["embedding"][:4]) + " …")
    console.print(table)


def _verify_table(rows: list[dict]) -> None:
    table = Table("a", "b", "score", "threshold", "match", "notes")
    for r in rows:
        if "error" in r:
            table.add_row(r["a"], r["b"], "", "", "[red]error[/red]", r["error"])
        else:
            table.add_row(
                r["a"],
                r["b"],
                f"{r['score']:.4f}",
                f"{r['threshold']:.4f}",
                "[green]yes[/green]" if r["match"] else "no",
                "; ".join(r.get("notes", [])),
            )
    console.print(table)


def verify(
    ctx: typer.Context,
    a: Path | None = typer.Argument(None),
    b: Path | None = typer.Argument(None),
    pairs: Path | None = typer.Option(None, "--pairs", help="CSV whose first two columns are image paths."),
    root: Path | None = typer.Option(None, "--root", help="Folder the CSV's paths are relative to."),
    as_json: bool = JsonOpt,
) -> None:
    """1:1: are A and B the same person, by the calibrated threshold? (Largest face of each.)"""
    lab = overt(ctx).lab
    if pairs is not None:
        if not pairs.is_file():
            fail(f"{pairs}: no such file")
        rows = []
        for result in lab.verify_pairs(pairs, root):
            if as_json:
                print_json(result.to_json())
            rows.append(result.to_json())
        if not as_json:
            _verify_table(rows)
        return
    if a is None or b is None:
        fail("give two images, or --pairs FILE.csv", 2)
    service = overt(ctx)
    try:
        # inside an installation, a named user with a token, checked before the images are touched, and audited
        result = service.verify(acting(ctx), a, b) if service.installed() else lab.verify(a, b)
    except NoFaceError as exc:
        fail(str(exc), EXIT_NO_FACE)
    except ImageError as exc:
        fail(str(exc), EXIT_BAD_IMAGE)
    except EngineError as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
    else:
        _verify_table([result])
        console.print(f"[dim]model {result['model']}; threshold from {result['calibration']}[/dim]")


def models(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """Backends, model files with checksums, and the calibration in force."""
    info = overt(ctx).lab.models()
    if as_json:
        print_json(info)
        return
    console.print(f"detector: [bold]{info['detector']}[/bold]   embedder: [bold]{info['embedder']}[/bold]")
    table = Table("role", "file", "sha256")
    for f in info["files"]:
        table.add_row(f["role"], f["path"] or f["name"], (f["sha256"] or "")[:16])
    console.print(table)
    cal = info["calibration"]
    if "error" in cal:
        console.print(f"[yellow]calibration: {cal['error']}[/yellow]")
    else:
        console.print(
            f"threshold [bold]{cal['threshold']:.4f}[/bold] — {cal['method']} on "
            f"{cal['dataset'].get('name')}, target FMR {cal['target_fmr']}, {cal['created'][:10]}"
        )


def register(app: typer.Typer) -> None:
    for command in (detect, verify, embed, models):
        app.command()(command)
