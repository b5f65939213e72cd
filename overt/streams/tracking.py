"""A small multi-face tracker, so that one person crossing the scene is one track, embedded a few times.

Association is greedy on IoU and centre distance against each track's constant-velocity prediction
(detection may run only every Nth frame, and people move in between; a new track, whose velocity is
not known yet, accepts a match as far as `max_speed` allows). Hysteresis on both ends: a
track is confirmed, and given an id, only after `confirm_hits` detections (a single false detection
never becomes a person), and ends only after `max_missed` detection rounds without a match (a
detector that misses a turned head for a moment does not split the person in two) — unless its
prediction has left the frame: then it ends at once, so someone entering where another person just
left is not taken for them.

Each track keeps at most `keep` observations waiting to be embedded, best quality first, and only
those that could still be worth embedding: one must beat the best already embedded by
`improvement`. Everything else is dropped when it is offered or when the bar rises.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from overt.engine import Face

Box = tuple[int, int, int, int]  # x, y, w, h


@dataclass(frozen=True)
class TrackerSettings:
    min_iou: float = 0.3  # a detection overlapping a track's prediction this much may be that track
    max_shift: float = 0.6  # or its centre is within this many face sizes of the prediction
    max_speed: float = 0.4  # face sizes per frame a new track may have moved (its velocity is not yet known)
    max_scale_change: float = 1.6  # face size may change at most this factor between matched detections
    confirm_hits: int = 2  # detections before a track is confirmed and counted
    max_missed: int = 4  # detection rounds without a match before a confirmed track ends
    keep: int = 3  # K: observations kept per track, and embeddings made per track at most
    min_quality: float = 0.25  # below this a face is not worth embedding at all
    improvement: float = 0.15  # a later observation is embedded only if this much better than the best so far


@dataclass
class Observation:
    """One sighting kept for embedding: the face crop and the face in the crop's coordinates.

    `thumbnail` is the whole frame, small, kept only so an alert raised later can show the scene.
    """

    frame_index: int
    time: float
    quality: float
    face: Face  # coordinates within `crop`
    crop: np.ndarray
    thumbnail: np.ndarray


@dataclass
class Track:
    """One person's face across frames. `id` is 0 until the track is confirmed."""

    box: Box
    first_frame: int
    last_frame: int
    id: int = 0
    hits: int = 1
    missed: int = 0
    velocity: tuple[float, float] = (0.0, 0.0)  # centre pixels per frame
    pending: list[Observation] = field(default_factory=list)  # best first, at most `keep`
    embeds: int = 0
    best_embedded: float | None = None  # quality of the best observation embedded so far
    alerted: set[str] = field(default_factory=set)  # subjects already alerted for this track

    @property
    def confirmed(self) -> bool:
        return self.id > 0

    def predict(self, frame_index: int) -> tuple[float, float, float, float]:
        """The box expected at `frame_index`, moving at the track's velocity."""
        x, y, w, h = self.box
        dt = frame_index - self.last_frame
        return x + self.velocity[0] * dt, y + self.velocity[1] * dt, float(w), float(h)

    def bar(self, settings: TrackerSettings) -> float:
        """The quality an observation must reach to be worth embedding now."""
        if self.best_embedded is None:
            return settings.min_quality
        return self.best_embedded + settings.improvement

    def satisfied(self, settings: TrackerSettings) -> bool:
        """No further observation could be worth embedding (ask before even assessing a face's quality)."""
        return self.embeds >= settings.keep or self.bar(settings) > 1.0

    def wants(self, quality: float, settings: TrackerSettings) -> bool:
        """Whether an observation of this quality would be kept (ask before cutting its crop)."""
        if self.satisfied(settings) or quality < self.bar(settings):
            return False
        return len(self.pending) < settings.keep or quality > self.pending[-1].quality

    def offer(self, observation: Observation, settings: TrackerSettings) -> bool:
        """Keep the observation if it is among the K best still worth embedding; drop the worst."""
        if not self.wants(observation.quality, settings):
            return False
        self.pending.append(observation)
        self.pending.sort(key=lambda o: o.quality, reverse=True)
        del self.pending[settings.keep:]
        return True

    def take_best(self, settings: TrackerSettings) -> Observation | None:
        """Hand over the best pending observation for embedding, and drop those it makes pointless."""
        if not self.pending or self.embeds >= settings.keep:
            return None
        best = self.pending.pop(0)
        self.embeds += 1
        self.best_embedded = max(best.quality, self.best_embedded or 0.0)
        bar = self.bar(settings)
        self.pending = [o for o in self.pending if o.quality >= bar] if self.embeds < settings.keep else []
        return best

    def release(self) -> None:
        """Drop every kept crop at once (the track ended or processing stopped)."""
        self.pending.clear()


