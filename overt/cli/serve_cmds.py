"""serve: the HTTP API, the operators' console and the public transparency site."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import numpy as np
import typer

from ..api import ApiSettings, create_app
from ..api.server import serve as run_server
from ..cluster import ClusterError, require_ray
from ..cluster.cameras import NAMESPACE, ClusterSupervisor
from ..cluster.jobs import LeasedJobs
from ..config import Settings
from ..services import Overt
from ..services.background import CheckpointJob, RetentionJob, camera_supervisor
from ..services.demo import SAMPLES, WALKERS, seed_demo
from ..streams.mjpeg import MjpegServer
from ..streams.synthetic import make_scene_video, walkers
from .context import overt
from .demo_home import demo_home as temporary_demo_home
from .output import EXIT_USAGE, console, fail

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    demo: bool = typer.Option(
        False, "--demo", help="Seed a clearly marked demo in a fresh temporary data directory (deleted on exit)."
    ),
    cluster: str | None = typer.Option(
        None, "--cluster", envvar="OVERT_CLUSTER",
        help="Join a Ray cluster (ADDRESS, e.g. 10.0.0.1:6379): cameras run as actors on its machines, "
        "once-per-cluster jobs under a lease in PostgreSQL (docs/cluster.md).",
    ),
) -> None:
    """Serve the API (docs at /docs), the console (/console) and the public site (/)."""
    if cluster and (demo or not overt(ctx).settings.db_url.startswith("postgresql")):
        fail("a cluster needs PostgreSQL: set OVERT_DATABASE_URL=postgresql+psycopg://... (and no --demo)", EXIT_USAGE)
    with ExitStack() as stack:
        demo_home = None
        if demo:
            demo_home, stale = stack.enter_context(temporary_demo_home())
            for folder in stale:
                console.print(f"[dim]removed a demo folder left by a process that died: {folder}[/dim]")
        _serve(ctx, host, port, demo_home, cluster)


def _serve(ctx: typer.Context, host: str, port: int, demo_home: Path | None, cluster: str | None) -> None:
    """The server on the installation in OVERT_HOME, or a seeded demo in `demo_home`."""
    background: list = []
    if demo_home is not None:
        installation = Overt(Settings(home=demo_home))
        console.print("[bold yellow]DEMO[/bold yellow]: filming a demonstration scene (sample faces, CC-BY 4.0)…")
        camera = _demo_camera(demo_home)
        background.append(camera)
        seeded = seed_demo(installation, camera.url)
        console.print(f"[bold yellow]DEMO[/bold yellow] data directory (deleted on exit): {demo_home}")
        for name, (role, token) in seeded.tokens.items():
            console.print(f"  {name:<11} {role:<9} {token}")
        console.print(
            f"  deployments {seeded.live_deployment} (live, camera {seeded.camera}) and "
            f"{seeded.retrospective_deployment} (retrospective); {len(seeded.pending_alerts)} alert(s) to review"
        )
    else:
        installation = overt(ctx)
        installation.db  # noqa: B018 — fail now, with the init hint, rather than on the first request
    if host not in LOOPBACK:
        console.print(
            f"[yellow]listening on {host}: put a TLS proxy in front and set OVERT_SECURE_COOKIES=1[/yellow]"
        )
    if cluster:
        background.append(_cluster_jobs(installation, cluster))
    else:
        background += [camera_supervisor(installation), RetentionJob(installation), CheckpointJob(installation)]
    app = create_app(installation, ApiSettings(demo=demo_home is not None), background=background)
    console.print(f"console http://{host}:{port}/console · public site http://{host}:{port}/ · API docs /docs")
    run_server(app, host, port)


def _cluster_jobs(installation: Overt, address: str) -> LeasedJobs:
    """Connect to the Ray cluster (after `serve` has refused SQLite, which only one machine can share)."""
    try:
        ray = require_ray()
    except ClusterError as exc:
        fail(str(exc), EXIT_USAGE)
    ray.init(address=address, namespace=NAMESPACE, logging_level="warning")
    return LeasedJobs(installation, ClusterSupervisor(installation))


def _demo_camera(folder: Path) -> MjpegServer:
    """A network camera on loopback, looping a generated scene in which the sample people walk past."""
    people = walkers([(f"demo-person-{n}", SAMPLES / f"{n}_smiling.jpg") for n in WALKERS], seconds=40.0,
                     concurrent=2, face_px=(130.0, 170.0))
    backdrop = np.linspace(60, 200, 960, dtype=np.uint8)[None, :, None].repeat(540, axis=0).repeat(3, axis=2)
    video = folder / "demo-camera.mp4"
    make_scene_video(video, people, backdrop, size=(960, 540), fps=10.0, seconds=40.0)
    return MjpegServer(video, fps=10.0, loop=True)


def register(app: typer.Typer) -> None:
    app.command()(serve)
