"""One HTML page → an ``image_text`` sample, task ``html_from_screenshot`` (UI inverse rendering,
as DeepSeek-VL used WebSight): the screenshot of the normalised page and that page's HTML.

Rows follow WebSight's schema (the HTML in ``text``; other scalar columns such as
``llm_generated_idea`` are kept as origin), or loose ``.html`` files. The page is rendered with
nothing but itself, ``placeholder.png`` and the local copies of known CDN assets (recipe
``websight.local_assets``, e.g. Tailwind CSS 2.2.19, which WebSight v0.2 links from jsDelivr; see
``normalise``), so the HTML target reproduces the screenshot.
"""

from __future__ import annotations

import io
import logging
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache, partial
from pathlib import Path
from typing import Any

import orjson
from PIL import Image

from vlpipe.renderers import BrowserConfig, BrowserPool, HtmlDocument, PageGeometry
from vlpipe.schema import Document, Drop, Outcome, Sample, sample_key
from vlpipe.sources.registry import DocumentStep, StepContext
from vlpipe.sources.websight import WebsightOptions, WebsightRecipe
from vlpipe.sources.websight.normalise import (
    PLACEHOLDER,
    LocalAssets,
    decode_page,
    normalise_page,
)

SOURCE = "websight"
PLACEHOLDER_SIZE = (320, 200)
PLACEHOLDER_GREY = (204, 204, 204)
ASSET_DIR = "local-assets"

log = logging.getLogger(__name__)


def browser_config(options: WebsightOptions) -> BrowserConfig:
    geometry = PageGeometry(
        width=options.width, height=options.height, margin_x=0, margin_top=0, margin_bottom=0
    )
    return BrowserConfig(
        browsers=options.browsers,
        mode=options.screenshot,
        geometry=geometry,
        javascript=options.javascript,
        load_timeout_s=options.load_timeout_s,
        render_timeout_s=options.render_timeout_s,
    )


@cache
def placeholder_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", PLACEHOLDER_SIZE, PLACEHOLDER_GREY).save(buffer, format="PNG")
    return buffer.getvalue()


def asset_path(path: str) -> Path:
    """A ``local_assets`` file: absolute as written, relative under ``sys.prefix`` (the venv)."""
    return Path(sys.prefix) / Path(path).expanduser()


def install_local_assets(urls: dict[str, str], folder: Path) -> LocalAssets:
    """Copy each ``local_assets`` file into the page folder (under ``local-assets/N/``); a missing
    file is logged and its URL kept as missing, so pages linking it render without it."""
    copies: dict[Path, str | None] = {}
    served: dict[str, str | None] = {}
    for url, path in urls.items():
        source = asset_path(path)
        if source not in copies:
            if source.is_file():
                name = f"{ASSET_DIR}/{len(copies)}/{source.name}"
                (folder / name).parent.mkdir(parents=True)
                shutil.copyfile(source, folder / name)
                copies[source] = name
            else:
                log.warning("websight.local_assets: %s is missing (run `make assets`)", source)
                copies[source] = None
        served[url] = copies[source]
    return LocalAssets.from_urls(served)


@contextmanager
def open_step(recipe: WebsightRecipe, _: StepContext) -> Iterator[DocumentStep]:
    """One browser pool per work unit, and one private folder holding only the placeholder image and
    the local copies of known CDN assets, the only files a page may load."""
    with (
        tempfile.TemporaryDirectory(prefix="vlpipe-websight-") as folder,
        BrowserPool(browser_config(recipe.websight)) as pool,
    ):
        (Path(folder) / PLACEHOLDER).write_bytes(placeholder_png())
        local = install_local_assets(recipe.websight.local_assets, Path(folder))
        yield partial(screenshot_outcome, pool, Path(folder), local)


def screenshot_outcome(
    pool: BrowserPool,
    assets: Path,
    local: LocalAssets,
    document: Document,
    recipe: WebsightRecipe,
) -> Outcome:
    options = recipe.websight
    normalised = normalise_page(decode_page(document.content), local)
    page_html, changes = normalised.html, normalised.changes
    if len(page_html) > options.max_html_chars:
        drop = Drop(SOURCE, "html_too_long", f"{len(page_html)} > {options.max_html_chars} chars")
        return Outcome(document.doc_id, drop=drop)
    page = pool.render(HtmlDocument(normalised.rendered, assets, "index.html"))[0]
    png, height = page.png, page.height
    if height > options.max_height:
        png, height = crop_png(png, options.max_height), options.max_height
    origin = plain_origin(document.origin)
    metadata = {
        "kind": "image_text",
        "task": "html_from_screenshot",
        "source": SOURCE,
        "doc_id": document.doc_id,
        "lang": origin.get("lang") or options.lang,
        "license": origin.get("license") or options.license,
        "target": "html",
        "screenshot": options.screenshot,
        "width": page.width,
        "height": height,
        "cropped": height < page.height,
        "normalised": changes,
        "unstyled": normalised.unstyled,
        "origin": origin,
    }
    files = {
        "png": png,
        "html": page_html.encode("utf-8", "surrogatepass"),
        "json": orjson.dumps(metadata, default=str),
    }
    return Outcome(document.doc_id, (Sample(sample_key(document.doc_id, 0), files),))


def crop_png(png: bytes, height: int) -> bytes:
    """The top ``height`` pixels of a full-page screenshot (the renderer captures it whole)."""
    with Image.open(io.BytesIO(png)) as image:
        top = image.crop((0, 0, image.width, height))
    buffer = io.BytesIO()
    top.save(buffer, format="PNG")
    return buffer.getvalue()


def plain_origin(origin: dict[str, Any]) -> dict[str, Any]:
    """Origin columns that are text or numbers: WebSight rows also carry the original screenshot
    as image bytes, which has no place in the metadata (ours is rendered from the HTML)."""
    return {
        key: value
        for key, value in origin.items()
        if value is None or isinstance(value, str | int | float | bool)
    }
