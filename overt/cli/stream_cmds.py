"""watch: cameras and video files into candidate alerts, under a live deployment."""

from __future__ import annotations

import signal
import threading
from typing import Any

import typer
from rich.live import Live
from rich.table import Table

from ..streams.pipeline import AlertRaised, PipelineSettings, SightingAdded, run_pipeline
from ..streams.supervisor import CameraJob, Supervisor
from .context import acting, overt
from .output import console, fail, print_json


def _stop_on_signals() -> threading.Event:
    """SIGINT and SIGTERM finish the current frame, record counts and why the camera stopped, then exit."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _health_table(health: dict[tuple[int, str], dict[str, Any]]) -> Table:
    table = Table("deployment", "camera", "state", "fps in", "fps out", "lag s", "drops", "faces", "alerts", "error")
    for (deployment, camera), h in sorted(health.items()):
        table.add_row(str(deployment), camera, str(h.get("state", "")), f"{h.get('fps_in', 0):.1f}",
                      f"{h.get('fps_out', 0):.1f}", f"{h.get('lag_s', 0):.2f}", str(h.get("drops", 0)),
                      str(h.get("faces_seen", 0)), str(h.get("alerts", 0)), str(h.get("last_error") or ""))
    return table


def watch(
    ctx: typer.Context,
    source: str | None = typer.Argument(None, help="A video file, rtsp:// or http(s):// URL, /dev/videoN or a folder."),
    deployment: int = typer.Option(..., "--deployment", "-d", help="The approved live deployment."),
    camera: str | None = typer.Option(None, "--camera", help="The registered camera this source is."),
    detect_every: int = typer.Option(PipelineSettings.detect_every, "--detect-every"),
    min_face: int = typer.Option(PipelineSettings.min_face, "--min-face"),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per alert, then a summary."),
) -> None:
    """Run one source to its end, or (without SOURCE) every camera of the deployment until stopped."""
    service = overt(ctx)
    actor = acting(ctx)
    settings = PipelineSettings(detect_every=detect_every, min_face=min_face)
    stop = _stop_on_signals()
    if source is None:
        cameras = [job for job in service.live.cameras_to_run() if job["deployment"] == deployment]
        if not cameras:
            fail(f"deployment {deployment} has no camera it may run now (approved, live, in a window, with a source)")
        supervisor = Supervisor(lambda: [CameraJob(**job) for job in service.live.cameras_to_run()
                                         if job["deployment"] == deployment],
                                service.settings.model_dump(), settings)
        with Live(_health_table(supervisor.health), console=console, refresh_per_second=1,
                  transient=as_json) as live:
            while not stop.is_set():
                supervisor.step()
                live.update(_health_table(supervisor.health))
                if as_json:
                    print_json([{"deployment": k[0], "camera": k[1], **h} for k, h in supervisor.health.items()])
                stop.wait(supervisor.poll_s)
        supervisor.stop()
        return
    if camera is None:
        fail("with a SOURCE, name the registered camera it comes from: --camera ID", 2)
    session = service.live.open(actor, deployment, camera)
    alerts: list[dict[str, Any]] = []

    def on_event(event: Any) -> None:
        if isinstance(event, AlertRaised):
            subject, watchlist = session.subject(event.subject_id)
            record = {"alert": int(event.alert_id), "camera": camera, "subject": subject, "watchlist": watchlist,
                      "score": round(event.score, 4),
                      "track": event.track_id, "frame": event.frame_index, "time": round(event.time, 3)}
            alerts.append(record)
            if as_json:
                print_json(record)
            else:
                console.print(f"[yellow]candidate alert {record['alert']}[/yellow]: {record['subject']} "
                              f"({record['watchlist']}) score {record['score']:.3f} at {record['time']:.1f} s")
        elif isinstance(event, SightingAdded):  # the same person again while the alert is open: no new alert
            seen = {"sighting": int(event.sighting_id), "alert_id": int(event.alert_id), "camera": camera,
                    "score": round(event.score, 4), "track": event.track_id, "frame": event.frame_index,
                    "time": round(event.time, 3)}
            if as_json:
                print_json(seen)
            else:
                console.print(f"sighting {seen['sighting']} of alert {seen['alert_id']}: score {seen['score']:.3f} "
                              f"at {seen['time']:.1f} s")

    summary = run_pipeline(source, session, settings, on_event=on_event, stop=stop)
    session.close(summary)
    totals = {"frames": summary.frames, "faces_seen": summary.faces_seen, "tracks": summary.tracks,
              "alerts": summary.alerts, "drops": summary.drops, "state": str(summary.state),
              "last_error": summary.last_error}
    if as_json:
        print_json(totals)
    else:
        console.print(f"{summary.frames} frames, {summary.faces_seen} faces seen, {summary.tracks} people, "
                      f"{summary.alerts} candidate alerts for review; {summary.state}"
                      + (f": {summary.last_error}" if summary.last_error else ""))
    if str(summary.state) in ("failed", "unauthorised"):
        raise typer.Exit(5 if str(summary.state) == "unauthorised" else 1)


def register(app: typer.Typer) -> None:
    app.command()(watch)
