"""One dataset record → its samples, as its adapter says.

- **Captions** (``columns.caption``): ``image_text`` samples, task ``caption`` (or the adapter's),
  the caption as ``txt``; a list of captions gives the first, or one sample each
  (``dataset.captions: all``). With a ``prompt`` the pair is a one-turn ``chat`` instead.
- **Questions** (``question`` + ``answer``, optional ``choices``, ``hint``, ``explanation``): a
  two-turn ``chat``; choices are listed as ``A. …`` and an answer given as a choice's index
  becomes that choice.
- **Conversations**: LLaVA/ShareGPT ``from``/``value`` or OpenAI ``role``/``content`` turns,
  several images and turns kept, checked by the chat source's rules.
- **Scene text** (``format`` other than ``rows``): ``image_text``, task ``scene_text``, the
  legible text in reading order as ``txt``, the regions (text, polygon, script) in the json;
  ``dataset.crops: lines`` adds each legible region, rectified, as a ``scene_text_line`` sample.
  An image with no legible text is dropped (``no_legible_text``).

Images are got by the shared resolver (``vlpipe.sources.images``): bytes in the row, a confined
path under ``--images``, or a URL; a missing or refused image drops the record with the reason.
"""

from __future__ import annotations

import io
import posixpath
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
from PIL import Image

from vlpipe.errors import BAD_INPUT_ERRORS, DocumentError
from vlpipe.filters import image as image_filter
from vlpipe.schema import Document, Drop, Outcome, Sample, sample_key
from vlpipe.sources.chat.step import chat_sample, conversation
from vlpipe.sources.dataset import DatasetRecipe
from vlpipe.sources.dataset.adapters import ROW_FORMATS, Adapter
from vlpipe.sources.dataset.records import require_adapter
from vlpipe.sources.dataset.scene_text import (
    Region,
    SceneText,
    ordered_text,
    parse_art,
    parse_coco_text,
    parse_hiertext,
    parse_icdar,
    parse_rects,
    parse_textocr,
)
from vlpipe.sources.fetch import ImageLimits, cache_folder
from vlpipe.sources.images import (
    ImageRef,
    ImageResolver,
    ImageRoot,
    Resolved,
    image_options,
    image_ref,
)
from vlpipe.sources.registry import StepContext

SOURCE = "dataset"
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
PARSERS = {
    "art": parse_art,
    "rects": parse_rects,
    "coco_text": parse_coco_text,
    "textocr": parse_textocr,
    "hiertext": parse_hiertext,
}


class InvalidRecord(DocumentError):
    """A record that is not what its adapter reads."""


# -- rows: pure parts --------------------------------------------------------------------------


def image_values(adapter: Adapter, row: Any, record_key: str | None, root: ImageRoot) -> list[Any]:
    """The row's image values (structs, bytes, paths or URLs), in their order."""
    columns = adapter.columns
    if adapter.image_template is not None:
        path = adapter.render(adapter.image_template, row, record_key=record_key or "")
        return [located(adapter, path, root)]
    if columns.image is not None:
        value = adapter.field(row, "image")
        return [] if value is None else [value]
    if columns.images is not None:
        values = adapter.field(row, "images")
        if values is None:
            return []
        if not isinstance(values, list):
            raise InvalidRecord(f"{columns.images!r} is not a list of images")
        return values
    return []


def captions(value: Any, which: str) -> list[str]:
    """A caption column's non-empty captions: a string, or a list of them."""
    texts = value if isinstance(value, list) else [value]
    found = [t.strip() for t in texts if isinstance(t, str) and t.strip()]
    return found[:1] if which == "first" else found


def question_turns(adapter: Adapter, row: Any) -> list[dict[str, str]]:
    """A question row as a user turn and an assistant turn."""
    question = _text(adapter.field(row, "question"), "question")
    choices = adapter.field(row, "choices") if adapter.columns.choices else None
    if adapter.answer_template is not None:
        answer: Any = adapter.render(adapter.answer_template, row)
    else:
        answer = adapter.field(row, "answer")
    if adapter.columns.hint and (hint := adapter.field(row, "hint")):
        question = f"Context: {_text(hint, 'hint')}\n{question}"
    if choices:
        if not isinstance(choices, list):
            raise InvalidRecord("choices is not a list")
        listed = "\n".join(f"{LETTERS[n]}. {c}" for n, c in enumerate(choices[: len(LETTERS)]))
        question = f"{question}\nOptions:\n{listed}"
        if isinstance(answer, str) and answer.strip().isdigit() and answer not in choices:
            answer = int(answer)  # an index written as text (IconQA's loader reads it so)
        if isinstance(answer, int) and not isinstance(answer, bool):
            if not 0 <= answer < min(len(choices), len(LETTERS)):
                raise InvalidRecord(f"answer {answer} is not one of {len(choices)} choices")
            answer = f"{LETTERS[answer]}. {choices[answer]}"
    reply = "" if answer is None else str(answer).strip()
    if adapter.columns.explanation and (explanation := adapter.field(row, "explanation")):
        reply = f"{reply}\n{_text(explanation, 'explanation')}".strip()
    return [{"role": "user", "content": question}, {"role": "assistant", "content": reply}]


