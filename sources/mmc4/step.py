"""One interleaved web document → one ``interleaved`` sample: its images ``<key>.0.jpg …`` and
``<key>.txt``, the text with a literal ``<image>`` where each image goes.

**Rows.** MMC4 (``text_list`` of sentences; ``image_info``: ``image_name``, ``raw_url``,
``matched_text_index``, ``matched_sim``, ``face_detections``; ``url``;
``could_have_url_duplicate``) or OBELICS-style (``texts`` and ``images`` lists of equal length,
one of each pair null, the images URLs; ``general_metadata`` may hold the page's ``url``).

**Placement.** An MMC4 image goes right *before* the sentence at its ``matched_text_index`` (as
OpenFlamingo reads MMC4); several images on one sentence keep their ``image_info`` order. An
OBELICS image goes where it stands in the lists. MMC4 sentences are joined by a space, OBELICS
texts by a blank line, each ``<image>`` being one piece between them. A literal ``<image>`` inside
the text is removed (it would be read as a placeholder).

**Images**, each one: from ``--images`` by ``image_name`` (status ``local``), else from the fetch
cache (``cached``) or the web (``fetched``) by URL; then screened with the ``image`` filter's own
checks and limits, one by one, so that a broken or blank image leaves its document instead of
dropping it; then prepared (``mmc4.resize``). Every image of a document becomes an asset row:
where it came from, or why it was left out.

**Source rules** (they act on single images, or need what only the source knows — similarities,
face detections, why fetches failed — so they are not filters): images under ``min_matched_sim``
or with face detections are left out; a document with more than ``max_images`` images left is
dropped before anything is fetched; one with fewer than ``min_images`` usable images after
fetching is dropped with the count of what failed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from hashlib import sha256
from typing import Any, Literal

import orjson

from vlpipe.errors import BAD_INPUT_ERRORS, DocumentError
from vlpipe.filters import image as image_filter
from vlpipe.schema import Asset, Document, Drop, Outcome, Sample, sample_key
from vlpipe.sources.fetch import (
    FetchCache,
    Fetched,
    Fetcher,
    ImageLimits,
    cache_folder,
    prepare_image,
    screen,
)
from vlpipe.sources.images import ImageRoot, image_options
from vlpipe.sources.mmc4 import Mmc4Options, Mmc4Recipe
from vlpipe.sources.registry import StepContext

SOURCE = "mmc4"
PLACEHOLDER = "<image>"
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError)  # what Pillow raises on bad data
SEPARATORS = {"mmc4": " ", "obelics": "\n\n"}


class InvalidDocument(DocumentError):
    """The row is neither an MMC4 nor an OBELICS-style document."""


@dataclass(frozen=True)
class ImageRef:
    number: int  # its place among the row's images
    position: int  # it goes before text piece ``position`` (== the text count: after the last)
    raw_url: str | None
    image_name: str | None
    matched_sim: float | None = None
    faces: int = 0

    @property
    def url(self) -> str:
        return self.raw_url or self.image_name or ""


@dataclass(frozen=True)
class Interleaved:
    layout: Literal["mmc4", "obelics"]
    url: str | None
    texts: tuple[str, ...]
    images: tuple[ImageRef, ...]
    origin: dict[str, Any]


# -- rows --------------------------------------------------------------------------------------


def parse_document(row: Any) -> Interleaved:
    if not isinstance(row, dict):
        raise InvalidDocument("a row is not an object")
    if "text_list" in row:
        return parse_mmc4(row)
    if "texts" in row and "images" in row:
        return parse_obelics(row)
    raise InvalidDocument("neither MMC4 (text_list, image_info) nor texts/images lists")


def parse_mmc4(row: dict[str, Any]) -> Interleaved:
    texts = _strings(row.get("text_list"), "text_list")
    infos = row.get("image_info") or []
    if not isinstance(infos, list) or not all(isinstance(i, dict) for i in infos):
        raise InvalidDocument("'image_info' is not a list of objects")
    images = []
    for number, info in enumerate(infos):
        index = info.get("matched_text_index")
        sim = info.get("matched_sim")
        position = index if isinstance(index, int) and not isinstance(index, bool) else -1
        images.append(
            ImageRef(
                number,
                position,
                _text_or_none(info.get("raw_url")),
                _text_or_none(info.get("image_name")),
                float(sim) if isinstance(sim, int | float) else None,
                _faces(info.get("face_detections")),
            )
        )
    kept = ("text_list", "image_info", "similarity_matrix", "url")
    return Interleaved(
        "mmc4", _text_or_none(row.get("url")), texts, tuple(images), _origin(row, kept)
    )


def parse_obelics(row: dict[str, Any]) -> Interleaved:
    texts_in, images_in = row["texts"], row["images"]
    if not isinstance(texts_in, list) or not isinstance(images_in, list):
        raise InvalidDocument("'texts' and 'images' are not lists")
    if len(texts_in) != len(images_in):
        raise InvalidDocument(f"{len(texts_in)} texts but {len(images_in)} images")
    texts: list[str] = []
    images: list[ImageRef] = []
    for text, image in zip(texts_in, images_in, strict=True):
        if text is not None and image is not None:
            raise InvalidDocument("a texts/images pair holds both a text and an image")
        if text is not None:
            texts.append(_strings([text], "texts")[0])
        elif image is not None:
            if not isinstance(image, str):
                raise InvalidDocument("an image is not a URL")
            images.append(ImageRef(len(images), len(texts), image, None))
    url = _metadata(row.get("general_metadata")).get("url")
    kept = ("texts", "images", "metadata", "general_metadata")
    return Interleaved(
        "obelics", _text_or_none(url), tuple(texts), tuple(images), _origin(row, kept)
    )


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidDocument(f"'{name}' is not a list of strings")
    return tuple(v.replace(PLACEHOLDER, "") for v in value)


def _faces(detections: Any) -> int:
    """How many faces MMC4 detected: None (or an empty list) when none."""
    if isinstance(detections, list):
        return len(detections)
    return 1 if detections else 0


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _metadata(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
    return value if isinstance(value, dict) else {}


def _origin(row: dict[str, Any], known: Sequence[str]) -> dict[str, Any]:
    """The row's other scalar columns (``could_have_url_duplicate``, an id …)."""
    return {
        key: value
        for key, value in row.items()
        if key not in known and (value is None or isinstance(value, str | int | float | bool))
    }


