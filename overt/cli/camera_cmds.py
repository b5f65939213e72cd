"""camera: the registry of cameras, published on the transparency site."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from ..services.cameras import CameraInfo, to_geojson
from .context import acting, overt
from .output import console, fail, print_json
from .tables import WideOpt, print_table

JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")
camera_app = typer.Typer(help="The camera registry.", no_args_is_help=True)


@camera_app.command("add")
def camera_add(
    ctx: typer.Context,
    camera_id: str = typer.Argument(..., metavar="ID"),
    source: str = typer.Option(
        ..., "--source", help="Video file, rtsp:// or http(s):// URL, /dev/videoN, or a folder."
    ),
    name: str = typer.Option("", "--name"),
    lat: float | None = typer.Option(None, "--lat"),
    lon: float | None = typer.Option(None, "--lon"),
    direction: float | None = typer.Option(None, "--direction", help="Degrees clockwise from north."),
    mount: str = typer.Option("", "--mount", help="pole, wall, ceiling, street_lamp, vehicle, bodyworn, mobile"),
    camera_type: str = typer.Option("", "--type", help="fixed, panning, dome"),
    zone: str = typer.Option("", "--zone", help="e.g. town, transport, shop"),
    operator: str = typer.Option("", "--operator"),
    notice: str = typer.Option("", "--notice", help="The public notice shown at the camera."),
    replace: bool = typer.Option(False, "--replace", help="Update an existing camera."),
) -> None:
    """Register a camera."""
    overt(ctx).cameras.add(
        acting(ctx),
        CameraInfo(camera_id, source, name, lat, lon, direction, mount, camera_type, zone, operator, notice),
        replace=replace,
    )
    console.print(f"camera {camera_id} registered")


@camera_app.command("list")
def camera_list(ctx: typer.Context, as_json: bool = JsonOpt, wide: bool = WideOpt) -> None:
    rows = overt(ctx).cameras.list(acting(ctx))
    if as_json:
        print_json(rows)
        return
    headers = ("id", "name", "lat", "lon", "direction", "zone", "operator", "source")
    cells = []
    for c in rows:
        cells.append((
            c["id"],
            c["name"],
            str(c["lat"] or ""),
            str(c["lon"] or ""),
            str(c["direction"] or ""),
            c["zone"],
            c["operator"],
            c["source"],
        ))
    print_table(headers, cells, optional=("name", "lat", "lon", "zone", "operator", "direction"), wrap=("source",),
                wide=wide)


@camera_app.command("show")
def camera_show(ctx: typer.Context, camera_id: str, as_json: bool = JsonOpt) -> None:
    info = overt(ctx).cameras.get(acting(ctx), camera_id)
    if as_json:
        print_json(info)
    else:
        for key, value in info.items():
            console.print(f"{key}: {value}")


@camera_app.command("remove")
def camera_remove(ctx: typer.Context, camera_id: str) -> None:
    overt(ctx).cameras.remove(acting(ctx), camera_id)
    console.print(f"camera {camera_id} removed")


@camera_app.command("export")
def camera_export(ctx: typer.Context, out: Path | None = typer.Option(None, "--out")) -> None:
    """The public registry as GeoJSON with OpenStreetMap tags."""
    text = json.dumps(to_geojson(overt(ctx).cameras.public()), indent=2)
    if out:
        out.write_text(text)
    else:
        typer.echo(text)


@camera_app.command("import")
def camera_import(ctx: typer.Context, file: Path) -> None:
    """Register (or update) cameras from GeoJSON with OpenStreetMap surveillance tags."""
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        fail(f"{file}: not readable GeoJSON ({exc})")
    count = overt(ctx).cameras.import_geojson(acting(ctx), data)
    console.print(f"imported {count} cameras")


def register(app: typer.Typer) -> None:
    app.add_typer(camera_app, name="camera")
