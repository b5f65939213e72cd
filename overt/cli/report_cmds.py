"""report: deployment records, annual reports, notifications and the accountability report, and their check."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

import typer

from ..reports import FORMATS, Report, ReportFormatError, render, report_sha256
from .context import acting, overt
from .output import EXIT_INTEGRITY, EXIT_USAGE, console, err_console, fail, print_json

report_app = typer.Typer(help="Accountability reports computed from the audit log.", no_args_is_help=True)

FormatOpt = typer.Option("html", "--format", "-f", help="html, pdf (for people), json or csv (for machines).")
OutOpt = typer.Option(None, "--out", "-o", help="File to write (default: stdout; a PDF needs --out).")
JsonOpt = typer.Option(False, "--json", help="Print the report's JSON to stdout.")
DATE_FORMATS = ["%Y-%m-%d"]


def _emit(report: Report, fmt: str, out: Path | None, as_json: bool) -> None:
    """Write the chosen format to --out (or stdout), and the JSON to stdout with --json."""
    if fmt not in FORMATS:
        fail(f"--format must be one of {', '.join(FORMATS)}", EXIT_USAGE)
    if out is None and not as_json:
        if fmt == "pdf":
            fail("a PDF needs --out PATH", EXIT_USAGE)
        sys.stdout.write(render(report, fmt).decode())
        sys.stdout.flush()
        return
    if out is not None:
        out.write_bytes(render(report, fmt))
        # With --json, stdout carries only the JSON; the note goes to stderr. Titles are text, not markup.
        (err_console if as_json else console).print(
            f"wrote {report['title']} ({fmt}) to {out}; sha256 of its JSON {report_sha256(report)}",
            highlight=False,
            markup=False,
        )
    if as_json:
        sys.stdout.write(render(report, "json").decode() + "\n")
        sys.stdout.flush()


@report_app.command("deployment")
def deployment(
    ctx: typer.Context,
    deployment_id: int = typer.Argument(..., metavar="ID"),
    fmt: str = FormatOpt,
    out: Path | None = OutOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The deployment record: authorisation, place, watchlists, threshold, faces seen, alerts and their review."""
    _emit(overt(ctx).reports.deployment(acting(ctx), deployment_id), fmt, out, as_json)


@report_app.command("annual")
def annual(
    ctx: typer.Context,
    start: datetime = typer.Option(..., "--from", formats=DATE_FORMATS, help="First day (UTC), YYYY-MM-DD."),
    end: datetime = typer.Option(..., "--to", formats=DATE_FORMATS, help="Last day (UTC, included), YYYY-MM-DD."),
    fmt: str = FormatOpt,
    out: Path | None = OutOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Every deployment and request for authorisation in a period, with the EU AI Act Art. 5(6) numbers."""
    if end < start:
        fail("--to must not be before --from", EXIT_USAGE)
    _emit(overt(ctx).reports.annual(acting(ctx), start.date(), end.date()), fmt, out, as_json)


@report_app.command("notification")
def notification(
    ctx: typer.Context,
    deployment_id: int = typer.Argument(..., metavar="ID"),
    fmt: str = FormatOpt,
    out: Path | None = OutOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The notification of a deployment to the market-surveillance and data-protection authorities."""
    _emit(overt(ctx).reports.notification(acting(ctx), deployment_id), fmt, out, as_json)


@report_app.command("accountability")
def accountability(
    ctx: typer.Context, fmt: str = FormatOpt, out: Path | None = OutOpt, as_json: bool = JsonOpt
) -> None:
    """The accountability report for the system as installed (RCW 43.386); reads OVERT_HOME/accountability.yaml."""
    _emit(overt(ctx).reports.accountability(acting(ctx)), fmt, out, as_json)


@report_app.command("verify")
def verify(ctx: typer.Context, file: Path = typer.Argument(..., metavar="FILE.json"), as_json: bool = JsonOpt) -> None:
    """Recompute a report from the audit log and records; exits non-zero and names what differs."""
    try:
        data = json.loads(file.read_text())
    except ValueError as exc:
        fail(f"{file}: not JSON ({exc})", EXIT_USAGE)
    try:
        result = overt(ctx).reports.verify(acting(ctx), data)
    except ReportFormatError as exc:
        fail(f"{file}: {exc}", EXIT_USAGE)
    if as_json:
        print_json(result.to_json())
    elif result.ok:
        recorded = f"generated at audit record {result.generated_seq}" if result.generated_seq else "public view"
        console.print(f"[green]report matches[/green] the audit log and records ({recorded}; sha256 {result.sha256})")
    if not result.ok:
        if not as_json:
            for line in result.differences:
                err_console.print(f"- {line}", highlight=False, markup=False, soft_wrap=True)
        fail(f"report does NOT match: {len(result.differences)} difference(s)", EXIT_INTEGRITY)


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
