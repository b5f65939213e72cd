"""Frame sources on real files, folders and network streams (MJPEG over HTTP, RTSP from VLC when installed).

These need no face data: frames are drawn, numbered by a bright bar whose position encodes the index.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from overt.streams import FrameSource, MjpegServer, SourceError, SourceSettings, SourceState, open_source
from overt.streams.synthetic import VideoWriter

W, H, FPS = 320, 240, 10.0
BARS = 32  # bar positions; frame i shows its bar at i % BARS


def numbered(index: int) -> np.ndarray:
    """A red frame with a white bar at column block `index % BARS`, readable after lossy coding."""
    image = np.zeros((H, W, 3), np.uint8)
    image[..., 0] = 200
    step = W // BARS
    image[:, (index % BARS) * step:(index % BARS + 1) * step] = 255
    return image


def bar_of(image: np.ndarray) -> int:
    step = image.shape[1] // BARS
    columns = image[:, : step * BARS, 1].mean(axis=0).reshape(BARS, step).mean(axis=1)
    return int(np.argmax(columns))


def write_video(path: Path, count: int, fps: float = FPS) -> Path:
    with VideoWriter(path, (W, H), fps) as writer:
        for index in range(count):
            writer.write(numbered(index))
    return path


def fast(**overrides: float | str) -> SourceSettings:
    """Settings for tests: short timeouts and backoff, so failures show within a second or two."""
    values = {"attempts": 3, "backoff_s": 0.1, "backoff_max_s": 0.4, "open_timeout_s": 1.0,
              "read_timeout_s": 1.0, **overrides}
    return SourceSettings(**values)


def read_all(source, limit_s: float = 20.0) -> list:
    frames, deadline = [], time.monotonic() + limit_s
    while not source.finished:
        assert time.monotonic() < deadline, f"source did not finish: {source.stats()}"
        frame = source.read(timeout=0.5)
        if frame is not None:
            frames.append(frame)
    return frames


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".webm", ".avi"])
def test_video_files_play_to_their_end_in_order(tmp_path: Path, suffix: str) -> None:
    path = write_video(tmp_path / f"clip{suffix}", 24)
    with open_source(str(path)) as source:
        assert not source.live and source.kind == "file"
        frames = read_all(source)
        assert source.state is SourceState.ENDED and source.last_error is None
    assert [f.index for f in frames] == list(range(24))
    assert [bar_of(f.image) for f in frames] == [i % BARS for i in range(24)]
    assert frames[5].time == pytest.approx(0.5, abs=1e-3)
    image = frames[0].image
    assert image.shape == (H, W, 3) and image.dtype == np.uint8
    assert image[5, -5, 0] > 150 and image[5, -5, 2] < 60, "frames are RGB, not BGR"
    assert source.state is SourceState.CLOSED


def test_folder_of_images_plays_sorted_and_reports_unreadable_ones(tmp_path: Path) -> None:
    for index in (2, 0, 1):
        cv2.imwrite(str(tmp_path / f"img_{index:03d}.png"), cv2.cvtColor(numbered(index), cv2.COLOR_RGB2BGR))
    clean = open_source(str(tmp_path))
    assert [bar_of(f.image) for f in read_all(clean)] == [0, 1, 2]
    assert clean.state is SourceState.ENDED

    (tmp_path / "img_001b.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    damaged = open_source(str(tmp_path))
    assert [bar_of(f.image) for f in read_all(damaged)] == [0, 1, 2]
    assert damaged.state is SourceState.FAILED
    assert "img_001b.jpg" in damaged.last_error and "unreadable" in damaged.last_error


def test_truncated_streamable_file_reads_what_it_can_then_fails_clearly(tmp_path: Path) -> None:
    whole = write_video(tmp_path / "whole.mkv", 60).read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole[: len(whole) // 2])
    source = open_source(str(cut))
    frames = read_all(source, limit_s=10)
    assert 5 < len(frames) < 60
    assert [bar_of(f.image) for f in frames] == [i % BARS for i in range(len(frames))]
    assert source.state is SourceState.FAILED
    assert "ended early" in source.last_error and "of 60 frames" in source.last_error


@pytest.mark.parametrize("damage", ["truncated-mp4", "garbage", "empty"])
def test_unreadable_files_fail_with_a_reason_without_hanging(tmp_path: Path, damage: str) -> None:
    path = tmp_path / "bad.mp4"
    if damage == "truncated-mp4":  # an MP4's index (moov) is written last: cut it off and nothing is playable
        whole = write_video(tmp_path / "whole.mp4", 30).read_bytes()
        path.write_bytes(whole[: len(whole) * 2 // 3])
    else:
        path.write_bytes(os.urandom(50_000) if damage == "garbage" else b"")
    started = time.monotonic()
    source = open_source(str(path))
    assert read_all(source, limit_s=5) == []
    assert source.state is SourceState.FAILED and "Invalid data" in source.last_error
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("realtime", [False, True])
def test_an_unexpected_decoder_error_ends_the_source_instead_of_hanging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, realtime: bool
) -> None:
    video = write_video(tmp_path / "clip.mkv", 20, fps=50.0)
    original = FrameSource._decode

    def breaks_after_five(self: FrameSource):
        for number, item in enumerate(original(self)):
            if number == 5:
                raise RuntimeError("decoder bug")
            yield item

    monkeypatch.setattr(FrameSource, "_decode", breaks_after_five)
    source = open_source(str(video), SourceSettings(realtime=realtime))
    frames = read_all(source, limit_s=5)
    assert 1 <= len(frames) <= 5
    assert source.state is SourceState.FAILED and "decoder bug" in source.last_error


def test_specs_that_name_no_source_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    for spec, message in [
        ("ftp://example.org/cam", "unsupported stream scheme"),
        (str(tmp_path / "missing.mp4"), "no such file"),
        (str(tmp_path / "notes.txt"), "not a video file"),
    ]:
        with pytest.raises(SourceError, match=message):
            open_source(spec)


def test_missing_camera_fails_after_bounded_attempts() -> None:
    source = open_source("/dev/video63", fast(attempts=2))
    assert source.kind == "device" and source.live
    assert read_all(source, limit_s=10) == []
    assert source.state is SourceState.FAILED
    assert "gave up after 2 failed attempts" in source.last_error and "/dev/video63" in source.last_error


def test_credentials_never_appear_in_specs_or_errors() -> None:
    source = open_source("rtsp://admin:secret@127.0.0.1:9/stream", fast(attempts=1))
    read_all(source, limit_s=5)
    assert "secret" not in source.spec and "secret" not in source.last_error
    assert "admin:***@" in source.spec


def test_mjpeg_stream_is_read_until_the_camera_stops(tmp_path: Path) -> None:
    with MjpegServer([numbered(i) for i in range(30)], fps=30) as server:
        source = open_source(server.url, fast())
        assert source.live and source.kind == "url"
        frames = read_all(source)
    assert len(frames) >= 27 and source.stats().dropped <= 3
    bars = [bar_of(f.image) for f in frames]
    assert bars == sorted(bars) and bars[-1] == 29 % BARS
    assert frames[-1].time > frames[0].time
    assert source.state is SourceState.FAILED
    assert "gave up after 3 failed attempts" in source.last_error and "5XX" in source.last_error


def _self_signed(folder: Path) -> Path:
    """A PEM with a throwaway certificate for 127.0.0.1 and its key."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )
    pem = folder / "camera.pem"
    pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return pem


