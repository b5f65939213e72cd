"""evaluate: accuracy and demographic audits, with plots, of our engine or any vendor's scores."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..services.evaluation import EvaluationRequest
from .context import overt
from .output import console, fail, print_json, progress_bar
from .tables import WideOpt, print_table

MODES = ("scores", "classifier")


def _by(value: str) -> list[str]:
    return [c.strip() for c in value.split(",") if c.strip()]


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def _summary(result: dict, wide: bool) -> None:
    overall, diffs = result["overall"], result["differentials"]
    rows = [(key, "n/a" if overall.get(key) is None else f"{overall[key]:.4g}")
            for key in ("threshold", "fmr", "fnmr", "eer")]
    rows += [(key, "undefined (a zero rate)" if diffs.get(key) is None else f"{diffs[key]:.3g}")
             for key in ("fmr_max_min", "fnmr_max_min", "fmr_max_geomean", "fnmr_max_geomean")]
    print_table(("measure", "value"), rows)
    _worst_groups(result.get("groups") or {}, wide)
    console.print(f"report: [bold]{result['report']}[/bold]   metrics: {result['metrics']}")


def _worst_groups(groups: dict[str, dict], wide: bool, shown: int = 5) -> None:
    """The groups by within-group FMR, worst first (all of them with --wide), as report.html ranks them."""
    if not groups:
        return
    ranked = sorted(groups.items(), key=lambda item: (-(item[1].get("fmr") or 0), -(item[1].get("fnmr") or 0)))
    rows = [(name, _rate(g.get("fmr")), f"{g.get('false_matches', 0)}/{g.get('impostor', 0)}",
             _rate(g.get("fnmr")), f"{g.get('false_non_matches', 0)}/{g.get('genuine', 0)}",
             "low" if g.get("low_support") else "ok")
            for name, g in (ranked if wide else ranked[:shown])]
    console.print("[bold]groups, worst FMR first[/bold]")
    print_table(("group", "FMR", "false/impostor", "FNMR", "missed/genuine", "support"), rows,
                optional=("support", "missed/genuine", "false/impostor"), wrap=("group",), wide=wide)
    if len(ranked) > len(rows):
        console.print(f"[dim]{len(ranked) - len(rows)} more groups: --wide, --json or the report[/dim]")


def evaluate(
    ctx: typer.Context,
    target: str = typer.Argument(
        ...,
        metavar="MANIFEST | scores FILE | classifier PRED",
        help="A manifest CSV (path,identity,<labels>), or 'scores' / 'classifier'.",
    ),
    file: Path | None = typer.Argument(None, help="With 'scores': the score CSV; with 'classifier': PRED.csv."),
    by: str = typer.Option("", "--by", help="Label columns defining groups, e.g. gender,ethnicity."),
    out: Path = typer.Option(Path("evaluation"), "--out", help="Folder for report.html and metrics.json."),
    truth: Path | None = typer.Option(None, "--truth", help="With 'classifier': TRUTH.csv."),
    root: Path | None = typer.Option(None, "--root", help="Folder the manifest's paths are relative to."),
    threshold: float | None = typer.Option(None, "--threshold", help="Evaluate at this threshold."),
    target_fmr: float = typer.Option(0.01, "--target-fmr", help="FMR every group must meet when calibrating."),
    calibrate: bool = typer.Option(False, "--calibrate", help="Write the worst-group calibration for this model."),
    normalise: str | None = typer.Option(None, "--normalise", help="raw or as-norm (default: as calibrated)."),
    cohort_k: int | None = typer.Option(None, "--cohort-k", help="AS-norm: nearest cohort faces per side."),
    evidence: Path | None = typer.Option(
        None, "--evidence", help="JSON recorded in the calibration (e.g. bench/cohort.py)."
    ),
    impostor_limit: int = typer.Option(2_000_000, "--impostor-limit", help="Sample impostor pairs above this."),
    seed: int = typer.Option(0, "--seed"),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Resamples of identities for intervals (0: none)."),
    as_json: bool = typer.Option(False, "--json"),
    wide: bool = WideOpt,
) -> None:
    """Error rates per group (FMR, FNMR, FTA, DET, EER, differentials with intervals) and a self-contained report."""
    service = overt(ctx).evaluation
    columns = _by(by)
    if target in MODES:
        if file is None:
            fail(f"evaluate {target} needs a file", 2)
        if target == "scores":
            result = service.evaluate_scores(
                file,
                out,
                columns,
                threshold=threshold,
                target_fmr=None if threshold is not None else target_fmr,
                seed=seed,
                n_bootstrap=bootstrap,
            )
        else:
            if truth is None or not columns:
                fail("evaluate classifier needs --truth TRUTH.csv and --by COLS", 2)
            result = service.evaluate_classifier(file, truth, out, columns)
            print_json(result) if as_json else console.print(f"report: [bold]{result['report']}[/bold]")
            return
    else:
        manifest = Path(target)
        if not manifest.is_file():
            fail(f"{manifest}: no such manifest")
        if normalise not in (None, "raw", "as-norm"):
            fail("--normalise is raw or as-norm", 2)
        request = EvaluationRequest(
            manifest,
            out,
            columns,
            root,
            threshold,
            target_fmr,
            impostor_limit,
            seed,
            bootstrap,
            calibrate,
            normalise,
            cohort_k,
            json.loads(evidence.read_text()) if evidence else {},
        )
        with progress_bar(disable=as_json) as bar:
            task = bar.add_task("embedding", total=len(manifest.read_text().splitlines()) - 1)
            boot = bar.add_task("bootstrap", total=None, visible=False)

            def resampled(done: int, total: int) -> None:
                bar.update(boot, completed=done, total=total, visible=True)

            result = service.evaluate_engine(request, on_image=lambda: bar.advance(task), progress=resampled)
    if as_json:
        print_json(result)
    else:
        _summary(result, wide)
        if "calibration" in result:
            c = result["calibration"]
            console.print(
                f"calibration written: {c['path']} (threshold {c['threshold']:.4f}, decided by {c['limiting_group']})"
            )


def register(app: typer.Typer) -> None:
    app.command()(evaluate)
