"""Where the image a row names comes from, for every source that reads rows naming images (the
dataset adapters, MMC4, chat): bytes in the row (a Hugging Face ``Image`` feature's
``{"bytes", "path"}``, raw bytes, or base64 where a source allows it), a relative path under the
build's ``--images`` folder or tar, or a URL got with the fetcher (``vlpipe.sources.fetch``).

Paths come from untrusted rows, so ``--images`` confines them: absolute paths, ``..``
components, backslashes and NUL bytes are refused before anything is opened, and a path whose
resolved location leaves the root (a symlink pointing out) is refused too; symlinks inside the
root that stay inside it are followed (image folders are often assembled from links). Only
regular files are read, at most ``max_bytes`` + 1 bytes of them, so a FIFO or a device cannot
stall or flood a worker. Every refusal is a ``Drop`` with a reason, never an exception.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterable
from concurrent.futures import Future
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from vlpipe.errors import ConfigError
from vlpipe.filters import image as image_filter
from vlpipe.filters.image import decode_base64, image_format
from vlpipe.recipe import Recipe
from vlpipe.schema import Drop
from vlpipe.sources.fetch import FetchCache, Fetched, Fetcher, FetchOptions, ImageLimits

URL_SCHEMES = ("http://", "https://")


def image_options(recipe: Recipe) -> image_filter.Options:
    """The ``image`` filter's options in the recipe (its defaults where the recipe does not list
    it): the same limits screen every image a source gets, before its sample is judged."""
    found = (step.options for step in recipe.filters if step.name == image_filter.NAME)
    options = next(found, None) or image_filter.Options()
    assert isinstance(options, image_filter.Options)
    return options


@dataclass(frozen=True)
class ImageRef:
    """What a row's image value names: its bytes, a path under ``--images``, or a URL."""

    data: bytes | None = None
    path: str | None = None
    url: str | None = None


def image_ref(value: Any, source: str, base64_strings: bool = False) -> ImageRef | Drop:
    """The image a row's value names. ``base64_strings``: a string is the image's base64 (the
    chat source, which never opens paths); otherwise a string is a URL or a relative path."""
    if isinstance(value, dict):  # a Hugging Face Image feature: {"bytes": …, "path": …}
        if value.get("bytes") is not None:
            value = value["bytes"]
        elif isinstance(value.get("path"), str) and value["path"]:
            value = value["path"]
        else:
            return Drop(source, "missing_image", "an image struct with neither bytes nor path")
    if isinstance(value, bytes | bytearray | memoryview):
        return ImageRef(data=bytes(value))
    if not isinstance(value, str) or not value.strip():
        return Drop(source, "missing_image", f"no image in the row ({type(value).__name__})")
    if base64_strings:
        data = decode_base64(value)
        if data is None:
            return Drop(source, "corrupt_base64", "an image string is not base64")
        return ImageRef(data=data)
    text = value.strip()
    if text.lower().startswith(URL_SCHEMES):
        return ImageRef(url=text)
    return ImageRef(path=text)


def confined_parts(relative: str) -> tuple[str, ...] | tuple[str, str]:
    """The components of a path a row gave, or ``("refused", reason)`` where it could leave the
    image root whatever the root holds."""
    if not relative or "\0" in relative:
        return ("refused", "empty path" if not relative else "NUL byte in the path")
    if "\\" in relative:
        return ("refused", f"backslash in {relative!r}")
    if relative.startswith("/"):
        return ("refused", f"absolute path {relative!r}")
    parts = tuple(part for part in relative.split("/") if part not in ("", "."))
    if ".." in parts:
        return ("refused", f"'..' in {relative!r}")
    if not parts:
        return ("refused", f"no file named by {relative!r}")
    return parts


