"""How long an access request takes: the requester's face against every watchlist and every evidence
image still within retention (each decrypted, detected and embedded: the search is O(evidence)).

    .venv/bin/python bench/rights.py --evidence 40 --out out/bench-rights.json

A fresh installation in a temporary directory: four people enrolled, then `--evidence` searches of a probe
image, each leaving one alert with its evidence crop. Baseline in the same run: one 1:N identification of
the same photo (`identify`, which embeds the probe and searches the watchlists, without the evidence).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from overt.services import Actor  # noqa: E402
from overt.services.gallery import EnrolRequest  # noqa: E402
from tests.governance_helpers import approved, make_overt  # noqa: E402

FACES = ROOT / "tests" / "data" / "faces"
OP, DPO = Actor("op", "operator"), Actor("dpo", "dpo")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evidence", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        overt = make_overt(Path(home))
        overt.gallery.create_watchlist(Actor("admin", "admin"), "missing", categories=["missing-person"])
        deployment = approved(overt, max_watchlist_size=10)
        for ref in ("001", "004", "025", "042"):
            request = EnrolRequest(ref, (FACES / f"{ref}_neutral.jpg",), "missing-person")
            overt.gallery.enroll(OP, deployment, "missing", request)
        for n in range(args.evidence):
            overt.gallery.identify(OP, deployment, FACES / "042_smiling.jpg", ["missing"], case=f"C-{n}")
        photo = (FACES / "042_neutral.jpg").read_bytes()
        identify, access = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            overt.gallery.identify(OP, deployment, photo, ["missing"], case="bench")
            identify.append(time.perf_counter() - start)
            start = time.perf_counter()
            view = overt.rights.access(DPO, photo, requester="bench")
            access.append(time.perf_counter() - start)
            overt.rights.close(DPO, view["id"])
        result = {
            "evidence_images": view["searched"]["evidence"],
            "alerts_found": len(view["alerts"]),
            "identify_s": round(statistics.median(identify), 3),
            "access_s": round(statistics.median(access), 3),
            "ratio": round(statistics.median(access) / statistics.median(identify), 1),
            "per_evidence_ms": round(
                1000 * (statistics.median(access) - statistics.median(identify)) / max(1, view["searched"]["evidence"]),
                1,
            ),
        }
        overt.db.dispose()
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
