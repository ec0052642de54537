"""The filter contract and stage: recipes list filters in order, each sees only samples that carry
what it reads, measures are recorded, the first drop wins, and images are judged from their
bytes (sanity, bombs, near-uniform and low-entropy images) for every source."""

from __future__ import annotations

import io
from typing import Any

import orjson
import pytest
from PIL import Image

from tests.jupyter.helpers import png_bytes
from vlpipe.errors import ConfigError
from vlpipe.filters import image
from vlpipe.filters.contract import SampleView, filter_names
from vlpipe.filters.stage import apply_filters
from vlpipe.recipe import FilterStep, load_recipe
from vlpipe.schema import Drop, Outcome, Sample
from vlpipe.sources.chat import ChatRecipe


def sample(key: str, meta: dict[str, Any], **files: bytes) -> Sample:
    return Sample(key, {**files, "json": orjson.dumps(meta)})


def encoded(picture: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=fmt)
    return buffer.getvalue()


def test_filters_are_found_by_name() -> None:
    assert {"code_image", "image", "lang", "text_length", "gopher_quality", "c4_quality"} <= set(
        filter_names()
    )
    assert "contract" not in filter_names() and "stage" not in filter_names()


def test_recipes_list_filters_in_order_with_validated_options(tmp_path: Any) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("source: text\nfilters:\n  - lang: {keep: [en]}\n  - text_length\n")
    loaded = load_recipe("text", recipe)
    assert [step.name for step in loaded.filters] == ["lang", "text_length"]
    assert loaded.model_dump(mode="json")["filters"][0] == {
        "lang": {
            "keep": ["en"],
            "min_score": 0.5,
            "min_chars": 20,
            "mismatch": "flag",
            "model_path": None,
        }
    }
    for body, message in [
        ("filters: [nonsense]", "unknown filter 'nonsense'"),
        ("filters: [{lang: {keep: en, min_score: 3}}]", "filters.0: lang."),
        ("filters: [{lang: {}, text_length: {}}]", "`name` or `name: {options}`"),
    ]:
        recipe.write_text(f"source: text\n{body}\n")
        with pytest.raises(ConfigError, match=message):
            load_recipe("text", recipe)


def test_a_source_with_untrusted_images_must_run_the_image_filter() -> None:
    with pytest.raises(ValueError, match="must list the `image` filter"):
        ChatRecipe(filters=(FilterStep.model_validate("lang"),))


def test_the_first_drop_wins_and_measures_are_recorded() -> None:
    good = "The keeper climbed the stair and wound the clock before dawn. " * 3
    outcome = Outcome(
        "doc",
        (
            sample("a_0000", {"kind": "text"}, txt=good.encode()),
            sample("a_0001", {"kind": "text"}, txt=b"tiny"),
        ),
    )
    steps = [
        FilterStep.model_validate({"text_length": {"min_chars": 10}}),
        FilterStep.model_validate("lang"),
    ]
    filtered = apply_filters(outcome, steps)
    (kept,) = filtered.samples
    meta = orjson.loads(kept.files["json"])
    assert meta["chars"] == len(good.replace(" ", "")) and meta["lang"] == "en"
    ((key, drop),) = [(d.key, d.drop) for d in filtered.dropped]
    assert (key, drop.filter, drop.reason) == ("a_0001", "text_length", "too_short")


def test_a_filter_passes_samples_without_what_it_reads() -> None:
    code_only = sample("c_0000", {"kind": "image_text", "target": "py"}, py=b"print(1)\n")
    outcome = apply_filters(
        Outcome("doc", (code_only,)), [FilterStep.model_validate({"text_length": {}})]
    )
    assert outcome.samples == (code_only,)  # no text: not text_length's business, untouched
    scored = sample("d_0000", {"kind": "image_text", "alignment_score": 0.2}, png=png_bytes())
    dropped = apply_filters(Outcome("doc", (scored,)), [FilterStep.model_validate("alignment")])
    assert dropped.status == "dropped" and dropped.dropped[0].drop == Drop(
        "alignment", "low_alignment", "alignment 0.20 < 0.5"
    )


def test_a_document_whose_every_sample_is_dropped_is_dropped_for_the_commonest_reason() -> None:
    blank = encoded(Image.new("RGB", (64, 64), "white"), "PNG")
    pages = tuple(sample(f"p_{n:04d}", {"kind": "image_text"}, png=blank) for n in range(3))
    outcome = apply_filters(Outcome("book", pages), [FilterStep.model_validate("image")])
    assert outcome.status == "dropped" and outcome.drop is not None
    assert (outcome.drop.filter, outcome.drop.reason) == ("image", "near_uniform")
    assert len(outcome.dropped) == 3


# -- the image filter ----------------------------------------------------------------------------


def image_view(*images: tuple[str, bytes]) -> SampleView:
    files = {ext: data for ext, data in images}
    return SampleView(sample("i_0000", {"kind": "image_text"}, **files))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "GIF"])
def test_png_jpeg_webp_and_gif_are_checked_and_described(fmt: str) -> None:
    picture = Image.open(io.BytesIO(png_bytes(80, 60))).convert("RGB")
    data = encoded(picture, fmt)
    ext = image.image_format(data)
    assert ext == {"PNG": "png", "JPEG": "jpg", "WEBP": "webp", "GIF": "gif"}[fmt]
    verdict = image.check(image_view((ext, data)), image.Options())
    assert isinstance(verdict, dict)
    (described,) = verdict["images"]
    assert (described["format"], described["width"], described["height"]) == (ext, 80, 60)
    assert 0.2 < described["ink"] < 0.3  # the plot's block covers a quarter


def test_near_uniform_and_low_entropy_images_are_dropped() -> None:
    white = encoded(Image.new("L", (200, 200), 255), "PNG")
    assert image.check(image_view(("png", white)), image.Options()).reason == "near_uniform"  # type: ignore[union-attr]
    speck = Image.new("L", (200, 200), 255)
    speck.paste(0, (0, 0, 200, 30))  # a dark band: ink, but two grey levels only
    two_levels = encoded(speck, "PNG")
    assert isinstance(image.check(image_view(("png", two_levels)), image.Options()), dict)
    entropic = image.Options(min_entropy=1.0)
    assert image.check(image_view(("png", two_levels)), entropic).reason == "low_entropy"  # type: ignore[union-attr]
    photo = Image.effect_noise((200, 200), 60).convert("L")
    assert isinstance(image.check(image_view(("png", encoded(photo, "PNG"))), entropic), dict)
    off = image.Options(min_ink=None)
    assert isinstance(image.check(image_view(("png", white)), off), dict)


def test_svg_and_every_image_of_a_sample_are_judged() -> None:
    svg = b"<svg xmlns='http://www.w3.org/2000/svg'/>"
    assert image.check(image_view(("svg", svg)), image.Options()).reason == "svg_not_rasterised"  # type: ignore[union-attr]
    good, broken = png_bytes(), png_bytes()[:-30]
    verdict = image.check(image_view(("0.png", good), ("1.png", broken)), image.Options())
    assert isinstance(verdict, Drop) and verdict.reason == "corrupt_image"
    assert verdict.detail.startswith("1.png:")
