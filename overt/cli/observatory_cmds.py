"""observatory: the deployments index, camera maps and procurement notices, for watchdogs; no cameras
and no biometric data needed (`overt observatory ...` runs without `overt init`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from ..observatory import Observatory, ObservatoryError
from ..observatory import cameras as camera_map
from ..observatory.notices import NoticeError, classify_paths
from ..observatory.osm import OsmFileError, read_cameras
from ..observatory.publish import Installation, index_records
from ..observatory.schema import SchemaError, read_file, write_csv, write_json
from .context import acting, overt
from .output import EXIT_INTEGRITY, EXIT_USAGE, console, fail, print_json

JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")
observatory_app = typer.Typer(
    help="The observatory: deployments index, camera maps, procurement notices.", no_args_is_help=True
)
index_app = typer.Typer(help="The deployments index: facial-recognition uses anywhere.", no_args_is_help=True)
observatory_app.add_typer(index_app, name="index")
cameras_app = typer.Typer(help="Camera maps from OpenStreetMap and citizens' reports.", no_args_is_help=True)
observatory_app.add_typer(cameras_app, name="cameras")
notices_app = typer.Typer(help="Procurement notices: do they buy facial recognition?", no_args_is_help=True)
observatory_app.add_typer(notices_app, name="notices")


@observatory_app.callback()
def _observatory(
    ctx: typer.Context,
    db: str | None = typer.Option(
        None, "--db", envvar="OVERT_OBSERVATORY_DB", help="SQLAlchemy URL or file (default HOME/observatory.db)."
    ),
) -> None:
    ctx.meta["observatory_db"] = db


def observatory(ctx: typer.Context) -> Observatory:
    """The observatory database, opened once per command and closed with it."""
    if "observatory" not in ctx.meta:
        url = ctx.meta.get("observatory_db") or overt(ctx).settings.home / "observatory.db"
        ctx.meta["observatory"] = store = Observatory(url)
        ctx.find_root().call_on_close(store.close)
    return ctx.meta["observatory"]


def who(ctx: typer.Context) -> str:
    """The acting person's name (`--as`, $OVERT_USER): the observatory keeps no accounts of its own."""
    return overt(ctx).settings.user


def _read(path: Path) -> list[dict]:
    try:
        return read_file(path.name, path.read_text(encoding="utf-8-sig"))
    except (SchemaError, ValueError) as exc:
        fail(f"{path}: {exc}", EXIT_USAGE)


@index_app.command("import")
def index_import(
    ctx: typer.Context, file: Path = typer.Argument(..., exists=True, dir_okay=False), as_json: bool = JsonOpt
) -> None:
    """Add or update records from CSV or JSON (ours, or the AIGS / EFF Atlas columns)."""
    try:
        counts = observatory(ctx).import_records(_read(file), who(ctx))
    except SchemaError as exc:
        fail(str(exc), EXIT_USAGE)
    if as_json:
        print_json(counts)
    else:
        console.print(", ".join(f"{n} {k}" for k, n in counts.items()))


@index_app.command("export")
def index_export(
    ctx: typer.Context,
    fmt: str = typer.Option("json", "--format", help="csv or json"),
    out: Path | None = typer.Option(None, "--out", help="File to write (default stdout)."),
) -> None:
    """Every record in the exchange schema (docs/observatory.md)."""
    writers = {"csv": write_csv, "json": write_json}
    if fmt not in writers:
        fail("--format must be csv or json", EXIT_USAGE)
    text = writers[fmt](observatory(ctx).export())
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")


@index_app.command("list")
def index_list(
    ctx: typer.Context,
    reviewed: bool = typer.Option(False, "--reviewed", help="Signed-off only."),
    as_json: bool = JsonOpt,
) -> None:
    records = observatory(ctx).records(reviewed_only=reviewed)
    if as_json:
        print_json(records)
        return
    table = Table("id", "country", "city", "agency", "vendor", "technology", "status", "signed off by")
    for r in records:
        table.add_row(
            r["id"],
            r["country"],
            r["city"],
            r["agency"],
            r["vendor"],
            ";".join(r["technology"]),
            r["status"],
            ", ".join(r["review"]["signed_off_by"]),
        )
    console.print(table)


@index_app.command("history")
def index_history(
    ctx: typer.Context, record_id: str = typer.Argument(..., metavar="ID"), as_json: bool = JsonOpt
) -> None:
    """Every change to a record and every sign-off, oldest first."""
    try:
        changes = observatory(ctx).history(record_id)
    except ObservatoryError as exc:
        fail(str(exc))
    if as_json:
        print_json(changes)
        return
    for c in changes:
        console.print(f"v{c['version']} {c['at'][:19]} {c['action']} by {c['actor']}: {', '.join(c['changed'])}")


