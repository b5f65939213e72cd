"""serve: the HTTP API, the operators' console and the public transparency site."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import typer

from ..api import ApiSettings, create_app
from ..api.server import serve as run_server
from ..config import Settings
from ..services import Overt
from ..services.demo import seed_demo
from .context import overt
from .output import console

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535),
    demo: bool = typer.Option(
        False, "--demo", help="Seed a clearly marked demo in a fresh temporary data directory (deleted on exit)."
    ),
) -> None:
    """Serve the API (docs at /docs), the console (/console) and the public site (/)."""
    demo_home = Path(tempfile.mkdtemp(prefix="overt-demo-")) if demo else None
    try:
        if demo_home is not None:
            installation = Overt(Settings(home=demo_home))
            console.print("[bold yellow]DEMO[/bold yellow]: seeding demonstration data (sample faces, CC-BY 4.0)…")
            seeded = seed_demo(installation)
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
        app = create_app(installation, ApiSettings(demo=demo))
        console.print(f"console http://{host}:{port}/console · public site http://{host}:{port}/ · API docs /docs")
        run_server(app, host, port)
    finally:
        if demo_home is not None:
            shutil.rmtree(demo_home, ignore_errors=True)


def register(app: typer.Typer) -> None:
    app.command()(serve)
