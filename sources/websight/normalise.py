"""HTML pages → the normalised HTML of a (screenshot, HTML) pair, WebSight-style.

The target HTML must draw exactly the screenshot with nothing but itself, so everything that
would load from elsewhere is replaced or removed (``normalise_page``):

* images — ``src`` of ``img``/``input``/``source`` (``srcset`` too), ``poster``, ``background``
  and CSS ``url(…)`` in ``<style>`` and ``style=""`` — that are not ``data:`` URLs become
  ``placeholder.png``, a grey image the renderer serves next to the page;
* ``<script src>`` (with its body), ``<link>`` (stylesheets, fonts, icons, preloads), ``<base>``
  and ``<meta http-equiv="refresh">`` are removed, and CSS ``@import`` rules deleted — except a
  ``<link rel="stylesheet">`` or ``<script src>`` whose URL is a known CDN asset with a local copy
  (``LocalAssets``, recipe ``websight.local_assets``): the target HTML keeps that tag byte for byte
  (the model learns to write the real CDN link) and only the copy that is rendered points it at
  the local file served beside the page;
* ``src``/``data`` of ``iframe``, ``frame``, ``embed``, ``object``, ``audio``, ``video`` and
  ``track`` become ``about:blank``;
* ``href``/``action``/``formaction`` with a scheme (``http:``, ``https:``, ``javascript:``,
  ``file:`` …) or protocol-relative (``//host``) become ``#``; ``mailto:``, ``tel:``,
  fragments and relative links stay (they load nothing).

Everything else — text, inline scripts and styles, comments, attribute order, entity spelling —
is kept byte for byte; a rewritten tag is re-serialised with double-quoted attributes.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser

PLACEHOLDER = "placeholder.png"
IMAGE_ATTRS = {
    "img": ("src", "srcset"),
    "source": ("src", "srcset"),
    "input": ("src",),
    "video": ("poster",),
    "body": ("background",),
    "table": ("background",),
    "td": ("background",),
    "th": ("background",),
    "image": ("href", "xlink:href"),
}
FRAME_ATTRS = {
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "audio": ("src",),
    "video": ("src",),
    "track": ("src",),
}
LINK_ATTRS = ("href", "action", "formaction")
KEPT_SCHEMES = ("mailto:", "tel:", "#")
_SCHEME = re.compile(r"^\s*([a-zA-Z][a-zA-Z0-9+.-]*:|//)")
_CSS_IMPORT = re.compile(r"@import\s+(url\()?\s*['\"]?[^;]*;?", re.IGNORECASE)
_CSS_URL = re.compile(r"url\(\s*(['\"]?)(.*?)\1\s*\)", re.IGNORECASE | re.DOTALL)


def leaves_page(url: str) -> bool:
    """Whether a link or form target names another resource by scheme or host."""
    value = url.strip()
    return not value.lower().startswith(KEPT_SCHEMES) and bool(_SCHEME.match(value))


def is_data_url(url: str) -> bool:
    return url.strip().lower().startswith("data:")


def canonical_url(url: str) -> str:
    """A URL as ``local_assets`` compares it: trimmed, ``http:``/``https:`` and protocol-relative
    ``//host`` the same (``//host/path``), scheme and host lower-cased."""
    value = url.strip()
    match = re.match(r"^(?:https?:)?//([^/?#]*)", value, re.IGNORECASE)
    return f"//{match.group(1).lower()}{value[match.end() :]}" if match else value


@dataclass(frozen=True)
class LocalAssets:
    """Which CDN URLs the renderer gets from a local copy: canonical URL (or URL prefix, from a
    key ending in ``*``) → the file's path inside the page's folder, or ``None`` when the local
    file is missing (the tag is then removed like any other external one)."""

    exact: Mapping[str, str | None] = field(default_factory=dict)
    prefixes: tuple[tuple[str, str | None], ...] = ()

    @classmethod
    def from_urls(cls, served: Mapping[str, str | None]) -> LocalAssets:
        exact = {canonical_url(k): v for k, v in served.items() if not k.endswith("*")}
        prefixes = sorted(
            ((canonical_url(k[:-1]), v) for k, v in served.items() if k.endswith("*")),
            key=lambda item: -len(item[0]),
        )
        return cls(exact, tuple(prefixes))

    def lookup(self, url: str) -> tuple[bool, str | None]:
        """(whether the URL is a known asset, its served path or ``None`` when missing)."""
        key = canonical_url(url)
        if key in self.exact:
            return True, self.exact[key]
        for prefix, served in self.prefixes:
            if key.startswith(prefix):
                return True, served
        return False, None


NO_ASSETS = LocalAssets()
_SRI_ATTRS = ("integrity", "crossorigin")


def normalise_css(css: str, changes: Counter[str]) -> str:
    """Delete ``@import`` rules and point every non-``data:`` ``url()`` at the placeholder."""
    css, imports = _CSS_IMPORT.subn("", css)
    changes["css_imports_removed"] += imports

    def url(match: re.Match[str]) -> str:
        if is_data_url(match.group(2)) or match.group(2) == PLACEHOLDER:
            return match.group(0)
        changes["css_urls_replaced"] += 1
        return f"url({PLACEHOLDER})"

    return _CSS_URL.sub(url, css)


