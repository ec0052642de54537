"""A rendered document sees nothing a previous document on the same browser left behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vlpipe.renderers import BrowserConfig, BrowserPool, HtmlDocument
from vlpipe.renderers.chromium import Layout, PageScript

# Leaves every kind of state it can: cookies, both storages, IndexedDB (committed before the
# document is done: the page script waits for it), JS globals and a polluted prototype, the
# window's name, and a service worker registration if the browser allowed one.
_WRITE = PageScript(
    library="",
    call="""async () => {
  document.cookie = 'leak=1; max-age=3600; path=/';
  localStorage.setItem('leak', '1');
  sessionStorage.setItem('leak', '1');
  window.leakGlobal = 1;
  Object.prototype.leakProto = 1;
  window.name = 'leak';
  await new Promise((resolve, reject) => {
    const open = indexedDB.open('leakdb', 1);
    open.onupgradeneeded = () => open.result.createObjectStore('s').put('1', 'k');
    open.onsuccess = () => { open.result.close(); resolve(); };
    open.onerror = () => reject(open.error);
  });
  if (navigator.serviceWorker) {
    try { await navigator.serviceWorker.register('sw.js'); } catch (e) {}
  }
  if (!document.cookie.includes('leak=1') || localStorage.getItem('leak') !== '1') {
    return 'the writer could not write its state';
  }
  return null;
}""",
)

# Reports what it sees as the document's text.
_READ = PageScript(
    library="",
    call="""async () => {
  const seen = [];
  if (document.cookie) seen.push('cookie:' + document.cookie);
  if (localStorage.length) seen.push('localStorage');
  if (sessionStorage.length) seen.push('sessionStorage');
  if (typeof window.leakGlobal !== 'undefined') seen.push('global');
  if (typeof ({}).leakProto !== 'undefined') seen.push('prototype');
  if (window.name) seen.push('name:' + window.name);
  const dbs = indexedDB.databases ? await indexedDB.databases() : [];
  if (dbs.length) seen.push('indexedDB:' + dbs.map((d) => d.name).join(','));
  if (navigator.serviceWorker) {
    const regs = await navigator.serviceWorker.getRegistrations();
    if (regs.length) seen.push('serviceWorker');
  }
  if (window.caches) {
    const keys = await caches.keys();
    if (keys.length) seen.push('caches');
  }
  document.getElementById('out').textContent = 'seen ' + (seen.join(' ') || 'nothing');
  return null;
}""",
)


@pytest.fixture(scope="module")
def one_browser(tools: None) -> Iterator[BrowserPool]:
    with BrowserPool(BrowserConfig(browsers=1, load_timeout_s=10, render_timeout_s=30)) as p:
        yield p


def test_documents_do_not_see_the_previous_documents_state(one_browser: BrowserPool) -> None:
    writer = HtmlDocument("<p>writer</p><script>window.leakGlobal = 1;</script>")
    reader = HtmlDocument("<p id=out>unread</p>")
    for _ in range(3):  # several rounds: the state of each writer is gone for the next reader
        written = one_browser.render(writer, "viewport", Layout(script=_WRITE))
        assert written[0].text == "writer"
        read = one_browser.render(reader, "viewport", Layout(script=_READ))
        assert read[0].text == "seen nothing"


def test_the_reader_probe_sees_state_within_one_document(one_browser: BrowserPool) -> None:
    """The probe is not blind: the state a document leaves for itself is all reported."""
    both = PageScript(
        library="",
        call=f"async (a) => (await ({_WRITE.call})(a)) || (await ({_READ.call})(a))",
    )
    pages = one_browser.render(
        HtmlDocument("<p id=out>unread</p>"), "viewport", Layout(script=both)
    )
    text = pages[0].text
    for seen in (
        "cookie:leak=1",
        "localStorage",
        "sessionStorage",
        "global",
        "prototype",
        "name:leak",
        "indexedDB:leakdb",
    ):
        assert seen in text, text
    # and the next document sees none of it. (It has a script, so it gets a window of its own:
    # a document written in place would share the window with the renderer's own page scripts,
    # which wrote here; see test_render_in_place.py.)
    read = one_browser.render(
        HtmlDocument("<p id=out>unread</p><script></script>"), "viewport", Layout(script=_READ)
    )
    assert read[0].text == "seen nothing"
