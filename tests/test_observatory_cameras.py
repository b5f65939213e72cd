"""Camera maps from real OpenStreetMap data (central Bern, Overpass output) as Overpass JSON, OSM XML and PBF."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import osmium
import pytest
from sqlalchemy import text

from overt.observatory import Observatory, ObservatoryError
from overt.observatory import cameras as camera_map
from overt.observatory.osm import OsmFileError, read_cameras
from tests.test_observatory_index import overt_cli

OSM = Path(__file__).parent / "data" / "observatory" / "osm"
NODES = 151


@pytest.fixture
def obs(tmp_path: Path) -> Observatory:
    store = Observatory(tmp_path / "observatory.db")
    yield store
    store.close()


@pytest.mark.parametrize("name", ["bern.overpass.json", "bern.osm", "bern.osm.pbf"])
def test_the_three_formats_read_the_same_cameras(name: str) -> None:
    cameras, skipped = read_cameras(OSM / name)
    assert len(cameras) == NODES and skipped == 0
    by_id = {c.node_id: c for c in cameras}
    assert by_id[443712909].tags == {
        "camera:direction": "335",
        "camera:mount": "wall/ceiling",
        "camera:type": "fixed",
        "man_made": "surveillance",
        "surveillance": "outdoor",
        "surveillance:type": "camera",
    }
    shop = next(c for c in cameras if "opening_hours" in json.dumps(c.tags) or c.node_id == 565072468)
    assert "addr:city" not in shop.tags  # the building's address is not the camera's


def test_other_elements_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "mixed.osm.pbf"
    writer = osmium.SimpleWriter(str(path))
    writer.add_node(osmium.osm.mutable.Node(id=1, location=(7.44, 46.94), tags={"man_made": "surveillance"}))
    writer.add_node(osmium.osm.mutable.Node(id=2, location=(7.44, 46.95), tags={"amenity": "cafe"}))
    writer.add_node(osmium.osm.mutable.Node(id=3, location=(7.45, 46.95), tags={"highway": "speed_camera"}))
    writer.close()
    cameras, skipped = read_cameras(path)
    assert [c.node_id for c in cameras] == [1] and skipped == 2
    with pytest.raises(OsmFileError):
        read_cameras(tmp_path / "x.txt")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(OsmFileError):
        read_cameras(tmp_path / "bad.json")


def test_cli_import_is_idempotent_and_exports(tmp_path: Path) -> None:
    home = tmp_path / "home"
    done = overt_cli(home, "observatory", "cameras", "import", str(OSM / "bern.osm.pbf"), "--json")
    assert done.returncode == 0, done.stderr
    first = json.loads(done.stdout)
    assert set(first) == {"imported", "skipped", "duplicates"}
    assert first["imported"] == NODES and first["skipped"] == 0
    again = json.loads(
        overt_cli(home, "observatory", "cameras", "import", str(OSM / "bern.overpass.json"), "--json").stdout
    )
    assert again == {"imported": 0, "skipped": NODES, "duplicates": 0}  # the same nodes, unchanged
    geo = tmp_path / "map.geojson"
    assert overt_cli(home, "observatory", "cameras", "export", "--format", "geojson", "--out", str(geo)).returncode == 0
    features = json.loads(geo.read_text())["features"]
    assert len(features) == NODES - first["duplicates"] or len(features) == NODES
    assert features[0]["geometry"]["type"] == "Point" and features[0]["properties"]["man_made"] == "surveillance"
    osc = tmp_path / "new.osc"
    assert overt_cli(home, "observatory", "cameras", "export", "--format", "osc", "--out", str(osc)).returncode == 0
    assert ET.parse(osc).getroot().tag == "osmChange"
    bad = overt_cli(home, "observatory", "cameras", "export", "--format", "kml", "--out", str(osc))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    stats = json.loads(overt_cli(home, "observatory", "cameras", "stats", "--cell-km", "0.5", "--json").stdout)
    assert stats["cameras"] == sum(c["cameras"] for c in stats["cells"])
    assert stats["cells"][0]["cameras"] >= stats["cells"][-1]["cameras"]


def test_reports_near_mapped_cameras_wait_for_a_moderator(obs: Observatory, tmp_path: Path) -> None:
    camera_map.import_osm(obs, *read_cameras(OSM / "bern.overpass.json"))
    # Node 565072468 (Bahnhofplatz, surveillance=public) and a report 8 m from it; one 500 m from anything.
    near = camera_map.Report(1, 46.9486386 + 0.00007, 7.4394889, "dome over the bus stop")
    far = camera_map.Report(2, 46.9420, 7.4600, "pole camera")
    counts = camera_map.merge_reports(obs, [near, far])
    assert counts == {"imported": 2, "skipped": 0, "duplicates": 1}
    (pending,) = [c for c in camera_map.cameras(obs, "pending") if c["origin"] == "report"]
    assert pending["origin_id"] == "1" and 7 < pending["distance_m"] < 9
    assert camera_map.cameras(obs)[pending["duplicate_of"] - 1]["origin_id"] == "565072468"

    osc = ET.fromstring(camera_map.to_osmchange(obs))
    nodes = osc.findall("create/node")
    assert len(nodes) == 1 and nodes[0].get("lat") == "46.9420000"  # the pending one is held back
    assert {t.get("k"): t.get("v") for t in nodes[0]} == {"man_made": "surveillance", "surveillance:type": "camera"}
    assert int(nodes[0].get("id")) < 0 and nodes[0].get("changeset") is None

    camera_map.resolve(obs, pending["id"], "distinct", "moderator")
    assert len(ET.fromstring(camera_map.to_osmchange(obs)).findall("create/node")) == 2
    with pytest.raises(ObservatoryError, match="not waiting"):
        camera_map.resolve(obs, pending["id"], "duplicate", "moderator")
    assert obs.verify_history() == []
    with obs.db.engine.begin() as conn:  # the insider overturns the moderator with SQL
        conn.execute(text("UPDATE obs_cameras SET review = 'duplicate' WHERE id = :i"), {"i": pending["id"]})
    assert any("moderator's decision" in p for p in obs.verify_history())


def test_two_reports_of_one_camera_are_flagged_and_a_duplicate_leaves_the_exports(obs: Observatory) -> None:
    counts = camera_map.merge_reports(
        obs, [camera_map.Report(1, 44.8125, 20.4612), camera_map.Report(2, 44.81255, 20.4612)]
    )
    assert counts["duplicates"] == 1
    (pending,) = camera_map.cameras(obs, "pending")
    camera_map.resolve(obs, pending["id"], "duplicate", "moderator")
    assert len(camera_map.to_geojson(obs)["features"]) == 1
    assert len(ET.fromstring(camera_map.to_osmchange(obs)).findall("create/node")) == 1
    assert camera_map.coverage(obs)["cameras"] == 1


def test_nearby_osm_nodes_are_not_flagged_as_duplicates(obs: Observatory) -> None:
    # Bern's mappers put several cameras on one facade: 516059050 and 564719101 are 11 m apart.
    counts = camera_map.import_osm(obs, *read_cameras(OSM / "bern.osm"))
    assert counts["duplicates"] == 4  # only nodes within 2 m with identical tags: 4 pairs in Bern, all < 1 m
    assert all(c["distance_m"] <= camera_map.SAME_NODE_M for c in camera_map.cameras(obs, "pending"))


def test_moved_node_is_reimported(obs: Observatory) -> None:
    cameras, _ = read_cameras(OSM / "bern.osm")
    camera_map.import_osm(obs, cameras, 0)
    with obs.db.engine.begin() as conn:
        conn.execute(
            text("UPDATE obs_cameras SET lat = lat + 0.01 WHERE origin_id = :i"), {"i": str(cameras[0].node_id)}
        )
    assert camera_map.import_osm(obs, cameras, 0)["imported"] == 1


def test_hostile_files_are_refused_in_one_line(tmp_path: Path) -> None:
    """An XML external entity (which would read a local file into a tag), garbage XML, a broken PBF."""
    xxe = tmp_path / "xxe.osm"
    xxe.write_text(
        '<?xml version="1.0"?><!DOCTYPE osm [<!ENTITY x SYSTEM "file:///etc/passwd">]><osm version="0.6">'
        '<node id="1" lat="1" lon="2"><tag k="man_made" v="surveillance"/><tag k="note" v="&x;"/></node></osm>'
    )
    (tmp_path / "garbage.osm").write_text("garbage")
    (tmp_path / "broken.osm.pbf").write_bytes(b"\x00\x00\x00\xff" + b"x" * 64)
    for name, message in (("xxe.osm", "entities"), ("garbage.osm", "XML"), ("broken.osm.pbf", "PBF")):
        done = overt_cli(tmp_path / "home", "observatory", "cameras", "import", str(tmp_path / name), "--json")
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr, done.stderr
        assert done.stdout == ""
