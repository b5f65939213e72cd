"""Cameras on a Ray cluster against the single-machine supervisor, failover, and PostgreSQL write rates.

    OVERT_TEST_POSTGRES_URL=postgresql+psycopg://overt:overt@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/cluster.py --nodes 2 --cameras 2 --kill-node-after 3 --steady 45 --json

1. Reference: M cameras (a synthetic scene each: an enrolled person crossing twice, a stranger once) run
   to the end by the local supervisor (one process per camera) on SQLite: CPU per frame (the workers'
   CPU from getrusage of the children) and the alerts and sightings they raise.
2. Ray, undisturbed: the same cameras as actors on N one-CPU worker nodes (plus a head), PostgreSQL;
   CPU per frame over every process of the Ray session (raylet, GCS, workers, actors) read from /proc.
3. Ray, a node killed S seconds in: failover time (until the camera reports running on another node),
   and the alerts lost and doubled against the reference.
4. PostgreSQL writes a city needs, by W writer processes for T seconds each: audit records, hourly
   counts, alerts (with their audit records) and sightings, per second.

`--steady S` replaces step 1 and 2's CPU comparison with a steady-state one, where start-up cannot
dominate: every camera is a live MJPEG stream at 10 fps (the scene looped, served by a separate
process), run by the local supervisor and then by Ray, both on PostgreSQL; after the cameras have run
for a warm-up, the CPU of every process on the camera side (the workers and, for Ray, every process of
its session; the supervising process in both) is read at the start and end of an S-second window, and
divided by the frames processed in it.

`--home DIR` keeps the installations (SQLite reference, and the PostgreSQL database's name in
DIR/cluster.json) for inspection. Needs Ray (pip install -e '.[cluster]') and PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from sqlalchemy import create_engine, select, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from overt.audit.head import HEAD_FILE  # noqa: E402
from overt.cluster.cameras import NAMESPACE, ClusterSupervisor  # noqa: E402
from overt.cluster.jobs import LeasedJobs  # noqa: E402
from overt.services.cameras import CameraInfo  # noqa: E402
from overt.services.gallery import EnrolRequest  # noqa: E402
from overt.storage.models import Alert, Sighting  # noqa: E402
from overt.streams.pipeline import PipelineSettings  # noqa: E402
from overt.streams.supervisor import CameraJob, Supervisor  # noqa: E402
from overt.streams.synthetic import PersonSpec, make_scene_video  # noqa: E402
from tests.governance_helpers import actor, approved, make_overt  # noqa: E402

FACES = ROOT / "tests" / "data" / "faces"
ROAD = ROOT / "tests" / "data" / "backgrounds" / "road-1072821_640.jpg"
PIPELINE = PipelineSettings(authorise_every_s=1.0, counts_every_s=5.0)
IDLE_S = 10.0  # how long the Ray session's CPU is read with no camera running


def scene(folder: Path) -> Path:
    path = folder / "scene.mp4"
    make_scene_video(path, [
        PersonSpec(FACES / "042_smiling.jpg", "p042", 0.3, 3.3),
        PersonSpec(FACES / "001_smiling.jpg", "p001", 1.0, 4.5, (1.1, 0.4), (-0.1, 0.4)),
        PersonSpec(FACES / "042_smiling.jpg", "p042", 30.5, 33.5, (1.1, 0.6), (-0.1, 0.6)),
    ], ROAD, seconds=34.0)  # long enough that a camera still runs when its node is killed (tests/test_cluster.py)
    return path


def install(home: Path, database_url: str | None, video: Path, cameras: int, sources: list[str] | None = None):
    overt = make_overt(home, database_url)
    names = [f"cam-{n}" for n in range(1, cameras + 1)]
    for name, source in zip(names, sources or [str(video)] * cameras, strict=True):
        overt.cameras.add(actor("admin"), CameraInfo(name, source, name))
    overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    deployment = approved(overt, mode="live", cameras=names,
                          review={"sites": {"north": list(names)}, "alert_window_minutes": 1440})  # no YAML alias
    overt.gallery.enroll(actor("op"), deployment, "missing",
                         EnrolRequest("p042", (FACES / "042_neutral.jpg",), "missing-person"))
    return overt, deployment, names


def outcome(overt) -> Counter:
    """Alerts by person (all cameras share one site, so whichever camera saw them first raised it) and
    sightings by camera, person and track: what must match between runs, row ids and times aside."""
    with overt.db.session() as session:
        alerts = {a.id: a.subject_reference for a in session.scalars(select(Alert))}
        rows = [("alert", subject) for subject in alerts.values()]
        rows += [("sighting", s.camera_id, alerts[s.alert_id], s.track) for s in session.scalars(select(Sighting))]
    return Counter(rows)


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def session_cpu(session_dir: str) -> float:
    """CPU seconds of every live process of this Ray session (its path is on their command lines)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if session_dir.encode() not in cmdline and b"ray::" not in cmdline:
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            continue
    return total


