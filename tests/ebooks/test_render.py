"""Books and pages through real Chromium: page text matches the page image (OCR), keys and
metadata, drops, bad input in a build, and the WebSight pairs."""

from __future__ import annotations

import dataclasses
import io
import re
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
from PIL import Image, ImageChops
from rich.console import Console

from tests.ebooks.books import (
    container,
    en_book,
    en_paragraphs,
    opf,
    websight_rows,
    xhtml,
    zh_book,
    zip_book,
)
from vlpipe.filters.stage import apply_filters
from vlpipe.manifests import ledger
from vlpipe.pipelines.build import run_build
from vlpipe.recipe import FilterStep, Recipe, load_recipe
from vlpipe.renderers import BrowserPool
from vlpipe.schema import Document, Outcome, sample_key
from vlpipe.sources.ebooks import DEFAULT_TEMPLATE
from vlpipe.sources.ebooks import step as ebooks
from vlpipe.sources.registry import StepContext, source_spec
from vlpipe.sources.websight import TAILWIND_2_2_19_FILE
from vlpipe.sources.websight import step as websight


def recipe(source: str, **options: object) -> Recipe:
    base = load_recipe(source)
    data = base.model_dump()
    data[source].update(options)
    return type(base).model_validate(data)


# The page every book had before templates (test_templates.py covers the others).
EBOOKS = recipe("ebooks", render_timeout_s=20, load_timeout_s=5, templates=[DEFAULT_TEMPLATE])


@pytest.fixture(scope="module")
def book_pool() -> Iterator[BrowserPool]:
    with BrowserPool(ebooks.browser_config(EBOOKS.ebooks)) as pool:
        yield pool


def render_book(pool: BrowserPool, data: bytes, name: str = "book.epub") -> Outcome:
    return ebooks.book_outcome(pool, Document(name, data, {"path": name}), EBOOKS)


def meta(sample_files: dict[str, bytes]) -> dict[str, object]:
    return orjson.loads(sample_files["json"])


def ocr(png: bytes, box: tuple[int, int, int, int], lang: str) -> str:
    crop = Image.open(io.BytesIO(png)).crop(box)
    buffer = io.BytesIO()
    crop.resize((crop.width * 2, crop.height * 2)).save(
        buffer, format="PNG"
    )  # tesseract likes ~30px
    result = subprocess.run(
        ["tesseract", "stdin", "stdout", "-l", lang, "--psm", "6"],
        input=buffer.getvalue(),
        capture_output=True,
        check=True,
    )
    return result.stdout.decode()


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9]+", text)


@pytest.mark.slow
def test_english_pages_pair_each_image_with_its_own_text(book_pool: BrowserPool) -> None:
    raw = render_book(book_pool, en_book(paragraphs=30, font=True))
    # the cover is only an image: page 0, paired with no text (dropping it is the filters' job)
    cover, *pages = raw.samples
    assert cover.key == sample_key("book.epub", 0) and cover.files["txt"] == b""
    outcome = apply_filters(dataclasses.replace(raw, samples=tuple(pages)), EBOOKS.filters)
    assert outcome.status == "kept" and not outcome.dropped
    keys = [s.key for s in outcome.samples]
    assert keys == [sample_key("book.epub", n) for n in range(1, len(keys) + 1)]
    texts = [s.files["txt"].decode() for s in outcome.samples]
    joined = "\n\n".join(texts)
    expected = [p.split(".")[0] for p in en_paragraphs(35)]
    found = re.findall(r"Paragraph \d+", joined)
    assert found == expected  # every paragraph once, in order, none lost at a page break
    assert "Figure 1. The lamp room at night." in joined
    assert "1. With a soft cloth and vinegar." in joined
    first = meta(outcome.samples[0].files)
    assert first["task"] == "ocr_page" and first["target"] == "txt" and first["lang"] == "en"
    assert first["book"]["title"] == "The Lighthouse Almanac"  # type: ignore[index]
    assert first["license"] == "Public domain" and first["lang_mismatch"] is False
    # OCR the first and last lines of a full page: they are the first and last words of its text
    page = next(s for s in outcome.samples if meta(s.files)["page_in_chapter"] == 1)
    text = page.files["txt"].decode()
    g = EBOOKS.ebooks.templates[0]
    top = ocr(page.files["png"], (0, g.margin_top - 8, g.width, g.margin_top + 36), "eng")
    assert words(top)[:3] == words(text)[:3]
    lines = [ln for ln in text.splitlines() if ln.strip()]
    bottom_edge = g.height - g.margin_bottom
    bottom = ocr(page.files["png"], (0, bottom_edge - 90, g.width, bottom_edge + 4), "eng")
    assert words(bottom)[-2:] == words(lines[-1])[-2:]