def test_mjpeg_over_https_is_read_and_its_certificate_checked(tmp_path: Path) -> None:
    pytest.importorskip("cryptography", reason="the HTTPS test makes its certificate with cryptography")
    (tmp_path / "other").mkdir()
    camera, stranger = _self_signed(tmp_path), _self_signed(tmp_path / "other")
    with MjpegServer([numbered(i) for i in range(20)], fps=40, certfile=camera) as server:
        assert server.url.startswith("https://")
        impostor = open_source(server.url, fast(attempts=1, ca_file=str(stranger)))
        assert read_all(impostor) == [] and impostor.state is SourceState.FAILED
        source = open_source(server.url, fast(attempts=1, ca_file=str(camera)))
        frames = read_all(source)
    assert len(frames) >= 15 and bar_of(frames[-1].image) == 19 % BARS


def test_mjpeg_stream_that_drops_reconnects_then_reaches_a_clear_state(tmp_path: Path) -> None:
    video = write_video(tmp_path / "camera.mkv", 60)
    states: list[SourceState] = []
    with MjpegServer(video, fps=30, drop_after=15) as server:
        source = open_source(server.url, fast())
        frames = []
        while not source.finished:
            frame = source.read(timeout=0.05)
            if frame is not None:
                frames.append(frame)
            if not states or states[-1] is not source.state:
                states.append(source.state)
        assert server.connections >= 4  # 60 frames at 15 per connection
    stats = source.stats()
    assert SourceState.RECONNECTING in states and stats.reconnects >= 4
    assert len(frames) >= 40, "reconnection loses at most a few frames per drop"
    assert [f.index for f in frames] == sorted({f.index for f in frames}), "indices keep increasing"
    assert source.state is SourceState.FAILED and "gave up" in source.last_error


