"""The image filter: sanity and quality of every image of a sample, from untrusted bytes.

Dimensions are read from the header and checked *before* any pixel is decoded, so a 50,000 ×
50,000 PNG of a few kilobytes costs nothing. Then the whole compressed stream is checked: for a
PNG by inflating it (``png_stream_error``: what a decode would catch, without unfiltering or
allocating the image), for JPEG, WebP and GIF by decoding it. ``full_decode: false`` trades that
for speed: PNG chunk CRCs and structure are still checked (``Image.verify``), which catches
truncation and random corruption but not a crafted stream with valid checksums. Then, on a copy
reduced to at most 256 px a side, quality: a near-uniform image (almost every pixel the
background's grey: a blank page, an empty plot, a white screenshot) or, when asked, a grey
histogram of too little entropy.

Records ``images``: format, width, height and sha256 of each image. An SVG is not rasterised here
(that would change the image): it is dropped.

Each distinct image is judged once per process (``DigestMemo``) and decoded at most once: the
reduced grey copy serves the quality measures here and the pHash of ``signatures``. Inflating
uses zlib-ng (the same verdicts as zlib, several times faster); 8-bit PNGs are decoded by libspng
(``pyspng``: the same pixels as Pillow, faster), other images by Pillow.
"""

from __future__ import annotations

import binascii
import io
import math
import struct
import warnings
from dataclasses import dataclass
from typing import Any

import pybase64
import pyspng
from PIL import Image, UnidentifiedImageError
from pydantic import Field
from zlib_ng import zlib_ng

from vlpipe.filters.contract import DigestMemo, SampleView, Verdict
from vlpipe.recipe import StrictModel
from vlpipe.schema import Drop, sha256

NAME = "image"
READS = ("images",)
EXTENSIONS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}
MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)
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
SAMPLE_SIDE = 256  # pixels of the reduced copy's longer side, for the quality measures
INK_DELTA = 24  # grey levels away from the background that count as ink
_ASCII_WHITESPACE = b" \t\n\r\x0b\x0c"


class Options(StrictModel):
    max_image_bytes: int = Field(16 * 2**20, gt=0)
    max_pixels: int = Field(40_000_000, gt=0, description="decompression-bomb guard")
    min_side: int = Field(16, ge=1)
    max_aspect_ratio: float = Field(20.0, gt=1)
    full_decode: bool = Field(
        True, description="check the whole compressed stream; false: header + chunk CRCs only"
    )
    min_ink: float | None = Field(
        0.002,
        ge=0,
        le=1,
        description="share of pixels off the background's grey at or under which an image is "
        "near-uniform (blank); null: not checked",
    )
    min_entropy: float | None = Field(
        None, ge=0, le=8, description="bits of the grey histogram under which an image is dropped"
    )


@dataclass(frozen=True)
class CheckedImage:
    ext: str  # png | jpg | webp | gif, from the bytes, not from a claimed type
    width: int
    height: int
    mode: str


def check(sample: SampleView, options: Options) -> Verdict:
    described: list[dict[str, Any]] = []
    for member, data in sample.images:
        if member.rsplit(".", 1)[-1] == "svg":
            return Drop(NAME, "svg_not_rasterised", f"{member}: an SVG image")
        screened = screen_image(data, options)
        if isinstance(screened, Drop):
            return Drop(NAME, screened.reason, f"{member}: {screened.detail}")
        checked, quality = screened
        described.append(
            {
                "format": checked.ext,
                "width": checked.width,
                "height": checked.height,
                "sha256": sha256(data).hex(),
                **quality,
            }
        )
    return {"images": described}


Screened = tuple[CheckedImage, dict[str, float]] | Drop
SCREENED: DigestMemo[Screened] = DigestMemo(1 << 16)
REDUCED: DigestMemo[Image.Image] = DigestMemo(256)


def screen_image(data: bytes, options: Options) -> Screened:
    """``check_image`` then ``image_quality``, once per distinct image: a source that screens the
    images of a document (MMC4) and this filter after it, or a corpus of forked notebooks, judge
    the same bytes once."""
    return SCREENED.get(data, options, lambda image: _screen(image, options))


def _screen(data: bytes, options: Options) -> Screened:
    checked = check_image(data, options)
    if isinstance(checked, Drop):
        return checked
    try:
        quality = image_quality(data, options)
    except (OSError, SyntaxError, ValueError, EOFError) as exc:  # full_decode: false lets these by
        return Drop(NAME, "corrupt_image", f"{checked.ext} data does not decode: {exc}")
    return quality if isinstance(quality, Drop) else (checked, quality)


