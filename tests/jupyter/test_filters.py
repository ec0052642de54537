"""The single-image + ≥5-lines rule and the image sanity checks, on real image bytes."""

from __future__ import annotations

import base64
import binascii
import io
import random
import struct
import zlib

import orjson
import pytest
from PIL import Image

from tests.jupyter.helpers import NOTEBOOKS, png_bytes
from vlpipe.filters import code_image, image, signatures
from vlpipe.filters.code_image import code_lines
from vlpipe.filters.contract import DigestMemo, SampleView
from vlpipe.filters.image import decode_base64, png_stream_error
from vlpipe.recipe import SignatureOptions
from vlpipe.schema import Drop, Sample

FIVE_LINES = "import numpy as np\nx = np.arange(3)\ny = x * 2\nfig = figure()\nplot(x, y)\n"


def plot_pair(code: str, images: int = 1, cell_code_start: int | None = None) -> SampleView:
    """A (plot, code) sample as the Jupyter source packs it."""
    meta = {"kind": "image_text", "target": "py", "cell_code_start": cell_code_start}
    files = {f"{n}.png": png_bytes(40 + n, 40) for n in range(images)}
    files |= {"py": code.encode(), "json": orjson.dumps(meta)}
    return SampleView(Sample("k_0000", files))


RULE = code_image.Options()


def test_rule_keeps_one_image_and_five_lines() -> None:
    assert code_image.check(plot_pair(FIVE_LINES), RULE) == {"code_lines": 5}


@pytest.mark.parametrize(
    ("code", "images", "reason"),
    [
        (FIVE_LINES, 2, "images_per_cell"),
        (FIVE_LINES, 0, "images_per_cell"),
        ("# a comment\n\nimport x\nplot()\n# more\n\n\n", 1, "too_few_code_lines"),
    ],
)
def test_rule_drops_with_filter_name_and_reason(code: str, images: int, reason: str) -> None:
    drop = code_image.check(plot_pair(code, images), RULE)
    assert isinstance(drop, Drop)
    assert (drop.filter, drop.reason) == ("code_image", reason)
    assert drop.detail


def test_thresholds_come_from_the_recipe() -> None:
    two_lines = code_image.Options(min_code_lines=2)
    assert not isinstance(code_image.check(plot_pair("a\nb\n"), two_lines), Drop)
    two_images = code_image.Options(images_per_cell=2)
    assert not isinstance(code_image.check(plot_pair(FIVE_LINES, 2), two_images), Drop)


def test_valid_png_and_jpeg_are_identified_from_their_bytes() -> None:
    checked = image.check_image(png_bytes(80, 60), image.Options())
    assert (checked.ext, checked.width, checked.height) == ("png", 80, 60)
    buffer = io.BytesIO()
    Image.new("RGB", (50, 40), "blue").save(buffer, format="JPEG")
    assert image.check_image(buffer.getvalue(), image.Options()).ext == "jpg"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(side: int = 50_000) -> bytes:
    """A real 1-bit PNG of side×side zero pixels: ~300 KB that decodes to 2.5 gigapixels."""
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    row = b"\x00" * (1 + side // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", body)
        + png_chunk(b"IEND", b"")
    )


def test_decompression_bomb_is_dropped_before_decoding() -> None:
    drop = image.check_image(bomb_png(), image.Options())
    assert (drop.filter, drop.reason) == ("image", "decompression_bomb")


def test_bomb_just_over_the_recipe_limit_is_caught_by_our_check() -> None:
    drop = image.check_image(png_bytes(100, 100), image.Options(max_pixels=9_999))
    assert drop.reason == "decompression_bomb"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not an image at all", "corrupt_image"),
        (png_bytes(64, 64)[:-30], "corrupt_image"),
        (png_bytes(64, 64)[:120], "corrupt_image"),
        (b"GIF89a" + b"\x00" * 64, "corrupt_image"),
        (png_bytes(4, 4), "image_too_small"),
        (png_bytes(2000, 40), "extreme_aspect_ratio"),
    ],
)
def test_bad_image_bytes_are_dropped_with_reason(data: bytes, reason: str) -> None:
    drop = image.check_image(data, image.Options())
    assert drop.reason == reason, drop


