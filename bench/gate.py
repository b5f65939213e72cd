"""What the binding approval costs per gated operation: the full gate (assignment, snapshot comparison of
cameras and calibration, the rules, the day's public figures) against an operation that checks only the
role in the same kind of transaction, and against the rules alone, in one run.

    .venv/bin/python bench/gate.py                 # 300 operations each, SQLite in a temporary directory
    .venv/bin/python bench/gate.py --operations 1000 --out out/bench-gate.json

The installation is the API benchmark's (`bench/api.py`: an approved live deployment on one camera).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from api import seed  # noqa: E402

from overt.config import Settings  # noqa: E402
from overt.governance import deployments as rules  # noqa: E402
from overt.governance.gate import Scope, check  # noqa: E402
from overt.services import Actor, Overt, operate  # noqa: E402
from overt.services.core import now  # noqa: E402


def timed(run, operations: int) -> list[float]:
    samples = []
    for _ in range(operations):
        start = time.perf_counter()
        run()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--operations", type=int, default=300)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        seed(home, alerts=0)
        overt = Overt(Settings(home=home))
        op = Actor("op", "operator")
        scope = Scope("watch", camera="bench-cam", watchlists=("bench",), watchlist_sizes=(1,))
        calibrated = overt.calibrated()

        def rules_alone() -> None:
            with overt.db.session() as session:
                check(rules.get(session, 1), scope, now(), calibrated)

        def role_and_transaction() -> None:  # what every operation pays without a deployment
            with operate(overt, op, "watch"):
                pass

        def full_gate() -> None:
            with operate(overt, op, "watch", deployment_id=1, scope=scope):
                pass

        full_gate(), rules_alone()  # warm
        full = timed(full_gate, args.operations)
        alone = timed(rules_alone, args.operations)
        bare = timed(role_and_transaction, args.operations)
    result = {
        "operations": args.operations,
        "full_gate_ms": {"p50": statistics.median(full), "p99": sorted(full)[int(0.99 * len(full)) - 1]},
        "rules_alone_ms": {"p50": statistics.median(alone), "p99": sorted(alone)[int(0.99 * len(alone)) - 1]},
        "role_and_transaction_ms": {"p50": statistics.median(bare), "p99": sorted(bare)[int(0.99 * len(bare)) - 1]},
        "load_average": os.getloadavg(),
    }
    result["full_over_role_and_transaction_p50"] = (
        result["full_gate_ms"]["p50"] / result["role_and_transaction_ms"]["p50"]
    )
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
