"""HTML rendering with real Chromium: pagination with exact per-page text, CJK glyphs, modes,
limits, and recovery from hung or killed browsers."""

from __future__ import annotations

import io
import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from tests.renderers._render_helpers import image
from vlpipe.errors import ConfigError
from vlpipe.renderers import (
    BrowserConfig,
    BrowserCrashed,
    BrowserPool,
    HtmlDocument,
    PageGeometry,
    RenderError,
    RenderTimeout,
)

WORDS = [f"w{i:04d}" for i in range(900)]


def _blank(img, box) -> bool:
    return img.crop(box).getextrema() == ((255, 255), (255, 255), (255, 255))


def test_paginated_pages_hold_every_line_once_and_no_line_is_cut(pool: BrowserPool) -> None:
    paragraphs = [" ".join(WORDS[i : i + 60]) for i in range(0, len(WORDS), 60)]
    html = "<h1>Heading</h1>" + "".join(f"<p>{p}</p>" for p in paragraphs)
    pages = pool.render(HtmlDocument(html), "paginated")
    g = pool.config.geometry
    assert len(pages) >= 3
    tokens = [t for p in pages for t in p.text.split()]
    assert tokens == ["Heading", *WORDS]
    assert pages[0].text.startswith("Heading\n\nw0000 w0001")
    assert pages[1].text.count("\n\n") >= 1  # paragraph breaks survive
    for page in pages:
        img = image(page.png)
        assert img.size == (g.width, g.height) == (page.width, page.height)
        # nothing is drawn in the top and bottom margins: lines were not cut across the edge
        assert _blank(img, (0, 0, g.width, g.margin_top))
        assert _blank(img, (0, g.height - g.margin_bottom, g.width, g.height))
        assert not _blank(img, (0, g.margin_top, g.width, g.height - g.margin_bottom))


def test_chinese_text_keeps_no_spurious_spaces(pool: BrowserPool) -> None:
    sentence = "视觉语言模型需要大量高质量的训练数据，本段文字用于检验分页与换行。"
    text = sentence * 90
    pages = pool.render(HtmlDocument(f"<p>{text}</p><p>第二段。</p>"), "paginated")
    assert len(pages) >= 2
    assert all(" " not in p.text for p in pages)
    assert "".join(p.text for p in pages) == text + "\n\n第二段。"


def test_tables_lists_and_line_breaks(pool: BrowserPool) -> None:
    html = (
        "<h2>Stats</h2><table><tr><td>a1</td><td>b1</td></tr><tr><td>a2</td><td>b2</td>"
        "</tr></table><ul><li>one</li><li>two</li></ul><p>first<br>second <b>bold</b> "
        "<i>it</i></p><p style='display:none'>hidden</p><pre>x = 1\n  y = 2</pre>"
    )
    [page] = pool.render(HtmlDocument(html), "paginated")
    assert page.text == (
        "Stats\n\na1\tb1\na2\tb2\n\none\ntwo\n\nfirst\nsecond bold it\n\nx = 1\n  y = 2"
    )


def test_cjk_renders_real_glyphs_not_tofu(pool: BrowserPool) -> None:
    chars = ["中", "文", "字", "語", "汉", "\U0010fffd", "\U0010fffc"]  # last two: no font has them
    cells = "".join(
        f"<div style='position:absolute;left:{20 + 90 * i}px;top:20px;width:80px;height:80px;"
        f"font:64px/80px sans-serif'>{c}</div>"
        for i, c in enumerate(chars)
    )
    [page] = pool.render(HtmlDocument(f"<body style='margin:0'>{cells}</body>"), "viewport")
    img = image(page.png)
    crops = [img.crop((20 + 90 * i, 20, 100 + 90 * i, 100)) for i in range(len(chars))]
    ink = [c.convert("L").histogram()[:128] for c in crops]
    assert all(sum(h) > 150 for h in ink), ink  # every cell draws something (tofu is a box)
    assert ImageChops.difference(crops[5], crops[6]).getbbox() is None  # all tofu looks alike
    cjk = crops[:5]
    for i in range(5):
        for j in range(i + 1, 5):
            assert ImageChops.difference(cjk[i], cjk[j]).getbbox() is not None, (i, j)
        # and none of them looks like the rendering of a code point without a glyph
        assert ImageChops.difference(cjk[i], crops[5]).getbbox() is not None
    assert page.text.split("\n\n") == chars


def test_viewport_and_full_page_modes(pool: BrowserPool) -> None:
    html = (
        "<body style='margin:0'>"
        + "".join(f"<div style='height:100px'>row {i}</div>" for i in range(30))
        + "</body>"
    )
    [view] = pool.render(HtmlDocument(html), "viewport")
    assert (view.width, view.height) == (1024, 1024)
    # row 10 occupies y = 1000…1100: its text line (about 21 px tall) is still in the viewport
    assert view.text.split("\n\n") == [f"row {i}" for i in range(11)]
    [full] = pool.render(HtmlDocument(html), "full_page")
    assert image(full.png).size == (1024, 3000)
    assert full.text.split("\n\n") == [f"row {i}" for i in range(30)]


def test_folder_files_load_but_nothing_outside(pool: BrowserPool, tmp_path: Path) -> None:
    site, outside = tmp_path / "book", tmp_path / "private"
    site.mkdir()
    outside.mkdir()
    red, blue = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (4, 4), (255, 0, 0)).save(red, "PNG")
    Image.new("RGB", (4, 4), (0, 0, 255)).save(blue, "PNG")
    (site / "red.png").write_bytes(red.getvalue())
    (outside / "blue.png").write_bytes(blue.getvalue())
    (site / "leak.png").symlink_to(outside / "blue.png")
    style = "style='width:100px;height:100px;display:block'"
    html = (
        f"<body style='margin:0'><img src='red.png' {style}><img src='../private/blue.png' "
        f"{style}><img src='leak.png' {style}><img src='file://{outside}/blue.png' {style}>"
    )
    (site / "index.html").write_text(html)
    [page] = pool.render(HtmlDocument.from_file(site / "index.html"), "viewport")
    img = image(page.png)
    assert img.getpixel((50, 50)) == (255, 0, 0)
    colours = {img.getpixel((50, 150 + 100 * k)) for k in range(3)}
    assert (0, 0, 255) not in colours