def test_corrupt_pixel_stream_is_caught_by_full_decode() -> None:
    data = bytearray(png_bytes(64, 64, (10, 200, 10)))
    idat = data.index(b"IDAT") + 8
    data[idat : idat + 12] = b"\xff" * 12  # inside the zlib stream; fix the CRC so only data is bad
    start = data.index(b"IDAT") - 4
    length = struct.unpack(">I", data[start : start + 4])[0]
    crc_at = start + 8 + length
    data[crc_at : crc_at + 4] = struct.pack(">I", zlib.crc32(bytes(data[start + 4 : crc_at])))
    drop = image.check_image(bytes(data), image.Options())
    assert drop.reason == "corrupt_image"


def test_oversized_image_bytes_are_dropped_unopened() -> None:
    assert (
        image.check_image(png_bytes(), image.Options(max_image_bytes=10)).reason
        == "image_too_large"
    )


def test_base64_decoding_is_strict_but_tolerates_line_breaks() -> None:
    assert decode_base64("aGVs\nbG8=\n") == b"hello"
    assert decode_base64("aGVsbG8=*!") is None
    assert decode_base64("aGVsbG8") is None


def test_base64_gives_binascii_strict_verdicts_on_mangled_text() -> None:
    """The SIMD fast path must accept and refuse exactly what binascii's strict decoder does."""

    def strict(text: str) -> bytes | None:
        try:
            compact = text.encode("ascii").translate(None, b" \t\n\r\x0b\x0c")
            return binascii.a2b_base64(compact, strict_mode=True)
        except (binascii.Error, UnicodeEncodeError):
            return None

    rng = random.Random(7)
    alphabet = "ABCabcxyz0189+/=\n\t -_é"
    for _ in range(20_000):
        encoded = base64.b64encode(rng.randbytes(rng.randrange(40))).decode()
        if rng.random() < 0.3:  # nbformat's line breaks every few columns
            width = rng.randrange(1, 9)
            encoded = "\n".join(encoded[i : i + width] for i in range(0, len(encoded), width))
        chars = list(encoded)
        for _ in range(rng.randrange(3)):
            at = rng.randrange(len(chars) + 1)
            if rng.random() < 0.5:
                chars.insert(at, rng.choice(alphabet))
            elif chars:
                del chars[min(at, len(chars) - 1)]
        text = "".join(chars)
        assert decode_base64(text) == strict(text), repr(text)


def test_header_and_crc_mode_still_catches_truncation_and_bit_flips() -> None:
    fast = image.Options(full_decode=False)
    assert image.check_image(png_bytes(64, 64), fast).ext == "png"
    assert image.check_image(png_bytes(64, 64)[:-30], fast).reason == "corrupt_image"
    flipped = bytearray(png_bytes(64, 64))
    flipped[flipped.index(b"IDAT") + 10] ^= 0xFF
    assert image.check_image(bytes(flipped), fast).reason == "corrupt_image"


@pytest.mark.parametrize("mode", ["1", "L", "P", "RGB", "RGBA", "LA", "I;16"])
@pytest.mark.parametrize("interlace", [False, True])
def test_inflate_check_accepts_every_png_layout(mode: str, interlace: bool) -> None:
    buffer = io.BytesIO()
    gradient = Image.linear_gradient("L").resize((37, 23)).convert(mode)
    gradient.save(buffer, format="PNG", interlace=interlace)
    assert png_stream_error(buffer.getvalue()) is None
    assert image.check_image(buffer.getvalue(), image.Options()).ext == "png"


def test_inflate_check_finds_short_long_and_unfiltered_streams() -> None:
    def with_idat(data: bytes, pixels: bytes) -> bytes:
        start = data.index(b"IDAT") - 4
        length = struct.unpack(">I", data[start : start + 4])[0]
        return (
            data[:start] + png_chunk(b"IDAT", zlib.compress(pixels)) + data[start + 12 + length :]
        )

    good = png_bytes(20, 20)  # RGB: rows of 1 + 60 bytes
    assert "pixel stream holds" in png_stream_error(with_idat(good, bytes(61 * 19)))
    assert "more than" in png_stream_error(with_idat(good, bytes(61 * 21)))
    assert "filter" in png_stream_error(with_idat(good, b"\x07" + bytes(61 * 20 - 1)))
    assert png_stream_error(with_idat(good, bytes(61 * 20))) is None