@index_app.command("sign-off")
def index_sign_off(
    ctx: typer.Context,
    record_id: str = typer.Argument(..., metavar="ID"),
    sha256: str = typer.Option(..., "--sha256", help="The version's hash you checked (from `list --json`)."),
    note: str = typer.Option("", "--note"),
    as_json: bool = JsonOpt,
) -> None:
    """Vouch for one version of a record, after checking its sources."""
    try:
        record = observatory(ctx).sign_off(record_id, who(ctx), sha256, note)
    except ObservatoryError as exc:
        fail(str(exc))
    if as_json:
        print_json(record)
    else:
        console.print(
            f"{record_id} v{record['review']['version']} signed off by {', '.join(record['review']['signed_off_by'])}"
        )


@index_app.command("aggregate")
def index_aggregate(
    ctx: typer.Context,
    by: str = typer.Option("country", "--by", help="country, vendor, year or technology"),
    as_json: bool = JsonOpt,
) -> None:
    views = observatory(ctx).aggregates()
    if by not in views:
        fail("--by must be country, vendor, year or technology", EXIT_USAGE)
    if as_json:
        print_json(views[by])
        return
    table = Table(by, "deployments")
    for row in views[by]:
        table.add_row(row[by], str(row["deployments"]))
    console.print(table)


@index_app.command("verify")
def index_verify(
    ctx: typer.Context,
    heads: list[str] = typer.Option([], "--head", help="A head published earlier (index head); repeatable."),
    as_json: bool = JsonOpt,
) -> None:
    """Replay the change chain against the records and published heads (exit 6 when something was edited)."""
    problems = observatory(ctx).verify_history(known_heads=heads)
    if as_json:
        print_json({"ok": not problems, "problems": problems})
    else:
        console.print("\n".join(problems) or "index history intact")
    if problems:
        raise typer.Exit(EXIT_INTEGRITY)


@index_app.command("head")
def index_head(ctx: typer.Context, as_json: bool = JsonOpt) -> None:
    """The history's head (count and hash): publish it, so a later rewrite is caught by `verify --head`."""
    head = observatory(ctx).head()
    if as_json:
        print_json(head)
    else:
        console.print(f"{head['changes']} changes, head {head['sha256']}")


@index_app.command("publish")
def index_publish(
    ctx: typer.Context,
    prefix: str = typer.Option(..., "--prefix", help="Id prefix for this installation, e.g. overt-met."),
    country: str = typer.Option(..., "--country"),
    city: str = typer.Option("", "--city"),
    agency: str = typer.Option("", "--agency"),
    country_code: str = typer.Option("", "--country-code"),
    site_url: str = typer.Option("", "--site-url", help="This installation's public site, cited as source."),
    as_json: bool = JsonOpt,
) -> None:
    """Put this installation's own deployments into the index, from its public records only."""
    where = Installation(prefix, country, city, agency, country_code, site_url)
    records = index_records(overt(ctx).deployments.public_records(), where)
    counts = observatory(ctx).import_records(records, who(ctx))
    if as_json:
        print_json(counts)
    else:
        console.print(", ".join(f"{n} {k}" for k, n in counts.items()))


@cameras_app.command("import")
def cameras_import(
    ctx: typer.Context, file: Path = typer.Argument(..., exists=True, dir_okay=False), as_json: bool = JsonOpt
) -> None:
    """Import the `man_made=surveillance` nodes of an OSM XML, .osm.pbf or Overpass JSON file."""
    try:
        found, skipped = read_cameras(file)
    except OsmFileError as exc:
        fail(str(exc), EXIT_USAGE)
    counts = camera_map.import_osm(observatory(ctx), found, skipped)
    if as_json:
        print_json(counts)
    else:
        console.print(
            f"{counts['imported']} imported, {counts['skipped']} skipped, "
            f"{counts['duplicates']} possible duplicates for a moderator"
        )


@cameras_app.command("merge-reports")
def cameras_merge_reports(
    ctx: typer.Context,
    status: str = typer.Option("accepted", "--status", help="accepted, pending or all (rejected never)."),
    as_json: bool = JsonOpt,
) -> None:
    """Put this installation's citizens' camera reports on the map (needs a moderator's account)."""
    if status not in ("accepted", "pending", "all"):
        fail("--status must be accepted, pending or all", EXIT_USAGE)
    rows = overt(ctx).cameras.reports(acting(ctx), status=None if status == "all" else status)
    reports = [camera_map.Report(r["id"], r["lat"], r["lon"], r["note"]) for r in rows if r["status"] != "rejected"]
    counts = camera_map.merge_reports(observatory(ctx), reports)
    if as_json:
        print_json(counts)
    else:
        console.print(f"{counts['imported']} reports merged, {counts['duplicates']} possible duplicates")


