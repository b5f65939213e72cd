"""One exit-code table for every command: a bad image is 4 wherever it is read, and a batch prints every
item's result before exiting non-zero for the items that failed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.governance_helpers import approved, make_overt
from tests.test_cli import FACES, remember, run


def test_a_bad_image_exits_4_in_verify_enroll_and_detect(tmp_path: Path) -> None:
    home = tmp_path / "home"
    overt = make_overt(home)
    overt.gallery.create_watchlist(overt.actor("admin"), "missing", categories=["missing-person"])
    deployment = approved(overt, mode="retrospective")
    remember(home, overt, "admin", "op")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    good = str(FACES / "042_neutral.jpg")

    verify = run(home, "verify", str(broken), good, check=False)
    enroll = run(home, "enroll", "missing", str(broken), "--subject", "x", "--category", "missing-person",
                 "--deployment", str(deployment), user="op", check=False)
    detect = run(home, "detect", good, str(broken), "--json", check=False)
    assert (verify.returncode, enroll.returncode, detect.returncode) == (4, 4, 4)
    for result in (verify, enroll):
        assert len(result.stderr.strip().splitlines()) == 1 and "broken.jpg" in result.stderr
    items = {Path(r["path"]).name: r for r in json.loads(detect.stdout)}
    assert items["042_neutral.jpg"]["faces"] and "error" in items["broken.jpg"]  # every item still reported
    assert run(home, "detect", good, "--json").returncode == 0