def fixture_pngs() -> list[bytes]:
    """The matplotlib PNGs of the fixture notebooks (real zlib streams, several filter types)."""
    found = []
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        for cell in orjson.loads(path.read_bytes()).get("cells", []):
            for output in cell.get("outputs", []):
                text = output.get("data", {}).get("image/png")
                if text:
                    found.append(decode_base64("".join(text)))
    return found


def with_crcs_fixed(data: bytes) -> bytes:
    """The PNG with every chunk's CRC recomputed: a corruption that only the stream check sees."""
    position, fixed = 8, bytearray(data[:8])
    while position + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, position)
        body = data[position + 4 : position + 8 + length]
        fixed += data[position : position + 8 + length] + struct.pack(">I", zlib.crc32(body))
        position += 12 + length
    return bytes(fixed)


def test_zlib_ng_gives_zlibs_verdicts_on_corrupt_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    corrupted = []
    for data in fixture_pngs():
        start = data.index(b"IDAT") + 4
        (length,) = struct.unpack_from(">I", data, start - 8)
        for _ in range(60):
            flipped = bytearray(data)
            flipped[start + rng.randrange(length)] ^= 1 << rng.randrange(8)
            corrupted.append(with_crcs_fixed(bytes(flipped)))
        for cut in sorted(rng.sample(range(1, length), 20)):
            body = data[start : start + cut]
            cut_chunk = struct.pack(">I", cut) + b"IDAT" + body + bytes(4)
            rest = data[start + length + 4 :]
            corrupted.append(with_crcs_fixed(data[: start - 8] + cut_chunk + rest))
    zlib_ng_verdicts = [png_stream_error(data) for data in corrupted]
    monkeypatch.setattr(image, "zlib_ng", zlib)
    assert [png_stream_error(data) for data in corrupted] == zlib_ng_verdicts
    assert sum(v is not None for v in zlib_ng_verdicts) > len(corrupted) // 2


def test_each_distinct_image_is_decoded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    decoded, reduce = [], image._reduce
    monkeypatch.setattr(image, "_reduce", lambda data: decoded.append(data) or reduce(data))
    for module, memo in ((image, "SCREENED"), (image, "REDUCED"), (signatures, "PHASHES")):
        monkeypatch.setattr(module, memo, DigestMemo(8))  # nothing remembered from other tests
    data = png_bytes(90, 70, (10, 120, 200))
    sample = plot_pair(FIVE_LINES)
    sample.sample.files["0.png"] = data
    for _ in range(3):
        assert image.check(sample, image.Options())["images"][0]["width"] == 90
        signatures.phash(data)
    assert decoded == [data]


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"])
@pytest.mark.parametrize("interlace", [False, True])
@pytest.mark.parametrize("bits", [None, 2, 4])
def test_the_reduced_grey_is_pillows_whichever_decoder_reads_it(
    mode: str, interlace: bool, bits: int | None
) -> None:
    """libspng decodes the 8-bit PNG layouts, Pillow the rest: the grey copy (ink, pHash) is
    pixel for pixel what Pillow's own decode gives, palettes with transparency included."""
    picture = Image.radial_gradient("L").resize((300, 190)).convert(mode)
    if mode in ("LA", "RGBA"):  # alpha that varies, which the grey ignores
        picture.putalpha(Image.linear_gradient("L").resize(picture.size))
    if mode == "P" and bits is None:
        picture.info["transparency"] = 7
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", interlace=interlace, **({"bits": bits} if bits else {}))
    data = buffer.getvalue()
    with Image.open(io.BytesIO(data)) as opened:
        expected = opened.convert("L")
    expected.thumbnail((image.SAMPLE_SIDE, image.SAMPLE_SIDE), Image.Resampling.BOX)
    assert image._reduce(data).tobytes() == expected.tobytes()


