"""The camera map: OpenStreetMap nodes and citizens' reports in one table, possible duplicates flagged for a
moderator, exports a mapper can upload with their own OpenStreetMap account, coverage per area."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from .models import Camera
from .osm import OsmCamera
from .store import Observatory, ObservatoryError, append_change, camera_key, decision_sha256

EARTH_M = 6_371_000.0
DUPLICATE_M = 20.0  # a report this close to a mapped camera, with no contradicting tag, is probably it
SAME_NODE_M = 2.0  # two OSM nodes this close with the same tags are probably mapped twice
COMPARED_TAGS = ("surveillance", "surveillance:type", "camera:type", "camera:mount", "surveillance:zone")
REPORT_TAGS = {"man_made": "surveillance", "surveillance:type": "camera"}


@dataclass(frozen=True)
class Report:
    """A citizen's report from the public site, as plain data (the observatory reads no installation)."""

    report_id: int
    lat: float
    lon: float
    note: str = ""


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), good to centimetres at the scale of a street."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(math.sqrt(a))


def import_osm(obs: Observatory, cameras: Iterable[OsmCamera], skipped: int) -> dict[str, int]:
    """Add or update OSM nodes; unchanged nodes count as skipped. New or moved ones are checked for duplicates."""
    rows = [("osm", str(c.node_id), c.lat, c.lon, c.tags, c.version) for c in cameras]
    return _upsert(obs, rows, skipped)


def merge_reports(obs: Observatory, reports: Iterable[Report]) -> dict[str, int]:
    """Put citizens' reports on the map; one near a mapped camera, with no tag that says otherwise, waits for
    a moderator's decision instead of being exported as a new camera."""
    rows = [
        ("report", str(r.report_id), r.lat, r.lon, {**REPORT_TAGS, **({"note": r.note[:255]} if r.note else {})}, None)
        for r in reports
    ]
    return _upsert(obs, rows, 0)


def resolve(obs: Observatory, camera_id: int, decision: str, actor: str) -> dict[str, Any]:
    """A moderator's decision on a flagged camera: `duplicate` (left out of exports) or `distinct`, recorded in
    the change chain so that a decision flipped with SQL is caught by `verify_history`."""
    if decision not in ("duplicate", "distinct"):
        raise ObservatoryError("decision must be duplicate or distinct")
    with obs.session(write=True) as session:
        camera = session.get(Camera, camera_id)
        if camera is None:
            raise ObservatoryError(f"no camera {camera_id}")
        if camera.review != "pending":
            raise ObservatoryError(f"camera {camera_id} is not waiting for a decision ({camera.review})")
        camera.review = decision
        changed = {"review": decision, "duplicate_of": camera.duplicate_of, "distance_m": camera.distance_m}
        append_change(session, camera_key(camera), 0, f"camera_{decision}", actor, changed, decision_sha256(camera))
        return _view(camera)


def cameras(obs: Observatory, review: str | None = None) -> list[dict[str, Any]]:
    with obs.session() as session:
        query = select(Camera).order_by(Camera.id)
        if review:
            query = query.where(Camera.review == review)
        return [_view(c) for c in session.scalars(query)]


def to_geojson(obs: Observatory) -> dict[str, Any]:
    """Every camera not judged a duplicate, with its OpenStreetMap tags as properties."""
    features = [
        {
            "type": "Feature",
            "id": f"{c['origin']}/{c['origin_id']}",
            "geometry": {"type": "Point", "coordinates": [c["lon"], c["lat"]]},
            "properties": {
                **c["tags"],
                "origin": c["origin"],
                "review": c["review"],
                "duplicate_of": c["duplicate_of"],
            },
        }
        for c in cameras(obs)
        if c["review"] != "duplicate"
    ]
    return {"type": "FeatureCollection", "features": features}


