"""The browser-free parts: archive guards, OPF/spine parsing, chapter markup, language checks,
HTML normalisation and the blank-page measure."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import orjson
import pytest
from PIL import Image

from tests.ebooks.books import container, en_book, opf, png, xhtml, zh_book, zip_book
from vlpipe.filters.stage import apply_filters
from vlpipe.recipe import ArchiveLimits
from vlpipe.schema import Outcome, Sample
from vlpipe.sources.ebooks import EbooksRecipe
from vlpipe.sources.ebooks.book import (
    BrokenSpine,
    Chapter,
    InvalidPackage,
    NotAnEpub,
    UnsafeArchive,
    chapter_markup,
    is_book_folder,
    member_path,
    natural_key,
    open_book,
    package_path,
    parse_package,
    safe_extract,
    tidy_cjk_spaces,
)
from vlpipe.sources.websight.normalise import LocalAssets, normalise_html, normalise_page

LIMITS = ArchiveLimits()
XHTML_BODY = '<html xmlns="http://www.w3.org/1999/xhtml"><body><p>{}</p></body></html>'


def extract(data: bytes, dest: Path, limits: ArchiveLimits = LIMITS) -> Path:
    safe_extract(data, dest, limits)
    return dest


@pytest.mark.parametrize(
    "name", ["../evil.txt", "a/../../evil", "/etc/passwd", "C:/x", "a\\..\\b", "./..", ""]
)
def test_member_names_that_escape_are_refused(name: str) -> None:
    with pytest.raises(UnsafeArchive):
        member_path(name)


def test_member_names_are_normalised() -> None:
    assert member_path("OEBPS//text/./ch1.xhtml") == "OEBPS/text/ch1.xhtml"


def test_zip_slip_writes_nothing(tmp_path: Path) -> None:
    data = zip_book({"META-INF/container.xml": container(), "../../escaped.txt": "x"})
    dest = tmp_path / "book"
    dest.mkdir()
    with pytest.raises(UnsafeArchive, match="path traversal"):
        extract(data, dest)
    assert not list(tmp_path.rglob("escaped.txt"))
    assert not list(dest.iterdir())


def test_symlink_member_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("OEBPS/link")
        link.external_attr = (0o120777 << 16) | 0x20
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(UnsafeArchive, match="symbolic link"):
        extract(buffer.getvalue(), tmp_path)


def test_zip_bomb_ratio_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("OEBPS/zeros.xhtml", b"\0" * (8 * 2**20))
    with pytest.raises(UnsafeArchive, match="compression ratio"):
        extract(buffer.getvalue(), tmp_path)


def test_declared_size_count_and_member_limits(tmp_path: Path) -> None:
    data = zip_book({f"OEBPS/f{n}.txt": "y" * 1000 for n in range(5)})
    with pytest.raises(UnsafeArchive, match="more than 3 members"):
        extract(data, tmp_path / "a", ArchiveLimits(max_members=3))
    with pytest.raises(UnsafeArchive, match="declared size"):
        extract(data, tmp_path / "b", ArchiveLimits(max_unpacked_bytes=2500))
    with pytest.raises(UnsafeArchive, match="declares 1000 bytes"):
        extract(data, tmp_path / "c", ArchiveLimits(max_member_bytes=999))


def test_member_inflating_past_its_declared_size_is_refused(tmp_path: Path) -> None:
    """Headers that understate a member's size: inflating stops at the declared size, so the
    extra bytes never land, and the member then fails its CRC."""
    data = bytearray(zip_book({"OEBPS/a.txt": "z" * 5000}))
    struct.pack_into("<I", data, data.rfind(b"PK\x01\x02") + 24, 100)  # central directory
    struct.pack_into("<I", data, data.rfind(b"PK\x03\x04") + 22, 100)  # local header
    with pytest.raises(InvalidPackage, match="cannot be read"):
        extract(bytes(data), tmp_path)
    assert (tmp_path / "OEBPS" / "a.txt").stat().st_size <= 100


def test_image_bomb_inside_a_book_is_refused(tmp_path: Path) -> None:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 2, 0, 0, 0)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
    data = zip_book({"OEBPS/images/bomb.png": bomb + chunk(b"IEND", b"")})
    with pytest.raises(UnsafeArchive, match="bomb"):
        extract(data, tmp_path)


def test_not_a_zip() -> None:
    with pytest.raises(NotAnEpub):
        safe_extract(b"%PDF-1.7 not a zip", Path("/nonexistent"), LIMITS)


def test_billion_laughs_opf_fails_cleanly() -> None:
    lol = (
        '<?xml version="1.0"?><!DOCTYPE package [<!ENTITY a "lol">'
        + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
        + ']><package xmlns="http://www.idpf.org/2007/opf"><metadata>&j;</metadata></package>'
    )
    with pytest.raises(InvalidPackage, match="forbidden XML"):
        parse_package(lol.encode(), "OEBPS/content.opf")


def test_malformed_opf_and_container() -> None:
    with pytest.raises(InvalidPackage, match="not well-formed"):
        parse_package(b"<package><manifest>", "content.opf")
    with pytest.raises(InvalidPackage, match="no manifest or no spine"):
        parse_package(b'<package xmlns="http://www.idpf.org/2007/opf"/>', "content.opf")
    with pytest.raises(InvalidPackage, match="no rootfile"):
        package_path(b"<container><rootfiles/></container>")


def test_spine_order_metadata_and_skips() -> None:
    text = opf(
        ["text/a.xhtml", "text/b%20c.xhtml", "text/notes.xhtml"],
        title="T",
        lang="zh-CN",
        version="2.0",
        extra_items={"img/cover.svg": "image/svg+xml"},
        spine=["c1", "x0", "c0"],
    ).replace('<itemref idref="c0"/>', '<itemref idref="c0"/><itemref idref="c2" linear="no"/>')
    info, order, skipped = parse_package(text.encode(), "OEBPS/content.opf")
    assert [path for path, _ in order] == ["OEBPS/text/b c.xhtml", "OEBPS/text/a.xhtml"]
    assert skipped == 2  # the SVG spine item and the non-linear notes
    assert (info.title, info.language, info.rights, info.epub_version) == (
        "T",
        "zh-CN",
        "Public domain",
        "2.0",
    )
    assert info.identifiers == ("urn:vlpipe:test:T",)


def test_spine_errors() -> None:
    bad_ref = opf(["a.xhtml"], title="T", lang="en", spine=["nope"])
    with pytest.raises(BrokenSpine, match="not in the manifest"):
        parse_package(bad_ref.encode(), "content.opf")
    outside = opf(["../../../etc/passwd"], title="T", lang="en")
    with pytest.raises(BrokenSpine, match="outside the book"):
        parse_package(outside.encode(), "OEBPS/content.opf")


def test_missing_spine_file(tmp_path: Path) -> None:
    data = zip_book(
        {
            "META-INF/container.xml": container(),
            "OEBPS/content.opf": opf(["ch1.xhtml", "ch2.xhtml"], title="T", lang="en"),
            "OEBPS/ch1.xhtml": xhtml("1", "<p>one</p>"),
        }
    )
    with pytest.raises(BrokenSpine, match=r"OEBPS/ch2\.xhtml is missing"):
        open_book(extract(data, tmp_path))


def test_real_books_open(tmp_path: Path) -> None:
    en = open_book(extract(en_book(paragraphs=2, font=True), tmp_path / "en"))
    assert [c.path for c in en.chapters][-1] == "OEBPS/text/ch3.xhtml"
    assert (tmp_path / "en" / "OEBPS" / "fonts" / "BookMono.ttf").is_file()
    zh = open_book(extract(zh_book(paragraphs=2), tmp_path / "zh"))
    assert zh.info.language == "zh-CN" and zh.info.epub_version == "2.0"


def test_folder_book_natural_order(tmp_path: Path) -> None:
    for name in ("ch10.html", "ch2.html", "ch1.html", "notes.txt"):
        (tmp_path / name).write_text("<p>x</p>")
    assert is_book_folder(tmp_path)
    assert [c.path for c in open_book(tmp_path).chapters] == ["ch1.html", "ch2.html", "ch10.html"]
    assert sorted(["b2", "b10", "a"], key=natural_key) == ["a", "b2", "b10"]
    (tmp_path / "sub").mkdir()
    assert not is_book_folder(tmp_path / "sub")


def test_xhtml_is_served_as_xhtml_with_entities_as_references() -> None:
    page = xhtml("t", "<p>a&nbsp;b &amp; c</p>").encode()
    markup = chapter_markup(page, Chapter("OEBPS/ch.xhtml", True))
    assert markup.entry == "OEBPS/ch.xhtml" and markup.fallback is None
    assert "a&#160;b &amp; c" in markup.text


def test_malformed_xhtml_falls_back_to_html() -> None:
    page = XHTML_BODY.format("unclosed<br>").encode()
    markup = chapter_markup(page, Chapter("OEBPS/ch.xhtml", True))
    assert markup.entry == "OEBPS/ch.xhtml.html"
    assert markup.fallback is not None and "not well-formed" in markup.fallback


def test_latin1_declaration_is_decoded_and_rewritten() -> None:
    page = '<?xml version="1.0" encoding="iso-8859-1"?>' + XHTML_BODY.format("café")
    markup = chapter_markup(page.encode("latin-1"), Chapter("c.xhtml", True))
    assert "café" in markup.text and 'encoding="utf-8"' in markup.text


def test_cjk_line_break_spaces_are_removed() -> None:
    assert tidy_cjk_spaces("灯塔 年记 and more 文字") == "灯塔年记 and more 文字"


def page_outcome(text: str, image: bytes) -> Outcome:
    meta = {"kind": "image_text", "target": "txt", "source": "ebooks"}
    files = {"png": image, "txt": text.encode(), "json": orjson.dumps(meta)}
    return Outcome("book", (Sample("k_0000", files),))


def test_blank_image_only_and_near_blank_pages_are_dropped_by_the_ebook_filters() -> None:
    filters = EbooksRecipe().filters
    blank = _png(Image.new("RGB", (512, 512), "white"))
    picture = png(512, 512)

    def verdict(text: str, image: bytes) -> tuple[str, str] | None:
        outcome = apply_filters(page_outcome(text, image), filters)
        return (outcome.drop.filter, outcome.drop.reason) if outcome.drop else None

    assert verdict("", blank) == ("image", "near_uniform")
    assert verdict(" \n", picture) == ("text_length", "empty")
    assert verdict("Chapter 1", picture) == ("text_length", "too_short")
    assert verdict("x" * 40, picture) is None


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_html_normalisation() -> None:
    page = (
        '<html><head><base href="https://x.org/"><link rel="stylesheet" href="https://cdn/t.css">'
        '<meta http-equiv="refresh" content="0;url=https://x.org">'
        '<script src="https://cdn/a.js">ignored()</script><script>let a = "<b>";</script>'
        "<style>@import url('https://f/x.css'); .h{background:url(\"//img/a.png\")}"
        ".d{background:url(data:image/png;base64,AAAA)}</style></head>"
        '<body style="background-image:url(http://i/bg.jpg)">'
        '<img src="https://i/a.jpg" srcset="https://i/a2.jpg 2x" alt="A &amp; B">'
        '<img src="data:image/png;base64,AAAA"><a href="https://x.org/p">p</a>'
        '<a href="javascript:alert(1)">j</a><a href="mailto:a@b.c">m</a><a href="#top">t</a>'
        '<a href="rel/page.html">r</a><iframe src="https://x.org/embed"></iframe>'
        '<form action="//forms.x.org/s"><input type="image" src="/btn.png"></form>'
        "<!-- note --><p>caf&eacute; &#233;</p></body></html>"
    )
    out, changes = normalise_html(page)
    for gone in ("https://", "//img", "//forms", "http://", "<base", "<link", "refresh", "a.js"):
        assert gone not in out
    assert "ignored()" not in out and 'let a = "<b>";' in out
    assert out.count('src="placeholder.png"') == 2 and 'srcset="placeholder.png"' in out
    assert "url(placeholder.png)" in out and "url(data:image/png;base64,AAAA)" in out
    assert 'alt="A &amp; B"' in out and 'src="data:image/png;base64,AAAA"' in out
    assert 'href="mailto:a@b.c"' in out and 'href="#top"' in out and 'href="rel/page.html"' in out
    assert out.count('href="#"') == 2 and 'action="#"' in out and 'src="about:blank"' in out
    assert "<!-- note --><p>caf&eacute; &#233;</p>" in out
    assert changes == {
        "base_removed": 1,
        "css_imports_removed": 1,
        "css_urls_replaced": 2,
        "embeds_blanked": 1,
        "images_replaced": 3,
        "link_removed": 1,
        "links_replaced": 3,
        "meta_removed": 1,
        "script_removed": 1,
    }
    assert normalise_html(out)[0] == out  # idempotent


def test_local_assets_keep_the_cdn_link_in_the_target_only() -> None:
    tw = "https://cdn.jsdelivr.net/npm/tailwindcss@2.2.19/dist/tailwind.min.css"
    assets = LocalAssets.from_urls(
        {tw: "local-assets/0/tw.css", "https://gone.example/x.css": None, "//cdn.x/lib/*": "l.js"}
    )
    link = f"<link href='{tw}' rel=stylesheet integrity=\"sha384-x\" crossorigin=anonymous>"
    page = (
        f"<html>{link}<link rel=stylesheet href=https://gone.example/x.css>"
        '<link rel="stylesheet" href="https://other.example/y.css"><link rel="icon" href="/i.png">'
        '<script src="HTTP://CDN.X/lib/a.js">1</script><body class="bg-blue-500">hi</body></html>'
    )
    result = normalise_page(page, assets)
    assert result.html == (
        f'<html>{link}<script src="HTTP://CDN.X/lib/a.js">1</script>'
        '<body class="bg-blue-500">hi</body></html>'
    )
    assert result.rendered == (
        '<html><link href="local-assets/0/tw.css" rel="stylesheet">'
        '<script src="l.js">1</script><body class="bg-blue-500">hi</body></html>'
    )
    assert result.changes == {"assets_local": 2, "assets_missing": 1, "link_removed": 3}
    assert result.unstyled  # two stylesheets could not be served
    assert normalise_page(result.html, assets).html == result.html  # idempotent
    assert normalise_page(page).html == normalise_html(page)[0]  # no map: everything removed
    assert not normalise_page(f"<link rel=stylesheet href={tw}>", assets).unstyled
