"""detect, verify, embed, models: the engine on files you pass (stores nothing)."""

from __future__ import annotations

from pathlib import Path

import typer

from ..engine import EngineError, ImageError, NoFaceError
from .context import acting, overt
from .output import (
    EXIT_BAD_IMAGE,
    EXIT_NO_FACE,
    EXIT_USAGE,
    console,
    exit_code,
    exit_for_failures,
    fail,
    print_json,
    progress_bar,
)
from .tables import WideOpt, print_table

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
    wide: bool = WideOpt,
) -> None:
    """Find faces: box, detector confidence, five landmarks, quality and the reasons it is low."""
    results = _run_batch(ctx, paths, embed=False, as_json=as_json)
    if as_json:
        print_json([r.to_json() for r in results])
        _exit_if_any_failed(results)
        return
    rows = []
    for r in results:
        if r.error:
            rows.append((r.path, "[red]error[/red]", r.error, "", "", ""))
        elif not r.faces:
            rows.append((r.path, "0", "no face", "", "", ""))
        for i, f in enumerate(r.faces, 1):
            rows.append((
                r.path,
                str(i),
                ",".join(map(str, f.face.box)),
                f"{f.face.confidence:.2f}",
                f"{f.quality.score:.2f}",
                "; ".join(f.quality.reasons),
            ))
    print_table(("path", "face", "box (x,y,w,h)", "confidence", "quality", "reasons"), rows,
                optional=("confidence",), wrap=("path", "box (x,y,w,h)", "reasons"), wide=wide)
    _exit_if_any_failed(results)


def _exit_if_any_failed(results: list) -> None:
    """Every image's result is printed first; then an image that could not be read makes the exit code 4."""
    exit_for_failures([EXIT_BAD_IMAGE for r in results if r.error])


def embed(
    ctx: typer.Context, paths: list[Path] = typer.Argument(...), as_json: bool = JsonOpt, wide: bool = WideOpt
) -> None:
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
        _exit_if_any_failed(results)
        return
    cells = []
    for row in rows:
        if "error" in row:
            cells.append((row["path"], "[red]error[/red]", row["error"], ""))
        for f in row.get("faces", []):
            cells.append((row["path"], "1", f["model"], " ".join(f"{v:+.3f}" for v in f["embedding"][:4]) + " …"))
    print_table(("path", "faces", "model", "first values"), cells, optional=("first values",),
                wrap=("path", "model"), wide=wide)
    _exit_if_any_failed(results)


def _verify_table(rows: list[dict], wide: bool) -> None:
    cells = []
    for r in rows:
        if "error" in r:
            cells.append((r["a"], r["b"], "", "", "[red]error[/red]", r["error"]))
        else:
            cells.append((
                r["a"],
                r["b"],
                f"{r['score']:.4f}",
                f"{r['threshold']:.4f}",
                "[green]yes[/green]" if r["match"] else "no",
                "; ".join(r.get("notes", [])),
            ))
    print_table(("a", "b", "score", "threshold", "match", "notes"), cells, optional=("threshold",),
                wrap=("a", "b", "notes"), wide=wide)


def verify(
    ctx: typer.Context,
    a: Path | None = typer.Argument(None),
    b: Path | None = typer.Argument(None),
    pairs: Path | None = typer.Option(None, "--pairs", help="CSV whose first two columns are image paths."),
    root: Path | None = typer.Option(None, "--root", help="Folder the CSV's paths are relative to."),
    as_json: bool = JsonOpt,
    wide: bool = WideOpt,
) -> None:
    """1:1: are A and B the same person, by the calibrated threshold? (Largest face of each.)"""
    lab = overt(ctx).lab
    if pairs is not None:
        if not pairs.is_file():
            fail(f"{pairs}: no such file")
        rows, codes = [], []
        for result in lab.verify_pairs(pairs, root):
            if as_json:
                print_json(result.to_json())
            rows.append(result.to_json())
            if result.error is not None:
                codes.append(exit_code(result.failure) if result.failure else EXIT_USAGE)
        if not as_json:
            _verify_table(rows, wide)
        exit_for_failures(codes)
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
        _verify_table([result], wide)
        console.print(f"[dim]model {result['model']}; threshold from {result['calibration']}[/dim]")


def models(ctx: typer.Context, as_json: bool = JsonOpt, wide: bool = WideOpt) -> None:
    """Backends, model files with checksums, the score-normalisation cohort, and the calibration in force."""
    info = overt(ctx).lab.models()
    if as_json:
        print_json(info)
        return
    console.print(f"detector: [bold]{info['detector']}[/bold]   embedder: [bold]{info['embedder']}[/bold]")
    rows = [(f["role"], (f["path"] if wide else f["name"]) or f["name"],
             (f["sha256"] or "") if wide else (f["sha256"] or "")[:16]) for f in info["files"]]
    print_table(("role", "file", "sha256"), rows, wrap=("file",), wide=wide)
    cohort = info["cohort"]
    if cohort is None:
        console.print("cohort: none (scores are not normalised)")
    else:
        console.print(f"cohort: [bold]{cohort['size']} faces[/bold] (sha256 "
                      f"{cohort['sha256'] if wide else cohort['sha256'][:16]}), embeddings only")
        for key in ("source", "licence", "images", "failures_to_acquire", "built", "note", "attribution"):
            if cohort.get(key) is not None:
                console.print(f"  {key.replace('_', ' ')}: {cohort[key]}", highlight=False)
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