def local_run(home: Path, video: Path, cameras: int) -> dict:
    overt, _, _ = install(home, None, video, cameras)
    jobs = [CameraJob(**job) for job in overt.live.cameras_to_run()]
    supervisor = Supervisor(lambda: jobs, overt.settings.model_dump(), PIPELINE, poll_s=0.5)
    cpu, started = children_cpu(), time.monotonic()
    while len([h for h in supervisor.health.values() if h.get("state") == "ended"]) < cameras:
        supervisor.step()
        time.sleep(0.5)
    supervisor.stop()
    frames = sum(h.get("frames", 0) for h in supervisor.health.values())
    return {"frames": frames, "cpu_s": children_cpu() - cpu, "wall_s": time.monotonic() - started,
            "outcome": outcome(overt)}


def ray_run(ray, home: Path, database_url: str, video: Path, nodes: int, cameras: int, kill_after: float) -> dict:
    from ray.cluster_utils import Cluster

    health_config = {"health_check_period_ms": 500, "health_check_failure_threshold": 4}
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False,
                                                            "_system_config": health_config})
    try:
        workers = [cluster.add_node(num_cpus=1, resources={"site:north": 1}) for _ in range(nodes)]
        ray.init(address=cluster.address, namespace=NAMESPACE, logging_level="error")
        session_dir = ray._private.worker._global_node.get_session_dir_path()
        overt, deployment, names = install(home, database_url, video, cameras)
        jobs = LeasedJobs(overt, ClusterSupervisor(overt, PIPELINE), poll_s=0.5)
        health = jobs.supervisor.health
        cpu, started, failover = session_cpu(session_dir), time.monotonic(), None
        jobs.start()
        try:
            if kill_after:
                while time.monotonic() - started < kill_after or health.get((deployment, names[0]), {}).get(
                        "state") != "running":
                    if (deployment, names[0]) in jobs.supervisor.finished():
                        raise SystemExit("the camera ended before its node was killed: a smaller --kill-node-after")
                    time.sleep(0.1)
                first = health[(deployment, names[0])]["node"]
                cluster.remove_node(next(w for w in workers if w.node_id == first), allow_graceful=False)
                killed = time.monotonic()
                while health.get((deployment, names[0]), {}).get("node") == first or \
                        health[(deployment, names[0])].get("state") != "running":
                    time.sleep(0.1)
                failover = time.monotonic() - killed
            while len(jobs.supervisor.finished()) < cameras:
                time.sleep(0.5)
            frames = sum(h.get("frames", 0) for h in health.values())
            # the Ray processes still alive, plus the camera actors' own CPU (they are gone by now)
            used = session_cpu(session_dir) - cpu + sum(h.get("cpu_s", 0.0) for h in health.values())
        finally:
            jobs.stop()
        return {"frames": frames, "cpu_s": used, "wall_s": time.monotonic() - started, "failover_s": failover,
                "outcome": outcome(overt)}
    finally:
        ray.shutdown()
        cluster.shutdown()


