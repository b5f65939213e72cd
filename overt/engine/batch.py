"""Many images on all cores: dlib runs single-threaded, so throughput comes from processes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context
from pathlib import Path

from .errors import EngineError
from .pipeline import AnalysedFace, EngineConfig, FaceEngine


@dataclass(frozen=True)
class ImageResult:
    """One image's faces, or the one-line reason it failed; the batch never stops for one bad file."""

    path: str
    faces: list[AnalysedFace]
    error: str | None = None

    def to_json(self) -> dict:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        return {"path": self.path, "faces": [f.to_json() for f in self.faces]}


_worker_engine: FaceEngine | None = None


def _init_worker(config: EngineConfig) -> None:
    """One process per core, so each engine's ONNX Runtime gets one thread (no oversubscription)."""
    global _worker_engine
    _worker_engine = FaceEngine(replace(config, threads=config.threads or 1))


def _analyse_one(engine: FaceEngine, path: str, embed: bool, largest_only: bool) -> ImageResult:
    try:
        image = engine.load(path)
        return ImageResult(path, engine.analyse(image, embed=embed, largest_only=largest_only))
    except EngineError as exc:
        return ImageResult(path, [], str(exc))


def _worker(args: tuple[str, bool, bool]) -> ImageResult:
    assert _worker_engine is not None
    return _analyse_one(_worker_engine, *args)


def default_workers() -> int:
    return max(1, min(len(os.sched_getaffinity(0)), 8))


def analyse_paths(
    paths: Iterable[str | Path],
    config: EngineConfig | None = None,
    *,
    embed: bool = True,
    largest_only: bool = False,
    workers: int | None = None,
    on_result: Callable[[ImageResult], None] | None = None,
) -> Iterator[ImageResult]:
    """Analyse images in input order, using `workers` processes (one per core by default)."""
    config = config or EngineConfig()
    items = [(str(p), embed, largest_only) for p in paths]
    workers = workers or default_workers()
    if workers == 1 or len(items) <= 2:
        engine = FaceEngine(config)
        results: Iterable[ImageResult] = (_analyse_one(engine, *item) for item in items)
        for result in results:
            if on_result:
                on_result(result)
            yield result
        return
    with ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(config,)
    ) as pool:
        for result in pool.map(_worker, items, chunksize=4):
            if on_result:
                on_result(result)
            yield result
