"""deployment pause/resume (the safe stop), alerts queue and alerts workload: review at live rates."""

from __future__ import annotations

import typer

from .context import acting, overt
from .governance_cmds import JsonOpt, alerts_app, deployment_app
from .output import console, print_json

CameraOpt = typer.Option(None, "--camera", help="One camera of the deployment; omit for the whole deployment.")


@deployment_app.command("pause")
def deployment_pause(
    ctx: typer.Context,
    deployment_id: int,
    reason: str = typer.Option(..., "--reason", help="Why (audited and published)."),
    camera: str | None = CameraOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Stop at once (operators and reviewers on duty): running cameras stop within seconds."""
    pause = overt(ctx).pauses.pause(acting(ctx), deployment_id, reason, camera)
    if as_json:
        print_json(pause)
    else:
        console.print(f"deployment {deployment_id}{f' camera {camera}' if camera else ''} paused (pause {pause['id']})")


@deployment_app.command("resume")
def deployment_resume(
    ctx: typer.Context, deployment_id: int, camera: str | None = CameraOpt, as_json: bool = JsonOpt
) -> None:
    """Lift a pause (operators), only while the deployment's approval is still in force."""
    lifted = overt(ctx).pauses.resume(acting(ctx), deployment_id, camera)
    if as_json:
        print_json(lifted)
    else:
        console.print(f"deployment {deployment_id}: {len(lifted)} pause(s) lifted")


@alerts_app.command("queue")
def alerts_queue(
    ctx: typer.Context,
    limit: int = typer.Option(1, "--limit", min=1, max=100),
    after: int | None = typer.Option(None, "--after", help="Cursor: the `next` of the previous page."),
    as_json: bool = JsonOpt,
) -> None:
    """The alerts waiting for your decision, oldest first (blind: no identity until you decide)."""
    page = overt(ctx).review_queue.queue(acting(ctx), limit=limit, after=after)
    if as_json:
        print_json(page)
        return
    console.print(f"{page['length']} waiting; the oldest for {page['oldest_waiting_s'] or 0:.0f} s")
    for a in page["items"]:
        console.print(f"alert {a['id']}: score {a['score']:.3f} (threshold {a['threshold']:.3f}), "
                      f"{a['sightings']} sightings, {a['reviews']} of {a['reviews_required']} reviews")


@alerts_app.command("workload")
def alerts_workload(
    ctx: typer.Context, deployment: int | None = typer.Option(None, "--deployment"), as_json: bool = JsonOpt
) -> None:
    """Reviewers' workload and the quality of review, from the audit log (DPO, auditor, authority)."""
    figures = overt(ctx).review_queue.workload(acting(ctx), deployment_id=deployment)
    if as_json:
        print_json(figures)
        return
    timing = figures["time_to_decision_s"]
    console.print(f"{figures['alerts']} alerts ({figures['sightings_joined']} further sightings joined them), "
                  f"{figures['decisions']} decisions, {figures['pending']} waiting")
    console.print(f"time to decision: p50 {timing['p50']} s, p95 {timing['p95']} s; disagreement share "
                  f"{figures['disagreement_share']}; inconclusive share {figures['inconclusive_share']}")
    for reviewer, v in figures["per_reviewer"].items():
        console.print(f"  {reviewer}: {v['decisions']} decisions in {v['active_hours']} h ({v['per_hour']}/h)")


def register(app: typer.Typer) -> None:
    """The commands above join the `deployment` and `alerts` groups when this module is imported."""
