"""HTML pages → (screenshot, normalised HTML) pairs for UI inverse rendering, as DeepSeek-VL
used WebSight: ``normalise`` makes a page self-contained (pure), ``step`` renders and packs it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vlpipe.recipe import FilterStep, Recipe, StrictModel
from vlpipe.sources.inputs import InputLayout
from vlpipe.sources.registry import SourceSpec

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
    lang: str = Field("en", description="BCP-47 language unless the row has a `lang` column")
    license: str | None = Field(None, description="unless the row has a `license` column")
    local_assets: dict[str, str] = Field(
        default_factory=lambda: dict(TAILWIND_2_2_19),
        description="CDN URL (a trailing `*`: URL prefix) → local file served in its place to the "
        "renderer; relative paths are under the environment's prefix (sys.prefix)",
    )


class WebsightRecipe(Recipe):
    source: Literal["websight"] = "websight"
    websight: WebsightOptions = WebsightOptions()
    filters: tuple[FilterStep, ...] = (
        FilterStep.model_validate({"image": {"full_decode": False, "min_ink": 0.002}}),
    )


SPEC = SourceSpec(
    name="websight",
    recipe=WebsightRecipe,
    layout=InputLayout(file_suffixes=(".html", ".htm"), columns=("text",)),
    step="vlpipe.sources.websight.step:open_step",
)
