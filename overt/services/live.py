"""Live operation: a camera's pipeline talks to the service layer through one LiveSession.

Opening a session is gated like any operation (a live deployment in force now, covering this camera);
`authorised()` re-runs the gate every few seconds so a revocation or the end of a window stops the
camera within seconds; searches and alerts go through the same gallery, alert and audit code as a
retrospective search. Faces that match nothing leave nothing but the counts in `record_counts`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..engine import Embedding
from ..gallery import store
from ..gallery.persons import one_per_person
from ..gallery.search import Candidate as GalleryCandidate
from ..governance import deployments as deployment_rules
from ..governance.gate import Scope, check, effective_threshold
from ..governance.permissions import Refused
from ..governance.snapshot import check_source
from ..storage.clock import database_now
from ..storage.models import ActivityCount, Camera, Deployment
from ..streams.pipeline import Candidate, Counts, Raised, Summary, Withdrawn
from .core import Actor, gate, operate

if TYPE_CHECKING:
    from . import Overt


def jpeg(image: np.ndarray, quality: int = 85) -> bytes:
    ok, buffer = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError("could not encode evidence image")
    return buffer.tobytes()


@dataclass
class CameraSession:
    """The service layer's side of one camera under one deployment (implements streams.LiveSession)."""

    overt: Overt
    actor: Actor
    deployment_id: int
    camera: str
    watchlists: tuple[str, ...]
    threshold: float
    refusal: str | None = None
    _found: dict[str, GalleryCandidate] = field(default_factory=dict)

    def _scope(self, sizes: tuple[int, ...] = ()) -> Scope:
        return Scope("watch", camera=self.camera, watchlists=self.watchlists, watchlist_sizes=sizes)

    def authorised(self) -> bool:
        """Re-run the gate: approved, not revoked or expired, nothing pinned changed (a re-pointed camera
        suspends the deployment), inside a window, camera in scope."""
        try:
            with self.overt.db.session() as session:
                deployment = deployment_rules.get(session, self.deployment_id)
                gate(self.overt, session, deployment, self._scope(), database_now(session))
            return True
        except Refused as exc:
            if isinstance(exc, deployment_rules.Amended):
                self.overt.deployments.suspend(self.actor, exc.deployment_id, exc.changes)
            self.refusal = exc.message
            return False

    def search(self, embedding: Embedding) -> list[Candidate]:
        with self.overt.db.session() as session:
            targets = [store.get_watchlist(session, name) for name in self.watchlists]
            found = one_per_person(session, self.overt.search_index.search(
                session, targets, embedding.vector, embedding.model, threshold=self.threshold, top=3))
        self._found = {str(c.subject_id): c for c in found}
        return [Candidate(str(c.subject_id), c.score, c.watchlist) for c in found]

    def subject(self, subject_id: str) -> tuple[str, str]:
        """(reference, watchlist) of a subject this session's search returned, for the operator's display."""
        found = self._found[subject_id]
        return found.subject, found.watchlist

    def raise_alert(self, candidate: Candidate, track_id: int, frame_index: int, time: float,
                    face_crop: np.ndarray, frame_thumbnail: np.ndarray) -> Raised:
        """A new alert, or a sighting of the subject's open alert at this place (issue 14's grouping)."""
        found: GalleryCandidate = self._found[candidate.subject_id]
        evidence = {"crop": jpeg(face_crop), "thumbnail": jpeg(frame_thumbnail, 75)}
        for attempt in (1, 2):  # a race with another camera of the same site loses on `open_key`: join it
            try:
                with operate(self.overt, self.actor, "watch", deployment_id=self.deployment_id,
                             scope=self._scope()) as op:
                    size = sum(store.subject_count(op.session, store.get_watchlist(op.session, n).id)
                               for n in self.watchlists)
                    sighted = self.overt.alerts.sight(op, found, self.threshold, camera=self.camera, track=track_id,
                                                      frame=frame_index, evidence=evidence, watchlist_size=size)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
            except Refused as exc:  # withdrawn since the last check (audited as gate.refused): end the run
                self.refusal = exc.message
                raise Withdrawn(exc.message) from None
        return Raised(str(sighted.alert_id), str(sighted.sighting_id), sighted.joined)

    def record_counts(self, counts: Counts) -> None:
        """Add a period's numbers to the hourly row: the only trace of the faces that matched nothing."""
        with self.overt.db.session() as session:
            self.overt.db.write_lock(session)  # a writer like any other: queue, never a stale snapshot
            hour = database_now(session).replace(minute=0, second=0, microsecond=0)
            row = session.scalar(select(ActivityCount).where(
                ActivityCount.deployment_id == self.deployment_id, ActivityCount.camera_id == self.camera,
                ActivityCount.hour == hour))
            if row is None:
                row = ActivityCount(deployment_id=self.deployment_id, camera_id=self.camera, hour=hour, frames=0,
                                    faces_seen=0, tracks=0, searches=0)
                session.add(row)
            row.frames += counts.frames
            row.faces_seen += counts.faces_seen
            row.tracks += counts.tracks
            row.searches += counts.embeddings

    def close(self, summary: Summary) -> None:
        reason = self.refusal or summary.last_error or str(summary.state)
        with self.overt.db.session() as session:
            self.overt.record(session, "stream.stop", actor=self.actor.name, deployment_id=self.deployment_id,
                              object_type="camera", object_id=self.camera, camera=self.camera, reason=reason,
                              frames=summary.frames, faces_seen=summary.faces_seen, tracks=summary.tracks,
                              alerts=summary.alerts)


class LiveService:
    def __init__(self, overt: Overt) -> None:
        self.overt = overt

    def open(self, actor: Actor, deployment_id: int, camera: str, source: str | None = None) -> CameraSession:
        """Gate the start of a camera: refused (and audited) unless a live deployment covers it now and
        `source` (when the caller names one) is the camera's approved source, not any video under its id."""
        with operate(self.overt, actor, "watch", deployment_id=deployment_id,
                     scope=Scope("watch", camera=camera)) as op:
            deployment = op.deployment
            assert deployment is not None
            if source is not None:
                check_source(op.session, deployment, camera, source)
            watchlists = tuple(deployment.spec["watchlists"])
            sizes = tuple(store.subject_count(op.session, store.get_watchlist(op.session, n).id) for n in watchlists)
            check(deployment, Scope("watch", camera=camera, watchlists=watchlists, watchlist_sizes=sizes), op.at,
                  self.overt.calibrated())
            threshold = effective_threshold(deployment, self.overt.calibrated_threshold())
            op.record("stream.start", object_type="camera", object_id=camera, camera=camera, watchlists=watchlists,
                      threshold=threshold)
        return CameraSession(self.overt, actor, deployment_id, camera, watchlists, threshold)

    def cameras_to_run(self) -> list[dict[str, Any]]:
        """(deployment, camera, source) for every live deployment in force now, for the supervisor."""
        jobs = []
        with self.overt.db.session() as session:
            at = database_now(session)
            for deployment in session.scalars(select(Deployment).where(Deployment.status.in_(("approved", "urgent")))):
                if deployment.spec.get("mode") != "live":
                    continue
                for camera_id in deployment.spec.get("cameras", []):
                    camera = session.get(Camera, camera_id)
                    try:
                        gate(self.overt, session, deployment, Scope("watch", camera=camera_id), at)
                    except Refused:
                        continue
                    if camera is not None and camera.source:
                        jobs.append({"deployment": deployment.id, "camera": camera_id, "source": camera.source,
                                     "operator": deployment.applicant})
        return jobs
