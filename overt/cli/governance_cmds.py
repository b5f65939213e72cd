"""deployment, alerts, review: applications, decisions and the human review of candidates."""

from __future__ import annotations

from pathlib import Path

import typer

from ..governance.spec import LAWFUL_PURPOSES, TEMPLATE
from .context import acting, overt
from .output import console, fail, print_json
from .tables import WideOpt, print_table

JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")
ReasonOpt = typer.Option(..., "--reason", help="Recorded with the decision.")

deployment_app = typer.Typer(help="Deployment applications and their approval.", no_args_is_help=True)
alerts_app = typer.Typer(help="Candidate alerts.", no_args_is_help=True)


def _read(path: Path) -> str:
    if not path.is_file():
        fail(f"{path}: no such file")
    return path.read_text()


@deployment_app.command("template")
def deployment_template() -> None:
    """Print a complete example application."""
    typer.echo(TEMPLATE, nl=False)


@deployment_app.command("purposes")
def deployment_purposes(as_json: bool = JsonOpt) -> None:
    """The lawful objectives a deployment may name."""
    print_json(list(LAWFUL_PURPOSES)) if as_json else [console.print(f"- {p}") for p in LAWFUL_PURPOSES]


@deployment_app.command("apply")
def deployment_apply(ctx: typer.Context, file: Path, as_json: bool = JsonOpt) -> None:
    """Apply for a deployment (YAML or JSON); prints the new id."""
    deployment_id = overt(ctx).deployments.apply(acting(ctx), _read(file))
    print_json({"id": deployment_id}) if as_json else typer.echo(deployment_id)


@deployment_app.command("amend")
def deployment_amend(ctx: typer.Context, deployment_id: int, file: Path) -> None:
    """Change an application; it needs a new approval."""
    overt(ctx).deployments.amend(acting(ctx), deployment_id, _read(file))
    console.print(f"deployment {deployment_id} amended: pending a new approval")


def _decision(verb: str):
    def command(ctx: typer.Context, deployment_id: int, reason: str = ReasonOpt, as_json: bool = JsonOpt) -> None:
        status = overt(ctx).deployments.decide(acting(ctx), deployment_id, verb, reason)
        print_json({"id": deployment_id, "status": status}) if as_json else console.print(
            f"deployment {deployment_id}: {status}"
        )

    command.__doc__ = f"{verb.capitalize()} an application (authority named in it; never your own)."
    return command


for _verb in ("approve", "reject", "return"):
    deployment_app.command(_verb)(_decision(_verb))


@deployment_app.command("revoke")
def deployment_revoke(ctx: typer.Context, deployment_id: int, reason: str = ReasonOpt) -> None:
    """Stop a deployment at once."""
    overt(ctx).deployments.revoke(acting(ctx), deployment_id, reason)
    console.print(f"deployment {deployment_id} revoked")


@deployment_app.command("urgent")
def deployment_urgent(
    ctx: typer.Context, deployment_id: int, justification: str = typer.Option(..., "--justification")
) -> None:
    """Start before approval; if no approval follows within 24 h, everything produced is deleted."""
    overt(ctx).deployments.urgent_start(acting(ctx), deployment_id, justification)
    console.print(f"deployment {deployment_id} started urgently: approval needed within 24 hours")


@deployment_app.command("list")
def deployment_list(ctx: typer.Context, as_json: bool = JsonOpt, wide: bool = WideOpt) -> None:
    rows = overt(ctx).deployments.list(acting(ctx))
    if as_json:
        print_json(rows)
        return
    headers = ("id", "name", "status", "mode", "applicant", "authority", "approval expires")
    cells = []
    for d in rows:
        cells.append((
            str(d["id"]),
            d["name"],
            d["status"],
            d["spec"]["mode"],
            d["applicant"],
            d["spec"]["authority"],
            (d["approval_expires"] or "")[:16],
        ))
    print_table(headers, cells, optional=("applicant", "authority", "approval expires"), wrap=("name",), wide=wide)


@deployment_app.command("show")
def deployment_show(ctx: typer.Context, deployment_id: int, as_json: bool = JsonOpt) -> None:
    info = overt(ctx).deployments.show(acting(ctx), deployment_id)
    if as_json:
        print_json(info)
        return
    console.print(f"[bold]{info['id']} {info['name']}[/bold] — {info['status']}")
    for key, value in info["spec"].items():
        console.print(f"  {key}: {value}")
    for h in info["history"]:
        console.print(f"  {h['at'][:19]} {h['actor']} {h['decision']} {h['reason']}")


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    status: str | None = typer.Option(None, "--status"),
    deployment: int | None = typer.Option(None, "--deployment", "-d"),
    as_json: bool = JsonOpt,
    wide: bool = WideOpt,
) -> None:
    """Candidate alerts, newest first; other reviewers' decisions stay hidden until an alert is final."""
    rows = overt(ctx).alerts.list(acting(ctx), status=status, deployment_id=deployment)
    if as_json:
        print_json(rows)
        return
    headers = ("id", "deployment", "camera", "subject", "score", "threshold", "status", "reviews", "time")
    cells = []
    for a in rows:
        cells.append((
            str(a["id"]),
            str(a["deployment"]),
            a["camera"] or "",
            a["subject"],
            f"{a['score']:.4f}",
            f"{a['threshold']:.4f}",
            a["status"],
            f"{a['reviews']}/{a['reviews_required']}",
            a["time"][:19],
        ))
    print_table(headers, cells, optional=("deployment", "camera", "threshold", "time"), wide=wide)


def review(
    ctx: typer.Context,
    alert_id: int,
    decision: str = typer.Argument(..., help="confirm|reject|inconclusive"),
    note: str = typer.Option("", "--note"),
    as_json: bool = JsonOpt,
) -> None:
    """Decide on a candidate alert (reviewers only; once each)."""
    result = overt(ctx).alerts.review(acting(ctx), alert_id, decision, note)
    if as_json:
        print_json(result)
    else:
        console.print(
            f"alert {alert_id}: {result['status']} ({result['reviews']}/{result['reviews_required']} reviews)"
        )


def outcome(ctx: typer.Context, alert_id: int, text: str = typer.Argument(..., help="What was done.")) -> None:
    """Record what followed a confirmed alert."""
    overt(ctx).alerts.record_outcome(acting(ctx), alert_id, text)
    console.print(f"outcome recorded for alert {alert_id}")


def register(app: typer.Typer) -> None:
    app.add_typer(deployment_app, name="deployment")
    app.add_typer(alerts_app, name="alerts")
    app.command()(review)
    app.command()(outcome)