# -- the source's rules ------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    wanted: tuple[ImageRef, ...]
    left_out: dict[int, tuple[str, str]]  # image number → (reason, detail)
    drop: Drop | None = None


def select_images(document: Interleaved, options: Mmc4Options) -> Selection:
    """The images worth getting, and why the others are left out; a document with too many
    images is dropped before anything is fetched."""
    wanted, left_out = [], {}
    last = len(document.texts) - (1 if document.layout == "mmc4" else 0)  # OBELICS: may end it
    for image in document.images:
        if not 0 <= image.position <= last:
            left_out[image.number] = ("invalid_text_index", f"{image.position}")
        elif not image.url:
            left_out[image.number] = ("no_source", "neither raw_url nor image_name")
        elif (
            options.min_matched_sim is not None
            and image.matched_sim is not None
            and image.matched_sim < options.min_matched_sim
        ):
            detail = f"{image.matched_sim:.3f} < {options.min_matched_sim}"
            left_out[image.number] = ("low_matched_sim", detail)
        elif options.drop_face_images and image.faces:
            left_out[image.number] = ("face_detected", f"{image.faces} faces")
        else:
            wanted.append(image)
    drop = None
    if len(wanted) > options.max_images:
        drop = Drop(SOURCE, "too_many_images", f"{len(wanted)} > {options.max_images}")
    elif len(wanted) < options.min_images:
        drop = Drop(SOURCE, "too_few_images", _shortfall(0, left_out, options))
    return Selection(tuple(wanted), left_out, drop)