@cameras_app.command("list")
def cameras_list(
    ctx: typer.Context,
    pending: bool = typer.Option(False, "--pending", help="Only possible duplicates waiting for a moderator."),
    as_json: bool = JsonOpt,
) -> None:
    rows = camera_map.cameras(observatory(ctx), "pending" if pending else None)
    if as_json:
        print_json(rows)
        return
    table = Table("id", "origin", "lat", "lon", "type", "review", "duplicate of", "metres")
    for c in rows:
        table.add_row(
            str(c["id"]),
            f"{c['origin']}/{c['origin_id']}",
            f"{c['lat']:.6f}",
            f"{c['lon']:.6f}",
            c["tags"].get("surveillance:type", ""),
            c["review"],
            str(c["duplicate_of"] or ""),
            str(c["distance_m"] or ""),
        )
    console.print(table)


@cameras_app.command("resolve")
def cameras_resolve(
    ctx: typer.Context,
    camera_id: int = typer.Argument(..., metavar="ID"),
    decision: str = typer.Argument(..., metavar="duplicate|distinct"),
    as_json: bool = JsonOpt,
) -> None:
    """A moderator's decision on a possible duplicate."""
    if decision not in ("duplicate", "distinct"):
        fail("the decision is duplicate or distinct", EXIT_USAGE)
    try:
        camera = camera_map.resolve(observatory(ctx), camera_id, decision, who(ctx))
    except ObservatoryError as exc:
        fail(str(exc))
    if as_json:
        print_json(camera)
    else:
        console.print(f"camera {camera_id}: {camera['review']}")


@cameras_app.command("export")
def cameras_export(
    ctx: typer.Context,
    fmt: str = typer.Option(..., "--format", help="geojson, or osc (osmChange for a mapper to upload)"),
    out: Path = typer.Option(..., "--out"),
) -> None:
    """GeoJSON of the map, or an osmChange file creating the reported cameras OpenStreetMap lacks."""
    if fmt == "geojson":
        out.write_text(json.dumps(camera_map.to_geojson(observatory(ctx)), ensure_ascii=False) + "\n", encoding="utf-8")
    elif fmt == "osc":
        out.write_bytes(camera_map.to_osmchange(observatory(ctx)))
    else:
        fail("--format must be geojson or osc", EXIT_USAGE)


@cameras_app.command("stats")
def cameras_stats(
    ctx: typer.Context, cell_km: float = typer.Option(1.0, "--cell-km", help="Grid cell size."), as_json: bool = JsonOpt
) -> None:
    """Coverage per area: cameras per grid cell, density, public-space share, types."""
    try:
        stats = camera_map.coverage(observatory(ctx), cell_km)
    except ObservatoryError as exc:
        fail(str(exc), EXIT_USAGE)
    if as_json:
        print_json(stats)
        return
    table = Table("south", "west", "cameras", "per km²", "public", "with direction")
    for c in stats["cells"]:
        table.add_row(
            str(c["south"]),
            str(c["west"]),
            str(c["cameras"]),
            str(c["per_km2"]),
            str(c["public"]),
            str(c["with_direction"]),
        )
    console.print(table)


@notices_app.command("classify")
def notices_classify(
    paths: list[Path] = typer.Argument(
        ..., exists=True, metavar="PATH...", help="Notice files (.txt, .html, .pdf, OCDS .json) or folders."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Classify each notice (one per file, one per OCDS release) and extract buyer, vendor, amount, date."""
    try:
        results = classify_paths(paths)
    except NoticeError as exc:
        fail(str(exc))
    if as_json:
        print_json(results)
        return
    table = Table("notice", "facial recognition", "score", "buyer", "amount", "evidence")
    for r in results:
        amount = f"{r['amount']:,.0f} {r['currency'] or ''}" if r["amount"] is not None else ""
        evidence = r["evidence"][0]["snippet"] if r["evidence"] else ""
        table.add_row(
            r["path"],
            "yes" if r["facial_recognition"] else "no",
            f"{r['score']:.2f}",
            r["buyer"] or "",
            amount,
            evidence,
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    app.add_typer(observatory_app, name="observatory")
