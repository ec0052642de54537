"""One text document → one ``text`` sample (its length, language and quality are the filters'
business)."""

from __future__ import annotations

import orjson

from vlpipe.errors import DocumentError
from vlpipe.schema import Document, Outcome, Sample, sample_key
from vlpipe.sources.registry import stateless
from vlpipe.sources.text import TextRecipe

SOURCE = "text"


class InvalidText(DocumentError):
    """The document's bytes are not UTF-8 text."""


def text_outcome(document: Document, recipe: TextRecipe) -> Outcome:
    text = _text(document.content).replace("\r\n", "\n").replace("\r", "\n").strip()
    options = recipe.text
    size = len(text)
    origin = document.origin
    metadata = {
        "kind": "text",
        "task": "text",
        "source": SOURCE,
        "doc_id": document.doc_id,
        "lang": origin.get("lang") if isinstance(origin.get("lang"), str) else options.lang,
        "license": origin.get("license"),
        "origin": origin,
    }
    files = {"txt": text.encode("utf-8"), "json": orjson.dumps(metadata, default=str)}
    return Outcome(
        document.doc_id, (Sample(sample_key(document.doc_id, 0), files),), doc_bytes=size
    )


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, bytes):
        try:
            return content.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidText(f"not UTF-8: {exc}") from None
    raise InvalidText(f"text is a {type(content).__name__}, not a string")


open_step = stateless(text_outcome)