def test_dead_server_never_hangs_the_reader() -> None:
    """A server that accepts connections and then says nothing: the open timeout must fire."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    accepted = []
    threading.Thread(target=lambda: [accepted.append(silent.accept()) for _ in range(4)], daemon=True).start()
    try:
        started = time.monotonic()
        source = open_source(f"http://127.0.0.1:{silent.getsockname()[1]}/stream.mjpg", fast(attempts=2))
        assert read_all(source, limit_s=10) == []
        assert source.state is SourceState.FAILED and "gave up after 2" in source.last_error
        assert time.monotonic() - started < 5
        assert len(accepted) == 2
    finally:
        silent.close()


def test_live_reader_drops_frames_for_a_slow_consumer_and_memory_stays_flat(tmp_path: Path) -> None:
    video = write_video(tmp_path / "fast.mkv", 120, fps=60.0)
    source = open_source(str(video), SourceSettings(realtime=True))
    assert source.live
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        delivered = []
        while not source.finished:
            frame = source.read(timeout=0.5)
            if frame is not None:
                delivered.append(frame.index)
                del frame
                time.sleep(0.1)  # a consumer at 10 fps against a 60 fps camera
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
        source.close()
    stats = source.stats()
    assert stats.frames_read == 120 and source.state is SourceState.CLOSED
    assert stats.dropped >= 80 and stats.frames_delivered + stats.dropped == 120
    assert delivered == sorted(delivered) and delivered[-1] >= 110, "the consumer gets the newest frame"
    assert peak < 12 * W * H * 3, f"memory grew by {peak} bytes: frames are being queued"


def test_close_stops_a_live_reader_promptly(tmp_path: Path) -> None:
    video = write_video(tmp_path / "long.mkv", 100)
    source = open_source(str(video), SourceSettings(realtime=True))
    assert source.read(timeout=2) is not None
    started = time.monotonic()
    source.close()
    assert time.monotonic() - started < 1.5
    assert source.state is SourceState.CLOSED and source.finished and source.read(timeout=0.1) is None


def _vlc_command() -> list[str] | None:
    """cvlc, dropping root privileges when needed (VLC refuses to run as root)."""
    cvlc = shutil.which("cvlc")
    if cvlc is None:
        return None
    if os.geteuid() != 0:
        return [cvlc]
    setpriv = shutil.which("setpriv")
    return None if setpriv is None else [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", cvlc]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_rtsp_stream_from_vlc_is_read_then_ends_clearly() -> None:
    command = _vlc_command()
    if command is None:
        pytest.skip("RTSP test needs VLC (apt-get install vlc-bin vlc-plugin-base) and, as root, setpriv")
    folder = Path(tempfile.mkdtemp(prefix="overt-rtsp-"))
    folder.chmod(0o755)  # VLC runs as nobody when we are root
    video = write_video(folder / "camera.mkv", 80)
    video.chmod(0o644)
    port = _free_port()
    url = f"rtsp://127.0.0.1:{port}/camera"
    vlc = subprocess.Popen(
        [*command, "-q", "--no-audio", str(video), "--sout", f"#rtp{{sdp={url}}}", "vlc://quit"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "HOME": str(folder)},
    )
    try:
        # VLC's RTSP server only offers RTP over UDP (it answers 461 to TCP-interleaved requests)
        source = open_source(url, fast(rtsp_transport="udp", attempts=4, backoff_s=0.5, open_timeout_s=3.0))
        frames = read_all(source, limit_s=30)
    finally:
        vlc.kill()
        vlc.wait()
        shutil.rmtree(folder, ignore_errors=True)
    assert len(frames) >= 20, f"read {len(frames)} frames; {source.last_error}"
    assert frames[0].image.shape == (H, W, 3)
    assert source.state is SourceState.FAILED and "gave up" in source.last_error