@pytest.mark.slow
def test_chinese_pages_cjk_glyphs_and_no_spurious_spaces(book_pool: BrowserPool) -> None:
    outcome = apply_filters(
        render_book(book_pool, zh_book(paragraphs=30), "zh.epub"), EBOOKS.filters
    )
    assert outcome.status == "kept" and len(outcome.samples) >= 3
    text = outcome.samples[0].files["txt"].decode()
    assert text.startswith("第一章\u3000灯塔\n\n第1段。")
    assert not re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", text)
    first = meta(outcome.samples[0].files)
    assert (first["lang"], first["lang_declared"], first["lang_mismatch"]) == ("zh", "zh-cn", False)
    g = EBOOKS.ebooks.templates[0]
    heading = ocr(outcome.samples[0].files["png"], (0, g.margin_top, g.width, 160), "chi_sim")
    assert "第一章" in heading.replace(" ", "")  # real glyphs, not tofu boxes


def test_embedded_font_is_used(book_pool: BrowserPool, tmp_path: Path) -> None:
    """The chapter set in the book's own font renders differently once the font file is gone."""
    with_font = render_book(book_pool, en_book(paragraphs=1, font=True))
    data = en_book(paragraphs=1, font=True)
    stripped = zip_book(_members_without(data, "OEBPS/fonts/BookMono.ttf"))
    without = render_book(book_pool, stripped)
    last_with, last_without = with_font.samples[-1], without.samples[-1]
    assert meta(last_with.files)["chapter_path"] == "OEBPS/text/ch3.xhtml"
    assert last_with.files["txt"] == last_without.files["txt"]
    a = Image.open(io.BytesIO(last_with.files["png"])).convert("L")
    b = Image.open(io.BytesIO(last_without.files["png"])).convert("L")
    assert ImageChops.difference(a, b).getbbox() is not None


def _members_without(data: bytes, name: str) -> dict[str, bytes | str]:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {
            i.filename: archive.read(i)
            for i in archive.infolist()
            if i.filename not in (name, "mimetype")
        }


def test_declared_language_contradicted_is_flagged_or_dropped(book_pool: BrowserPool) -> None:
    body = "<p>" + " ".join(en_paragraphs(2)) + "</p>"
    members: dict[str, bytes | str] = {
        "META-INF/container.xml": container(),
        "OEBPS/content.opf": opf(["c.xhtml"], title="Mislabelled", lang="zh"),
        "OEBPS/c.xhtml": xhtml("c", body, css="none.css"),
    }
    outcome = render_book(book_pool, zip_book(members))
    assert meta(outcome.samples[0].files)["lang"] == "zh"  # as the book declares
    flagged = apply_filters(outcome, [FilterStep.model_validate("lang")])
    page = meta(flagged.samples[0].files)
    assert (page["lang"], page["lang_declared"], page["lang_mismatch"]) == ("en", "zh", True)
    dropping = FilterStep.model_validate({"lang": {"mismatch": "drop"}})
    dropped = apply_filters(outcome, [dropping])
    assert dropped.status == "dropped" and dropped.drop.reason == "lang_mismatch"  # type: ignore[union-attr]


