"""Paging the audit log in the console: a keyset cursor on `seq` against LIMIT/OFFSET, deep in a large log.

    .venv/bin/python bench/audit_pages.py --records 500000 --out out/bench-audit-pages.json

Fills a fresh SQLite installation's log with `--records` synthetic rows (their hashes are not a chain: this
measures the query, not verification), then times a 50-record page of one actor's records near the start,
the middle and the end of the log through `AuditViewService.page` (cursor), and the same pages with OFFSET
in the same run (the baseline a naive API would use).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from overt.services import Actor  # noqa: E402
from overt.services.audit_view import AuditFilter  # noqa: E402
from overt.storage.models import AuditRecord  # noqa: E402
from tests.governance_helpers import make_overt  # noqa: E402

PAGE = 50


def timed(call, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=500_000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        overt = make_overt(Path(home))
        at = datetime.now(UTC)
        with overt.db.session() as session:
            first = session.scalar(select(AuditRecord.seq).order_by(AuditRecord.seq.desc()).limit(1)) + 1
            rows = [
                {
                    "seq": first + n,
                    "at": at,
                    "actor": ("aud", "op", "rev1", "dpo")[n % 4],
                    "action": "gate.refused",
                    "deployment_id": None,
                    "object_type": "",
                    "object_id": "",
                    "outcome": "refused",
                    "details": '{"operation":"x","reason":"y","rule":"role"}',
                    "prev_hash": "0" * 64,
                    "hash": "0" * 64,
                }
                for n in range(args.records)
            ]
            session.execute(insert(AuditRecord), rows)
        dpo, where = Actor("dpo", "dpo"), AuditFilter(actor="aud")
        pages = args.records // 4 // PAGE
        result = {"records": args.records, "page": PAGE, "cursor_ms": {}, "offset_ms": {}}
        for depth in ("start", "middle", "end"):
            page_no = {"start": 1, "middle": pages // 2, "end": pages - 1}[depth]
            with overt.db.session() as session:
                cursor = session.scalar(  # the cursor the console holds after page_no pages
                    select(AuditRecord.seq)
                    .where(AuditRecord.actor == "aud")
                    .order_by(AuditRecord.seq.desc())
                    .offset(page_no * PAGE - 1)
                    .limit(1)
                )

            def offset_page(n: int = page_no) -> None:
                with overt.db.session() as session:
                    query = select(AuditRecord).where(AuditRecord.actor == "aud").order_by(AuditRecord.seq.desc())
                    list(session.scalars(query.offset(n * PAGE).limit(PAGE)))

            result["cursor_ms"][depth] = timed(lambda c=cursor: overt.audit_view.page(dpo, where, cursor=c, limit=PAGE))
            result["offset_ms"][depth] = timed(offset_page)
        result["first_page_with_count_ms"] = timed(lambda: overt.audit_view.page(dpo, where, limit=PAGE))
        overt.db.dispose()
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