def _shortfall(usable: int, failed: dict[int, tuple[str, str]], options: Mmc4Options) -> str:
    reasons = Counter(reason for reason, _ in failed.values())
    counted = ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items()))
    return f"{usable} usable images < {options.min_images}" + (f"; {counted}" if counted else "")


def render_text(document: Interleaved, placed: Sequence[ImageRef]) -> str:
    """The document's text with ``<image>`` before the text piece each placed image goes to."""
    at: dict[int, int] = Counter(image.position for image in placed)
    pieces: list[str] = []
    for position in range(len(document.texts) + 1):
        pieces.extend([PLACEHOLDER] * at.get(position, 0))
        if position < len(document.texts):
            pieces.append(document.texts[position])
    return SEPARATORS[document.layout].join(pieces)


# -- the step ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Got:
    """An image of a document, had or not."""

    image: ImageRef
    status: Literal["local", "fetched", "cached", "dropped"]
    reason: str | None = None
    detail: str | None = None
    data: bytes = b""
    http_status: int | None = None
    attempts: int = 0
    prepared: tuple[str, bytes] | None = None  # (extension, bytes) as the sample holds it

    def asset(self, key: str | None) -> Asset:
        sha, size = (sha256(self.data).hexdigest(), len(self.data)) if self.data else (None, None)
        return Asset(
            self.image.url,
            self.status,
            sample_key=key,
            reason=self.reason,
            detail=self.detail,
            sha256=sha,
            size=size,
            http_status=self.http_status,
            attempts=self.attempts,
        )