def test_a_png_whose_pixels_do_not_decode_gets_no_phash() -> None:
    good = bytearray(png_bytes(64, 48, (200, 30, 30)))
    good[good.index(b"IDAT") + 6] ^= 0xFF  # the header reads, the zlib stream does not
    with pytest.raises(OSError):
        image._reduce(bytes(good))
    assert signatures.phash(bytes(good)) is None


def test_an_image_that_does_not_decode_gets_no_phash_and_breaks_nothing() -> None:
    """A recipe without the image filter signs unscreened bytes: they have no pHash."""
    good = png_bytes(64, 48, (200, 30, 30))
    cut = png_bytes(64, 48, (30, 200, 30))[:60]
    files = {"0.png": cut, "1.png": good, "2.svg": b"<svg/>"}
    files |= {k: v for k, v in plot_pair(FIVE_LINES).sample.files.items() if k in ("py", "json")}
    signed = signatures.sign(SampleView(Sample("k", files)), SignatureOptions(images=True))
    assert signed.image_phash == (signatures.phash(good),)


def test_lines_inside_multiline_strings_count_and_comments_do_not() -> None:
    code = (
        "# setup\nimport numpy as np\n\n   # indented comment\n"
        "x = 1  # trailing comment counts\n'''doc\n# inside a string: counts\n\n'''\n"
        "y = (1,\n     # a comment inside brackets\n     2)\n"
    )
    # import, x, the string's 4 lines (its blank line too), and the two lines of y
    assert code_lines(code) == 8


def test_line_rule_falls_back_on_code_python_cannot_tokenize() -> None:
    assert code_lines("print 'py2 is fine'\nx = '''never closed\n# counted plainly\n") == 2
    assert code_lines("a\x0cb = 1\x1cc\n") == 1  # form feeds and \x1c do not end lines


PLAIN_LINES = (
    "import numpy as np", "x = f(1)  # trailing", "# a comment", "   # indented comment", "",
    "   ", "\x0c", "\x0c# after a form feed", "y = (1,", "     2)", "z = [", "  # in brackets",
    "]", "def f(a):", "    return a", "  bad_indent = 1", "%matplotlib inline", "!pip install x",
    "s = 'open", 'print "py2"', "a = 1; b = 2", "\t\tx", "if x:", "x = 1 \\ 2", "@decorator",
    "t = 'a' 'b'", "u = '# not a comment'",
)  # fmt: skip


def test_code_lines_skips_the_tokenizer_only_where_it_cannot_differ() -> None:
    rng = random.Random(3)
    tokenized_and_agreed = 0
    for _ in range(3000):
        lines = rng.choices(PLAIN_LINES, k=rng.randrange(1, 14))
        code = rng.choice(["\n", "\r\n", "\r"]).join(lines)
        assert not code_image._NOT_PLAIN.search(code)
        tokenized = code_image.tokenized_code_lines(code)
        assert tokenized in (None, code_lines(code)), code
        tokenized_and_agreed += tokenized is not None
    assert tokenized_and_agreed > 500
    for special in ("x = '''a\n\n'''", "x = 1 + \\\n 2", "café = 1", "a = 1\x0b"):
        assert code_image._NOT_PLAIN.search(special)


def cell_and_context(cell: str, context: str) -> SampleView:
    code = f"{context}\n\n{cell}\n"
    return plot_pair(code, cell_code_start=len(code) - len(cell) - 1)


def test_lines_are_counted_in_the_producing_cell_by_default() -> None:
    """DeepSeek-VL's rule asks for 5 lines of code in the cell that drew the plot: with the
    notebook's earlier cells counted too, almost every plot would pass."""
    short = cell_and_context("plt.plot(x)\nplt.show()", FIVE_LINES)
    drop = code_image.check(short, RULE)
    assert isinstance(drop, Drop) and drop.reason == "too_few_code_lines"
    assert "2 code lines in the producing cell" in drop.detail
    assert code_image.check(short, code_image.Options(count_lines_in="context")) == {
        "code_lines": 7
    }
    assert code_image.check(cell_and_context(FIVE_LINES, "x = 1"), RULE) == {"code_lines": 5}
