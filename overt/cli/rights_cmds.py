"""request, complaint: the DPO's desk for data-subject requests and complaints from the public."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from .context import acting, overt
from .output import EXIT_USAGE, console, fail, print_json

request_app = typer.Typer(
    help="Data-subject requests: access, erasure, rectification, objection.", no_args_is_help=True
)
complaint_app = typer.Typer(help="Complaints from the public: triage and answer.", no_args_is_help=True)

JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")
RequesterOpt = typer.Option(..., "--requester", help="Who asks (name, and how to answer them).")
ChannelOpt = typer.Option("", "--channel", help="How the request came: post, email, counter, ...")
IdentityOpt = typer.Option("", "--identity-ref", help="Reference of the identity check made.")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"{path}: {exc.strerror or exc}")


def _show(view: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(view)
        return
    console.print(
        f"request {view['id']} ({view['kind']}): {view['status']}"
        + (f", {view['outcome']}" if view["outcome"] else "")
        + f"; due {view['deadline'][:10]}"
        + (" [red]overdue[/red]" if view["overdue"] else ""),
        highlight=False,
    )
    for f in view["found"]:
        console.print(
            f"  on watchlist {f['watchlist']}: {f.get('subject', '(erased)')} ({f['category']})", markup=False
        )
    for a in view["alerts"]:
        console.print(f"  alert {a['id']} {a['time'][:16]} at {a['place'] or '-'}: {a['status']}", markup=False)
    if view["deleted"]:
        counts = {k: v for k, v in view["deleted"].items() if not k.endswith("_ids")}
        console.print(f"  deleted: {counts}", markup=False)


@request_app.command("access")
def request_access(
    ctx: typer.Context,
    photo: Path,
    requester: str = RequesterOpt,
    channel: str = ChannelOpt,
    identity_ref: str = IdentityOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Register an access request and search every watchlist and the evidence within retention for the face."""
    view = overt(ctx).rights.access(
        acting(ctx), _read(photo), requester=requester, channel=channel, identity_ref=identity_ref
    )
    _show(view, as_json)


@request_app.command("open")
def request_open(
    ctx: typer.Context,
    kind: str = typer.Argument(..., help="erasure, rectification, objection (or access)."),
    photo: Path | None = typer.Argument(None, help="The requester's photo (needed for access and erasure)."),
    requester: str = RequesterOpt,
    channel: str = ChannelOpt,
    identity_ref: str = IdentityOpt,
    details: str = typer.Option("", "--details", help="What the person asks (what to correct, why they object)."),
    as_json: bool = JsonOpt,
) -> None:
    """Register an erasure, rectification or objection (an erasure needs the photo, searched at once)."""
    view = overt(ctx).rights.open(
        acting(ctx),
        kind,
        requester=requester,
        channel=channel,
        identity_ref=identity_ref,
        details=details,
        photo=_read(photo) if photo is not None else None,
    )
    _show(view, as_json)


@request_app.command("list")
def request_list(
    ctx: typer.Context,
    status: str | None = typer.Option(None, "--status", help="open, decided, closed or pending (not closed)."),
    as_json: bool = JsonOpt,
) -> None:
    """Requests, newest first, with their deadlines (overdue ones marked)."""
    rows = overt(ctx).rights.list(acting(ctx), status)
    if as_json:
        print_json(rows)
        return
    table = Table("id", "kind", "requester", "status", "outcome", "opened", "deadline")
    for r in rows:
        deadline = r["deadline"][:10] + (" overdue" if r["overdue"] else "")
        table.add_row(str(r["id"]), r["kind"], r["requester"], r["status"], r["outcome"], r["opened"][:10], deadline)
    console.print(table)


@request_app.command("show")
def request_show(ctx: typer.Context, request_id: int, as_json: bool = JsonOpt) -> None:
    """One request: its state, deadline, what was found or deleted."""
    _show(overt(ctx).rights.show(acting(ctx), request_id), as_json)


@request_app.command("search")
def request_search(ctx: typer.Context, request_id: int, as_json: bool = JsonOpt) -> None:
    """Search again with the request's stored template (watchlists and evidence change)."""
    _show(overt(ctx).rights.search_again(acting(ctx), request_id), as_json)


@request_app.command("extend")
def request_extend(
    ctx: typer.Context,
    request_id: int,
    reason: str = typer.Option(..., "--reason"),
    months: int = typer.Option(1, "--months", help="1 or 2; at most two months beyond the first deadline."),
    as_json: bool = JsonOpt,
) -> None:
    """Extend the deadline with a reason (at most two months beyond the first deadline)."""
    _show(overt(ctx).rights.extend(acting(ctx), request_id, reason, months), as_json)


