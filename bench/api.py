"""Load benchmark of the HTTP API on loopback: concurrent httpx clients on the public and review routes.

    .venv/bin/python bench/api.py                          # 16 clients, 10 s per scenario
    .venv/bin/python bench/api.py --clients 32 --seconds 20 --out out/bench-api.json

A fresh installation in a temporary directory (one enrolled face, a live deployment on one camera,
`--alerts` pending alerts raised through the service layer as a stream worker would) is served by
uvicorn in its own process (one worker, no access log, rate limits raised so that the handlers are
measured rather than the limiter). Clients are asyncio tasks with keep-alive httpx connections.

Scenarios: the public site's data (registry, GeoJSON, deployment records) as anonymous visitors;
reviewers reading the queue (list and one alert); reviewers viewing evidence (each view is audited:
one write); five reviewers deciding alerts (each decision is two audited writes in one transaction).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import yaml
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from overt.config import Settings  # noqa: E402
from overt.gallery.search import Candidate  # noqa: E402
from overt.governance.gate import Scope  # noqa: E402
from overt.governance.spec import LAWFUL_PURPOSES, REQUIRED_ASSESSMENTS  # noqa: E402
from overt.services import Actor, Overt, operate  # noqa: E402
from overt.services.cameras import CameraInfo  # noqa: E402
from overt.services.core import now  # noqa: E402
from overt.services.gallery import EnrolRequest  # noqa: E402
from overt.storage.models import Subject  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[1] / "overt" / "samples"
REVIEWERS = 5  # the most reviewers a deployment may require: each alert takes all five decisions
RAISED_LIMITS = {"OVERT_PUBLIC_RATE": "1000000", "OVERT_PUBLIC_BURST": "1000000"}
Call = tuple[str, str, dict[str, str], dict[str, str] | None]  # method, url, headers, JSON body
Calls = Callable[[int], Iterator[Call]]  # the calls client number n makes


@dataclass
class Result:
    scenario: str
    clients: int
    seconds: float
    requests: int
    errors: int
    throughput_rps: float
    p50_ms: float
    p99_ms: float
    max_ms: float


def seed(home: Path, alerts: int) -> dict[str, object]:
    """Users, a camera, a watchlist with one face, an approved live deployment and `alerts` pending alerts."""
    overt = Overt(Settings(home=home))
    info = overt.system.init()
    tokens = {"admin": info["admin_token"]}
    admin, dpo = overt.actor("admin"), overt.actor(info["dpo"])
    reviewers = [f"rev{i}" for i in range(REVIEWERS)]
    for name, role in [("op", "operator"), ("judge", "authority")] + [(r, "reviewer") for r in reviewers]:
        tokens[name] = overt.system.add_user(admin, name, role)
        overt.system.approve_user(dpo, name)  # the DPO countersigns each operational role
    op, judge = Actor("op", "operator"), Actor("judge", "authority")
    overt.cameras.add(op, CameraInfo("bench-cam", name="Bench camera", lat=51.5, lon=-0.12, public_notice="bench"))
    overt.gallery.create_watchlist(op, "bench", categories=["missing-person"])
    start = now()
    spec = {
        "name": "Benchmark",
        "purpose": LAWFUL_PURPOSES[1],
        "legal_basis": "bench",
        "mode": "live",
        "authority": "judge",
        "cameras": ["bench-cam"],
        "watchlists": ["bench"],
        "categories": ["missing-person"],
        "windows": [{"start": start.isoformat(), "end": (start.replace(year=start.year + 1)).isoformat()}],
        "max_watchlist_size": 10,
        "reviewers_required": REVIEWERS,
        "public_notice": "bench",
        "assessments": [
            {"kind": kind, "ref": "bench", "file": f"{kind}.md"} for kind in REQUIRED_ASSESSMENTS["live"]
        ],
    }
    documents = {f"{kind}.md": f"benchmark {kind}".encode() for kind in REQUIRED_ASSESSMENTS["live"]}
    deployment = overt.deployments.apply(op, yaml.safe_dump(spec), documents)
    overt.deployments.decide(judge, deployment, "approve", "benchmark", assign=tuple(reviewers))
    face = EnrolRequest("bench-subject", (SAMPLES / "042_neutral.jpg",), "missing-person")
    overt.gallery.enroll(op, deployment, "bench", face)
    subject = "bench-subject"
    with overt.db.session() as session:
        subject_id = session.scalars(select(Subject.id).where(Subject.reference == subject)).one()
    crop = (SAMPLES / "042_smiling.jpg").read_bytes()
    ids: list[int] = []
    scope = Scope("watch", camera="bench-cam", watchlists=("bench",))
    with operate(overt, op, "watch", deployment_id=deployment, scope=scope) as operation:
        candidate = Candidate(
            subject_id=subject_id, subject=subject, watchlist="bench", score=0.99, raw_score=0.99, template_id=0
        )
        for _ in range(alerts):
            ids += overt.alerts.raise_for(operation, [candidate], 0.9, camera="bench-cam", evidence={"crop": crop})
    overt.db.dispose()
    return {"tokens": tokens, "alerts": ids}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve(home: Path, port: int) -> None:
    """The server process: the app as `overt serve` builds it, without the access log."""
    from overt.api import create_app
    from overt.api.server import Server, config

    app = create_app(Overt(Settings(home=home)))
    Server(config(app, "127.0.0.1", port, log_level="warning"), app).run()


async def hammer(base: str, clients: int, seconds: float, requests: Calls) -> tuple[list[float], int]:
    """`clients` tasks, each sending its requests back to back until the time is up or it runs out."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(number: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
            for method, url, headers, body in requests(number):
                if time.perf_counter() >= deadline:
                    return
                started = time.perf_counter()
                try:
                    response = await http.request(method, url, headers=headers, json=body)
                    errors += response.status_code >= 400
                except httpx.TransportError:  # a timeout counts, at its full wait
                    errors += 1
                latencies.append(time.perf_counter() - started)

    await asyncio.gather(*(client(n) for n in range(clients)))
    return latencies, errors


