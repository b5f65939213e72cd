"""Cameras as Ray actors: one per (deployment, camera), placed on a machine of the camera's site.

Each actor is named and detached, so a new supervisor (after the lease moves) finds the running ones
instead of starting them twice. `max_restarts` lets Ray start an actor again on another machine of the
same site when its machine dies; the constructor then re-opens the gated live session (authorisation is
checked afresh) and replays the source from where it now is. A restart neither loses nor doubles alerts
because sightings carry an idempotency key (deployment, camera, track, subject, window) and a person
has at most one open alert per place (issue 14's grouping).
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..governance import deployments as deployment_rules
from ..governance.grouping import place
from ..streams.pipeline import HealthReport, PipelineSettings, PipelineState, Stopped, run_pipeline
from ..streams.supervisor import CameraJob
from . import require_ray

NAMESPACE = "overt"
FINAL_STATES = {"refused", str(PipelineState.ENDED), str(PipelineState.UNAUTHORISED), str(PipelineState.STOPPED)}
SITE_SHARE = 0.001  # a camera takes a sliver of its site's resource: any number fit on one machine


def actor_name(job: CameraJob) -> str:
    return f"camera-{job.deployment}-{job.camera}"


def site_of(overt: Any, job: CameraJob) -> str | None:
    """The camera's site (`review.sites` in the deployment's spec) as a Ray resource name, or None."""
    with overt.db.session() as session:
        where = place(deployment_rules.get(session, job.deployment).spec, job.camera)
    return where if where.startswith("site:") else None


class CameraWorker:
    """The body of a camera actor: open the gated session, run the pipeline in a thread, report health."""

    def __init__(self, settings_data: dict[str, Any], job: CameraJob, pipeline: PipelineSettings) -> None:
        import ray

        from ..config import Settings
        from ..governance.permissions import Refused
        from ..services import Actor, Overt

        context = ray.get_runtime_context()
        self.job = job
        self.health: dict[str, Any] = {"state": "starting", "node": context.get_node_id(),
                                       "reconstructed": context.was_current_actor_reconstructed,
                                       "started": time.time()}
        self._stop = threading.Event()
        self.overt = Overt(Settings(**settings_data))
        try:
            session = self.overt.live.open(Actor(job.operator, "operator"), job.deployment, job.camera)
        except Refused as exc:
            self.health.update(state="refused", last_error=exc.message)
            self._thread = None
            return
        self._thread = threading.Thread(target=self._run, args=(session, pipeline), daemon=True)
        self._thread.start()

    def _run(self, session: Any, pipeline: PipelineSettings) -> None:
        try:
            summary = run_pipeline(self.job.source, session, pipeline, on_event=self._on_event, stop=self._stop)
            session.close(summary)
            self.overt.checkpoint()
        except Exception as exc:  # reported to the supervisor, which stops and restarts the actor
            self.health.update(state=str(PipelineState.FAILED), last_error=f"{type(exc).__name__}: {exc}")

    def _on_event(self, event: Any) -> None:
        if isinstance(event, HealthReport):
            self.health.update(event.health.to_json())
        elif isinstance(event, Stopped):
            self.health.update({**event.summary.to_json(), "last_error": event.summary.last_error})

    def report(self) -> dict[str, Any]:
        """Health, with this actor process's CPU seconds so far (for the console and bench/cluster.py)."""
        return {**self.health, "deployment": self.job.deployment, "camera": self.job.camera,
                "cpu_s": time.process_time()}

    def stop(self, timeout: float = 15.0) -> dict[str, Any]:
        """Finish the frame, record counts and why it stopped; then the supervisor kills the actor."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        return dict(self.health)


@dataclass
class ClusterSupervisor:
    """Keeps one actor per wanted camera; run by whichever process holds the supervision lease."""

    overt: Any
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    max_restarts: int = -1  # Ray restarts a camera on another machine as often as machines die
    health: dict[tuple[int, str], dict[str, Any]] = field(default_factory=dict)
    report_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        ray = require_ray()
        self._ray = ray
        self._remote = ray.remote(CameraWorker)
        self._finished: set[tuple[int, str]] = set()

    def _actor(self, job: CameraJob) -> Any:
        """The running actor of this camera, or a new one on a machine of its site."""
        try:
            return self._ray.get_actor(actor_name(job), namespace=NAMESPACE)
        except ValueError:
            pass
        site = site_of(self.overt, job)
        options: dict[str, Any] = {
            "name": actor_name(job), "namespace": NAMESPACE, "lifetime": "detached", "get_if_exists": True,
            "max_restarts": self.max_restarts, "max_task_retries": -1, "num_cpus": 0,
            "scheduling_strategy": "SPREAD",
        }
        if site is not None:
            options["resources"] = {site: SITE_SHARE}
        return self._remote.options(**options).remote(self.overt.settings.model_dump(mode="json"), job, self.pipeline)

    def _kill(self, actor: Any) -> None:
        with contextlib.suppress(Exception):  # a dead or stuck actor is killed all the same
            self._ray.get(actor.stop.remote(), timeout=20)
        self._ray.kill(actor, no_restart=True)

    def step(self) -> None:
        """One round: start wanted cameras, collect health, end finished and unwanted ones."""
        wanted = {job.key: job for job in (CameraJob(**j) for j in self.overt.live.cameras_to_run())}
        self._finished &= set(wanted)  # a camera authorised again later may start again
        for key, job in wanted.items():
            if key in self._finished:
                continue
            actor = self._actor(job)
            try:
                report = self._ray.get(actor.report.remote(), timeout=self.report_timeout_s)
            except Exception as exc:  # restarting on another machine, or its machine just died
                report = {"state": "restarting", "last_error": type(exc).__name__}
            self.health[key] = {**self.health.get(key, {}), **report}
            if report.get("state") in FINAL_STATES or report.get("state") == str(PipelineState.FAILED):
                self._kill(actor)
                if report.get("state") != str(PipelineState.FAILED):
                    self._finished.add(key)  # failed ones start afresh next round
        for name in self._running_names() - {actor_name(job) for job in wanted.values()}:
            self._kill(self._ray.get_actor(name, namespace=NAMESPACE))

    def _running_names(self) -> set[str]:
        names = self._ray.util.list_named_actors(all_namespaces=True)
        return {n["name"] for n in names if n.get("namespace") == NAMESPACE and n["name"].startswith("camera-")}

    def stop_all(self) -> None:
        """Stop every camera actor (a clean shutdown of the whole cluster, not a lease handover)."""
        for name in self._running_names():
            self._kill(self._ray.get_actor(name, namespace=NAMESPACE))

    def finished(self) -> set[tuple[int, str]]:
        """(deployment, camera) of the cameras that ended, were refused or stopped, and are not restarted."""
        return set(self._finished)

    def camera_health(self) -> dict[str, dict[str, Any]]:
        return {camera: {**report, "deployment": deployment} for (deployment, camera), report in self.health.items()}
