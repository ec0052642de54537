"""EPUB files and HTML book folders → the book's chapters in reading order, plus its metadata.

Plain functions, no browser: ``vlpipe.sources.ebooks.step`` renders what they return.

* **Archives are untrusted.** :func:`safe_extract` checks every member *before* writing anything
  (no absolute names, ``..``, backslashes or symlinks; member count; declared sizes; compression
  ratio) and counts the bytes actually inflated while writing, so a zip bomb costs at most the
  configured budget. Raster images are checked against decompression bombs from their headers.
* **XML is untrusted.** ``container.xml`` and the OPF go through ``defusedxml``: entity
  declarations (billion laughs) and external entities fail the book with ``InvalidPackage``.
* **Reading order** is the OPF spine (EPUB 2 and 3); ``linear="no"`` items and non-HTML spine
  items (a bare SVG or image) are skipped, as reading systems do when paging through. A folder
  without an OPF is read in natural order of its HTML file names (``ch2`` before ``ch10``).
* **XHTML that is not well-formed** is rendered with the HTML parser, as a browser does for
  ``text/html``; the page samples record why (``xhtml_fallback``). Well-formed XHTML is rendered
  as XHTML (a self-closed ``<title/>`` would swallow the body in HTML), with HTML named entities
  such as ``&nbsp;`` turned into character references so the XML parser accepts them.
"""

from __future__ import annotations

import html.entities
import io
import posixpath
import re
import stat
import warnings
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from PIL import Image

from vlpipe.errors import DocumentError
from vlpipe.recipe import ArchiveLimits

CONTAINER = "META-INF/container.xml"
CHAPTER_SUFFIXES = (".xhtml", ".xht", ".html", ".htm")
XHTML_NS = "http://www.w3.org/1999/xhtml"
HTML_MEDIA_TYPES = frozenset({"application/xhtml+xml", "text/html"})
RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp", ".tif", ".tiff")
RATIO_MIN_BYTES = 2**20  # small members may compress very well (whitespace-heavy XHTML)
_COPY_CHUNK = 2**16
_BOMS = ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_NAMED_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)
_DECL_ENCODING = re.compile(rb"^\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9._-]+)[\"']")
_META_CHARSET = re.compile(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9._-]+)", re.IGNORECASE)


class NotAnEpub(DocumentError):
    """The input is not a zip archive, or holds no EPUB package."""


class UnsafeArchive(DocumentError):
    """An archive member escapes the book, is a link, or would inflate past the limits."""


class InvalidPackage(DocumentError):
    """container.xml or the OPF is malformed or uses forbidden XML constructs."""


class BrokenSpine(DocumentError):
    """The reading order names a file that is not in the book."""


@dataclass(frozen=True)
class BookInfo:
    """The package metadata copied into every sample of the book."""

    title: str | None = None
    language: str | None = None
    identifiers: tuple[str, ...] = ()
    creators: tuple[str, ...] = ()
    rights: str | None = None
    epub_version: str | None = None


@dataclass(frozen=True)
class Chapter:
    path: str  # posix path inside the book folder
    xhtml: bool  # declared XHTML (parse as XML first)


@dataclass(frozen=True)
class Book:
    root: Path
    info: BookInfo
    chapters: tuple[Chapter, ...]
    skipped_spine_items: int = 0


@dataclass(frozen=True)
class ChapterMarkup:
    """What the browser is served for a chapter, and under which name (which picks the parser)."""

    text: str
    entry: str
    fallback: str | None  # why XHTML is rendered as HTML, if it is


# -- archives ------------------------------------------------------------------------------------


def member_path(name: str) -> str:
    """The normalised posix path of an archive member, or ``UnsafeArchive`` if it could land
    outside the extraction folder (absolute, drive letter, ``..``, backslash, NUL)."""
    if not name or "\\" in name or "\0" in name or name.startswith("/") or re.match(r"^\w:", name):
        raise UnsafeArchive(f"unsafe member name {name!r}")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if not parts or ".." in parts:
        raise UnsafeArchive(f"unsafe member name {name!r} (path traversal)")
    return "/".join(parts)


