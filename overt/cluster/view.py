"""What the cluster looks like now, read from Ray itself: its machines and the camera actors on each.

Any process connected to the cluster (every `overt serve --cluster`, or `overt cluster status --cluster
ADDRESS`) sees the same view, not only the lease holder: machines come from Ray's node table, cameras
from the named actors in the `overt` namespace (each asked for its health, all at once, with a deadline),
and restarts from Ray's own count in its actor table (the count survives a supervisor's handover, which
a count kept in the supervisor's memory would not).
"""

from __future__ import annotations

from typing import Any

from ..services.cluster_view import HEALTH_FIELDS
from .cameras import NAMESPACE

CAMERA_PREFIX = "camera-"
REPORT_TIMEOUT_S = 3.0


def _actor_table(ray: Any) -> dict[str, dict[str, Any]]:
    """Ray's actor table entry of each camera actor named in our namespace, by name.

    Ray's public state API (`ray.util.state`) needs the dashboard, which a cluster runs without
    (docs/cluster.md); the actor table in the GCS (what `ray.nodes()` reads for nodes) has each actor's
    machine and restart count, but not its namespace, so it is joined with the named actors' list.
    """
    from ray._private import state

    named = {entry["name"] for entry in ray.util.list_named_actors(all_namespaces=True)
             if entry.get("namespace") == NAMESPACE and entry["name"].startswith(CAMERA_PREFIX)}
    return {entry["Name"]: entry for entry in state.actors().values()
            if entry.get("Name") in named and entry.get("State") != "DEAD"}


def _machine(node: dict[str, Any]) -> dict[str, Any]:
    resources = node.get("Resources") or {}
    return {
        "id": node["NodeID"],
        "address": node.get("NodeManagerAddress", ""),
        "alive": bool(node.get("Alive")),
        "cpus": resources.get("CPU", 0.0),
        "sites": sorted(name[len("site:"):] for name in resources if name.startswith("site:")),
        "cameras": [],
    }


def _reports(ray: Any, names: list[str], timeout_s: float) -> dict[str, dict[str, Any]]:
    """Each camera actor's own report, asked of all at once; one that does not answer in time (its
    machine just died, or it is being restarted) is reported as such, not waited for."""
    pending = {}
    for name in names:
        try:
            pending[ray.get_actor(name, namespace=NAMESPACE).report.remote()] = name
        except ValueError:  # gone between the table and now
            continue
    done, late = ray.wait(list(pending), num_returns=len(pending), timeout=timeout_s) if pending else ([], [])
    reports = {pending[ref]: {"state": "restarting", "last_error": "no answer within "
                              f"{timeout_s:g} s"} for ref in late}
    for ref in done:
        try:
            reports[pending[ref]] = ray.get(ref)
        except Exception as exc:  # the actor died while answering
            reports[pending[ref]] = {"state": "restarting", "last_error": type(exc).__name__}
    return reports


def snapshot(ray: Any, timeout_s: float = REPORT_TIMEOUT_S) -> dict[str, Any]:
    """Machines (id, address, alive, CPUs, sites, cameras) and cameras (where, state, fps, lag, restarts,
    last error), as JSON."""
    machines = {node["NodeID"]: _machine(node) for node in ray.nodes()}
    table = _actor_table(ray)
    reports = _reports(ray, sorted(table), timeout_s)
    cameras = []
    for name, entry in sorted(table.items()):
        report = reports.get(name, {"state": "restarting"})
        node = (entry.get("Address") or {}).get("NodeID") or report.get("node")
        deployment, _, camera = name[len(CAMERA_PREFIX):].partition("-")
        cameras.append({
            "deployment": int(report.get("deployment", deployment)),
            "camera": report.get("camera", camera),
            "machine": node,
            "restarts": int(entry.get("NumRestarts", 0)),
            **{key: report.get(key) for key in HEALTH_FIELDS},
        })
        if node in machines:
            machines[node]["cameras"].append(cameras[-1]["camera"])
    ordered = sorted(machines.values(), key=lambda m: (not m["alive"], m["address"], m["id"]))
    return {"mode": "cluster", "machines": ordered, "cameras": cameras}
