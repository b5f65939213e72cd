"""deployment, alerts, review: applications, decisions and the human review of candidates."""

from __future__ import annotations

from pathlib import Path

import typer

from ..governance.spec import EXAMPLE_DOCUMENTS, LAWFUL_PURPOSES, example_document
from .context import acting, overt
from .output import console, err_console, fail, print_json
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
def deployment_template(
    ctx: typer.Context,
    out: Path | None = typer.Option(
        None, "--out", help="Write application.yaml and example assessment documents into this folder."
    ),
) -> None:
    """Print a complete example application that applies as printed (a window from now, the calibrated scale)."""
    text = overt(ctx).deployments.template()
    if out is None:
        typer.echo(text, nl=False)
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / "application.yaml").write_text(text)
    for kind, (name, _) in EXAMPLE_DOCUMENTS.items():
        (out / name).write_text(example_document(kind))
    console.print(f"wrote {out / 'application.yaml'} and example documents (replace them with the real ones)")


@deployment_app.command("purposes")
def deployment_purposes(as_json: bool = JsonOpt) -> None:
    """The lawful objectives a deployment may name."""
    print_json(list(LAWFUL_PURPOSES)) if as_json else [console.print(f"- {p}") for p in LAWFUL_PURPOSES]


@deployment_app.command("apply")
def deployment_apply(ctx: typer.Context, file: Path, as_json: bool = JsonOpt) -> None:
    """Apply for a deployment (YAML or JSON); prints the new id. Assessment documents are read from files
    beside it, hashed and stored encrypted."""
    text = _read(file)
    service = overt(ctx).deployments
    deployment_id = service.apply(acting(ctx), text, base=file.parent)
    for note in service.notes(text):
        err_console.print(f"note: {note}")
    print_json({"id": deployment_id}) if as_json else typer.echo(deployment_id)


@deployment_app.command("amend")
def deployment_amend(ctx: typer.Context, deployment_id: int, file: Path) -> None:
    """Change an application; it needs a new approval."""
    overt(ctx).deployments.amend(acting(ctx), deployment_id, _read(file), base=file.parent)
    console.print(f"deployment {deployment_id} amended: pending a new approval")


def _decision(verb: str):
    def command(
        ctx: typer.Context,
        deployment_id: int,
        reason: str = ReasonOpt,
        assign: list[str] = typer.Option(
            [], "--assign", help="approve: an operator or reviewer who works under it (repeat)."
        ),
        accept_exception: bool = typer.Option(
            False,
            "--accept-single-reviewer-exception",
            help="approve: accept the application's stated legal exception to two reviewers (AI Act Art. 14(5)).",
        ),
        as_json: bool = JsonOpt,
    ) -> None:
        status = overt(ctx).deployments.decide(
            acting(ctx), deployment_id, verb, reason, accept_exception=accept_exception, assign=tuple(assign)
        )
        print_json({"id": deployment_id, "status": status}) if as_json else console.print(
            f"deployment {deployment_id}: {status}"
        )

    command.__doc__ = f"{verb.capitalize()} an application (authority named in it; never your own)."
    return command


for _verb in ("approve", "reject", "return"):
    deployment_app.command(_verb)(_decision(_verb))


@deployment_app.command("assign")
def deployment_assign(ctx: typer.Context, deployment_id: int, user: str, as_json: bool = JsonOpt) -> None:
    """Assign an operator or reviewer to a deployment (the DPO); others are refused under it."""
    overt(ctx).deployments.assign(acting(ctx), deployment_id, user)
    print_json({"id": deployment_id, "user": user}) if as_json else console.print(
        f"{user} assigned to deployment {deployment_id}"
    )


@deployment_app.command("document")
def deployment_document(
    ctx: typer.Context, deployment_id: int, document_id: int, out: Path = typer.Option(..., "--out")
) -> None:
    """Read an assessment document filed with an application (the authority or the DPO; audited)."""
    info, content = overt(ctx).deployments.document(acting(ctx), deployment_id, document_id)
    out.write_bytes(content)
    console.print(f"{info['kind']} {info['title']} (sha256 {info['sha256']}) written to {out}")


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
    for d in info["documents"]:
        console.print(f"  document {d['id']}: {d['kind']} {d['ref']} {d['title']} sha256 {d['sha256']}")
    for change in info["changes_since_approval"]:
        console.print(f"  [red]changed since approval[/red]: {change}")
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
            a["subject"] if a["subject"] is not None else "hidden",  # blind until this reviewer decides
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


def outcome(
    ctx: typer.Context,
    alert_id: int,
    text: str = typer.Argument("", help="A note on what was done (required for --kind other)."),
    kind: str = typer.Option("other", "--kind", help="arrest, charge, no-further-action, released or other."),
) -> None:
    """Record what followed a confirmed alert (counted by kind in the public record)."""
    overt(ctx).alerts.record_outcome(acting(ctx), alert_id, text, kind=kind)
    console.print(f"outcome recorded for alert {alert_id}")


def register(app: typer.Typer) -> None:
    app.add_typer(deployment_app, name="deployment")
    app.add_typer(alerts_app, name="alerts")
    app.command()(review)
    app.command()(outcome)