def bad_books(folder: Path) -> None:
    good = xhtml("ok", "<p>" + en_paragraphs(1)[0] + "</p>", css="none.css")

    def book(chapters: dict[str, str], spine: list[str] | None = None) -> bytes:
        members: dict[str, bytes | str] = {"META-INF/container.xml": container()}
        members["OEBPS/content.opf"] = opf(list(chapters), title="B", lang="en", spine=spine)
        members |= {f"OEBPS/{name}": text for name, text in chapters.items()}
        return zip_book(members)

    (folder / "a_not_zip.epub").write_bytes(b"this is not a zip archive")
    missing = {"META-INF/container.xml": container(), "OEBPS/ch1.xhtml": good}
    missing["OEBPS/content.opf"] = opf(["ch1.xhtml", "ch9.xhtml"], title="B", lang="en")
    (folder / "b_missing_chapter.epub").write_bytes(zip_book(missing))
    (folder / "c_zip_slip.epub").write_bytes(
        zip_book({"META-INF/container.xml": container(), "../../../tmp/slip.txt": "x"})
    )
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><p>&b;</p>'
    )
    (folder / "d_laughs.epub").write_bytes(
        zip_book({"META-INF/container.xml": container(), "OEBPS/content.opf": laughs})
    )
    broken = '<html xmlns="http://www.w3.org/1999/xhtml"><body><p>' + en_paragraphs(1)[0]
    (folder / "e_broken_xhtml.epub").write_bytes(book({"ch1.xhtml": broken + "<br></body>"}))
    endless = xhtml("loop", "<script>while (true) {}</script><p>never</p>", css="none.css")
    (folder / "f_endless_script.epub").write_bytes(book({"ch1.xhtml": good, "ch2.xhtml": endless}))
    folder_book = folder / "g_folder_book"
    folder_book.mkdir()
    for n in (10, 2):
        para = en_paragraphs(1, start=n)[0]
        (folder_book / f"part{n}.html").write_text(f"<html><body><p>{para}</p></body></html>")


@pytest.mark.slow
def test_bad_input_becomes_ledger_rows_and_the_build_goes_on(tmp_path: Path) -> None:
    books = tmp_path / "books"
    books.mkdir()
    bad_books(books)
    config = recipe("ebooks", javascript=True, render_timeout_s=4, load_timeout_s=3)
    quiet = Console(file=io.StringIO())
    run_build(config, [str(books)], tmp_path / "out", "inline", console=quiet)
    rows = {
        r["doc_id"].split("/")[-1]: r for r in ledger.read_documents(tmp_path / "out").to_pylist()
    }
    assert len(rows) == 7
    assert rows["a_not_zip.epub"]["error_class"] == "NotAnEpub"
    assert rows["b_missing_chapter.epub"]["error_class"] == "BrokenSpine"
    assert "ch9.xhtml is missing" in rows["b_missing_chapter.epub"]["error"]
    assert rows["c_zip_slip.epub"]["error_class"] == "UnsafeArchive"
    assert not Path("/tmp/slip.txt").exists()
    assert rows["d_laughs.epub"]["error_class"] == "InvalidPackage"
    assert "forbidden XML" in rows["d_laughs.epub"]["error"]
    assert rows["e_broken_xhtml.epub"]["status"] == "kept"
    assert rows["f_endless_script.epub"]["status"] == "kept"  # chapter 1 survives chapter 2
    assert rows["g_folder_book"]["status"] == "kept"
    samples = ledger.read_samples(tmp_path / "out").to_pylist()
    timeout = [s for s in samples if s["reason"] == "chapter_failed"]
    assert len(timeout) == 1 and "RenderTimeout" in timeout[0]["detail"]
    members = _shard_members(tmp_path / "out")
    fallback = [m for m in members.values() if m.get("xhtml_fallback")]
    assert len(fallback) == 1 and "not well-formed" in fallback[0]["xhtml_fallback"]
    folder_pages = [m for m in members.values() if m["book"]["format"] == "folder"]
    assert [m["chapter_path"] for m in folder_pages] == ["part2.html", "part10.html"]