def check_members(members: Iterable[zipfile.ZipInfo], limits: ArchiveLimits) -> list[str]:
    """Vet the declared members before anything is written; returns their normalised paths."""
    paths: list[str] = []
    declared = 0
    for count, info in enumerate(members, start=1):
        if count > limits.max_members:
            raise UnsafeArchive(f"more than {limits.max_members} members")
        path = member_path(info.filename)
        if stat.S_ISLNK(info.external_attr >> 16):
            raise UnsafeArchive(f"member {info.filename!r} is a symbolic link")
        if info.flag_bits & 0x1:
            raise UnsafeArchive(f"member {info.filename!r} is encrypted")
        if info.file_size > limits.max_member_bytes:
            raise UnsafeArchive(
                f"member {info.filename!r} declares {info.file_size} bytes "
                f"> {limits.max_member_bytes}"
            )
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= RATIO_MIN_BYTES and ratio > limits.max_ratio:
            raise UnsafeArchive(
                f"member {info.filename!r} compression ratio {ratio:.0f} > {limits.max_ratio:g}"
            )
        declared += info.file_size
        if declared > limits.max_unpacked_bytes:
            raise UnsafeArchive(f"declared size over {limits.max_unpacked_bytes} bytes")
        paths.append(path)
    if len(set(paths)) != len(paths):
        raise UnsafeArchive("two members extract to the same path")
    return paths


def safe_extract(data: bytes, dest: Path, limits: ArchiveLimits) -> None:
    """Extract a zip archive into the empty folder ``dest`` under the guards of ``limits``."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise NotAnEpub(f"not a zip archive: {exc}") from None
    with archive:
        members = archive.infolist()
        paths = check_members(members, limits)
        budget = limits.max_unpacked_bytes
        for info, path in zip(members, paths, strict=True):
            target = dest.joinpath(*path.split("/"))
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            budget -= _copy_member(archive, info, target, min(budget, limits.max_member_bytes))
    check_images(dest, limits.max_image_pixels)


def _copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, cap: int) -> int:
    """Inflate one member, stopping as soon as it passes its declared size or ``cap``."""
    written = 0
    try:
        with archive.open(info) as source, target.open("xb") as sink:
            while chunk := source.read(_COPY_CHUNK):
                written += len(chunk)
                if written > info.file_size or written > cap:
                    raise UnsafeArchive(f"member {info.filename!r} inflates past its limit")
                sink.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise InvalidPackage(f"member {info.filename!r} cannot be read: {exc}") from None
    except FileExistsError:
        raise UnsafeArchive(f"member {info.filename!r} overwrites another member") from None
    return written


def check_images(root: Path, max_pixels: int) -> None:
    """Refuse raster images whose header declares more than ``max_pixels`` (decompression bombs
    would otherwise reach the browser); only headers are read."""
    for path in sorted(root.rglob("*")):
        if not path.name.lower().endswith(RASTER_SUFFIXES) or not path.is_file():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                with Image.open(path) as image:
                    width, height = image.size
            except Image.DecompressionBombError:
                width, height = max_pixels + 1, 1
            except (OSError, SyntaxError, ValueError):
                continue  # a broken image renders as a broken image; it costs nothing
        if width * height > max_pixels:
            name = path.relative_to(root).as_posix()
            raise UnsafeArchive(f"image {name} is {width}x{height} px > {max_pixels} (bomb)")


# -- XML: container and package ------------------------------------------------------------------


def parse_xml(data: bytes, what: str) -> Element:
    """Parse with entity declarations and external entities forbidden (billion laughs, XXE)."""
    try:
        return SafeET.fromstring(data)
    except DefusedXmlException as exc:
        raise InvalidPackage(f"{what}: forbidden XML ({type(exc).__name__})") from None
    except SafeET.ParseError as exc:
        raise InvalidPackage(f"{what} is not well-formed XML: {exc}") from None


def _local(tag: object) -> str:
    """An element's name without its namespace (real-world OPFs get namespaces wrong)."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(element: Element | None, name: str) -> list[Element]:
    return [] if element is None else [c for c in element if _local(c.tag) == name]


def _text(element: Element) -> str:
    return " ".join("".join(element.itertext()).split())


