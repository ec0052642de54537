"""Documents that may not run scripts replace each other in place (document.open/write) instead of
being navigated to; what the pool makes of a document must not depend on which way it came.

Each document is rendered once navigated to (right after a document that forces a navigation) and
once written in place after each of several different documents, and the pixels and text must be
the same. A trusted page script tells which way a document came (the navigation timing entry
names the URL the page was navigated to; a document written in place stands at another)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from vlpipe.renderers import BrowserConfig, BrowserPool, HtmlDocument, RenderedPage
from vlpipe.renderers.chromium import Layout, PageScript, PageScriptError, _writable_in_place

# Fails the document with how it came: "navigated" or "in place".
_HOW = PageScript(
    library="",
    call="""() => {
  const entry = performance.getEntriesByType('navigation')[0];
  return entry && entry.name === location.href ? 'navigated' : 'in place';
}""",
)

# Forces the next document to be navigated to (a pragma may outlive document.open()).
_PRAGMA = "<!doctype html><meta http-equiv=x-nothing content=1><p>pragma</p>"

# Fails a document whose frame shows what the frame's script would have added.
_FRAME_UNTOUCHED = PageScript(
    library="",
    call="""() => {
  const frame = document.querySelector('iframe');
  const body = frame && frame.contentDocument && frame.contentDocument.body;
  if (frame && !body) { return 'the frame did not load'; }
  return body && body.dataset.ran ? 'the frame ran its script' : null;
}""",
)

_WRITABLE = {
    "plain": "<!doctype html><p>plain text</p>",
    "quirks": "<p>no doctype</p><table><tr><td style='font-size:30px'>cell</td></tr></table>",
    "bom": "\ufeff<!doctype html><p>byte order mark</p>",
    "image": "<!doctype html><img src='pic.png'><p>under the picture</p>",
    "image_of_a_folder": "<!doctype html><img src='sub/pic.png'><p>another picture</p>",
    "above_the_root": "<!doctype html><img src='../../pic.png'><p>dot dot</p>",
    "frame": "<!doctype html><iframe src='sub/frame.html' width=300 height=90></iframe><p>o</p>",
    "long": "<!doctype html>" + "".join(f"<p>line {i}</p>" for i in range(120)),
    "canvas": "<!doctype html><style>html{background:#eef}</style><p>tinted canvas</p>",
    "rtl_zh": "<!doctype html><html dir=rtl lang=zh><p>视觉语言模型 right to left</p>",
    "css_dark": "<!doctype html><style>:root{color-scheme:dark}</style><p>dark by CSS</p>",
    "top_layer": "<!doctype html><dialog open>dialog</dialog><div popover=manual>pop</div>",
    "inert_meta": "<!doctype html><meta charset=utf-8><meta name=viewport content='width=300'>"
    "<meta property=og:title content=x><p>inert meta</p>",
    "links": "<!doctype html><a href='index.html'>self</a> <a href='other.html'>other</a>",
    "parser_states": "<pre>cr\r\nlf\rnul\0</pre><noscript><p>hidden</p></noscript><plaintext><b>",
}
_STICKY = {
    "color_scheme": "<!doctype html><meta name=color-scheme content=dark><p>dark</p>",
    "autofocus": "<!doctype html><input autofocus value=typed><p>focused</p>",
    "csp": "<!doctype html><meta http-equiv=Content-Security-Policy content=\"img-src 'none'\">"
    "<img src=pic.png><p>no images</p>",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose two ``pic.png`` differ, and a frame that tries to script."""
    root = tmp_path_factory.mktemp("site")
    (root / "sub").mkdir()
    Image.new("RGB", (80, 60), (0, 160, 0)).save(root / "pic.png")
    Image.new("RGB", (80, 60), (200, 0, 200)).save(root / "sub" / "pic.png")
    (root / "sub" / "frame.html").write_text(
        "<p>framed <img src=pic.png></p><script>document.body.dataset.ran = 'yes'</script>"
    )
    return root


@pytest.fixture(scope="module")
def scriptless(tools: None) -> Iterator[BrowserPool]:
    config = BrowserConfig(browsers=1, page_scripts=False, load_timeout_s=10, render_timeout_s=30)
    with BrowserPool(config) as pool:
        yield pool


def _how(pool: BrowserPool, doc: HtmlDocument) -> str:
    with pytest.raises(PageScriptError) as failed:
        pool.render(doc, "viewport", Layout(script=_HOW))
    return str(failed.value)


def _pages(pages: list[RenderedPage]) -> list[tuple[bytes, str]]:
    return [(page.png, page.text) for page in pages]


@pytest.mark.parametrize("name", sorted(_WRITABLE))
def test_a_document_written_in_place_renders_as_if_navigated_to(
    scriptless: BrowserPool, site: Path, name: str
) -> None:
    doc = HtmlDocument(_WRITABLE[name], site)
    scriptless.render(HtmlDocument(_PRAGMA))
    assert _how(scriptless, doc) == "navigated"
    scriptless.render(HtmlDocument(_PRAGMA))
    navigated = _pages(scriptless.render(doc, "paginated"))
    assert _how(scriptless, doc) == "in place"
    # After documents that scroll, tint the canvas, fill the top layer, load pictures.
    for before in ("long", "canvas", "top_layer", "image"):
        scriptless.render(HtmlDocument(_WRITABLE[before], site), "paginated")
        assert _pages(scriptless.render(doc, "paginated")) == navigated, before


