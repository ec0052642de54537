"""Image sanity for untrusted image bytes: size, format, decompression bombs, truncation.

Dimensions are read from the header and checked *before* any pixel is decoded, so a 50,000 ×
50,000 PNG of a few kilobytes costs nothing; then the whole image is decoded once, which is the
only way to catch every corrupt stream. ``full_decode: false`` trades that for speed: PNG chunk
CRCs and structure are still checked (``Image.verify``), which catches truncation and random
corruption but not a crafted stream with valid checksums.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from vlpipe.recipe import ImageLimits
from vlpipe.schema import Drop

NAME = "image"
EXTENSIONS = {"PNG": "png", "JPEG": "jpg"}


@dataclass(frozen=True)
class CheckedImage:
    data: bytes
    ext: str  # png | jpg, from the bytes, not from the claimed MIME type
    width: int
    height: int
    mode: str


def decode_base64(text: str) -> bytes | Drop:
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        return Drop(NAME, "corrupt_base64", str(exc))


def check_image(data: bytes, limits: ImageLimits) -> CheckedImage | Drop:
    if len(data) > limits.max_image_bytes:
        return Drop(NAME, "image_too_large", f"{len(data)} bytes > {limits.max_image_bytes}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            image = Image.open(io.BytesIO(data), formats=tuple(EXTENSIONS))
        except Image.DecompressionBombError as exc:
            return Drop(NAME, "decompression_bomb", str(exc))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            return Drop(NAME, "corrupt_image", f"not a PNG or JPEG: {exc}")
        width, height = image.size
        if width * height > limits.max_pixels:
            return Drop(NAME, "decompression_bomb", f"{width}x{height} > {limits.max_pixels} px")
        if min(width, height) < limits.min_side:
            return Drop(NAME, "image_too_small", f"{width}x{height}")
        if max(width, height) / min(width, height) > limits.max_aspect_ratio:
            return Drop(NAME, "extreme_aspect_ratio", f"{width}x{height}")
        try:
            image.load() if limits.full_decode else image.verify()
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            return Drop(NAME, "corrupt_image", f"{image.format} data does not decode: {exc}")
    return CheckedImage(data, EXTENSIONS[image.format], width, height, image.mode)
