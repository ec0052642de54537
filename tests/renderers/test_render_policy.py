"""The network policy of rendered documents, as plain data: no browser."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import pytest

from vlpipe.renderers.policy import (
    ORIGIN,
    Block,
    CancelNavigation,
    Decision,
    HtmlDocument,
    Serve,
    decide_request,
    entry_url,
    resolve_request,
)

HTML = "<p>hi</p>"
HTML_TYPE = "text/html; charset=utf-8"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A document folder with a few files, and a secret next to it that it must not reach."""
    root = tmp_path / "site"
    (root / "img").mkdir(parents=True)
    (root / "sub").mkdir()
    (root / "img" / "a.png").write_bytes(b"png")
    (root / "style.css").write_text("p {}")
    (root / "my file.txt").write_text("spaced")
    (root / "sub" / "frame.html").write_text("<p>frame</p>")
    (tmp_path / "secret.txt").write_text("secret")
    (root / "link.txt").symlink_to(tmp_path / "secret.txt")
    (root / "outside").symlink_to(tmp_path)
    (root / "alias.png").symlink_to(root / "img" / "a.png")
    return root


@pytest.fixture
def doc(site: Path) -> HtmlDocument:
    return HtmlDocument(HTML, site, "index.html")


def _get(doc: HtmlDocument | None, url: str, *, prefix: str = "") -> Decision:
    """A subresource request (image, script, fetch …) of the top-level document."""
    return decide_request(doc, url, method="GET", navigation=False, top_frame=True, prefix=prefix)


def _navigate(
    doc: HtmlDocument | None, url: str, *, top_frame: bool = True, prefix: str = ""
) -> Decision:
    return decide_request(
        doc, url, method="GET", navigation=True, top_frame=top_frame, prefix=prefix
    )


def test_the_document_itself_is_served(doc: HtmlDocument) -> None:
    assert entry_url(doc) == f"{ORIGIN}/index.html"
    assert _navigate(doc, entry_url(doc)) == Serve(HTML.encode(), HTML_TYPE)
    assert _get(doc, entry_url(doc)) == Serve(HTML.encode(), HTML_TYPE)


def test_the_document_is_served_as_utf8() -> None:
    doc = HtmlDocument("<p>视觉 ünïcode</p>")
    assert _navigate(doc, entry_url(doc)) == Serve("<p>视觉 ünïcode</p>".encode(), HTML_TYPE)


@pytest.mark.parametrize(
    ("entry", "content_type"),
    [
        ("chapters/ch 1.xhtml", "application/xhtml+xml"),
        ("a#b?c%d.html", HTML_TYPE),
        ("页面.htm", HTML_TYPE),
        ("no-suffix", HTML_TYPE),
        ("odd.d/page", HTML_TYPE),
    ],
)
def test_an_entry_of_any_name_is_served_at_its_url(
    site: Path, entry: str, content_type: str
) -> None:
    doc = HtmlDocument(HTML, site, entry)
    assert entry_url(doc) == f"{ORIGIN}/{quote(entry)}"
    assert _navigate(doc, entry_url(doc)) == Serve(HTML.encode(), content_type)


@pytest.mark.parametrize(
    ("path", "body", "content_type"),
    [
        ("img/a.png", b"png", "image/png"),
        ("img/a.png?v=2", b"png", "image/png"),
        ("/img/a.png", b"png", "image/png"),
        ("style.css", b"p {}", "text/css; charset=utf-8"),
        ("my%20file.txt", b"spaced", "text/plain; charset=utf-8"),
        ("img/%61.png", b"png", "image/png"),
        ("alias.png", b"png", "image/png"),  # a symlink that stays inside the folder
        ("sub/../img/a.png", b"png", "image/png"),  # `..` that stays inside the folder
        ("outside/site/img/a.png", b"png", "image/png"),  # out through a symlink and back in
    ],
)
def test_files_in_the_folder_are_served(
    doc: HtmlDocument, path: str, body: bytes, content_type: str
) -> None:
    assert _get(doc, f"{ORIGIN}/{path}") == Serve(body, content_type)


@pytest.mark.parametrize("path", ["", "img", "img/", "missing.png", "img/b.png", "sub/frame"])
def test_what_is_not_a_file_in_the_folder_is_blocked(doc: HtmlDocument, path: str) -> None:
    assert _get(doc, f"{ORIGIN}/{path}") == Block()


