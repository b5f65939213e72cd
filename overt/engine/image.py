"""Safe image loading: size limits are checked on the header, before any pixel is decoded.

Faces arrive from cameras, uploads and the public; a hostile file must cost a clear refusal,
never a crash or a gigabyte of memory.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from .errors import CorruptImageError, EmptyImageError, ImageTooLargeError, NotAnImageError

ALLOWED_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "BMP", "GIF", "PPM"})

# We enforce our own limit before decoding; Pillow's global bomb check would raise a different error type.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass(frozen=True)
class ImageLimits:
    """Refuse inputs beyond these before decoding them."""

    max_pixels: int = 40_000_000
    max_bytes: int = 25 * 1024 * 1024


def _read_bytes(source: str | Path | bytes, limits: ImageLimits) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        path = Path(source)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise NotAnImageError(f"{path}: no such file") from None
        if path.is_dir():
            raise NotAnImageError(f"{path}: is a folder, not an image")
        if size > limits.max_bytes:
            raise ImageTooLargeError(f"file is {size} bytes, over the limit of {limits.max_bytes}")
        data = path.read_bytes()
    if not data:
        raise EmptyImageError("empty file")
    if len(data) > limits.max_bytes:
        raise ImageTooLargeError(f"file is {len(data)} bytes, over the limit of {limits.max_bytes}")
    return data


def _to_rgb8(img: Image.Image) -> np.ndarray:
    """Convert any decoded mode (greyscale, 16-bit, float, palette, alpha) to 8-bit RGB."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") else max(float(arr.max()), 1.0)
        if img.mode == "I" and arr.max() <= 255:
            hi = 255.0
        grey = np.clip(arr / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([grey] * 3, axis=-1))
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        img = img.convert("RGBA")
        background = Image.new("RGBA", img.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, img)
    return np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))


def load_image(source: str | Path | bytes, limits: ImageLimits | None = None) -> np.ndarray:
    """Decode a JPEG, PNG, WebP, BMP, GIF (first frame) or PGM/PPM into an RGB uint8 array, upright per EXIF."""
    limits = limits or ImageLimits()
    data = _read_bytes(source, limits)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise NotAnImageError("not a recognised image format") from None
    except Exception as exc:  # Pillow raises many types for hostile headers
        raise CorruptImageError(f"unreadable image header ({exc.__class__.__name__})") from None
    if img.format not in ALLOWED_FORMATS:
        raise NotAnImageError(f"image format {img.format} is not accepted")
    width, height = img.size
    if width <= 0 or height <= 0:
        raise CorruptImageError("image has no pixels")
    if width * height > limits.max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height} pixels, over the limit of {limits.max_pixels}"
        )
    try:
        img.seek(0)
        img.load()
        img = ImageOps.exif_transpose(img) or img
        return _to_rgb8(img)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise CorruptImageError(f"truncated or corrupt image ({message})") from None