def package_path(container: bytes) -> str:
    """The OPF named by ``META-INF/container.xml`` (the first package rootfile)."""
    root = parse_xml(container, CONTAINER)
    rootfiles = [e for e in root.iter() if _local(e.tag) == "rootfile"]
    preferred = [e for e in rootfiles if e.get("media-type") == "application/oebps-package+xml"]
    for element in preferred or rootfiles:
        if element.get("full-path"):
            return member_path(unquote(element.get("full-path", "")))
    raise InvalidPackage(f"{CONTAINER} names no rootfile")


def parse_package(data: bytes, opf_path: str) -> tuple[BookInfo, list[tuple[str, str]], int]:
    """Metadata, the spine as ``(path, media type)`` in reading order (paths relative to the
    book folder), and the number of spine items skipped (non-linear or not HTML)."""
    root = parse_xml(data, opf_path)
    if _local(root.tag) != "package":
        raise InvalidPackage(f"{opf_path}: root element is <{_local(root.tag)}>, not <package>")
    metadata = next(iter(_children(root, "metadata")), None)
    manifest = next(iter(_children(root, "manifest")), None)
    spine = next(iter(_children(root, "spine")), None)
    if manifest is None or spine is None:
        raise InvalidPackage(f"{opf_path}: no manifest or no spine")
    base = posixpath.dirname(opf_path)
    items = {item.get("id"): item for item in _children(manifest, "item")}
    order: list[tuple[str, str]] = []
    skipped = 0
    for ref in _children(spine, "itemref"):
        item = items.get(ref.get("idref"))
        if item is None or not item.get("href"):
            raise BrokenSpine(f"spine entry {ref.get('idref')!r} is not in the manifest")
        media_type = (item.get("media-type") or "").lower()
        if ref.get("linear", "yes") == "no" or media_type not in HTML_MEDIA_TYPES:
            skipped += 1
            continue
        order.append((_resolve_href(base, item.get("href", "")), media_type))
    return _book_info(root, metadata), order, skipped


def _resolve_href(base: str, href: str) -> str:
    target = unquote(urlsplit(href).path)
    if not target or urlsplit(href).scheme:
        raise BrokenSpine(f"spine entry {href!r} is not a file of the book")
    joined = posixpath.normpath(posixpath.join(base, target))
    if joined.startswith("../") or joined == ".." or joined.startswith("/"):
        raise BrokenSpine(f"spine entry {href!r} points outside the book")
    return joined


def _book_info(package: Element, metadata: Element | None) -> BookInfo:
    values: dict[str, list[str]] = {}
    for element in [] if metadata is None else list(metadata):
        name = _local(element.tag)
        if name == "meta" and element.get("property") in ("dcterms:license", "dcterms:rights"):
            name = "rights"
        text = _text(element)
        if text:
            values.setdefault(name, []).append(text)
    first = {name: found[0] for name, found in values.items()}
    return BookInfo(
        title=first.get("title"),
        language=first.get("language"),
        identifiers=tuple(values.get("identifier", ())),
        creators=tuple(values.get("creator", ())),
        rights=first.get("rights"),
        epub_version=package.get("version"),
    )


# -- books ---------------------------------------------------------------------------------------


def is_book_folder(path: Path) -> bool:
    """A folder that is one book: an unpacked EPUB, or a folder with an OPF or HTML chapters."""
    if (path / CONTAINER).is_file():
        return True
    return any(
        entry.is_file() and entry.name.lower().endswith((".opf", *CHAPTER_SUFFIXES))
        for entry in path.iterdir()
    )


def natural_key(path: str) -> list[tuple[int, int | str]]:
    """Sort key putting ``ch2`` before ``ch10``: digit runs compare as numbers."""
    return [(0, int(p)) if p.isdigit() else (1, p.lower()) for p in re.split(r"(\d+)", path) if p]


def open_book(root: Path) -> Book:
    """The chapters of an extracted EPUB or a book folder, in reading order."""
    opf = _find_package(root)
    if opf is None:
        return _loose_book(root)
    info, order, skipped = parse_package(_read(root, opf), opf)
    chapters = []
    for path, media_type in order:
        file = root.joinpath(*path.split("/"))
        if not file.is_file():
            raise BrokenSpine(f"spine entry {path} is missing from the book")
        xhtml = media_type == "application/xhtml+xml" or path.lower().endswith((".xhtml", ".xht"))
        chapters.append(Chapter(path, xhtml))
    return Book(root, info, tuple(chapters), skipped)