@pytest.mark.parametrize(
    "path",
    [
        "../secret.txt",
        "img/../../secret.txt",
        "%2e%2e/secret.txt",
        "%2E%2E/secret.txt",
        "%2e%2e%2fsecret.txt",
        "..%2fsecret.txt",
        "img/%2e%2e/%2e%2e/secret.txt",
        "link.txt",  # a symlink to a file outside the folder
        "outside/secret.txt",  # through a symlink to a folder outside
    ],
)
def test_escaping_the_folder_is_blocked(doc: HtmlDocument, path: str) -> None:
    assert _get(doc, f"{ORIGIN}/{path}") == Block()
    assert _navigate(doc, f"{ORIGIN}/{path}", top_frame=False) == CancelNavigation()


def test_absolute_paths_stay_inside_the_folder(doc: HtmlDocument, site: Path) -> None:
    secret = site.parent / "secret.txt"
    for path in (str(secret), quote(str(secret), safe="")):
        assert _get(doc, f"{ORIGIN}/{path}") == Block(), path


def test_a_nul_byte_in_the_path_is_blocked(doc: HtmlDocument) -> None:
    assert _get(doc, f"{ORIGIN}/img/a.png%00.txt") == Block()
    assert _get(doc, f"{ORIGIN}/%00") == Block()


def test_symlink_loops_dangling_links_and_fifos_are_blocked(doc: HtmlDocument, site: Path) -> None:
    (site / "loop-a").symlink_to(site / "loop-b")
    (site / "loop-b").symlink_to(site / "loop-a")
    (site / "dangling.png").symlink_to(site / "gone.png")
    os.mkfifo(site / "pipe.txt")  # reading it would block the browser's route handler for ever
    for path in ("loop-a", "loop-b/x.png", "dangling.png", "pipe.txt"):
        assert _get(doc, f"{ORIGIN}/{path}") == Block(), path


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/img/a.png",
        "http://localhost/img/a.png",
        "http://example.com/img/a.png",
        "http://vlpipe.invalid.example.com/img/a.png",
        "http://user@vlpipe.invalid/img/a.png",
        f"{ORIGIN}:80/img/a.png",
        f"{ORIGIN}:81/img/a.png",
        "https://vlpipe.invalid/img/a.png",
        "https://vlpipe.invalid/index.html",
        "ws://vlpipe.invalid/img/a.png",
        "ftp://vlpipe.invalid/img/a.png",
        "blob:http://vlpipe.invalid/0b6d2c1e-0000-4000-8000-000000000000",
        "data:text/html,<p>x</p>",
        "about:blank",
        "javascript:alert(1)",
    ],
)
def test_other_origins_and_schemes_are_blocked(doc: HtmlDocument, url: str) -> None:
    assert _get(doc, url) == Block()
    assert _navigate(doc, url) == CancelNavigation()
    assert _navigate(doc, url, top_frame=False) == CancelNavigation()


def test_file_urls_are_blocked_even_inside_the_folder(doc: HtmlDocument, site: Path) -> None:
    for path in (site / "img" / "a.png", site.parent / "secret.txt"):
        assert _get(doc, path.as_uri()) == Block()
        assert _navigate(doc, path.as_uri()) == CancelNavigation()


@pytest.mark.parametrize("method", ["POST", "PUT", "HEAD", "OPTIONS", "DELETE", "get"])
def test_only_get_is_served(doc: HtmlDocument, method: str) -> None:
    for url in (entry_url(doc), f"{ORIGIN}/img/a.png"):
        assert decide_request(doc, url, method=method, navigation=False, top_frame=True) == Block()
        decision = decide_request(doc, url, method=method, navigation=True, top_frame=True)
        assert decision == CancelNavigation()


@pytest.mark.parametrize(
    "url",
    [
        f"{ORIGIN}/img/a.png",
        f"{ORIGIN}/sub/frame.html",
        f"{ORIGIN}/index.html?page=2",
        f"{ORIGIN}/index.html/",
        f"{ORIGIN}/",
        "http://127.0.0.1:8000/elsewhere",
        "https://example.com/",
    ],
)
def test_top_level_navigation_away_is_cancelled(doc: HtmlDocument, url: str) -> None:
    assert _navigate(doc, url) == CancelNavigation()