def _writer(database_url: str, home: str, kind: str, seconds: float, results) -> None:
    from overt.config import Settings
    from overt.governance.gate import Scope
    from overt.governance.permissions import Refused
    from overt.services import Overt
    from overt.services.live import CameraSession

    overt = Overt(Settings(home=Path(home), database_url=database_url))
    deployment = int(os.environ["BENCH_DEPLOYMENT"])
    subject = int(os.environ["BENCH_SUBJECT"])
    camera = f"cam-{os.getpid()}"
    scope = Scope("watch", camera="cam-1", watchlists=("missing",))
    live = CameraSession(overt, actor("op"), deployment, camera, ("missing",), 0.9)  # counts need no gate
    done, end, n, error = 0, time.monotonic() + seconds, 0, None
    while time.monotonic() < end and error is None:
        n += 1
        try:
            done += write_one(overt, live, kind, deployment, subject, camera, scope, n)
        except Refused as exc:  # reported: concurrent writers can trip the audit head witness (see docs)
            error = exc.message
        except Exception as exc:  # a deadlock or serialisation failure between writers: reported too
            error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    results.put((done, error))


def write_one(overt, live, kind: str, deployment: int, subject: int, camera: str, scope, n: int) -> int:
    """One write of `kind`, as a camera worker makes it."""
    from overt.gallery.search import Candidate
    from overt.services import operate
    from overt.streams.pipeline import Counts

    if kind == "audit":
        overt.record_separately("stream.start", actor="op", deployment_id=deployment, object_type="camera",
                                object_id=camera, camera=camera, watchlists=["missing"], threshold=0.5)
    elif kind == "counts":
        live.record_counts(Counts(seconds=1.0, frames=100, frames_detected=20, faces_seen=5, tracks=1,
                              embeddings=3, alerts=0, drops=0))
    else:
        candidate = Candidate(subject, "p042", "missing", 0.99, 0.99, 0)
        with operate(overt, actor("op"), "watch", deployment_id=deployment, scope=scope) as op:
            if kind == "alerts":
                overt.alerts.raise_for(op, [candidate], 0.9, camera="cam-1", track=n, evidence={"crop": b"x"})
            else:
                overt.alerts.sight(op, candidate, 0.9, camera="cam-1", track=os.getpid() % 20000 * 100000 + n, frame=n,
                                   evidence={"crop": b"x"})
    return 1


def writer_home(home: Path, n: int, kind: str) -> Path:
    """A writer's own home, as on its own machine: the same keys, its own audit head witness (a witness
    file shared by processes that read PostgreSQL snapshots races with them; see docs/cluster.md)."""
    own = home / f"writer-{kind}-{n}"
    shutil.copytree(home / "keys", own / "keys", ignore=shutil.ignore_patterns(HEAD_FILE))
    return own


def write_rates(database_url: str, home: Path, video: Path, writers: int, seconds: float) -> dict:
    overt, deployment, _ = install(home, database_url, video, 1)
    from overt.storage.models import Subject

    with overt.db.session() as session:
        os.environ["BENCH_SUBJECT"] = str(session.scalars(select(Subject.id)).first())
    os.environ["BENCH_DEPLOYMENT"] = str(deployment)
    rates: dict = {"errors": {}}
    context = mp.get_context("spawn")
    for kind in ("audit", "counts", "alerts", "sightings"):
        results = context.Queue()
        processes = [context.Process(target=_writer, args=(database_url, str(writer_home(home, n, kind)), kind,
                                                            seconds, results)) for n in range(writers)]
        for process in processes:
            process.start()
        answers = []
        for _ in processes:
            try:
                answers.append(results.get(timeout=seconds + 60))
            except queue.Empty:
                answers.append((0, "no answer within a minute (blocked on a lock)"))
        for process in processes:
            process.join(5)
            if process.is_alive():
                process.kill()
        rates[kind] = round(sum(done for done, _ in answers) / seconds, 1)
        errors = [error for _, error in answers if error]
        if errors:
            rates["errors"][kind] = f"{len(errors)} of {writers} writers stopped: {errors[0]}"
    return rates


def descendants_cpu(root: int, exclude: int) -> float:
    """CPU seconds of the live descendants of `root` (not `root` itself), leaving out `exclude`'s branch."""
    parents, cpu, tick = {}, {}, os.sysconf("SC_CLK_TCK")
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(pid)] = int(fields[1])
        cpu[int(pid)] = (int(fields[11]) + int(fields[12])) / tick
    total, stack = 0.0, [pid for pid, parent in parents.items() if parent == root and pid != exclude]
    while stack:
        pid = stack.pop()
        total += cpu[pid]
        stack += [child for child, parent in parents.items() if parent == pid and child != exclude]
    return total


