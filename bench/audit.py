"""Benchmark the audit log: appends per second with concurrent writers, verification and proofs at scale.

    python bench/audit.py [--records 1000000] [--seconds 8] [--postgres URL] [--skip-scale | --skip-appends]
                          [--out results.json]

1. Appends: processes that each append one record per transaction for `--seconds`, with 1 and 8
   writers (and 8 threads of one process, as a server's; and 8 writers whose transactions append ten
   records each, as a bulk enrolment or a batch of sightings does), on SQLite (and PostgreSQL with
   `--postgres`). An append counts when its transaction has committed: chained in it (the writer took
   the chain lock: hash, record MAC, Merkle nodes, head witness) or queued with its MAC and lane, for
   the lock's holder to chain. At the end the queue is empty and the log verifies without a warning,
   so every counted append was chained.
   Baselines in the same run, by the same writers: plain INSERTs of the same rows (the database's own
   rate: no session, no lock, no MAC, no tree), and the same INSERTs as an Overt write operation makes
   them (a session that takes the write lock: SQLite's fair queue of writers, nothing on PostgreSQL):
   what any operation pays before it audits anything. "ratio" is audited over the latter. "CPU ms":
   the writers' CPU per row, audited and as an operation (on two cores it bounds the rate). Also the
   rate of one integrator alone, chaining 5,000 queued entries (what the chain lock's holder absorbs).
2. Verification of `--records` records (a log built by this script with the installation's own
   functions: hashes, MACs, tree nodes and a signed head every 100,000 records), as `audit verify`
   runs it (two processes from 500,000 records) and in one pass, alternated, best of two;
   against the hash chain alone (what verification cost before records were authenticated).
3. An inclusion and a consistency proof at that size (median and worst of 200 random ones).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import create_engine, insert, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from overt.audit import AuditLog, load_or_create_mac_keys, load_or_create_signing_key, verify_chain  # noqa: E402
from overt.audit import verify as verify_module  # noqa: E402
from overt.audit.canonical import canonical_json, format_time  # noqa: E402
from overt.audit.chain import (  # noqa: E402
    ZERO_HASH,
    chain_payload,
    head_message,
    record_hash,
    record_mac_message,
)
from overt.audit.events import GateRefused  # noqa: E402
from overt.audit.head import HEAD_FILE  # noqa: E402
from overt.audit.merkle import Frontier, check_consistency, leaf_hash, root_from_inclusion  # noqa: E402
from overt.storage.db import Database  # noqa: E402
from overt.storage.models import AuditRecord  # noqa: E402

console = Console()
EVENT = GateRefused(operation="identify", rule="window", reason="outside the time windows")


def open_log(url: str, home: Path) -> AuditLog:
    keys = home / "keys"
    return AuditLog(Database(url), load_or_create_signing_key(keys), load_or_create_mac_keys(keys),
                    checkpoint_file=home / "checkpoints.jsonl", head_file=keys / HEAD_FILE)


def _transactions(log: AuditLog, seconds: float, mode: str, per: int = 1) -> int:
    """One writer's loop: transactions of `mode`, each of `per` rows, for `seconds`; how many rows committed."""
    details = canonical_json(EVENT.details())
    insert = text("INSERT INTO bench_plain (actor, details) VALUES ('op', :d)")
    done, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        if mode == "plain":
            with log.db.engine.begin() as conn:
                for _ in range(per):
                    conn.execute(insert, {"d": details})
        elif mode == "operation":
            with log.db.session() as session:
                log.db.write_lock(session)
                for _ in range(per):
                    session.execute(insert, {"d": details})
        else:
            with log.db.session() as session:
                for _ in range(per):
                    log.append(session, EVENT, actor="op", outcome="refused")
        done += per
    return done


