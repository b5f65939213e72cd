"""A file that plays to its end has ended, whatever its container announced: a clip whose audio track
runs on past its picture (the container says 10 s, so 301 frames; 275 decode) is not truncated."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from overt.services.cameras import CameraInfo
from overt.streams import SourceState, open_source
from tests.governance_helpers import actor, approved, make_overt
from tests.test_cli import remember, run
from tests.test_streams_sources import read_all

FRAMES, FPS, AUDIO_S = 275, 30, 10


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real MP4 (H.264 + AAC) whose container duration, set by its audio, overstates the video."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = 160, 120, "yuv420p"
        audio = out.add_stream("aac", rate=16000)
        audio.layout = "mono"
        for index in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(np.full((120, 160, 3), index % 250, np.uint8), format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode())
        for start in range(0, 16000 * AUDIO_S, 1024):
            samples = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            samples.sample_rate, samples.pts = 16000, start
            out.mux(audio.encode(samples))
        out.mux(audio.encode())
    with av.open(str(path)) as check:  # the premise: the container claims more frames than the video holds
        assert check.duration / av.time_base * FPS > FRAMES + 20
    return path


def test_the_source_ends_cleanly_when_the_container_overstates(clip: Path) -> None:
    source = open_source(str(clip))
    frames = read_all(source, limit_s=60)
    assert len(frames) == FRAMES
    assert source.state is SourceState.ENDED and source.last_error is None


@pytest.mark.slow
def test_watch_json_ends_as_ended_and_exits_0(clip: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    overt = make_overt(home)
    overt.cameras.add(actor("admin"), CameraInfo("cam-1", str(clip), "Station"))
    overt.gallery.create_watchlist(actor("admin"), "missing", categories=["missing-person"])
    deployment = approved(overt, mode="live")
    remember(home, overt, "op")
    result = run(home, "watch", str(clip), "--deployment", str(deployment), "--camera", "cam-1", "--json",
                 user="op", check=False)
    totals = json.loads(result.stdout.splitlines()[-1])
    assert (result.returncode, totals["state"], totals["last_error"]) == (0, "ended", None), result.stderr
    assert totals["frames"] == FRAMES