def _feed(video: str, cameras: int, urls, stop) -> None:
    """A separate process (its CPU is not the cameras'): one looping MJPEG stream at 10 fps per camera."""
    from overt.streams.mjpeg import MjpegServer

    servers = [MjpegServer(video, fps=10.0, loop=True).start() for _ in range(cameras)]
    urls.put([server.url for server in servers])
    stop.wait()
    for server in servers:
        server.stop()


def steady_window(health, cpu, cameras: int, warmup: float, window: float) -> dict:
    """CPU per frame over `window` seconds, once every camera has run `warmup` seconds."""
    deadline = time.monotonic() + 300
    while len([h for h in health().values() if h.get("state") == "running" and h.get("frames")]) < cameras:
        if time.monotonic() > deadline:
            raise SystemExit(f"the cameras did not start: {health()}")
        time.sleep(0.5)
    time.sleep(warmup)
    frames, used = sum(h.get("frames", 0) for h in health().values()), cpu()
    time.sleep(window)
    frames, used = sum(h.get("frames", 0) for h in health().values()) - frames, cpu() - used
    return {"frames": frames, "cpu_s": used, "fps": frames / window}


def steady_runs(ray, home: Path, admin_url: str, tag: str, video: Path, nodes: int, cameras: int,
                window: float, poll_s: float, warmup: float = 15.0) -> tuple[dict, dict]:
    """The same live cameras under the local supervisor and under Ray, both on PostgreSQL, each
    supervisor polling its cameras every `poll_s` (a Ray supervisor asks each actor for its health)."""
    from ray.cluster_utils import Cluster

    context = mp.get_context("spawn")
    urls, stop = context.Queue(), context.Event()
    feeder = context.Process(target=_feed, args=(str(video), cameras, urls, stop), daemon=True)
    feeder.start()
    try:
        sources = urls.get(timeout=120)
        own = time.process_time  # the supervising process (and, under Ray, its driver's threads)

        overt, _, _ = install(home / "steady-local", fresh_database(admin_url, f"overt_bench_{tag}_steady_local"),
                              video, cameras, sources)
        jobs = [CameraJob(**job) for job in overt.live.cameras_to_run()]
        supervisor = Supervisor(lambda: jobs, overt.settings.model_dump(), PIPELINE, poll_s=poll_s)
        supervisor.start()
        try:
            local = steady_window(lambda: dict(supervisor.health),
                                  lambda: descendants_cpu(os.getpid(), feeder.pid) + own(), cameras, warmup, window)
        finally:
            supervisor.stop()
            overt.db.dispose()

        cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
        try:
            for _ in range(nodes):
                cluster.add_node(num_cpus=1, resources={"site:north": 1})
            ray.init(address=cluster.address, namespace=NAMESPACE, logging_level="error")
            session_dir = ray._private.worker._global_node.get_session_dir_path()
            overt, _, _ = install(home / "steady-ray", fresh_database(admin_url, f"overt_bench_{tag}_steady_ray"),
                                  video, cameras, sources)
            idle = session_cpu(session_dir) + own()  # Ray's own daemons with no camera: a cost per machine
            time.sleep(IDLE_S)
            idle = (session_cpu(session_dir) + own() - idle) / IDLE_S
            leased = LeasedJobs(overt, ClusterSupervisor(overt, PIPELINE), poll_s=poll_s)
            leased.start()
            try:
                on_ray = steady_window(lambda: dict(leased.supervisor.health),
                                       lambda: session_cpu(session_dir) + own(), cameras, warmup, window)
                on_ray["idle_cpu_per_s"] = idle
            finally:
                leased.stop()
                leased.supervisor.stop_all()
                overt.db.dispose()
        finally:
            ray.shutdown()
            cluster.shutdown()
    finally:
        stop.set()
        feeder.join(10)
    return local, on_ray


