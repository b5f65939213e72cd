"""cluster: the machines of a Ray cluster and the cameras each runs (docs/cluster.md)."""

from __future__ import annotations

import functools
from typing import Any

import typer

from ..cluster import ClusterError, require_ray
from ..cluster.cameras import NAMESPACE
from ..cluster.view import snapshot
from .context import acting, overt
from .output import EXIT_USAGE, console, fail, print_json
from .tables import WideOpt, print_table

cluster_app = typer.Typer(help="Many machines: the cluster's machines and cameras.", no_args_is_help=True)


def _number(value: Any, digits: int) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _print(view: dict[str, Any], wide: bool) -> None:
    """Two tables that fit 80 columns: machines, then cameras (the error wraps; --json has every field)."""
    if view["note"]:
        console.print(view["note"], highlight=False)
    print_table(("machine", "address", "alive", "cpus", "sites", "cameras"),
                [(m["id"][:12], m["address"], "yes" if m["alive"] else "DEAD", f"{m['cpus']:g}",
                  ",".join(m["sites"]) or "any", str(len(m["cameras"]))) for m in view["machines"]],
                optional=("sites",), wide=wide)
    if not view["cameras"]:
        console.print("no cameras running")
        return
    print_table(("camera", "dep", "machine", "state", "fps", "lag s", "restarts", "last error"),
                [(c["camera"], str(c["deployment"] or ""), (c["machine"] or "")[:12], c["state"] or "",
                  _number(c["fps_out"], 1), _number(c["lag_s"], 2), str(c["restarts"]), c["last_error"] or "")
                 for c in view["cameras"]],
                optional=("dep", "lag s"), wrap=("last error",), wide=wide)


@cluster_app.command("status")
def cluster_status(
    ctx: typer.Context,
    address: str | None = typer.Option(
        None, "--cluster", envvar="OVERT_CLUSTER", help="The Ray cluster to read (ADDRESS, e.g. 10.0.0.1:6379)."),
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
    wide: bool = WideOpt,
) -> None:
    """Machines (id, address, alive, CPUs) and cameras per machine (fps, lag, restarts, last error)."""
    installation = overt(ctx)
    who = acting(ctx)
    ray = None
    if address:
        try:
            ray = require_ray()
        except ClusterError as exc:
            fail(str(exc), EXIT_USAGE)
        ray.init(address=address, namespace=NAMESPACE, logging_level="error", log_to_driver=False)
        installation.cluster_view.source = functools.partial(snapshot, ray)
    try:
        view = installation.cluster_view.status(who)
    finally:
        if ray is not None:
            ray.shutdown()
    if as_json:
        print_json(view)
    else:
        _print(view, wide)


def register(app: typer.Typer) -> None:
    app.add_typer(cluster_app, name="cluster")
