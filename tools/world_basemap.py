"""Make the public map's offline basemap: Natural Earth country outlines (1:110m, via the world-atlas npm
package's TopoJSON) decoded to a small GeoJSON that Leaflet draws without any tile server.

    npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    python tools/world_basemap.py package/countries-110m.json overt/web/static/vendor/world-110m.geojson
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

DIGITS = 2  # about 1 km: the 1:110m outlines are coarser than that already


def decode_arcs(topology: dict[str, Any]) -> list[list[list[float]]]:
    """Delta-decode and de-quantise every arc (TopoJSON spec 2.1.3)."""
    scale, translate = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x, y = x + dx, y + dy
            points.append([round(x * scale[0] + translate[0], DIGITS), round(y * scale[1] + translate[1], DIGITS)])
        arcs.append(points)
    return arcs


def ring(indexes: list[int], arcs: list[list[list[float]]]) -> list[list[float]]:
    """A ring from arc indexes; a negative index (~i) walks arc i backwards; shared end points appear once."""
    points: list[list[float]] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc if not points else arc[1:])
    return points


def geometry(geom: dict[str, Any], arcs: list[list[list[float]]]) -> dict[str, Any] | None:
    if geom["type"] == "Polygon":
        return {"type": "Polygon", "coordinates": [ring(r, arcs) for r in geom["arcs"]]}
    if geom["type"] == "MultiPolygon":
        return {"type": "MultiPolygon", "coordinates": [[ring(r, arcs) for r in p] for p in geom["arcs"]]}
    return None


def convert(topology: dict[str, Any]) -> dict[str, Any]:
    arcs = decode_arcs(topology)
    features = []
    for geom in topology["objects"]["countries"]["geometries"]:
        shape = geometry(geom, arcs)
        if shape is not None:
            name = geom.get("properties", {}).get("name", "")
            features.append({"type": "Feature", "properties": {"name": name}, "geometry": shape})
    return {"type": "FeatureCollection", "features": features}


if __name__ == "__main__":
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    target.write_text(json.dumps(convert(json.loads(source.read_text())), separators=(",", ":")))
    print(f"{target}: {target.stat().st_size} bytes")
