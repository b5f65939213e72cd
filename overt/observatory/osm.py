"""Surveillance cameras out of OpenStreetMap files: OSM XML and `.osm.pbf` through pyosmium (libosmium, the
maintained reader), Overpass JSON directly. Only nodes tagged `man_made=surveillance` are kept, with the
tags that describe the camera; everything else in the file is counted as skipped."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import osmium

KEPT_PREFIXES = ("surveillance", "camera:")
KEPT_TAGS = {"man_made", "direction", "operator", "height", "manufacturer", "model", "ref", "start_date"}


class OsmFileError(ValueError):
    """A file that is not OSM XML, PBF or Overpass JSON."""


@dataclass(frozen=True)
class OsmCamera:
    node_id: int
    lat: float
    lon: float
    version: int | None
    tags: dict[str, str] = field(default_factory=dict)


def camera_tags(tags: dict[str, str]) -> dict[str, str]:
    """The tags that describe a camera (`surveillance*`, `camera:*` and a few more), not the shop it hangs on."""
    return {k: v for k, v in tags.items() if k in KEPT_TAGS or k.startswith(KEPT_PREFIXES)}


def is_camera(tags: dict[str, str]) -> bool:
    return tags.get("man_made") == "surveillance"


def read_cameras(path: Path) -> tuple[list[OsmCamera], int]:
    """The surveillance nodes in a file and how many other elements it held."""
    name = path.name.lower()
    if name.endswith(".json"):
        return _overpass(path)
    if name.endswith((".osm", ".xml", ".osm.pbf", ".pbf", ".osm.bz2", ".osm.gz")):
        return _osmium(path)
    raise OsmFileError(f"{path.name}: expected .osm, .osm.pbf or Overpass .json")


def _osmium(path: Path) -> tuple[list[OsmCamera], int]:
    cameras: list[OsmCamera] = []
    skipped = 0
    try:
        for obj in osmium.FileProcessor(str(path)):
            tags = {t.k: t.v for t in obj.tags}
            if obj.is_node() and is_camera(tags) and obj.location.valid():
                version = obj.version or None
                cameras.append(OsmCamera(obj.id, obj.location.lat, obj.location.lon, version, camera_tags(tags)))
            else:
                skipped += 1
    except RuntimeError as exc:  # libosmium's parse errors
        raise OsmFileError(f"{path.name}: {exc}") from None
    return cameras, skipped


def _overpass(path: Path) -> tuple[list[OsmCamera], int]:
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OsmFileError(f"{path.name}: not JSON ({exc})") from None
    elements = data.get("elements") if isinstance(data, dict) else data
    if not isinstance(elements, list):
        raise OsmFileError(f'{path.name}: Overpass JSON has an "elements" list')
    cameras: list[OsmCamera] = []
    skipped = 0
    for element in elements:
        tags = element.get("tags") or {} if isinstance(element, dict) else {}
        if (
            isinstance(element, dict)
            and element.get("type") == "node"
            and is_camera(tags)
            and isinstance(element.get("lat"), int | float)
            and isinstance(element.get("lon"), int | float)
        ):
            cameras.append(
                OsmCamera(
                    int(element["id"]),
                    float(element["lat"]),
                    float(element["lon"]),
                    element.get("version"),
                    camera_tags({str(k): str(v) for k, v in tags.items()}),
                )
            )
        else:
            skipped += 1
    return cameras, skipped
