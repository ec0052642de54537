"""Build recipes: YAML files validated by pydantic.

A recipe holds everything that decides a build's output (source options, filter thresholds, shard
sizes). Its canonical JSON is stored in ``OUT/build.json`` so that a re-run with a different recipe
is refused instead of mixing two builds in one output folder.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vlpipe.errors import ConfigError


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JupyterOptions(StrictModel):
    """How notebooks become (plot image, code) candidates."""

    context_cells: int | Literal["all"] = Field(
        "all", description="preceding code cells prepended to the producing cell's code"
    )
    max_code_chars: int = Field(
        16_000, gt=0, description="cap on the sample's code; oldest context cells are cut first"
    )
    strip_magics: bool = Field(True, description="remove IPython magics and shell escapes")
    python_only: bool = Field(True, description="drop notebooks whose kernel is not Python")


class TextOptions(StrictModel):
    """Text-only documents (DeepSeek-VL keeps ~30% text in pretraining to keep the LM's skills)."""

    min_chars: int = Field(100, ge=1, description="shorter texts are dropped")
    max_chars: int = Field(200_000, gt=0, description="longer texts are dropped")
    lang: str = Field("und", description="BCP-47 language written into each sample")


class ChatOptions(StrictModel):
    """Conversations for SFT: ``messages`` [{role, content}] and optional ``images``."""

    max_images: int = Field(8, ge=0)
    max_turns: int = Field(64, gt=0)
    lang: str = "und"


class ArchiveLimits(StrictModel):
    """Guards for untrusted archives (EPUB zips, arXiv tars and gzips). Path traversal, absolute
    names, links and encrypted members are always refused; these bound what a bomb can cost."""

    max_members: int = Field(5_000, gt=0)
    max_unpacked_bytes: int = Field(
        512 * 2**20, gt=0, description="sum of the members' sizes, declared and actual"
    )
    max_member_bytes: int = Field(128 * 2**20, gt=0)
    max_ratio: float = Field(
        200.0, gt=1, description="uncompressed / compressed size of any member over 1 MiB"
    )


class ArxivOptions(StrictModel):
    """arXiv LaTeX sources → (page image, page markdown) pairs, Nougat-style."""

    longest_side: int = Field(1024, ge=64, le=8192, description="page PNG size in pixels")
    min_alignment: float = Field(
        0.5, ge=0, le=1, description="pages whose markdown matches their text layer worse drop"
    )
    max_figure_fraction: float = Field(
        0.5, gt=0, le=1, description="pages whose figures cover more of the page are dropped"
    )
    max_pages: int = Field(100, ge=1, description="longer papers fail (PDF page limit)")
    lang: str = Field("en", description="BCP-47 language written into each sample")
    archive: ArchiveLimits = ArchiveLimits(max_unpacked_bytes=256 * 2**20)
    tex_timeout_s: float = Field(180.0, gt=0, description="wall clock for all TeX runs")
    tex_memory_mb: int = Field(2048, ge=256)
    pandoc_timeout_s: float = Field(60.0, gt=0)


class CodeImageFilter(StrictModel):
    """DeepSeek-VL's rule for notebook pairs: a single image and at least N lines of code."""

    images_per_cell: int = Field(1, ge=1)
    min_code_lines: int = Field(5, ge=0)


class PageLayout(StrictModel):
    """The page of paginated rendering, in CSS pixels (one CSS px = one image px)."""

    width: int = Field(1024, ge=64, le=8192)
    height: int = Field(1024, ge=64, le=8192)
    margin_x: int = Field(64, ge=0)
    margin_top: int = Field(64, ge=0)
    margin_bottom: int = Field(64, ge=0)
    font_size_px: float = Field(20.0, gt=0, description="base size; the book's own CSS wins")
    line_height: float = Field(1.6, gt=0)
    font_family: str | None = Field(None, description="default family; the book's CSS wins")


class EbookOptions(StrictModel):
    """EPUB / HTML books → page images with exactly the text shown on them (DeepSeek-VL's
    rendered ebooks)."""

    page: PageLayout = PageLayout()
    browsers: int = Field(1, ge=1, le=64, description="Chromiums per worker")
    javascript: bool = Field(False, description="run the book's scripts (EPUB 3 allows them)")
    load_timeout_s: float = Field(15.0, gt=0)
    render_timeout_s: float = Field(60.0, gt=0, description="per chapter")
    max_pages_per_chapter: int = Field(200, ge=1, description="longer chapters fail")
    min_page_chars: int = Field(20, ge=0, description="pages with less text are near-blank")
    blank_max_ink: float = Field(
        0.002, ge=0, le=1, description="share of non-background pixels under which a page is blank"
    )
    lang_mismatch: Literal["flag", "drop"] = Field(
        "flag", description="a page whose script contradicts the book's language"
    )
    archive: ArchiveLimits = ArchiveLimits()


# WebSight v0.2 links Tailwind CSS 2.2.19 from jsDelivr; `make assets` installs npm's copy here.
TAILWIND_2_2_19_FILE = "share/vlpipe/assets/tailwind-2.2.19.min.css"
TAILWIND_2_2_19 = {
    "https://cdn.jsdelivr.net/npm/tailwindcss@2.2.19/dist/tailwind.min.css": TAILWIND_2_2_19_FILE,
    "https://unpkg.com/tailwindcss@2.2.19/dist/tailwind.min.css": TAILWIND_2_2_19_FILE,
}


class WebsightOptions(StrictModel):
    """HTML pages → (screenshot, normalised HTML) pairs for UI inverse rendering (WebSight)."""

    width: int = Field(1024, ge=64, le=8192, description="viewport width")
    height: int = Field(1024, ge=64, le=8192, description="viewport height")
    screenshot: Literal["viewport", "full_page"] = "viewport"
    max_height: int = Field(4096, ge=64, description="full_page screenshots are cut here")
    browsers: int = Field(1, ge=1, le=64, description="Chromiums per worker")
    javascript: bool = True
    load_timeout_s: float = Field(10.0, gt=0)
    render_timeout_s: float = Field(30.0, gt=0)
    max_html_chars: int = Field(100_000, gt=0, description="longer pages are dropped")
    blank_max_ink: float = Field(0.002, ge=0, le=1)
    lang: str = Field("en", description="BCP-47 language unless the row has a `lang` column")
    license: str | None = Field(None, description="unless the row has a `license` column")
    local_assets: dict[str, str] = Field(
        default_factory=lambda: dict(TAILWIND_2_2_19),
        description="CDN URL (a trailing `*`: URL prefix) → local file served in its place to the "
        "renderer; relative paths are under the environment's prefix (sys.prefix)",
    )


class ImageLimits(StrictModel):
    max_image_bytes: int = Field(16 * 2**20, gt=0)
    max_pixels: int = Field(40_000_000, gt=0, description="decompression-bomb guard")
    min_side: int = Field(16, ge=1)
    max_aspect_ratio: float = Field(20.0, gt=1)
    full_decode: bool = Field(
        True, description="check the whole compressed stream; false: header + chunk CRCs only"
    )


class FilterConfig(StrictModel):
    code_image: CodeImageFilter = CodeImageFilter()
    image: ImageLimits = ImageLimits()


class OutputConfig(StrictModel):
    docs_per_chunk: int = Field(
        500, gt=0, description="documents committed together: the unit of resume and of shards"
    )
    max_samples_per_shard: int = Field(5_000, gt=0)
    max_shard_bytes: int = Field(512 * 2**20, gt=0)


class InputConfig(StrictModel):
    max_doc_bytes: int = Field(32 * 2**20, gt=0, description="larger documents are dropped unread")
    files_per_unit: int = Field(
        500, gt=0, description="loose files (.ipynb, .txt) grouped into one work unit"
    )
    hf_data_dir: str | None = None
    hf_split: str = "train"


class Recipe(StrictModel):
    source: Literal["jupyter", "text", "chat", "arxiv", "ebooks", "websight"]
    input: InputConfig = InputConfig()
    jupyter: JupyterOptions = JupyterOptions()
    ebooks: EbookOptions = EbookOptions()
    websight: WebsightOptions = WebsightOptions()
    text: TextOptions = TextOptions()
    chat: ChatOptions = ChatOptions()
    arxiv: ArxivOptions = ArxivOptions()
    filters: FilterConfig = FilterConfig()
    output: OutputConfig = OutputConfig()


def load_recipe(source: str, path: Path | None = None) -> Recipe:
    """The recipe at ``path``, or the bundled default recipe of ``source``."""
    if path is None:
        bundled = resources.files("vlpipe.recipes") / f"{source}.yaml"
        if not bundled.is_file():
            raise ConfigError(f"no bundled recipe for source {source!r}")
        text, where = bundled.read_text(encoding="utf-8"), f"bundled {source}.yaml"
    else:
        try:
            text, where = path.read_text(encoding="utf-8"), str(path)
        except OSError as exc:
            raise ConfigError(f"cannot read recipe {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"recipe {where} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"recipe {where} must be a mapping")
    data.setdefault("source", source)
    if data["source"] != source:
        raise ConfigError(f"recipe {where} is for source {data['source']!r}, not {source!r}")
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"recipe {where}: {loc}: {first['msg']}") from None