def _text(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise InvalidRecord(f"{what} is a {type(value).__name__}, not text")


# -- scene text: pure parts --------------------------------------------------------------------


def parse_scene(adapter: Adapter, content: Any) -> SceneText:
    if adapter.format == "icdar":
        if not isinstance(content, bytes):
            raise InvalidRecord("an ICDAR-style ground truth is a text file")
        return parse_icdar(content.decode("utf-8"), adapter.icdar_fields)
    if adapter.format == "rects" and isinstance(content, bytes):
        content = orjson.loads(content)
    return PARSERS[adapter.format](content, adapter)


def scene_image_path(adapter: Adapter, document: Document, scene: SceneText) -> str:
    """The image of a ground-truth record: the adapter's template over the file's stem
    (``strip_prefix`` removed), the record's key and the format's image fields."""
    stem = posixpath.basename(document.doc_id.split("#", 1)[0]).rsplit(".", 1)[0]
    stem = stem.removeprefix(adapter.strip_prefix)
    context = {"stem": stem, "record_key": str(document.origin.get("record_key", ""))}
    assert adapter.image_template is not None, "a scene-text adapter names its images"
    return adapter.render(adapter.image_template, scene.image, **context)


def located(adapter: Adapter, path: str, root: ImageRoot) -> str:
    """A templated image path as ``--images`` holds it: as made, or with the first of
    ``image_extensions`` there (ids may hold dots, so a suffix cannot be told from the name);
    as made when none is there (its drop names it)."""
    if not adapter.image_extensions or root.has(path):
        return path
    return next(
        (found for ext in adapter.image_extensions if root.has(found := f"{path}.{ext}")), path
    )


def crop_region(image: Image.Image, region: Region) -> Image.Image:
    """The region cut out of the image; a quadrilateral is rectified (its top edge, corner 1 to
    corner 2, becomes the crop's top), any other polygon is cut by its bounding box."""
    points = region.points
    if len(points) == 4:
        p0, p1, p2, p3 = points
        width = max(1, round((_distance(p0, p1) + _distance(p3, p2)) / 2))
        height = max(1, round((_distance(p0, p3) + _distance(p1, p2)) / 2))
        corners = (*p0, *p3, *p2, *p1)  # Pillow's order: upper left, lower left, lower right …
        quad = Image.Transform.QUAD
        return image.transform((width, height), quad, corners, Image.Resampling.BICUBIC)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return image.crop((round(min(xs)), round(min(ys)), round(max(xs)), round(max(ys))))


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    return float(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5)


# -- the step ----------------------------------------------------------------------------------


class DatasetStep:
    """The step of one work unit: one adapter, one image resolver."""

    def __init__(self, recipe: DatasetRecipe, adapter: Adapter, resolver: ImageResolver) -> None:
        self.options, self.adapter, self.resolver = recipe.dataset, adapter, resolver
        self.checks = image_options(recipe)

    def prefetch(self, documents: Sequence[Document]) -> None:
        """Queue the URLs of a chunk's images, so fetching overlaps the work."""
        if self.adapter.format not in ROW_FORMATS:
            return
        for document in documents:
            try:
                values = image_values(
                    self.adapter, document.content, _key(document), self.resolver.root
                )
            except BAD_INPUT_ERRORS:
                continue  # fails when its turn comes
            refs = (image_ref(value, SOURCE) for value in values)
            self.resolver.prefetch(ref for ref in refs if isinstance(ref, ImageRef) and ref.url)

    def __call__(self, document: Document, recipe: DatasetRecipe) -> Outcome:
        if self.adapter.format in ROW_FORMATS:
            return self._row(document)
        return self._scene(document)

    def _row(self, document: Document) -> Outcome:
        adapter, row = self.adapter, document.content
        if not isinstance(row, dict):
            raise InvalidRecord(f"a record is an object, not a {type(row).__name__}")
        if reason := adapter.excluded(row):
            return Outcome(document.doc_id, drop=Drop(SOURCE, "excluded_record", reason))
        values = image_values(adapter, row, _key(document), self.resolver.root)
        images: list[Resolved] = []
        for value in values:
            resolved = self.resolver.resolve(value)
            if isinstance(resolved, Drop):
                return Outcome(document.doc_id, drop=resolved)
            images.append(resolved)
        meta = self._metadata(document, row, images)
        if adapter.columns.caption is not None:
            texts = captions(adapter.field(row, "caption"), self.options.captions)
            if not images:
                return Outcome(document.doc_id, drop=Drop(SOURCE, "missing_image", "no image"))
            if not texts:
                return Outcome(document.doc_id, drop=Drop(SOURCE, "empty_caption", ""))
            if adapter.prompt is None:
                samples = [
                    self._caption(document, n, images[0], t, meta) for n, t in enumerate(texts)
                ]
                return Outcome(document.doc_id, tuple(samples))
            turns: Any = [
                {"role": "user", "content": adapter.prompt},
                {"role": "assistant", "content": texts[0]},
            ]
        elif adapter.columns.question is not None:
            turns = question_turns(adapter, row)
        else:
            turns = adapter.field(row, "conversation")
        messages = conversation(turns, len(images), self.options.chat, SOURCE)
        if isinstance(messages, Drop):
            return Outcome(document.doc_id, drop=messages)
        meta |= {"kind": "chat", "turns": len(messages)}
        files = [(image.ext, image.data) for image in images]
        sample = chat_sample(sample_key(document.doc_id, 0), messages, files, meta)
        return Outcome(document.doc_id, (sample,))

    def _caption(
        self, document: Document, number: int, image: Resolved, text: str, meta: dict[str, Any]
    ) -> Sample:
        files = {image.ext: image.data, "txt": text.encode("utf-8")}
        files["json"] = orjson.dumps(meta | {"kind": "image_text"}, default=str)
        return Sample(sample_key(document.doc_id, number), files)

    def _metadata(
        self, document: Document, row: dict[str, Any], images: list[Resolved]
    ) -> dict[str, Any]:
        adapter = self.adapter
        optional = {
            name: adapter.field(row, name) if getattr(adapter.columns, name) else None
            for name in ("id", "lang", "license")
        }
        return {
            "kind": adapter.kind,
            "task": adapter.task,
            "source": SOURCE,
            "dataset": adapter.name,
            "doc_id": document.doc_id,
            "id": optional["id"],
            "lang": optional["lang"] or adapter.lang,
            "license": optional["license"] or adapter.license,
            "image_refs": [image.ref for image in images],
            "origin": document.origin,
        }

    def _scene(self, document: Document) -> Outcome:
        adapter = self.adapter
        scene = parse_scene(adapter, document.content)
        text, ordered = ordered_text(scene)
        if not ordered:
            detail = f"{len(scene.regions)} regions, none legible"
            return Outcome(document.doc_id, drop=Drop(SOURCE, "no_legible_text", detail))
        path = located(adapter, scene_image_path(adapter, document, scene), self.resolver.root)
        image = self.resolver.resolve(ImageRef(path=path))
        if isinstance(image, Drop):
            return Outcome(document.doc_id, drop=image)
        meta = {
            "kind": "image_text",
            "task": adapter.task,
            "source": SOURCE,
            "dataset": adapter.name,
            "doc_id": document.doc_id,
            "lang": adapter.lang,
            "license": adapter.license,
            "image_refs": [image.ref],
            "regions": [region.described() for region in ordered],
            "illegible": sum(not region.legible for region in scene.regions),
            "order": "dataset paragraphs" if scene.ordered_paragraphs else "geometric",
            "origin": document.origin,
        }
        files = {image.ext: image.data, "txt": text.encode("utf-8")}
        files["json"] = orjson.dumps(meta, default=str)
        samples = [Sample(sample_key(document.doc_id, 0), files)]
        if self.options.crops == "lines":
            samples.extend(self._crops(document, image, ordered, meta))
        return Outcome(document.doc_id, tuple(samples))

    def _crops(
        self, document: Document, image: Resolved, regions: list[Region], meta: dict[str, Any]
    ) -> Iterator[Sample]:
        """Each legible region cut out of the image, rectified, as its own sample."""
        header = image_filter.image_header(image.data, self.checks.max_pixels)
        if isinstance(header, Drop):
            return  # the whole image's sample is dropped by the image filter with the reason
        picture = header.convert("RGB")
        for number, region in enumerate(regions, start=1):
            crop = crop_region(picture, region)
            if min(crop.size) < self.options.min_crop_side:
                continue
            buffer = io.BytesIO()
            crop.save(buffer, format="PNG")
            line = meta | {
                "task": "scene_text_line",
                "regions": [region.described()],
                "crop_of": sample_key(document.doc_id, 0),
            }
            files = {"png": buffer.getvalue(), "txt": region.text.encode("utf-8")}
            files["json"] = orjson.dumps(line, default=str)
            yield Sample(sample_key(document.doc_id, number), files)


def _key(document: Document) -> str | None:
    key = document.origin.get("record_key")
    return None if key is None else str(key)


@contextmanager
def open_step(recipe: DatasetRecipe, context: StepContext) -> Iterator[DatasetStep]:
    """The adapter, the images given with --images and a resolver (its fetcher opened on the
    first URL), for one work unit."""
    adapter = require_adapter(recipe.dataset.adapter)
    checks = image_options(recipe)
    limits = ImageLimits(checks.max_image_bytes, checks.max_pixels)
    root = ImageRoot(recipe.input.images, limits.max_bytes)
    cache = cache_folder(context.out)
    with ImageResolver(root, limits, recipe.dataset.fetch, cache, SOURCE) as resolver:
        yield DatasetStep(recipe, adapter, resolver)