class InterleavedStep:
    """The step of one work unit. ``prefetch`` (called by the build with each chunk's documents
    before it processes them) queues every image URL the documents will need, so fetching runs
    concurrently across documents and overlaps the work; the outcome of each document depends
    only on what its images turned out to be, never on timing."""

    def __init__(self, recipe: Mmc4Recipe, local: ImageRoot, fetcher: Fetcher) -> None:
        self.options, self.local, self.fetcher = recipe.mmc4, local, fetcher
        self.checks = image_options(recipe)
        self.limits = ImageLimits(self.checks.max_image_bytes, self.checks.max_pixels)
        self.pending: dict[str, Future[Fetched]] = {}

    def prefetch(self, documents: Sequence[Document]) -> None:
        for document in documents:
            try:
                selection = select_images(parse_document(document.content), self.options)
            except BAD_INPUT_ERRORS:
                continue  # fails when its turn comes
            for image in selection.wanted if selection.drop is None else ():
                url = image.raw_url
                if url and url not in self.pending and not self.local.has(image.image_name or ""):
                    self.pending[url] = self.fetcher.submit(url)

    def __call__(self, document: Document, recipe: Mmc4Recipe) -> Outcome:
        parsed = parse_document(document.content)
        selection = select_images(parsed, self.options)
        got: dict[int, Got] = {}
        if selection.drop is None:
            self.prefetch([document])  # when the build did not: the document's images at once
            got = {image.number: self._get(image) for image in selection.wanted}
        usable = sorted(
            (g for g in got.values() if g.status != "dropped"),
            key=lambda g: (g.image.position, g.image.number),  # the order of the placeholders
        )
        drop = selection.drop
        if drop is None and len(usable) < self.options.min_images:
            failed = {n: (g.reason or "", g.detail or "") for n, g in got.items() if g.reason}
            detail = _shortfall(len(usable), failed | selection.left_out, self.options)
            drop = Drop(SOURCE, "too_few_images", detail)
        key = sample_key(document.doc_id, 0)
        samples = () if drop else (self._sample(document, parsed, key, usable),)
        every = [got.get(i.number) or _left_out(i, selection, drop) for i in parsed.images]
        assets = tuple(
            g.asset(key if drop is None and g.status != "dropped" else None) for g in every
        )
        return Outcome(document.doc_id, samples, drop=drop, assets=assets)

    def _get(self, image: ImageRef) -> Got:
        """The image from --images, the cache or the web, screened by the image filter's checks."""
        data = self.local.read(image.image_name or "", SOURCE)
        if isinstance(data, bytes):
            if problem := screen(data, self.limits):
                return Got(image, "dropped", *problem)
            return self._checked(Got(image, "local", data=data))
        if not image.raw_url:
            return Got(image, "dropped", "no_source", f"{image.image_name} is not in --images")
        future = self.pending.pop(image.raw_url, None) or self.fetcher.submit(image.raw_url)
        fetched = future.result()
        common = {"http_status": fetched.http_status, "attempts": fetched.attempts}
        if fetched.status == "dropped":
            return Got(image, "dropped", fetched.reason, fetched.detail, **common)
        return self._checked(Got(image, fetched.status, data=fetched.body(), **common))

    def _checked(self, got: Got) -> Got:
        """The image screened by the image filter's checks, then prepared (``mmc4.resize``): an
        image that does not decode although the screening let it through (``full_decode:
        false`` does not decode every pixel) is left out as ``corrupt_image``."""
        try:
            screened = image_filter.screen_image(got.data, self.checks)
            if isinstance(screened, Drop):
                return replace(got, status="dropped", reason=screened.reason,
                               detail=screened.detail)  # fmt: skip
            prepared = prepare_image(got.data, self.options.resize)
        except DECODE_ERRORS as exc:
            return replace(got, status="dropped", reason="corrupt_image",
                           detail=f"does not decode: {exc}")  # fmt: skip
        return replace(got, prepared=prepared)

    def _sample(
        self, document: Document, parsed: Interleaved, key: str, usable: list[Got]
    ) -> Sample:
        files: dict[str, bytes] = {}
        described = []
        for number, got in enumerate(usable):
            assert got.prepared is not None, "a usable image is prepared"
            ext, data = got.prepared
            files[f"{number}.{ext}"] = data
            described.append(
                {
                    "raw_url": got.image.raw_url,
                    "image_name": got.image.image_name,
                    "matched_sim": got.image.matched_sim,
                    "text_index": got.image.position,
                    "sha256": sha256(data).hexdigest(),
                    "size": len(data),
                }
            )
        metadata = {
            "kind": "interleaved",
            "task": "interleaved",
            "source": SOURCE,
            "doc_id": document.doc_id,
            "lang": _text_or_none(parsed.origin.get("lang")) or self.options.lang,
            "license": _text_or_none(parsed.origin.get("license")) or self.options.license,
            "url": parsed.url,
            "layout": parsed.layout,
            "sentences": len(parsed.texts),
            "image_info": described,
            "origin": parsed.origin,
        }
        files["txt"] = render_text(parsed, [got.image for got in usable]).encode("utf-8")
        files["json"] = orjson.dumps(metadata)
        return Sample(key, files)


def _left_out(image: ImageRef, selection: Selection, drop: Drop | None) -> Got:
    """An image not got: left out by a rule, or its document dropped before fetching."""
    if image.number in selection.left_out:
        return Got(image, "dropped", *selection.left_out[image.number])
    assert drop is not None
    return Got(image, "dropped", drop.reason, "the document was dropped")


@contextmanager
def open_step(recipe: Mmc4Recipe, context: StepContext) -> Iterator[InterleavedStep]:
    """The images given with --images and a fetcher (its own event loop and connections), for
    one work unit."""
    checks = image_options(recipe)
    limits = ImageLimits(checks.max_image_bytes, checks.max_pixels)
    with ExitStack() as stack:
        local = ImageRoot(recipe.input.images, limits.max_bytes)
        stack.callback(local.close)
        cache = FetchCache(cache_folder(context.out))
        fetcher = stack.enter_context(Fetcher(recipe.mmc4.fetch, cache, limits))
        yield InterleavedStep(recipe, local, fetcher)