def _writer(url: str, home: str, seconds: float, mode: str, per: int, start: Any, counts: Any, cpu: Any,
            index: int, threads: int) -> None:
    """A writing process: one writer, or `threads` writer threads sharing its log (as a server's do). Reports
    its rows and the CPU its writing took (the process's clock, every thread; start-up not counted)."""
    log = open_log(url, Path(home))
    start.wait()
    began = time.process_time()
    if threads == 1:
        counts[index] = _transactions(log, seconds, mode, per)
    else:
        done = [0] * threads

        def write(i: int) -> None:
            done[i] = _transactions(log, seconds, mode, per)

        workers = [threading.Thread(target=write, args=(i,)) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        counts[index] = sum(done)
    cpu[index] = time.process_time() - began


def appends(url: str, home: Path, writers: int, seconds: float, mode: str, threads: bool = False,
            per: int = 1) -> tuple[float, float]:
    """Rows per second over `seconds` with `writers` processes (or threads of one process), `per` a
    transaction; and the writers' CPU per row in ms (on two cores the rate is bounded by it)."""
    ctx = multiprocessing.get_context("spawn")
    processes, per_process = (1, writers) if threads else (writers, 1)
    start, counts, cpu = ctx.Barrier(processes + 1), ctx.Array("l", processes), ctx.Array("d", processes)
    procs = [ctx.Process(target=_writer,
                         args=(url, str(home), seconds, mode, per, start, counts, cpu, i, per_process))
             for i in range(processes)]
    for p in procs:
        p.start()
    start.wait()
    began = time.monotonic()
    for p in procs:
        p.join()
    return sum(counts) / (time.monotonic() - began), 1000 * sum(cpu) / max(1, sum(counts))


def integration_rate(url: str, home: Path, entries: int = 5_000) -> float:
    """Records chained per second by one integrator from a full queue (writers' commits not counted)."""
    log = open_log(url, home)
    log.integrate_after_commit = False
    with log.db.session() as session:
        for _ in range(entries):
            log.append(session, EVENT, actor="op", outcome="refused")
    began = time.perf_counter()
    chained = log.integrate()
    rate = chained / (time.perf_counter() - began)
    log.db.dispose()
    return rate


def fresh(url: str, home: Path) -> None:
    db = Database(url)
    db.migrate()
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_plain (id INTEGER PRIMARY KEY, actor TEXT, details TEXT)"
                          if db.is_sqlite else
                          "CREATE TABLE IF NOT EXISTS bench_plain (id SERIAL PRIMARY KEY, actor TEXT, details TEXT)"))
    db.dispose()
    home.mkdir(parents=True, exist_ok=True)


def build(log: AuditLog, n: int) -> None:
    """`n` valid records, with MACs, tree nodes and a signed head every 100,000, in bulk."""
    details = canonical_json(EVENT.details())
    frontier, prev, at0 = Frontier(), ZERO_HASH, datetime.now(UTC) - timedelta(days=1)
    kid = log.mac_keys.current_id
    records, nodes, heads = [], [], []
    with log.db.engine.begin() as conn:
        for seq in range(1, n + 1):
            at = at0 + timedelta(microseconds=seq)
            hash_ = record_hash(chain_payload(seq, at, "op", EVENT.name, None, "", "", "refused", details, prev))
            records.append({"seq": seq, "at": at, "actor": "op", "action": EVENT.name, "deployment_id": None,
                            "object_type": "", "object_id": "", "outcome": "refused", "details": details,
                            "prev_hash": prev, "hash": hash_, "mac": log.mac_keys.mac(record_mac_message(hash_), kid),
                            "mac_key_id": kid})
            nodes += [{"level": lv, "idx": i, "hash": h.hex()}
                      for (lv, i), h in frontier.append(leaf_hash(bytes.fromhex(hash_)))]
            prev = hash_
            if seq % 100_000 == 0 or seq == n:
                root = frontier.root().hex()
                heads.append({"seq": seq, "hash": hash_, "root": root, "at": at, "key_id": log.signing_key.key_id,
                              "signature": log.signing_key.sign(head_message(seq, root, format_time(at)))})
            if len(records) >= 50_000 or seq == n:
                conn.execute(insert(AuditRecord.__table__), records)  # typed: times stored as Overt stores them
                if nodes:
                    conn.execute(text("INSERT INTO audit_tree (level, idx, hash) VALUES (:level, :idx, :hash)"), nodes)
                records, nodes = [], []
        conn.execute(text("INSERT INTO audit_checkpoints (seq, hash, root, at, key_id, signature) VALUES "
                          "(:seq, :hash, :root, :at, :key_id, :signature)"), heads)