def _find_package(root: Path) -> str | None:
    if (root / CONTAINER).is_file():
        return package_path(_read(root, CONTAINER))
    packages = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.opf") if p.is_file())
    return packages[0] if packages else None


def _loose_book(root: Path) -> Book:
    files = [
        p.relative_to(root).as_posix()
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink() and p.name.lower().endswith(CHAPTER_SUFFIXES)
    ]
    if not files:
        raise NotAnEpub("no OPF package and no HTML chapters")
    chapters = tuple(
        Chapter(f, f.lower().endswith((".xhtml", ".xht"))) for f in sorted(files, key=natural_key)
    )
    return Book(root, BookInfo(), chapters)


def _read(root: Path, path: str) -> bytes:
    file = (root / path).resolve()
    if not file.is_relative_to(root.resolve()):
        raise BrokenSpine(f"{path} points outside the book")
    try:
        return file.read_bytes()
    except OSError as exc:
        raise BrokenSpine(f"cannot read {path}: {exc.strerror}") from None


# -- chapters ------------------------------------------------------------------------------------


def decode_markup(data: bytes) -> str:
    """Text of an (X)HTML file: BOM, then the XML declaration, then a ``<meta charset>``, then
    UTF-8 (undecodable bytes replaced: a bad byte costs a character, not the chapter)."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return data.decode(codec, errors="replace").lstrip("\ufeff")
    found = _DECL_ENCODING.match(data) or _META_CHARSET.search(data[:4096])
    codec = found.group(1).decode("ascii") if found else "utf-8"
    try:
        return data.decode(codec, errors="replace")
    except LookupError:
        return data.decode("utf-8", errors="replace")


def html_entities_as_references(text: str) -> str:
    """``&nbsp;`` → ``&#160;`` for every HTML named entity XML does not define itself."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _XML_ENTITIES or f"{name};" not in html.entities.html5:
            return match.group(0)
        return "".join(f"&#{ord(ch)};" for ch in html.entities.html5[f"{name};"])

    return _NAMED_ENTITY.sub(replace, text)


def chapter_markup(data: bytes, chapter: Chapter) -> ChapterMarkup:
    """The chapter as served to the browser. The text is re-encoded as UTF-8 (the XML
    declaration says so); XHTML that does not parse, or whose root is not XHTML's ``<html>``,
    is served under an ``.html`` name so Chromium's HTML parser renders it."""
    text = decode_markup(data)
    html_entry = chapter.path if chapter.path.lower().endswith((".html", ".htm")) else None
    if not chapter.xhtml:
        return ChapterMarkup(text, html_entry or f"{chapter.path}.html", None)
    xml = _XML_DECL.sub('<?xml version="1.0" encoding="utf-8"?>', text, count=1)
    xml = html_entities_as_references(xml)
    try:
        root = SafeET.fromstring(xml.encode("utf-8"))
        reason = None if root.tag == f"{{{XHTML_NS}}}html" else "root is not XHTML's <html>"
    except DefusedXmlException as exc:
        reason = f"forbidden XML ({type(exc).__name__})"
    except SafeET.ParseError as exc:
        reason = f"not well-formed XML: {exc}"
    if reason is not None:
        return ChapterMarkup(text, f"{chapter.path}.html", reason)
    entry = chapter.path if chapter.path.lower().endswith((".xhtml", ".xht")) else None
    return ChapterMarkup(xml, entry or f"{chapter.path}.xhtml", None)


# -- CJK text -------------------------------------------------------------------------------------

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
_KANA = "\u3040-\u30ff"
_HANGUL = "\u1100-\u11ff\uac00-\ud7af"
_CJK_TEXT = f"{_HAN}{_KANA}{_HANGUL}\u3000-\u303f\uff00-\uffef"
_SPACE_IN_CJK = re.compile(f"(?<=[{_CJK_TEXT}]) (?=[{_CJK_TEXT}])")


def tidy_cjk_spaces(text: str) -> str:
    """Remove a single space between two CJK characters: a line break inside a CJK paragraph of
    the source becomes such a space, which no Chinese or Japanese text has."""
    return _SPACE_IN_CJK.sub("", text)