def image_format(data: bytes) -> str | None:
    """An image's format from its first bytes (PNG, JPEG, GIF, WebP), None when unknown."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return next((ext for magic, ext in MAGIC if data.startswith(magic)), None)


def decode_base64(text: str) -> bytes | None:
    """Base64 text (ASCII whitespace allowed) as bytes, None when it is not valid base64: the
    verdicts of ``binascii.a2b_base64(strict_mode=True)`` on the text without its whitespace.
    pybase64 (SIMD) decodes several times faster: the text as one line (most images), or
    without its line breaks (nbformat's 76-column lines); anything it refuses (other whitespace
    inside, odd padding, bad characters) gets binascii's verdict."""
    try:
        return pybase64.b64decode(text.strip(), validate=True)
    except ValueError:  # binascii.Error included
        pass
    if "\n" in text:
        try:
            return pybase64.b64decode(text.replace("\n", ""), validate=True)
        except ValueError:
            pass
    try:
        compact = text.encode("ascii").translate(None, _ASCII_WHITESPACE)
        return binascii.a2b_base64(compact, strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        return None


def image_header(data: bytes, max_pixels: int) -> Image.Image | Drop:
    """The image with only its header read (no pixel decoded), or why it cannot be one:
    ``corrupt_image`` (not a PNG, JPEG, WebP or GIF) or ``decompression_bomb`` (more than
    ``max_pixels`` declared)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            image = Image.open(io.BytesIO(data), formats=tuple(EXTENSIONS))
        except Image.DecompressionBombError as exc:
            return Drop(NAME, "decompression_bomb", str(exc))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            return Drop(NAME, "corrupt_image", f"not a PNG, JPEG, WebP or GIF: {exc}")
    width, height = image.size
    if width * height > max_pixels:
        return Drop(NAME, "decompression_bomb", f"{width}x{height} > {max_pixels} px")
    return image


def check_image(data: bytes, limits: Options) -> CheckedImage | Drop:
    if len(data) > limits.max_image_bytes:
        return Drop(NAME, "image_too_large", f"{len(data)} bytes > {limits.max_image_bytes}")
    image = image_header(data, limits.max_pixels)
    if isinstance(image, Drop):
        return image
    width, height = image.size
    if min(width, height) < limits.min_side:
        return Drop(NAME, "image_too_small", f"{width}x{height}")
    if max(width, height) / min(width, height) > limits.max_aspect_ratio:
        return Drop(NAME, "extreme_aspect_ratio", f"{width}x{height}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if not limits.full_decode:
                image.verify()
            elif image.format == "PNG" and (problem := png_stream_error(data)) is not None:
                return Drop(NAME, "corrupt_image", f"PNG data does not decode: {problem}")
            elif image.format != "PNG":
                image.load()
        except (OSError, SyntaxError, ValueError, EOFError) as exc:
            return Drop(NAME, "corrupt_image", f"{image.format} data does not decode: {exc}")
    return CheckedImage(EXTENSIONS[image.format], width, height, image.mode)


def image_quality(data: bytes, options: Options) -> Drop | dict[str, float]:
    """Ink (and, when asked, entropy) of an image that passed ``check_image``."""
    if options.min_ink is None and options.min_entropy is None:
        return {}
    histogram = reduced_grey(data).histogram()
    measured = {"ink": round(ink_fraction(histogram), 4)}
    if options.min_ink is not None and measured["ink"] <= options.min_ink:
        return Drop(NAME, "near_uniform", f"ink {measured['ink']:.4f} <= {options.min_ink}")
    if options.min_entropy is not None:
        measured["entropy"] = round(entropy(histogram), 3)
        if measured["entropy"] < options.min_entropy:
            detail = f"entropy {measured['entropy']:.3f} bits < {options.min_entropy}"
            return Drop(NAME, "low_entropy", detail)
    return measured


def reduced_grey(data: bytes) -> Image.Image:
    """A grey copy of a checked image at most ``SAMPLE_SIDE`` a side (a JPEG decoded at a reduced
    scale directly): the one decode of its pixels, for the quality measures and the pHash. Shared:
    not to be changed in place."""
    return REDUCED.get(data, None, _reduce)


def _reduce(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:  # the header, and Pillow's bomb guard
        if image.format == "PNG" and image.mode in _SPNG_MODES:
            grey = Image.fromarray(_spng_pixels(data, _SPNG_MODES[image.mode])).convert("L")
        else:
            image.draft("L", (SAMPLE_SIDE, SAMPLE_SIDE))
            grey = image.convert("L")
    grey.thumbnail((SAMPLE_SIDE, SAMPLE_SIDE), Image.Resampling.BOX)
    return grey


# 8-bit PNG modes → the libspng output whose grey is the same as Pillow's (Pillow's RGBA → L
# ignores alpha, so RGBA stays RGBA: libspng dropping the alpha itself costs 30% more than the
# whole decode; a palette is expanded to RGB first)
_SPNG_MODES = {"L": "L", "RGB": "RGB", "RGBA": "RGBA", "P": "RGB"}


def _spng_pixels(data: bytes, mode: str) -> Any:
    """libspng's decode of a PNG: the same pixels as Pillow's, 1.27× faster on real notebook
    plots (the one full decode of each distinct image in a Jupyter build). Errors as Pillow's
    (``OSError``)."""
    try:
        return pyspng.load(data, format=mode)
    except RuntimeError as exc:
        raise OSError(f"PNG does not decode: {exc}") from None


def ink_fraction(histogram: list[int]) -> float:
    """The share of pixels that differ visibly from the background, the commonest grey level (so a
    dark theme or a tinted page counts as blank when empty too)."""
    background = max(range(256), key=histogram.__getitem__)
    near = sum(histogram[max(0, background - INK_DELTA) : background + INK_DELTA + 1])
    return 1 - near / max(1, sum(histogram))


def entropy(histogram: list[int]) -> float:
    total = sum(histogram)
    return -sum(c / total * math.log2(c / total) for c in histogram if c) if total else 0.0


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
        if zlib_ng.crc32(data[position + 4 : end]) != struct.unpack_from(">I", data, end)[0]:
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
    inflater, produced, pending = zlib_ng.decompressobj(), 0, b"".join(idat)
    try:
        while pending:
            rows = inflater.decompress(pending, INFLATE_STEP)
            if not interlace and max(rows[-produced % stride :: stride], default=0) > 4:
                return "a row has an invalid filter type"
            produced, pending = produced + len(rows), inflater.unconsumed_tail
            if produced > expected:
                return f"more than the {expected} pixel bytes the header declares"
    except zlib_ng.error as exc:
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
