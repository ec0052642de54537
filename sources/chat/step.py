"""One conversation → one ``chat`` sample for SFT (DeepSeek-VL stage 3).

A row holds ``messages``: ``[{"role": "user"|"assistant"|"system", "content": str}]`` (the
ShareGPT/LLaVA spelling ``{"from": "human"|"gpt", "value": …}`` is accepted), and optionally
``images``: raw bytes, ``{"bytes": …}`` structs (a Hugging Face ``Image`` column) or base64
strings. Images never come from file paths, so a row cannot read the machine's files. Each image
has an ``<image>`` placeholder in a user turn; rows with images and no placeholders get them in
front of the first user turn (the LLaVA convention).
"""

from __future__ import annotations

from typing import Any

import orjson

from vlpipe.errors import DocumentError
from vlpipe.filters.image import image_format
from vlpipe.schema import Document, Drop, Outcome, Sample, sample_key
from vlpipe.sources.chat import ChatOptions, ChatRecipe
from vlpipe.sources.images import image_ref
from vlpipe.sources.registry import stateless

SOURCE = "chat"
PLACEHOLDER = "<image>"
ROLES = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "gpt": "assistant",
    "system": "system",
}


class InvalidChat(DocumentError):
    """The row's messages are not a conversation."""


def chat_outcome(document: Document, recipe: ChatRecipe) -> Outcome:
    content = (
        document.content if isinstance(document.content, dict) else {"messages": document.content}
    )
    options = recipe.chat
    images_in = content.get("images") or []
    if not isinstance(images_in, list):
        raise InvalidChat("'images' is not a list")
    verdict = conversation(content.get("messages"), len(images_in), options, SOURCE)
    images: list[tuple[str, bytes]] = []
    for item in images_in if not isinstance(verdict, Drop) else []:
        image = _image(item)
        if isinstance(image, Drop):
            verdict = image
            break
        images.append(image)
    if isinstance(verdict, Drop):
        return Outcome(document.doc_id, drop=verdict)
    metadata = {
        "kind": "chat",
        "task": document.origin.get("task") or "chat",
        "source": SOURCE,
        "doc_id": document.doc_id,
        "lang": document.origin.get("lang") or options.lang,
        "license": document.origin.get("license"),
        "turns": len(verdict),
        "origin": document.origin,
    }
    key = sample_key(document.doc_id, 0)
    return Outcome(document.doc_id, (chat_sample(key, verdict, images, metadata),))


def conversation(
    raw: Any, images: int, options: ChatOptions, source: str
) -> list[dict[str, str]] | Drop:
    """A row's turns as ``{role, content}`` with one ``<image>`` per image in user turns, or why
    the row is no conversation to train on (``InvalidChat`` when it is none at all)."""
    messages = _messages(raw)
    verdict = _conversation_drop(messages, images, options.max_turns, options.max_images, source)
    if verdict is None:
        messages = _with_placeholders(messages, images)
        verdict = _placeholder_drop(messages, images, source)
    return messages if verdict is None else verdict


def chat_sample(
    key: str, messages: list[dict[str, str]], images: list[tuple[str, bytes]], metadata: dict
) -> Sample:
    """The members of a ``chat`` sample: ``<key>.N.<ext>`` images, ``chat.json`` and ``json``."""
    files = {f"{n}.{ext}": data for n, (ext, data) in enumerate(images)}
    files["chat.json"] = orjson.dumps(messages)
    files["json"] = orjson.dumps(metadata, default=str)
    return Sample(key, files)


def _messages(raw: Any) -> list[dict[str, str]]:
    """Turns as ``{role, content}``; a turn ``{user, assistant}`` (the_cauldron's and
    FineVision's ``texts``) is an exchange: two turns."""
    if not isinstance(raw, list) or not raw:
        raise InvalidChat("'messages' is not a non-empty list")
    messages = []
    for number, turn in enumerate(raw):
        if not isinstance(turn, dict):
            raise InvalidChat(f"message {number} is not an object")
        if "user" in turn and "assistant" in turn:
            if not isinstance(turn["user"], str) or not isinstance(turn["assistant"], str):
                raise InvalidChat(f"exchange {number} needs text for user and assistant")
            messages.append({"role": "user", "content": turn["user"]})
            messages.append({"role": "assistant", "content": turn["assistant"]})
            continue
        role = ROLES.get(str(turn.get("role", turn.get("from", ""))).lower())
        text = turn.get("content", turn.get("value"))
        if role is None or not isinstance(text, str):
            raise InvalidChat(f"message {number} needs a known role and text content")
        messages.append({"role": role, "content": text})
    return messages


def _conversation_drop(
    messages: list[dict[str, str]], images: int, max_turns: int, max_images: int, source: str
) -> Drop | None:
    if not any(m["role"] == "assistant" and m["content"].strip() for m in messages):
        return Drop(source, "no_assistant_turn", f"{len(messages)} turns")
    if len(messages) > max_turns:
        return Drop(source, "too_many_turns", f"{len(messages)} > {max_turns}")
    if images > max_images:
        return Drop(source, "too_many_images", f"{images} > {max_images}")
    return None


def _with_placeholders(messages: list[dict[str, str]], images: int) -> list[dict[str, str]]:
    if images == 0 or any(PLACEHOLDER in m["content"] for m in messages):
        return messages
    first_user = next((n for n, m in enumerate(messages) if m["role"] == "user"), None)
    if first_user is None:
        return messages
    updated = [dict(m) for m in messages]
    updated[first_user]["content"] = PLACEHOLDER * images + "\n" + updated[first_user]["content"]
    return updated


def _placeholder_drop(messages: list[dict[str, str]], images: int, source: str) -> Drop | None:
    in_users = sum(m["content"].count(PLACEHOLDER) for m in messages if m["role"] == "user")
    in_others = sum(m["content"].count(PLACEHOLDER) for m in messages if m["role"] != "user")
    if in_users != images or in_others:
        detail = f"{images} images, {in_users} placeholders in user turns, {in_others} elsewhere"
        return Drop(source, "image_placeholder_mismatch", detail)
    return None


def _image(item: Any) -> tuple[str, bytes] | Drop:
    """An image of the row and its format (the image filter judges the bytes)."""
    ref = image_ref(item, SOURCE, base64_strings=True)
    if isinstance(ref, Drop):
        return ref
    assert ref.data is not None, "base64_strings: a string is the image's bytes"
    ext = image_format(ref.data)
    if ext is None:
        return Drop(SOURCE, "not_an_image", "an image is not PNG, JPEG, WebP or GIF")
    return ext, ref.data


open_step = stateless(chat_outcome)