@dataclass
class TrackUpdate:
    """The result of one detection round."""

    assigned: list[Track]  # the track of each detection, in the order given
    confirmed: list[Track]  # tracks confirmed in this round (they just got their ids)
    ended: list[Track]  # confirmed tracks that ended in this round (still holding their pending observations)


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / (aw * ah + bw * bh - inter)


def _inside(box: Sequence[float], frame_size: tuple[int, int]) -> float:
    """The fraction of `box` inside a frame of `frame_size` (width, height)."""
    x, y, w, h = box
    inside_w = max(0.0, min(x + w, frame_size[0]) - max(x, 0.0))
    inside_h = max(0.0, min(y + h, frame_size[1]) - max(y, 0.0))
    return inside_w * inside_h / max(w * h, 1e-9)


def _centre(box: Sequence[float]) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


class Tracker:
    """Tracks faces across detection rounds; ids increase from 1 in order of confirmation."""

    def __init__(self, settings: TrackerSettings | None = None) -> None:
        self.settings = settings or TrackerSettings()
        self.tracks: list[Track] = []
        self._next_id = 1

    @property
    def confirmed_count(self) -> int:
        """Tracks confirmed so far (people seen)."""
        return self._next_id - 1

    def update(self, frame_index: int, boxes: Sequence[Box], frame_size: tuple[int, int] | None = None
               ) -> TrackUpdate:
        """Associate one round of detections with the tracks, start new tracks, end lost ones.

        `frame_size` (width, height) lets a track whose predicted face has left the frame end at once.
        """
        s = self.settings
        pairs = []
        for t_number, track in enumerate(self.tracks):
            predicted = track.predict(frame_index)
            size = math.sqrt(predicted[2] * predicted[3])
            pc = _centre(predicted)
            gate = s.max_shift + (s.max_speed * (frame_index - track.last_frame) if track.hits == 1 else 0.0)
            for d_number, box in enumerate(boxes):
                scale = math.sqrt(box[2] * box[3]) / max(size, 1.0)
                if not 1 / s.max_scale_change <= scale <= s.max_scale_change:
                    continue
                overlap = iou(predicted, box)
                dc = _centre(box)
                shift = math.hypot(dc[0] - pc[0], dc[1] - pc[1]) / max(size, 1.0)
                if overlap >= s.min_iou or shift <= gate:
                    pairs.append(((1.0 - overlap) + shift, t_number, d_number))
        pairs.sort()
        assigned: list[Track | None] = [None] * len(boxes)
        used: set[int] = set()
        for _, t_number, d_number in pairs:
            if t_number in used or assigned[d_number] is not None:
                continue
            used.add(t_number)
            assigned[d_number] = self.tracks[t_number]
            self._move(self.tracks[t_number], frame_index, boxes[d_number])

        confirmed, ended, alive = [], [], []
        for t_number, track in enumerate(self.tracks):
            if t_number not in used:
                track.missed += 1
                left = frame_size is not None and _inside(track.predict(frame_index), frame_size) < 0.5
                if left or track.missed > (s.max_missed if track.confirmed else 0):
                    if track.confirmed:
                        ended.append(track)
                    else:
                        track.release()
                    continue
            elif not track.confirmed and track.hits >= s.confirm_hits:
                confirmed.append(self._confirm(track))
            alive.append(track)
        for d_number, box in enumerate(boxes):
            if assigned[d_number] is None:
                track = Track(box=tuple(box), first_frame=frame_index, last_frame=frame_index)
                if s.confirm_hits <= 1:
                    confirmed.append(self._confirm(track))
                assigned[d_number] = track
                alive.append(track)
        self.tracks = alive
        return TrackUpdate([t for t in assigned if t is not None], confirmed, ended)

    def finish(self) -> list[Track]:
        """End every track (the stream ended); returns the confirmed ones, tentative ones are dropped."""
        ended = [t for t in self.tracks if t.confirmed]
        for track in self.tracks:
            if not track.confirmed:
                track.release()
        self.tracks = []
        return ended

    def retained(self) -> int:
        """Observations (face crops) currently held, across all tracks."""
        return sum(len(t.pending) for t in self.tracks)

    def _confirm(self, track: Track) -> Track:
        track.id = self._next_id
        self._next_id += 1
        return track

    @staticmethod
    def _move(track: Track, frame_index: int, box: Box) -> None:
        dt = max(frame_index - track.last_frame, 1)
        old, new = _centre(track.box), _centre(box)
        measured = ((new[0] - old[0]) / dt, (new[1] - old[1]) / dt)
        if track.hits == 1:
            track.velocity = measured
        else:
            track.velocity = tuple(0.5 * v + 0.5 * m for v, m in zip(track.velocity, measured, strict=True))
        track.box = tuple(box)
        track.last_frame = frame_index
        track.hits += 1
        track.missed = 0