class _Normaliser(HTMLParser):
    """Re-emits the page token by token, rewriting only the tags that load something."""

    def __init__(self, assets: LocalAssets = NO_ASSETS) -> None:
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self.rendered: dict[int, str] = {}  # index in ``out`` → the tag the renderer gets instead
        self.changes: Counter[str] = Counter()
        self.unstyled = False
        self._assets = assets
        self._skipping_script = False
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, attrs, closed=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, attrs, closed=True)

    def _tag(self, tag: str, attrs: list[tuple[str, str | None]], closed: bool) -> None:
        raw = self.get_starttag_text() or ""
        if self._skipping_script:
            return
        if self._local_asset(tag, attrs, raw, closed):
            return
        if self._removed(tag, dict(attrs)):
            self.changes[f"{tag}_removed"] += 1
            self._skipping_script = tag == "script" and not closed
            self.unstyled |= _is_stylesheet(tag, dict(attrs))
            return
        self._in_style = tag == "style" and not closed
        rewritten = [(name, self._attr(tag, name, value)) for name, value in attrs]
        if rewritten == attrs:
            self.out.append(raw)
            return
        parts = [tag] + [
            name if value is None else f'{name}="{html.escape(value, quote=True)}"'
            for name, value in rewritten
        ]
        self.out.append(f"<{' '.join(parts)}{' /' if closed else ''}>")

    def _local_asset(
        self, tag: str, attrs: list[tuple[str, str | None]], raw: str, closed: bool
    ) -> bool:
        """Keep a stylesheet link or external script whose URL has a local copy: verbatim in the
        target, pointing at the copy (SRI attributes dropped) in the rendered page."""
        names = dict(attrs)
        if _is_stylesheet(tag, names):
            attr = "href"
        elif tag == "script" and names.get("src") and not is_data_url(names.get("src") or ""):
            attr = "src"
        else:
            return False
        known, served = self._assets.lookup(names.get(attr) or "")
        if not known:
            return False
        if served is None:
            self.changes["assets_missing"] += 1
            return False
        self.changes["assets_local"] += 1
        parts = [tag] + [
            name if value is None else f'{name}="{html.escape(served if name == attr else value)}"'
            for name, value in attrs
            if name not in _SRI_ATTRS
        ]
        self.rendered[len(self.out)] = f"<{' '.join(parts)}{' /' if closed else ''}>"
        self.out.append(raw)
        return True

    @staticmethod
    def _removed(tag: str, attrs: dict[str, str | None]) -> bool:
        if tag == "script":
            return bool(attrs.get("src")) and not is_data_url(attrs.get("src") or "")
        if tag == "meta":
            return (attrs.get("http-equiv") or "").strip().lower() == "refresh"
        return tag in ("link", "base")

    def _attr(self, tag: str, name: str, value: str | None) -> str | None:
        if value is None:
            return None
        if name == "style":
            return normalise_css(value, self.changes)
        if name in IMAGE_ATTRS.get(tag, ()) and not is_data_url(value) and value != PLACEHOLDER:
            self.changes["images_replaced"] += 1
            return PLACEHOLDER
        if name in FRAME_ATTRS.get(tag, ()) and not is_data_url(value) and value != "about:blank":
            self.changes["embeds_blanked"] += 1
            return "about:blank"
        if name in LINK_ATTRS and leaves_page(value):
            self.changes["links_replaced"] += 1
            return "#"
        return value

    def handle_endtag(self, tag: str) -> None:
        if self._skipping_script:
            self._skipping_script = tag != "script"
            return
        self._in_style = False
        self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if self._skipping_script:
            return
        self.out.append(normalise_css(data, self.changes) if self._in_style else data)

    def handle_entityref(self, name: str) -> None:
        self._raw(f"&{name};")

    def handle_charref(self, name: str) -> None:
        self._raw(f"&#{name};")

    def handle_comment(self, data: str) -> None:
        self._raw(f"<!--{data}-->")

    def handle_decl(self, decl: str) -> None:
        self._raw(f"<!{decl}>")

    def handle_pi(self, data: str) -> None:
        self._raw(f"<?{data}>")

    def unknown_decl(self, data: str) -> None:
        self._raw(f"<![{data}]>")

    def _raw(self, text: str) -> None:
        if not self._skipping_script:
            self.out.append(text)


def _is_stylesheet(tag: str, attrs: Mapping[str, str | None]) -> bool:
    rel = (attrs.get("rel") or "").lower().split()
    return tag == "link" and "stylesheet" in rel and bool((attrs.get("href") or "").strip())


@dataclass(frozen=True)
class NormalisedPage:
    """``html`` is the target (known CDN links kept as written); ``rendered`` is what the browser
    draws (the same page with those links pointing at the local copies). ``unstyled``: a
    ``<link rel="stylesheet">`` was removed (no local copy, or its file is missing)."""

    html: str
    rendered: str
    changes: dict[str, int]
    unstyled: bool


def normalise_page(page: str, assets: LocalAssets = NO_ASSETS) -> NormalisedPage:
    """The page with every external reference replaced or removed (see the module docstring),
    how many of each change were made, and the copy the renderer loads."""
    parser = _Normaliser(assets)
    parser.feed(page)
    parser.close()
    rendered = "".join(parser.rendered.get(i, part) for i, part in enumerate(parser.out))
    changes = {k: v for k, v in sorted(parser.changes.items()) if v}
    return NormalisedPage("".join(parser.out), rendered, changes, parser.unstyled)


def normalise_html(page: str) -> tuple[str, dict[str, int]]:
    """``normalise_page`` without local assets: the normalised page and its change counts."""
    result = normalise_page(page)
    return result.html, result.changes


def decode_page(content: bytes | str) -> str:
    """A page's text: rows hold ``str``; files are UTF-8 (a BOM is dropped, bad bytes replaced)."""
    if isinstance(content, str):
        return content
    return content.decode("utf-8", errors="replace").removeprefix("\ufeff")