def _shard_members(out: Path) -> dict[str, dict[str, object]]:
    found = {}
    for shard in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.name.endswith(".json"):
                    found[member.name] = orjson.loads(tar.extractfile(member).read())  # type: ignore[union-attr]
    return found


def _shard_file(out: Path, name: str) -> bytes:
    for shard in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            if name in tar.getnames():
                return tar.extractfile(name).read()  # type: ignore[union-attr]
    raise KeyError(name)


# -- WebSight ------------------------------------------------------------------------------------


def test_websight_pairs_and_bad_pages(tmp_path: Path) -> None:
    pages = tmp_path / "pages"
    pages.mkdir()
    rows = websight_rows()
    (pages / "rows.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    (pages / "blank.html").write_text("<html><body></body></html>")
    (pages / "loop.html").write_text(
        "<html><body><p>x</p><script>while(1){}</script></body></html>"
    )
    tall = "<html><body>" + "".join(f"<p>line {n}</p>" for n in range(300)) + "</body></html>"
    (pages / "tall.html").write_text(tall)
    config = recipe(
        "websight", screenshot="full_page", max_height=1500, render_timeout_s=4, load_timeout_s=3
    )
    quiet = Console(file=io.StringIO())
    run_build(config, [str(pages)], tmp_path / "out", "inline", console=quiet)
    docs = {
        r["doc_id"].split("/")[-1]: r for r in ledger.read_documents(tmp_path / "out").to_pylist()
    }
    assert (docs["blank.html"]["filter"], docs["blank.html"]["reason"]) == ("image", "near_uniform")
    assert docs["loop.html"]["error_class"] == "RenderTimeout"
    row_ids = [f"pages/rows.jsonl#L{n}" for n in range(1, len(rows) + 1)]
    assert {docs[row_id.split("/")[-1]]["status"] for row_id in row_ids} == {"kept"}
    members = _shard_members(tmp_path / "out")
    tall_meta = next(m for m in members.values() if m["doc_id"].endswith("tall.html"))
    assert tall_meta["height"] == 1500 and tall_meta["cropped"] is True
    key = sample_key(row_ids[0], 0)
    html = _shard_file(tmp_path / "out", f"{key}.html").decode()
    image = Image.open(io.BytesIO(_shard_file(tmp_path / "out", f"{key}.png")))
    assert "https://" not in html and "placeholder.png" in html
    info = members[f"{key}.json"]
    assert info["task"] == "html_from_screenshot" and info["target"] == "html"
    assert info["origin"]["llm_generated_idea"] == "a seaside café landing page"  # type: ignore[index]
    assert image.size == (1024, min(1500, info["height"]))  # type: ignore[type-var]
    # the placeholder image is really served: the hero image area is its grey, not a broken icon
    assert (204, 204, 204) in {
        image.convert("RGB").getpixel((x, y)) for x in range(0, 400, 8) for y in range(200, 600, 8)
    }


TAILWIND_CDN = "https://cdn.jsdelivr.net/npm/tailwindcss@2.2.19/dist/tailwind.min.css"
BLUE_500 = (59, 130, 246)  # Tailwind 2's bg-blue-500, #3b82f6


def tailwind_page(css_url: str, extra_head: str = "") -> str:
    """A WebSight v0.2-style row: Tailwind 2.2.19 from a CDN, no other CSS."""
    return f"""<html>
<link href="{css_url}" rel="stylesheet">{extra_head}
<body class="bg-gray-100">
<header class="bg-blue-500 h-64 flex items-center justify-center">
<h1 class="text-white text-4xl font-bold">Harbour Lights Café</h1></header>
<main class="container mx-auto p-8"><p class="text-gray-700">Fresh fish, open daily.</p></main>
</body></html>"""


def render_pages(config: Recipe, pages: dict[str, str]) -> dict[str, Outcome]:
    with websight.open_step(config, StepContext(Path("unused"))) as step:
        return {
            name: step(Document(name, page, {"id": name}), config) for name, page in pages.items()
        }


def header_pixel(png: bytes) -> tuple[int, int, int]:
    return Image.open(io.BytesIO(png)).convert("RGB").getpixel((20, 20))  # type: ignore[return-value]


def test_websight_tailwind_cdn_is_served_locally() -> None:
    vendored = Path(sys.prefix) / TAILWIND_2_2_19_FILE
    assert vendored.is_file(), f"{vendored} missing: run `make assets`"
    config = recipe("websight", render_timeout_s=20, load_timeout_s=10)
    missing = recipe("websight", local_assets={TAILWIND_CDN: "/nonexistent/tailwind.min.css"})
    page = tailwind_page(TAILWIND_CDN)
    styled = render_pages(config, {"styled": page})["styled"]
    bare = render_pages(missing, {"bare": page})["bare"]  # a missing copy does not fail the build
    (sample,) = styled.samples
    assert header_pixel(sample.files["png"]) == BLUE_500
    assert sample.files["html"].decode() == page  # the target keeps the CDN link verbatim
    info = meta(sample.files)
    assert info["unstyled"] is False and info["normalised"] == {"assets_local": 1}
    (plain,) = bare.samples
    assert header_pixel(plain.files["png"]) != BLUE_500
    assert TAILWIND_CDN not in plain.files["html"].decode()  # removed: the target draws the image
    info = meta(plain.files)
    assert info["unstyled"] is True
    assert info["normalised"] == {"assets_missing": 1, "link_removed": 1}


class _Recorder(BaseHTTPRequestHandler):
    hits: list[str] = []  # noqa: RUF012 - one server per test

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "text/css")
        self.end_headers()
        self.wfile.write(b"body{background:red}")

    def log_message(self, *args: object) -> None:
        pass


