"""Image loading: every accepted format decodes upright to RGB; every hostile file is refused with a typed error."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from overt.engine import (
    CorruptImageError,
    EmptyImageError,
    ImageLimits,
    ImageTooLargeError,
    NotAnImageError,
    load_image,
)


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture(scope="module")
def portrait(data_dir: Path) -> Image.Image:
    return Image.open(data_dir / "faces" / "001_neutral.jpg").convert("RGB")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "GIF", "PPM"])
def test_accepted_formats_decode_to_rgb(portrait: Image.Image, fmt: str) -> None:
    image = load_image(encode(portrait, fmt))
    assert image.shape == (portrait.height, portrait.width, 3)
    assert image.dtype == np.uint8


def test_pgm_greyscale_becomes_three_channels(portrait: Image.Image) -> None:
    image = load_image(encode(portrait.convert("L"), "PPM"))  # Pillow writes L as PGM (P5)
    assert image.shape[2] == 3
    assert np.array_equal(image[..., 0], image[..., 2])


def test_sixteen_bit_png_is_scaled_not_clipped() -> None:
    ramp = (np.arange(256 * 64, dtype=np.uint16).reshape(64, 256) * 4).astype(np.uint16)
    image = load_image(encode(Image.fromarray(ramp), "PNG"))
    assert image.dtype == np.uint8
    assert image.max() > 200 and image.min() < 10  # the full range survives, not saturated at 255


def test_gif_first_frame_only() -> None:
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    image = load_image(buf.getvalue())
    assert image[16, 16, 0] > 200 and image[16, 16, 2] < 50


def test_exif_orientation_is_applied(portrait: Image.Image) -> None:
    wide = portrait.resize((200, 100))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    image = load_image(encode(wide, "JPEG", exif=exif))
    assert image.shape[:2] == (200, 100)


def test_alpha_is_flattened_on_white() -> None:
    rgba = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    assert load_image(encode(rgba, "PNG"))[0, 0].tolist() == [255, 255, 255]


def test_empty_file_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(EmptyImageError, match="empty"):
        load_image(empty)


def test_non_image_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotAnImageError):
        load_image(b"%PDF-1.7 this is not an image" * 10)
    missing = tmp_path / "nope.jpg"
    with pytest.raises(NotAnImageError, match="no such file"):
        load_image(missing)


def test_truncated_jpeg_is_refused(portrait: Image.Image) -> None:
    data = encode(portrait, "JPEG")
    with pytest.raises(CorruptImageError, match="truncated or corrupt"):
        load_image(data[: len(data) // 3])


def test_corrupt_body_is_refused(portrait: Image.Image) -> None:
    data = bytearray(encode(portrait, "PNG"))
    data[200:400] = b"\x00" * 200
    with pytest.raises(CorruptImageError):
        load_image(bytes(data))


def _png_bomb(width: int, height: int) -> bytes:
    """A valid PNG header claiming a huge image, with almost no data: decoding it would need gigabytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 1024))
        + chunk(b"IEND", b"")
    )


def test_decompression_bomb_refused_before_decoding() -> None:
    with pytest.raises(ImageTooLargeError, match="over the limit"):
        load_image(_png_bomb(100_000, 100_000))


def test_pixel_and_byte_limits_are_configurable(portrait: Image.Image) -> None:
    data = encode(portrait, "PNG")
    with pytest.raises(ImageTooLargeError):
        load_image(data, ImageLimits(max_pixels=640 * 640 - 1))
    with pytest.raises(ImageTooLargeError, match="bytes"):
        load_image(data, ImageLimits(max_bytes=1000))


def test_unsupported_format_is_refused(portrait: Image.Image) -> None:
    with pytest.raises(NotAnImageError, match="TIFF"):
        load_image(encode(portrait, "TIFF"))