def chain_only(db: Database) -> float:
    """The baseline: the hash chain alone (every record's hash and link), as verification was before."""
    began = time.perf_counter()
    with db.engine.connect() as conn:
        prev = ZERO_HASH
        rows = conn.execution_options(yield_per=10_000).execute(text(
            "SELECT seq, at, actor, action, deployment_id, object_type, object_id, outcome, details, prev_hash, hash "
            "FROM audit_log ORDER BY seq"))
        for row in rows:
            at = row[1] if not isinstance(row[1], str) else datetime.fromisoformat(row[1]).replace(tzinfo=UTC)
            assert row[9] == prev and record_hash(chain_payload(row[0], at, *row[2:10])) == row[10]
            prev = row[10]
    return time.perf_counter() - began


def proofs(log: AuditLog, n: int, count: int = 200) -> dict[str, float]:
    import random

    rng = random.Random(7)
    inclusion, consistency = [], []
    head = log.consistency_proof(n, n)
    root = bytes.fromhex(head["second_root"])
    for _ in range(count):
        seq = rng.randint(1, n)
        began = time.perf_counter()
        proof = log.inclusion_proof(seq, n)
        inclusion.append(time.perf_counter() - began)
        leaf = bytes.fromhex(proof["leaf"])
        assert root_from_inclusion(seq - 1, n, leaf, [bytes.fromhex(p) for p in proof["proof"]]) == root
        first = rng.randint(1, n)
        began = time.perf_counter()
        step = log.consistency_proof(first, n)
        consistency.append(time.perf_counter() - began)
        check_consistency(first, n, bytes.fromhex(step["first_root"]), root, [bytes.fromhex(p) for p in step["proof"]])
    return {"inclusion_ms_p50": 1000 * statistics.median(inclusion), "inclusion_ms_max": 1000 * max(inclusion),
            "consistency_ms_p50": 1000 * statistics.median(consistency),
            "consistency_ms_max": 1000 * max(consistency)}


# label, writers, threads of one process, records a transaction
WRITERS = (("1", 1, False, 1), ("8", 8, False, 1), ("8 threads", 8, True, 1), ("8, 10 a txn", 8, False, 10))


def run(name: str, new_url: Any, home: Path, seconds: float) -> dict[str, Any]:
    result: dict[str, Any] = {"database": name}
    for label, writers, threads, per in WRITERS:
        tag = f"{writers}{'t' if threads else ''}x{per}"
        url = new_url(f"w{tag}")
        fresh(url, home / f"w{tag}")
        for mode in ("plain", "operation", "audit"):
            result[f"{mode}_{label}"], result[f"{mode}_cpu_ms_{label}"] = appends(
                url, home / f"w{tag}", writers, seconds, mode, threads, per)
        log = open_log(url, home / f"w{tag}")
        check = verify_chain(log.db, log.public_key, log.checkpoint_file, mac_keys=log.mac_keys, witness=log.witness)
        assert check.ok and not check.warnings, (check.problem, check.warnings)  # nothing left unchained
        log.db.dispose()
        if writers == 1:
            result["integrator"] = integration_rate(url, home / f"w{tag}")
            console.print(f"{name}: one integrator chains {result['integrator']:,.0f} queued records/s")
        console.print(f"{name}: {label} writer(s): {result[f'audit_{label}']:.0f} audited appends/s "
                      f"(plain inserts {result[f'plain_{label}']:.0f}/s, "
                      f"as an operation {result[f'operation_{label}']:.0f}/s)")
    return result