def test_websight_local_assets_make_no_requests() -> None:
    """The mapped stylesheet's URL is a live local server: the page comes out styled and the
    server hears nothing, neither for it nor for the unmapped stylesheet and script."""
    _Recorder.hits = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        vendored = Path(sys.prefix) / TAILWIND_2_2_19_FILE
        config = recipe(
            "websight", local_assets={f"{base}/npm/*": str(vendored)}, render_timeout_s=20
        )
        extra = (
            f'<link rel="stylesheet" href="{base}/other.css"><script src="{base}/a.js"></script>'
        )
        page = tailwind_page(f"{base}/npm/tailwindcss@2.2.19/dist/tailwind.min.css", extra)
        (sample,) = render_pages(config, {"local": page})["local"].samples
        time.sleep(0.5)
        assert _Recorder.hits == []
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
    assert header_pixel(sample.files["png"]) == BLUE_500
    html = sample.files["html"].decode()
    assert f'href="{base}/npm/tailwindcss@2.2.19/dist/tailwind.min.css"' in html
    assert "other.css" not in html and "a.js" not in html
    assert meta(sample.files)["unstyled"] is True  # other.css could not be served


@pytest.mark.slow
@pytest.mark.parametrize("source", ["ebooks", "websight", "exams"])
def test_bundled_samples_build_the_same_inline_and_on_ray(
    tmp_path: Path, source: str, own_ray: None
) -> None:
    """The Ray path of a renderer source: each worker opens its own browser pool per unit."""
    quiet = Console(file=io.StringIO())
    samples = [str(source_spec(source).samples())]
    inline = run_build(load_recipe(source), samples, tmp_path / "inline", "inline", console=quiet)
    assert inline["kept"] == inline["documents"] > 0
    on_ray = run_build(load_recipe(source), samples, tmp_path / "ray", "ray", 2, console=quiet)
    assert on_ray["kept"] == inline["kept"]
    expected, built = _shard_members(tmp_path / "inline"), _shard_members(tmp_path / "ray")
    assert built == expected  # keys, texts and page metadata
    for shard in (tmp_path / "inline" / "shards").iterdir():
        assert (tmp_path / "ray" / "shards" / shard.name).read_bytes() == shard.read_bytes()
