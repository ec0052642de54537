"""HTML pages → the normalised HTML of a (screenshot, HTML) pair, WebSight-style.

The target HTML must draw exactly the screenshot with nothing but itself, so everything that
would load from elsewhere is replaced or removed (``normalise_html``):

* images — ``src`` of ``img``/``input``/``source`` (``srcset`` too), ``poster``, ``background``
  and CSS ``url(…)`` in ``<style>`` and ``style=""`` — that are not ``data:`` URLs become
  ``placeholder.png``, a grey image the renderer serves next to the page;
* ``<script src>`` (with its body), ``<link>`` (stylesheets, fonts, icons, preloads), ``<base>``
  and ``<meta http-equiv="refresh">`` are removed, and CSS ``@import`` rules deleted;
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

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.out: list[str] = []
        self.changes: Counter[str] = Counter()
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
        if self._removed(tag, dict(attrs)):
            self.changes[f"{tag}_removed"] += 1
            self._skipping_script = tag == "script" and not closed
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


def normalise_html(page: str) -> tuple[str, dict[str, int]]:
    """The page with every external reference replaced or removed (see the module docstring),
    and how many of each change were made."""
    parser = _Normaliser()
    parser.feed(page)
    parser.close()
    return "".join(parser.out), {k: v for k, v in sorted(parser.changes.items()) if v}


def decode_page(content: bytes | str) -> str:
    """A page's text: rows hold ``str``; files are UTF-8 (a BOM is dropped, bad bytes replaced)."""
    if isinstance(content, str):
        return content
    return content.decode("utf-8", errors="replace").removeprefix("\ufeff")