def test_pictures_of_the_same_name_are_each_documents_own(
    scriptless: BrowserPool, tmp_path: Path
) -> None:
    colours = [(255, 0, 0), (0, 0, 255), (0, 128, 0)]
    docs = []
    for n, colour in enumerate(colours):
        (tmp_path / str(n)).mkdir()
        Image.new("RGB", (80, 60), colour).save(tmp_path / str(n) / "pic.png")
        docs.append(HtmlDocument("<img src=pic.png style='display:block'>", tmp_path / str(n)))
    for _ in range(2):
        for doc, colour in zip(docs, colours, strict=True):
            page = scriptless.render(doc, "viewport")[0]
            assert Image.open(io.BytesIO(page.png)).convert("RGB").getpixel((20, 20)) == colour


@pytest.mark.parametrize("name", sorted(_STICKY))
def test_documents_with_state_that_outlives_them_are_navigated_to_and_so_is_the_next(
    scriptless: BrowserPool, site: Path, name: str
) -> None:
    plain = HtmlDocument(_WRITABLE["plain"], site)
    sticky = HtmlDocument(_STICKY[name], site)
    scriptless.render(plain)
    assert _how(scriptless, sticky) == "navigated"
    scriptless.render(sticky)
    assert _how(scriptless, plain) == "navigated"
    assert _how(scriptless, plain) == "in place"


def test_page_scripts_off_stop_every_scripts_of_documents_either_way(
    scriptless: BrowserPool, site: Path
) -> None:
    html = (
        "<!doctype html><p id=t>untouched</p>"
        "<script>document.getElementById('t').textContent = 'SCRIPT RAN'</script>"
        "<img src=missing.png onerror=\"document.body.append('HANDLER RAN')\">"
        "<iframe src='sub/frame.html' width=300 height=90></iframe>"
    )
    xhtml = (
        '<html xmlns="http://www.w3.org/1999/xhtml"><body><p id="t">untouched</p>'
        "<script>document.getElementById('t').textContent = 'SCRIPT RAN'</script></body></html>"
    )
    docs = [HtmlDocument(html, site), HtmlDocument(xhtml, site, "page.xhtml")]
    for doc in docs + docs[:1] + docs[:1]:  # navigated, navigated (XHTML), in place
        pages = scriptless.render(doc, "paginated")
        assert pages[0].text.splitlines()[0] == "untouched"
        assert "RAN" not in "".join(p.text for p in pages)
        scriptless.render(doc, "viewport", Layout(script=_FRAME_UNTOUCHED))


@pytest.fixture(scope="module")
def scripted(tools: None) -> Iterator[BrowserPool]:
    with BrowserPool(BrowserConfig(browsers=1, load_timeout_s=10, render_timeout_s=30)) as pool:
        yield pool


def test_with_page_scripts_on_only_documents_without_scripts_are_written_in_place(
    scripted: BrowserPool, site: Path
) -> None:
    """A document that has no scripts renders the same with them blocked, so it is served under
    the policy and written in place; one with a script runs it in a window of its own, and the
    next document is navigated to (the window holds what the script left)."""
    plain = HtmlDocument(_WRITABLE["image"], site)
    script = "<p id=t>untouched</p><script>document.getElementById('t').textContent='ran'</script>"
    scripted.render(plain)
    assert _how(scripted, plain) == "in place"
    assert scripted.render(HtmlDocument(script), "viewport")[0].text == "ran"
    assert _how(scripted, HtmlDocument(script)) == "navigated"
    assert _how(scripted, plain) == "navigated"
    assert _how(scripted, plain) == "in place"
    # "once =" reads like an event handler: such a document is only navigated to.
    assert _how(scripted, HtmlDocument("<p>once = twice</p>")) == "navigated"


def test_storage_left_in_the_window_is_cleared_for_a_document_written_in_place(
    scripted: BrowserPool,
) -> None:
    """A document without scripts cannot write anything; the renderer's own page scripts can, and
    the origin's storage and cookies are cleared before each document all the same."""
    write = PageScript(
        library="",
        call="""() => {
  document.cookie = 'left=1; max-age=60; path=/';
  localStorage.setItem('left', '1');
  sessionStorage.setItem('left', '1');
  return null;
}""",
    )
    read = PageScript(
        library="",
        call="""() => {
  const entry = performance.getEntriesByType('navigation')[0];
  const how = entry && entry.name === location.href ? 'navigated' : 'in place';
  return how + ' saw ' + [document.cookie, localStorage.length, sessionStorage.length].join('|');
}""",
    )
    doc = HtmlDocument("<p>storage</p>")
    scripted.render(doc, "viewport", Layout(script=write))
    with pytest.raises(PageScriptError, match=r"^in place saw \|0\|0$"):
        scripted.render(doc, "viewport", Layout(script=read))


def test_which_documents_may_be_written_in_place() -> None:
    def writable(html: str, entry: str = "index.html") -> bool:
        return _writable_in_place(HtmlDocument(html, None, entry))

    assert writable("<p>x</p>")
    assert writable('<META/charset="UTF-8"><meta name=viewport content="width=device-width">')
    assert writable("<meta property=og:title content=x><meta name=description content=y>")
    assert not writable("<p>x</p>", "chapter.xhtml")  # document.write() cannot parse XML
    assert not writable("<meta HTTP-EQUIV=refresh content=0>")
    assert not writable("<input AutoFocus>")
    assert not writable("<meta content=dark name='color-scheme'>")
    assert not writable("<meta charset=utf-8 name=color-scheme content=dark>")
    assert not writable("<meta name=unknown-to-us content=1>")