def to_osmchange(obs: Observatory) -> bytes:
    """An osmChange file creating the reported cameras that OpenStreetMap lacks (reports with no pending or
    confirmed duplicate). It carries no changeset: the mapper's editor (JOSM, or the API through their own
    account) opens one and uploads it, after checking each camera on the ground."""
    root = ET.Element("osmChange", version="0.6", generator="Overt observatory")
    create = ET.SubElement(root, "create")
    new = [c for c in cameras(obs) if c["origin"] == "report" and c["review"] in ("none", "distinct")]
    for n, camera in enumerate(new, 1):
        node = ET.SubElement(
            create, "node", id=str(-n), version="0", lat=f"{camera['lat']:.7f}", lon=f"{camera['lon']:.7f}"
        )
        for key, value in sorted(camera["tags"].items()):
            if key != "note":  # a citizen's words are for the mapper, not for OpenStreetMap
                ET.SubElement(node, "tag", k=key, v=value)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def coverage(obs: Observatory, cell_km: float = 1.0) -> dict[str, Any]:
    """Cameras per grid cell of `cell_km` (a simple, reproducible area): count, density per km², and how many
    are public-space, of each type, and have a known direction (what a coverage map needs)."""
    if not 0.01 <= cell_km <= 1000:
        raise ObservatoryError("--cell-km must be between 0.01 and 1000")
    dlat = cell_km / 111.32
    cells: dict[tuple[int, int], list[dict[str, Any]]] = defaultdict(list)
    shown = [c for c in cameras(obs) if c["review"] != "duplicate"]
    for c in shown:
        row = math.floor(c["lat"] / dlat)
        dlon = cell_km / (111.32 * max(math.cos(math.radians((row + 0.5) * dlat)), 1e-6))
        cells[(row, math.floor(c["lon"] / dlon))].append(c)
    out = []
    for (row, col), members in sorted(cells.items(), key=lambda kv: -len(kv[1])):
        south = row * dlat
        dlon = cell_km / (111.32 * max(math.cos(math.radians(south + dlat / 2)), 1e-6))
        out.append(
            {
                "south": round(south, 6),
                "west": round(col * dlon, 6),
                "north": round(south + dlat, 6),
                "east": round((col + 1) * dlon, 6),
                "cameras": len(members),
                "per_km2": round(len(members) / (cell_km * cell_km), 2),
                "public": sum(1 for m in members if m["tags"].get("surveillance") == "public"),
                "with_direction": sum(
                    1 for m in members if "camera:direction" in m["tags"] or "direction" in m["tags"]
                ),
                "by_type": dict(Counter(m["tags"].get("surveillance:type", "unspecified") for m in members)),
                "by_origin": dict(Counter(m["origin"] for m in members)),
            }
        )
    return {"cell_km": cell_km, "cameras": len(shown), "cells": out}


def _upsert(obs: Observatory, rows: list[tuple], skipped: int) -> dict[str, int]:
    counts = Counter(imported=0, skipped=skipped, duplicates=0)
    with obs.session(write=True) as session:
        existing = {(c.origin, c.origin_id): c for c in session.scalars(select(Camera))}
        grid = _Grid(existing.values())
        for origin, origin_id, lat, lon, tags, version in rows:
            camera = existing.get((origin, origin_id))
            if camera is not None and (camera.lat, camera.lon, camera.tags) == (lat, lon, tags):
                counts["skipped"] += 1
                continue
            if camera is None:
                camera = Camera(origin=origin, origin_id=origin_id, lat=lat, lon=lon, tags=tags, osm_version=version)
                session.add(camera)
                session.flush()
                existing[(origin, origin_id)] = camera
            else:
                camera.lat, camera.lon, camera.tags, camera.osm_version = lat, lon, tags, version
            counts["imported"] += 1
            if camera.review in ("none", "pending"):
                match = grid.match(camera)
                camera.duplicate_of, camera.distance_m = (match[0].id, round(match[1], 1)) if match else (None, None)
                camera.review = "pending" if match else "none"
                counts["duplicates"] += bool(match)
            grid.add(camera)
    return dict(counts)


class _Grid:
    """Cameras bucketed in ~100 m cells, so matching a camera looks at its neighbours, not the whole map."""

    STEP = 0.001

    def __init__(self, cameras: Iterable[Camera]) -> None:
        self.cells: dict[tuple[int, int], list[Camera]] = defaultdict(list)
        for camera in cameras:
            self.add(camera)

    def add(self, camera: Camera) -> None:
        self.cells[self._key(camera.lat, camera.lon)].append(camera)

    def match(self, camera: Camera) -> tuple[Camera, float] | None:
        row, col = self._key(camera.lat, camera.lon)
        best: tuple[Camera, float] | None = None
        for dr in (-1, 0, 1):
            for dc in (-1, 0, 1):
                for other in self.cells.get((row + dr, col + dc), []):
                    if other is camera or other.review == "duplicate":
                        continue
                    d = distance_m(camera.lat, camera.lon, other.lat, other.lon)
                    if _is_duplicate(camera, other, d) and (best is None or d < best[1]):
                        best = (other, d)
        return best

    def _key(self, lat: float, lon: float) -> tuple[int, int]:
        return math.floor(lat / self.STEP), math.floor(lon / self.STEP)


def _is_duplicate(camera: Camera, other: Camera, d: float) -> bool:
    """Close enough, and no tag both sides carry says they differ. Two OSM nodes need to be almost on top of
    each other with the same tags: mappers often map several cameras on one wall, each a real camera."""
    compatible = all(camera.tags[k] == other.tags[k] for k in COMPARED_TAGS if k in camera.tags and k in other.tags)
    if camera.origin == other.origin == "osm":
        return d <= SAME_NODE_M and camera.tags == other.tags
    return compatible and d <= DUPLICATE_M


def _view(camera: Camera) -> dict[str, Any]:
    return {
        "id": camera.id,
        "origin": camera.origin,
        "origin_id": camera.origin_id,
        "lat": camera.lat,
        "lon": camera.lon,
        "tags": camera.tags,
        "osm_version": camera.osm_version,
        "review": camera.review,
        "duplicate_of": camera.duplicate_of,
        "distance_m": camera.distance_m,
    }
