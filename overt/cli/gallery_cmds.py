"""watchlist, enroll, subject, identify: the watchlists and 1:N search, under a deployment."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from ..gallery.store import GalleryError
from ..services.gallery import EnrolRequest, requests_from_csv, requests_from_folder
from .context import acting, overt
from .output import EXIT_ERROR, console, fail, print_json, progress_bar

JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")
DeploymentOpt = typer.Option(..., "--deployment", "-d", help="The approved deployment this runs under.")

watchlist_app = typer.Typer(help="Watchlists of subjects.", no_args_is_help=True)
subject_app = typer.Typer(help="Subjects on a watchlist.", no_args_is_help=True)


@watchlist_app.command("create")
def watchlist_create(
    ctx: typer.Context,
    name: str,
    purpose: str = typer.Option("", "--purpose"),
    category: list[str] = typer.Option([], "--category", help="Allowed subject categories."),
    expires: datetime | None = typer.Option(None, "--expires", help="ISO date-time (UTC)."),
    as_json: bool = JsonOpt,
) -> None:
    expires_at = expires.astimezone() if expires else None
    watchlist_id = overt(ctx).gallery.create_watchlist(
        acting(ctx), name, purpose=purpose, categories=category, expires_at=expires_at
    )
    print_json({"id": watchlist_id, "name": name}) if as_json else console.print(f"watchlist {name} created")


@watchlist_app.command("list")
def watchlist_list(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    rows = overt(ctx).gallery.list_watchlists(acting(ctx))
    if as_json:
        print_json(rows)
        return
    table = Table("name", "subjects", "categories", "owner", "expires", "purpose")
    for w in rows:
        table.add_row(
            w["name"], str(w["size"]), ", ".join(w["categories"]), w["owner"], w["expires"] or "", w["purpose"]
        )
    console.print(table)


@watchlist_app.command("show")
def watchlist_show(ctx: typer.Context, name: str, as_json: bool = JsonOpt) -> None:
    info = overt(ctx).gallery.show_watchlist(acting(ctx), name)
    if as_json:
        print_json(info)
        return
    console.print(f"[bold]{info['name']}[/bold]: {info['size']} subjects; purpose: {info['purpose']}")
    table = Table("reference", "category", "templates", "added by", "expires")
    for s in info["subjects"]:
        table.add_row(s["reference"], s["category"], str(s["templates"]), s["added_by"], s["expires"] or "")
    console.print(table)


@watchlist_app.command("delete")
def watchlist_delete(ctx: typer.Context, name: str, as_json: bool = JsonOpt) -> None:
    removed = overt(ctx).gallery.delete_watchlist(acting(ctx), name)
    print_json({"deleted": name, "subjects": removed}) if as_json else console.print(
        f"watchlist {name} and its {removed} subjects deleted"
    )


@subject_app.command("remove")
def subject_remove(ctx: typer.Context, watchlist: str, reference: str) -> None:
    overt(ctx).gallery.remove_subject(acting(ctx), watchlist, reference)
    console.print(f"subject {reference} removed from {watchlist}")


def enroll(
    ctx: typer.Context,
    watchlist: str = typer.Argument(...),
    images: list[Path] = typer.Argument(None, help="Images of one subject (with --subject)."),
    deployment: int = DeploymentOpt,
    subject: str | None = typer.Option(None, "--subject", help="The subject's reference."),
    category: str = typer.Option("", "--category"),
    legal_basis: str = typer.Option("", "--legal-basis"),
    image_source: str = typer.Option("", "--source", help="Where the image came from."),
    image_date: str = typer.Option("", "--image-date"),
    folder: Path | None = typer.Option(None, "--folder", help="Bulk: one subject per sub-folder or image."),
    from_csv: Path | None = typer.Option(None, "--csv", help="Bulk: CSV with path,subject[,category,...]."),
    face: int | None = typer.Option(None, "--face", help="Which face when there are several (1 = largest)."),
    force: str = typer.Option("", "--force", help="Enrol a low-quality image anyway, for this stated reason."),
    same_as: str = typer.Option("", "--same-as", help="Link to an existing subject (REF or WATCHLIST/REF) that is "
                                "the same person, on purpose; otherwise a face already enrolled is refused."),
    as_json: bool = JsonOpt,
) -> None:
    """Enrol subjects on a watchlist; refuses no face, several faces, low quality and duplicates.

    A face that matches a subject of any watchlist at the calibrated threshold is refused (exit 5, rule
    duplicate-subject) unless linked on purpose with --same-as; linked records count as one person."""
    service, actor = overt(ctx).gallery, acting(ctx)
    if folder is not None or from_csv is not None:
        requests = requests_from_folder(folder, category) if folder else requests_from_csv(from_csv)
        results = []
        with progress_bar(disable=as_json) as bar:
            task = bar.add_task("enrol", total=len(requests))
            for result in service.enroll_many(
                actor, deployment, watchlist, requests, on_result=lambda r: bar.advance(task)
            ):
                results.append(result)
        failed = [r for r in results if "error" in r]
        if as_json:
            print_json(results)
        else:
            for r in failed:
                console.print(f"[red]{r['subject']}[/red]: {r['error']}")
            console.print(f"enrolled {len(results) - len(failed)} of {len(results)} subjects on {watchlist}")
        if failed:
            raise typer.Exit(EXIT_ERROR)
        return
    if not subject or not images:
        fail("give --subject REF and images, or --folder / --csv for bulk enrolment", 2)
    request = EnrolRequest(subject, tuple(images), category, legal_basis, image_source, image_date, same_as=same_as)
    try:
        result = service.enroll(actor, deployment, watchlist, request, force_reason=force, face_index=face)
    except GalleryError as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
    else:
        console.print(f"enrolled {result['subject']} on {watchlist} ({result['templates']} templates)")


def identify(
    ctx: typer.Context,
    image: Path,
    watchlist: list[str] = typer.Option(..., "--watchlist", "-w"),
    deployment: int = DeploymentOpt,
    top: int = typer.Option(5, "--top", min=1, max=100),
    case: str | None = typer.Option(None, "--case", help="Case reference (required for retrospective searches)."),
    threshold: float | None = typer.Option(None, "--threshold", help="Stricter than the approved one, never lower."),
    as_json: bool = JsonOpt,
) -> None:
    """1:N: who on the watchlists is this? Candidates become pending alerts for human review."""
    result = overt(ctx).gallery.identify(
        acting(ctx), deployment, image, watchlist, top=top, case=case, threshold=threshold
    )
    if as_json:
        print_json(result)
        return
    if not result["candidates"]:
        console.print(f"no candidate at or above the threshold {result['threshold']:.4f}")
    else:
        table = Table("subject", "watchlist", "score")
        for c in result["candidates"]:
            table.add_row(c["subject"], c["watchlist"], f"{c['score']:.4f}")
        console.print(table)
        console.print(
            f"[yellow]{len(result['alerts'])} candidate alert(s) await review: a candidate is not an "
            f"identification until reviewers confirm it[/yellow]"
        )
    for note in result["notes"]:
        console.print(f"[dim]{note}[/dim]")


def register(app: typer.Typer) -> None:
    app.add_typer(watchlist_app, name="watchlist")
    app.add_typer(subject_app, name="subject")
    app.command()(enroll)
    app.command()(identify)