class ImageRoot:
    """The images a build was given (``--images``): a folder or a tar. ``read`` takes a path
    relative to it; a plain name also finds a tar member of that name in any folder (MMC4's
    ``image_name``: its downloads are often tarred under a folder)."""

    def __init__(self, location: str | None, max_bytes: int) -> None:
        self.location = location
        self.max_bytes = max_bytes
        self.folder: Path | None = None
        self.real_folder = ""
        self.tar: tarfile.TarFile | None = None
        self.members: dict[str, tarfile.TarInfo] = {}
        self.by_name: dict[str, tarfile.TarInfo] = {}
        if location is not None and Path(location).is_dir():
            self.folder = Path(location)
            self.real_folder = os.path.realpath(location)
        elif location is not None:
            try:
                self.tar = tarfile.open(location)  # noqa: SIM115 (closed by close())
                for member in self.tar:
                    if member.isreg():
                        name = PurePosixPath(os.path.normpath(member.name)).as_posix()
                        self.members.setdefault(name, member)
                        self.by_name.setdefault(PurePosixPath(name).name, member)
            except (OSError, tarfile.TarError) as exc:
                raise ConfigError(f"--images {location}: not a folder or a tar: {exc}") from None

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()

    def read(self, relative: str, source: str) -> bytes | Drop:
        """The file's bytes (at most ``max_bytes`` + 1), or why not."""
        if self.location is None:
            return Drop(source, "no_image_root", f"{relative!r} is a path: give --images")
        parts = confined_parts(relative)
        if parts[0] == "refused":
            return Drop(source, "image_path_refused", parts[1])
        if self.tar is not None:
            return self._member(parts, relative, source)
        assert self.folder is not None
        resolved = os.path.realpath(self.folder.joinpath(*parts))
        if not resolved.startswith(self.real_folder.rstrip(os.sep) + os.sep):
            return Drop(source, "image_path_refused", f"{relative!r} resolves outside --images")
        try:
            descriptor = os.open(resolved, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return Drop(source, "missing_image", f"{relative} is not in --images")
        except OSError as exc:
            return Drop(source, "missing_image", f"{relative}: {exc.strerror}")
        with os.fdopen(descriptor, "rb") as handle:
            if not stat.S_ISREG(os.fstat(descriptor).st_mode):
                return Drop(source, "image_path_refused", f"{relative} is not a regular file")
            return handle.read(self.max_bytes + 1)

    def has(self, relative: str) -> bool:
        parts = confined_parts(relative)
        if self.location is None or parts[0] == "refused":
            return False
        if self.tar is not None:
            return self._find(parts) is not None
        assert self.folder is not None
        return self.folder.joinpath(*parts).is_file()

    def _find(self, parts: tuple[str, ...]) -> tarfile.TarInfo | None:
        member = self.members.get("/".join(parts))
        return member if member is not None or len(parts) > 1 else self.by_name.get(parts[0])

    def _member(self, parts: tuple[str, ...], relative: str, source: str) -> bytes | Drop:
        assert self.tar is not None
        member = self._find(parts)
        handle = self.tar.extractfile(member) if member is not None else None
        if handle is None:
            return Drop(source, "missing_image", f"{relative} is not in --images")
        return handle.read(self.max_bytes + 1)


@dataclass(frozen=True)
class Resolved:
    """An image had: its format (from its bytes), the bytes, and where they came from."""

    ext: str
    data: bytes
    ref: str  # the path or URL, or "row"


class ImageResolver:
    """Gets the images rows name: from the row, ``--images``, or the web (a fetcher opened on the
    first URL, with its cache in ``cache``). ``prefetch`` queues URLs ahead of their turn."""

    def __init__(
        self,
        root: ImageRoot,
        limits: ImageLimits,
        fetch: FetchOptions,
        cache: Path,
        source: str,
    ) -> None:
        self.root, self.limits, self.fetch, self.cache = root, limits, fetch, cache
        self.source = source
        self.fetcher: Fetcher | None = None
        self.stack = ExitStack()
        self.pending: dict[str, Future[Fetched]] = {}

    def __enter__(self) -> ImageResolver:
        return self

    def __exit__(self, *_: object) -> None:
        self.stack.close()
        self.root.close()

    def _fetcher(self) -> Fetcher:
        if self.fetcher is None:
            fetcher = Fetcher(self.fetch, FetchCache(self.cache), self.limits)
            self.fetcher = self.stack.enter_context(fetcher)
        return self.fetcher

    def prefetch(self, refs: Iterable[ImageRef]) -> None:
        for ref in refs:
            if ref.url and ref.url not in self.pending:
                self.pending[ref.url] = self._fetcher().submit(ref.url)

    def resolve(self, value: Any) -> Resolved | Drop:
        ref = value if isinstance(value, ImageRef) else image_ref(value, self.source)
        if isinstance(ref, Drop):
            return ref
        if ref.data is not None:
            return self._typed(ref.data, "row")
        if ref.path is not None:
            data = self.root.read(ref.path, self.source)
            return data if isinstance(data, Drop) else self._typed(data, ref.path)
        assert ref.url is not None
        future = self.pending.pop(ref.url, None) or self._fetcher().submit(ref.url)
        fetched = future.result()
        if fetched.status == "dropped":
            return Drop(self.source, "image_fetch_failed", f"{ref.url}: {fetched.reason}")
        return self._typed(fetched.body(), ref.url)

    def _typed(self, data: bytes, ref: str) -> Resolved | Drop:
        if len(data) > self.limits.max_bytes:
            limit = self.limits.max_bytes
            return Drop(self.source, "image_too_large", f"{ref}: over {limit} bytes")
        ext = image_format(data)
        if ext is None:
            return Drop(self.source, "not_an_image", f"{ref}: not PNG, JPEG, WebP or GIF")
        return Resolved(ext, data, ref)