def test_too_tall_or_too_many_pages_fail_cleanly() -> None:
    cfg = BrowserConfig(max_height_px=20000, max_pages=3, geometry=PageGeometry(height=512))
    tall = HtmlDocument("<div style='height:50000px'>tall</div>")
    long = HtmlDocument("<p>" + " ".join(WORDS * 3) + "</p>")
    ok = HtmlDocument("<p>fine</p>")
    with BrowserPool(cfg) as pool:
        results = pool.render_many([tall, long, ok])
    assert isinstance(results[0], RenderError)
    assert re.fullmatch(r"document is 500\d\d px tall, over the 20000 px limit", str(results[0]))
    assert isinstance(results[1], RenderError) and "over the 3-page limit" in str(results[1])
    assert not isinstance(results[2], Exception) and results[2][0].text == "fine"


@pytest.mark.slow
def test_hung_scripts_fail_only_their_document() -> None:
    cfg = BrowserConfig(browsers=1, load_timeout_s=2, render_timeout_s=4)
    docs = [
        HtmlDocument("<p>before</p>"),
        HtmlDocument("<p>x</p><script>while(true){}</script>"),  # hangs while loading
        HtmlDocument("<p>middle</p>"),
        # loads, then hangs the renderer as soon as the renderer touches the DOM; both hangs block
        # every CDP call, so only the watchdog can end them
        HtmlDocument(
            "<p>y</p><script>new MutationObserver(() => { while (true) {} })"
            ".observe(document.documentElement, {childList: true, subtree: true})"
            "</script>"
        ),
        HtmlDocument("<p>after</p>"),
    ]
    with BrowserPool(cfg) as pool:
        first_pid = pool.browser_pids()
        started = time.monotonic()
        results = pool.render_many(docs, "paginated")
        elapsed = time.monotonic() - started
        assert pool.browser_pids() != first_pid  # the hung browser was replaced
    assert [r[0].text for r in (results[0], results[2], results[4])] == [
        "before",
        "middle",
        "after",
    ]
    for hung in (results[1], results[3]):
        assert isinstance(hung, RenderTimeout)
        assert str(hung) == "rendering exceeded 4s; browser restarted"
    assert elapsed < 25


@pytest.mark.slow
def test_killed_browser_is_restarted_mid_batch() -> None:
    hang = HtmlDocument(
        "<p>z</p><script>onload = () => setTimeout(() => { while (true) {} }, 0)</script>"
    )
    with BrowserPool(BrowserConfig(browsers=1, render_timeout_s=60)) as pool:
        [pid] = pool.browser_pids()
        killer = threading.Timer(1.5, os.killpg, (pid, signal.SIGKILL))
        killer.start()
        results = pool.render_many([hang, HtmlDocument("<p>still here</p>")])
        killer.join()
        assert pool.browser_pids() != [pid]
    assert isinstance(results[0], BrowserCrashed)
    assert results[1][0].text == "still here"


def test_missing_chromium_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="apt-get install chromium"):
        BrowserPool(BrowserConfig(chromium=str(tmp_path / "no-chromium"))).start()


def test_scripts_off_documents_still_loading_render_without_their_scripts(
    pool: BrowserPool, tmp_path: Path
) -> None:
    # Regression: the load wait used to be an in-page listener plus setTimeout, callbacks that
    # never run when page scripts are disabled, so any document still loading when measuring
    # started (a local image is enough) hung until the render timeout.
    dot = io.BytesIO()
    Image.new("RGB", (40, 40), (0, 160, 0)).save(dot, "PNG")
    (tmp_path / "dot.png").write_bytes(dot.getvalue())
    # One image, fetched 24 times (each URL is a request of its own): still loading for sure
    # when measuring starts.
    imgs = "".join(f"<img src='dot.png?{i}' style='width:40px;height:40px'>" for i in range(24))
    html = (
        f"<p>Before the picture.</p>{imgs}"
        "<script>document.querySelector('p').textContent = 'CHANGED';"
        "document.body.insertAdjacentHTML('beforeend', '<p>SCRIPT RAN</p>')</script>"
        "<noscript><p>Scripts are off.</p></noscript><p>After the picture.</p>"
    )
    (tmp_path / "index.html").write_text(html)
    doc = HtmlDocument.from_file(tmp_path / "index.html")
    cfg = BrowserConfig(javascript=False, load_timeout_s=10, render_timeout_s=15)
    with BrowserPool(cfg) as scripts_off:
        started = time.monotonic()
        pages = scripts_off.render_many([doc, doc], "paginated")
        elapsed = time.monotonic() - started
    assert elapsed < 8  # two documents, far from the load and render timeouts
    for result in pages:
        assert not isinstance(result, Exception), result
        [page] = result
        # the script did not run; <noscript> content is rendered, so it is in the text
        assert page.text == "Before the picture.\n\nScripts are off.\n\nAfter the picture."
        colours = image(page.png).getcolors(1 << 20)
        assert colours is not None and any(c == (0, 160, 0) for _, c in colours)  # image loaded
    # the same document with scripts on: the script runs and <noscript> is neither shown nor read
    [page] = pool.render(doc, "paginated")
    assert page.text == "CHANGED\n\nSCRIPT RAN\n\nAfter the picture."