@request_app.command("decide")
def request_decide(
    ctx: typer.Context,
    request_id: int,
    decision: str = typer.Argument(..., help="grant or refuse."),
    reason: str = typer.Option(..., "--reason"),
    ground: str = typer.Option("", "--ground", help="The legal ground of a refusal (required to refuse)."),
    as_json: bool = JsonOpt,
) -> None:
    """Grant or refuse a request; a refusal names its legal ground (--ground)."""
    _show(overt(ctx).rights.decide(acting(ctx), request_id, decision, reason, ground), as_json)


@request_app.command("erase")
def request_erase(
    ctx: typer.Context,
    request_id: int,
    reason: str = typer.Option("", "--reason"),
    as_json: bool = JsonOpt,
) -> None:
    """Delete the requester's watchlist entries, templates, photos, alerts and evidence (found afresh)."""
    _show(overt(ctx).rights.erase(acting(ctx), request_id, reason), as_json)


@request_app.command("close")
def request_close(
    ctx: typer.Context, request_id: int, note: str = typer.Option("", "--note"), as_json: bool = JsonOpt
) -> None:
    """Close the request; the requester's photo and template are deleted."""
    _show(overt(ctx).rights.close(acting(ctx), request_id, note), as_json)


@request_app.command("letter")
def request_letter(
    ctx: typer.Context,
    request_id: int,
    fmt: str = typer.Option("html", "--format", "-f", help="html or pdf."),
    out: Path | None = typer.Option(None, "--out", "-o", help="File to write (a PDF needs one)."),
) -> None:
    """The response letter: what was found or done, refusals with their legal ground."""
    if fmt not in ("html", "pdf"):
        fail("--format must be html or pdf", EXIT_USAGE)
    if fmt == "pdf" and out is None:
        fail("a PDF needs --out PATH", EXIT_USAGE)
    data = overt(ctx).rights.letter(acting(ctx), request_id, fmt)
    if out is None:
        sys.stdout.write(data.decode())
    else:
        out.write_bytes(data)
        console.print(f"wrote the letter for request {request_id} to {out}", markup=False)


@complaint_app.command("list")
def complaint_list(
    ctx: typer.Context,
    status: str | None = typer.Option(None, "--status", help="received, triaged, answered or pending."),
    as_json: bool = JsonOpt,
) -> None:
    """The complaints register, newest first."""
    rows = overt(ctx).complaints.list(acting(ctx), status)
    if as_json:
        print_json(rows)
        return
    table = Table("id", "received", "status", "priority", "outcome", "what")
    for c in rows:
        table.add_row(str(c["id"]), c["received"][:10], c["status"], c["priority"], c["outcome"], c["what"][:60])
    console.print(table)


@complaint_app.command("show")
def complaint_show(ctx: typer.Context, complaint_id: int, as_json: bool = JsonOpt) -> None:
    """One complaint with its triage and answer."""
    view = overt(ctx).complaints.show(acting(ctx), complaint_id)
    if as_json:
        print_json(view)
        return
    for key, value in view.items():
        console.print(f"{key}: {value}", markup=False, highlight=False)


@complaint_app.command("triage")
def complaint_triage(
    ctx: typer.Context,
    complaint_id: int,
    priority: str = typer.Option("normal", "--priority", help="low, normal or urgent."),
    note: str = typer.Option("", "--note"),
    deployment: int | None = typer.Option(None, "--deployment", "-d", help="The deployment it concerns."),
    as_json: bool = JsonOpt,
) -> None:
    """Set a complaint's priority, a note and the deployment it concerns."""
    view = overt(ctx).complaints.triage(acting(ctx), complaint_id, priority, note, deployment)
    print_json(view) if as_json else console.print(f"complaint {complaint_id} triaged ({priority})")


@complaint_app.command("answer")
def complaint_answer(
    ctx: typer.Context,
    complaint_id: int,
    outcome: str = typer.Argument(..., help="upheld, partly-upheld, not-upheld or referred."),
    answer: str = typer.Option(..., "--answer"),
    as_json: bool = JsonOpt,
) -> None:
    """Answer a complaint with its outcome; its attachment is deleted."""
    view = overt(ctx).complaints.answer(acting(ctx), complaint_id, outcome, answer)
    print_json(view) if as_json else console.print(f"complaint {complaint_id} answered ({outcome})")


def register(app: typer.Typer) -> None:
    app.add_typer(request_app, name="request")
    app.add_typer(complaint_app, name="complaint")