def scale(name: str, url: str, home: Path, records: int) -> dict[str, Any]:
    fresh(url, home)
    log = open_log(url, home)
    began = time.perf_counter()
    build(log, records)
    console.print(f"{name}: built {records:,} records in {time.perf_counter() - began:.0f} s")
    baseline = chain_only(log.db)
    times: dict[str, list[float]] = {"verify_s": [], "verify_one_pass_s": []}
    for _ in range(2):  # alternated, so a change in the machine's load hits both alike
        for key, threshold in (("verify_s", verify_module.PARALLEL_FROM), ("verify_one_pass_s", 2**62)):
            saved, verify_module.PARALLEL_FROM = verify_module.PARALLEL_FROM, threshold
            began = time.perf_counter()
            result = verify_chain(log.db, log.public_key, None, mac_keys=log.mac_keys, check_state=False)
            times[key].append(time.perf_counter() - began)
            verify_module.PARALLEL_FROM = saved
            assert result.ok and result.records == records, result.problem
    out = {"database": name, "records": records, **{k: min(v) for k, v in times.items()},
           "chain_only_s": baseline, **proofs(log, records)}
    log.db.dispose()
    console.print(f"{name}: verify {out['verify_s']:.1f} s (one pass {out['verify_one_pass_s']:.1f} s, "
                  f"chain alone {baseline:.1f} s)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--postgres", default=os.environ.get("OVERT_TEST_POSTGRES_URL"))
    parser.add_argument("--skip-scale", action="store_true", help="appends only (no 1M-record log)")
    parser.add_argument("--skip-appends", action="store_true", help="verification and proofs only")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    targets = [("sqlite", None)] + ([("postgresql", args.postgres)] if args.postgres else [])
    appended, scaled = [], []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for name, base in targets:
            def new_url(tag: str, base: str | None = base, name: str = name) -> str:
                return f"sqlite:///{tmp}/{name}-{tag}.db" if base is None else _new_pg_database(base, f"bench_{tag}")

            if not args.skip_appends:
                appended.append(run(name, new_url, Path(tmp) / f"{name}-writers", args.seconds))
            if not args.skip_scale:
                scaled.append(scale(name, new_url("scale"), Path(tmp) / f"{name}-scale", args.records))
    if appended:
        table = Table(title=f"Audit log on {platform.node()} ({os.cpu_count()} cores, load {load:.1f})")
        for column in ("database", "writers", "audited/s", "plain/s", "op/s", "ratio", "CPU ms"):
            table.add_column(column, justify="right")
        for row in appended:
            for label, *_how in WRITERS:
                audited, plain, operation = (row[f"{m}_{label}"] for m in ("audit", "plain", "operation"))
                cpu = f"{row[f'audit_cpu_ms_{label}']:.2f}/{row[f'operation_cpu_ms_{label}']:.2f}"
                table.add_row(row["database"], label, f"{audited:,.0f}", f"{plain:,.0f}",
                              f"{operation:,.0f}", f"{audited / operation:.2f}", cpu)
        console.print(table)
        console.print("op/s: as an Overt write operation; CPU ms: the writers' CPU a row, audited/op")
    if scaled:
        table = Table(title=f"Verification and proofs at {args.records:,} records")
        for column in ("database", "verify s", "one pass s", "chain alone s", "inclusion ms p50/max",
                       "consistency ms p50/max"):
            table.add_column(column, justify="right")
        for row in scaled:
            table.add_row(row["database"], f"{row['verify_s']:.1f}", f"{row['verify_one_pass_s']:.1f}",
                          f"{row['chain_only_s']:.1f}",
                          f"{row['inclusion_ms_p50']:.2f} / {row['inclusion_ms_max']:.2f}",
                          f"{row['consistency_ms_p50']:.2f} / {row['consistency_ms_max']:.2f}")
        console.print(table)
    if args.out:
        args.out.write_text(json.dumps({"appends": appended, "scale": scaled, "load_start": load,
                                        "load_end": os.getloadavg()[0]}, indent=1))


def _new_pg_database(base: str, prefix: str) -> str:
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return f"{base.rsplit('/', 1)[0]}/{name}"


if __name__ == "__main__":
    main()