def cycle(items: list[Call]) -> Iterator[Call]:
    while True:
        yield from items


def scenarios(tokens: dict[str, str], alerts: list[int]) -> dict[str, tuple[int | None, Calls]]:
    """name -> (fixed client count or None for --clients, requests for client n)."""

    def as_user(name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[name]}"}

    public: list[Call] = [
        ("GET", url, {}, None)
        for url in ("/api/public/cameras", "/api/public/cameras.geojson", "/api/public/deployments", "/")
    ]

    def reviewer_reads(n: int) -> Iterator[Call]:
        headers = as_user(f"rev{n % REVIEWERS}")
        return cycle(
            [("GET", "/api/alerts?status=pending&limit=50", headers, None)]
            + [("GET", f"/api/alerts/{a}", headers, None) for a in alerts[n::7][:20]]
        )

    def evidence(n: int) -> Iterator[Call]:
        headers = as_user(f"rev{n % REVIEWERS}")
        return cycle([("GET", f"/api/alerts/{a}/evidence/crop", headers, None) for a in alerts[n::11][:20]])

    def decisions(n: int) -> Iterator[Call]:
        headers = as_user(f"rev{n}")
        return iter([("POST", f"/api/alerts/{a}/review", headers, {"decision": "reject"}) for a in alerts])

    return {
        "public site data (anonymous)": (None, lambda n: cycle(public)),
        "review queue reads": (None, reviewer_reads),
        "evidence views (audited)": (None, evidence),
        "review decisions (audited writes)": (REVIEWERS, decisions),
    }


def summarise(name: str, clients: int, seconds: float, latencies: list[float], errors: int) -> Result:
    ms = sorted(x * 1000 for x in latencies)
    p99 = ms[min(len(ms) - 1, int(0.99 * len(ms)))] if ms else 0.0
    return Result(
        name,
        clients,
        round(seconds, 2),
        len(ms),
        errors,
        round(len(ms) / seconds, 1),
        round(statistics.median(ms), 2) if ms else 0.0,
        round(p99, 2),
        round(ms[-1], 2) if ms else 0.0,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=16, choices=range(1, 65), metavar="1-64")
    parser.add_argument("--seconds", type=float, default=10.0, help="per scenario (at most 60)")
    parser.add_argument("--alerts", type=int, default=1500, help="pending alerts raised before the run")
    parser.add_argument("--out", type=Path, default=Path("out/bench-api.json"))
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return
    seconds = min(max(args.seconds, 1.0), 60.0)
    console = Console()
    with tempfile.TemporaryDirectory(prefix="overt-bench-api-") as tmp:
        home = Path(tmp) / "home"
        console.print(f"seeding {args.alerts} alerts …")
        seeded = seed(home, args.alerts)
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(home), "--port", str(port)],
            env={**os.environ, **RAISED_LIMITS},
        )
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/api/health").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            results = []
            for name, (fixed, requests) in scenarios(seeded["tokens"], seeded["alerts"]).items():
                clients = fixed or args.clients
                started = time.perf_counter()
                latencies, errors = asyncio.run(hammer(base, clients, seconds, requests))
                results.append(summarise(name, clients, time.perf_counter() - started, latencies, errors))
                console.print(f"  {name}: {results[-1].throughput_rps} req/s")
        finally:
            server.terminate()
            server.wait(10)
    table = Table("scenario", "clients", "requests", "errors", "req/s", "p50 ms", "p99 ms", "max ms")
    for r in results:
        table.add_row(
            r.scenario,
            str(r.clients),
            str(r.requests),
            str(r.errors),
            f"{r.throughput_rps:.1f}",
            f"{r.p50_ms:.1f}",
            f"{r.p99_ms:.1f}",
            f"{r.max_ms:.1f}",
        )
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()}
    args.out.write_text(json.dumps({"machine": machine, "results": [asdict(r) for r in results]}, indent=2))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