def test_sub_frames_load_files_of_the_folder_only(doc: HtmlDocument) -> None:
    frame = Serve(b"<p>frame</p>", HTML_TYPE)
    assert _navigate(doc, f"{ORIGIN}/sub/frame.html", top_frame=False) == frame
    assert _navigate(doc, entry_url(doc), top_frame=False) == Serve(HTML.encode(), HTML_TYPE)
    for url in (f"{ORIGIN}/sub/missing.html", f"{ORIGIN}/link.txt", "http://127.0.0.1/"):
        assert _navigate(doc, url, top_frame=False) == CancelNavigation(), url


def test_the_top_frame_only_matters_for_navigations(doc: HtmlDocument) -> None:
    url = f"{ORIGIN}/img/a.png"
    for top_frame in (True, False):
        decision = decide_request(doc, url, method="GET", navigation=False, top_frame=top_frame)
        assert decision == Serve(b"png", "image/png")


def test_a_document_without_a_folder_is_served_alone(tmp_path: Path) -> None:
    (tmp_path / "img.png").write_bytes(b"png")
    doc = HtmlDocument(HTML)
    assert doc.base_dir is None
    assert _navigate(doc, entry_url(doc)) == Serve(HTML.encode(), HTML_TYPE)
    assert _get(doc, entry_url(doc)) == Serve(HTML.encode(), HTML_TYPE)
    for path in ("img.png", str(tmp_path / "img.png"), "../index.html", "", "etc/passwd"):
        assert _get(doc, f"{ORIGIN}/{path}") == Block(), path
        assert _navigate(doc, f"{ORIGIN}/{path}", top_frame=False) == CancelNavigation(), path


def test_nothing_is_served_between_documents(doc: HtmlDocument) -> None:
    assert _get(None, entry_url(doc)) == Block()
    assert _navigate(None, entry_url(doc)) == CancelNavigation()


def test_from_file_serves_the_file_and_its_folder(site: Path) -> None:
    (site / "sub" / "page.html").write_text("<p>page</p>")
    doc = HtmlDocument.from_file(site / "sub" / "page.html")
    assert (doc.base_dir, doc.entry, doc.html) == (site / "sub", "page.html", "<p>page</p>")
    assert _get(doc, f"{ORIGIN}/frame.html") == Serve(b"<p>frame</p>", HTML_TYPE)
    assert _get(doc, f"{ORIGIN}/../img/a.png") == Block()
    wide = HtmlDocument.from_file(site / "sub" / "page.html", base_dir=site)
    assert wide.entry == "sub/page.html"
    assert _navigate(wide, f"{ORIGIN}/sub/page.html") == Serve(b"<p>page</p>", HTML_TYPE)
    assert _get(wide, f"{ORIGIN}/img/a.png") == Serve(b"png", "image/png")


def test_resolve_request_is_the_file_lookup(doc: HtmlDocument) -> None:
    assert resolve_request(doc, f"{ORIGIN}/img/a.png") == Serve(b"png", "image/png")
    assert resolve_request(doc, f"{ORIGIN}/../secret.txt") is None
    assert resolve_request(doc, "http://127.0.0.1/img/a.png") is None


def test_a_prefixed_document_is_served_from_its_own_folder_only(doc: HtmlDocument) -> None:
    """A document written in place has a folder of the origin of its own: what it names under
    that folder is served; a previous document's folder, or the origin's root, serves nothing."""
    assert entry_url(doc, "d7") == f"{ORIGIN}/d7/index.html"
    assert _navigate(doc, entry_url(doc, "d7"), prefix="d7") == Serve(HTML.encode(), HTML_TYPE)
    assert resolve_request(doc, f"{ORIGIN}/d7/img/a.png", "d7") == Serve(b"png", "image/png")
    for url in (f"{ORIGIN}/d6/img/a.png", f"{ORIGIN}/img/a.png", f"{ORIGIN}/d77/img/a.png"):
        assert resolve_request(doc, url, "d7") is None
        assert _get(doc, url, prefix="d7") == Block()
    assert resolve_request(doc, f"{ORIGIN}/d7/../img/a.png", "d7") is None
    # The unprefixed entry is another document's URL now: navigating there is cancelled.
    assert _navigate(doc, entry_url(doc), prefix="d7") == CancelNavigation()
