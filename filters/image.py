"""Image sanity for untrusted image bytes: size, format, decompression bombs, truncation.

Dimensions are read from the header and checked *before* any pixel is decoded, so a 50,000 ×
50,000 PNG of a few kilobytes costs nothing. Then the whole compressed stream is checked: for a
PNG by inflating it (``png_stream_error``: what a decode would catch, without unfiltering or
allocating the image), for a JPEG by decoding it. ``full_decode: false`` trades that for speed:
PNG chunk CRCs and structure are still checked (``Image.verify``), which catches truncation and
random corruption but not a crafted stream with valid checksums.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import warnings
import zlib
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from vlpipe.recipe import ImageLimits
from vlpipe.schema import Drop

NAME = "image"
EXTENSIONS = {"PNG": "png", "JPEG": "jpg"}
PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type
ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)
INFLATE_STEP = 1 << 18  # bytes of pixel rows inflated at a time: memory stays bounded


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
            if not limits.full_decode:
                image.verify()
            elif image.format == "PNG" and (problem := png_stream_error(data)) is not None:
                return Drop(NAME, "corrupt_image", f"PNG data does not decode: {problem}")
            elif image.format == "JPEG":
                image.load()
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            return Drop(NAME, "corrupt_image", f"{image.format} data does not decode: {exc}")
    return CheckedImage(data, EXTENSIONS[image.format], width, height, image.mode)


def png_stream_error(data: bytes) -> str | None:
    """Why a PNG's chunks or pixel stream are broken, or None when intact.

    Checks every chunk's CRC, that the IDAT zlib stream inflates to exactly the bytes the header
    declares (rows of 1 filter byte + pixels; Adam7 passes when interlaced) and, when not
    interlaced, that every row starts with a valid filter type (0–4).
    """
    position, idat, header = 8, [], None
    while position + 12 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 8 + length
        if end + 4 > len(data):
            return f"chunk {kind!r} is truncated"
        if zlib.crc32(data[position + 4 : end]) != struct.unpack_from(">I", data, end)[0]:
            return f"chunk {kind!r} fails its CRC"
        if kind == b"IHDR":
            header = struct.unpack_from(">IIBBBBB", data, position + 8)
        elif kind == b"IDAT":
            idat.append(data[position + 8 : end])
        elif kind == b"IEND":
            break
        position = end + 4
    else:
        return "no IEND chunk"
    if header is None or header[3] not in PNG_CHANNELS:
        return "no valid IHDR chunk"
    width, height, depth, colour, _, _, interlace = header
    bits = PNG_CHANNELS[colour] * depth
    stride = 1 + (width * bits + 7) // 8
    expected = _adam7_bytes(width, height, bits) if interlace else height * stride
    inflater, produced, pending = zlib.decompressobj(), 0, b"".join(idat)
    try:
        while pending:
            rows = inflater.decompress(pending, INFLATE_STEP)
            if not interlace and max(rows[-produced % stride :: stride], default=0) > 4:
                return "a row has an invalid filter type"
            produced, pending = produced + len(rows), inflater.unconsumed_tail
            if produced > expected:
                return f"more than the {expected} pixel bytes the header declares"
    except zlib.error as exc:
        return f"zlib: {exc}"
    if not inflater.eof or produced != expected:
        return f"pixel stream holds {produced} of {expected} bytes"
    return None


def _adam7_bytes(width: int, height: int, bits: int) -> int:
    total = 0
    for x0, y0, dx, dy in ADAM7:
        columns, rows = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if columns > 0 and rows > 0:
            total += rows * (1 + (columns * bits + 7) // 8)
    return total