def fresh_database(admin_url: str, name: str) -> str:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return f"{admin_url.rsplit('/', 1)[0]}/{name}"


def drop_databases(admin_url: str, names: list[str]) -> None:
    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for name in names:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--cameras", type=int, default=2)
    parser.add_argument("--kill-node-after", type=float, default=3.0)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--write-seconds", type=float, default=3.0)
    parser.add_argument("--steady", type=float, default=0.0, metavar="S",
                        help="compare CPU per frame over an S-second window of live 10 fps cameras, after warm-up")
    parser.add_argument("--poll", type=float, default=2.0, metavar="S",
                        help="--steady: how often each supervisor polls its cameras (`overt serve --cluster`: 2 s)")
    parser.add_argument("--home", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--postgres", default=os.environ.get("OVERT_TEST_POSTGRES_URL"),
                        help="an administrative PostgreSQL URL; a fresh database is made under it")
    args = parser.parse_args()
    if not args.postgres:
        sys.exit("error: set OVERT_TEST_POSTGRES_URL or --postgres to a PostgreSQL URL")
    import ray

    home = args.home or Path(tempfile.mkdtemp(prefix="overt-bench-cluster-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    video = scene(home)
    tag = uuid.uuid4().hex[:8]
    reference = local_run(home / "local", video, args.cameras)  # the alerts a failover must reproduce
    databases = ["failover", "writes"]
    if args.steady:
        local, on_ray = steady_runs(ray, home, args.postgres, tag, video, args.nodes, args.cameras, args.steady,
                                    args.poll)
        databases += ["steady_local", "steady_ray"]
    else:
        local, on_ray = reference, ray_run(ray, home / "ray", fresh_database(args.postgres, f"overt_bench_{tag}_ray"),
                                           video, args.nodes, args.cameras, 0.0)
        databases.append("ray")
    killed = ray_run(ray, home / "failover", fresh_database(args.postgres, f"overt_bench_{tag}_failover"), video,
                     args.nodes, args.cameras, args.kill_node_after)
    rates = write_rates(fresh_database(args.postgres, f"overt_bench_{tag}_writes"), home / "writes", video,
                        args.writers, args.write_seconds)
    local_ms = 1000 * local["cpu_s"] / local["frames"]
    ray_ms = 1000 * on_ray["cpu_s"] / on_ray["frames"]
    extent = "fps" if args.steady else "wall_s"
    result = {
        "nodes": args.nodes, "cameras": args.cameras, "cpu_count": os.cpu_count(),
        "cpu_comparison": f"steady, live 10 fps cameras, {args.steady:g} s window, poll {args.poll:g} s"
        if args.steady else "one clip",
        "local": {"frames": local["frames"], "cpu_ms_per_frame": round(local_ms, 2), extent: round(local[extent], 1)},
        "ray": {"frames": on_ray["frames"], "cpu_ms_per_frame": round(ray_ms, 2), extent: round(on_ray[extent], 1)},
        "ray_overhead": round(ray_ms / local_ms - 1, 3),
        **({"ray_idle_cpu_per_s": round(on_ray["idle_cpu_per_s"], 3),  # head + nodes, no camera
            "ray_overhead_beyond_idle": round((on_ray["cpu_s"] - on_ray["idle_cpu_per_s"] * args.steady)
                                              / on_ray["frames"] * 1000 / local_ms - 1, 3)} if args.steady else {}),
        "failover_s": round(killed["failover_s"], 2) if killed["failover_s"] is not None else None,
        "alerts_lost": sum((reference["outcome"] - killed["outcome"]).values()),
        "alerts_doubled": sum((killed["outcome"] - reference["outcome"]).values()),
        "steady_equal_to_reference": on_ray["outcome"] == reference["outcome"] if "outcome" in on_ray else None,
        "postgres_writes_per_s": rates, "writers": args.writers,
        "databases": [f"overt_bench_{tag}_{n}" for n in databases],
    }
    if args.home:
        (home / "cluster.json").write_text(json.dumps(result, indent=2))
    else:  # nothing to inspect later: the scratch databases go
        drop_databases(args.postgres, result["databases"])
    print(json.dumps(result, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
