"""HTML → page images (and their text) with a pool of long-lived, network-blocked Chromiums.

Why the pieces look the way they do:

* **Throughput.** Launching Chromium costs about a second and a fresh context about half of one, so
  each pool worker keeps one browser, one context and one page alive and only navigates between
  documents (clearing the origin's storage and the window's name first, and serving everything
  ``no-store``, so one document never sees another's state); the context is replaced every
  ``recycle_after`` documents and after a browser error. A navigation still costs about twice
  the CPU of capturing the page, most of it in the browser process; ``RenderDocument`` is off,
  so a same-origin navigation reuses the frame's host (each document still gets a new window
  and JS realm), which saves about a sixth of it. Styling and measuring are one evaluation.
  Screenshots go through CDP with ``optimizeForSpeed``. A document that may not run scripts
  (``page_scripts=False``) or has none is instead written over the previous such document in
  place, at about half the CPU of a navigation (see ``_Worker._write`` for why that is safe,
  and when a document is still navigated to).
  Playwright's sync API is bound to the thread that created it, so each worker is a thread that
  owns its own Playwright driver and browser; they run in parallel because the work happens in
  the browsers, not in Python.
* **No network.** Documents are served from a reserved, never-resolvable origin
  (``http://vlpipe.invalid/``) through a context-wide route, which answers every request as
  :func:`vlpipe.renderers.policy.decide_request` says: the document itself and files inside its
  own folder are served, every other request is aborted (images, fonts, fetch/XHR, beacons,
  prefetches), and navigations away (links, ``location=``, meta refresh, forms, iframes) get an
  empty ``204``, which cancels them and leaves the document in place. ``data:`` URLs never reach
  the network. WebSockets are intercepted and closed, service workers and pop-ups blocked. As
  defence in depth the browser's proxy is a dead loopback port (``--proxy-server=127.0.0.1:9``
  with ``<-loopback>``), so anything that escaped the routes fails too, and WebRTC may not use
  UDP.
* **Limits.** Loads have a timeout; a watchdog thread kills a worker's whole browser process group
  when a document overruns its render budget (a ``while(true){}`` blocks the renderer, and then
  every CDP call with it). The blocked call then fails, the document becomes a
  :class:`RenderTimeout`, and the worker relaunches its browser and carries on with the batch.
  Too-tall documents (``max_height_px``) and too many pages (``max_pages``) fail before capture.
* **Paginated mode.** The document is laid out once in a single column of the column width
  (margins as body padding, base typography from the page geometry; author styles win unless the
  geometry says ``precedence: page``), its text lines are measured from the DOM (see
  :mod:`vlpipe.renderers.dom`) and cut into bands at line boundaries
  (:func:`vlpipe.renderers.layout.plan_pages`), so no line is cut. Each page is then shown by
  clipping the root element to its band and scrolling the band under the top margin: one layout,
  no re-flow per page, and the text of a page is exactly the lines in its band. A two-column page
  shows two consecutive bands: the second is captured first and laid, as an image, over the right
  column while the first is shown; the running header and footer are laid over the margins the
  same way (in the top layer, which the root's clip does not reach). We chose this over CSS
  multi-column pagination because columns re-flow floats, tables and positioned content
  unpredictably and hide overflow, while a fixed-width column with scroll offsets renders the
  document as its author laid it out.
* **Per document**, :class:`Layout` may give another page geometry (a template: the viewport
  follows it), the number of the first page, and a trusted :class:`PageScript` run before
  measuring (KaTeX typesetting formulas, which then read as their LaTeX source).
"""

from __future__ import annotations

import base64
import contextlib
import math
import os
import queue
import re
import signal
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from playwright.sync_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Page,
    Playwright,
    Request,
    Route,
    sync_playwright,
)
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from pydantic import BaseModel, ConfigDict, Field

from vlpipe.errors import ConfigError, DocumentError
from vlpipe.renderers.dom import MEASURE_JS, SHOW_PAGE_JS, STILL_CSS, STYLE_JS, paginated_css
from vlpipe.renderers.errors import BrowserCrashed, RenderError, RenderTimeout
from vlpipe.renderers.install import find_chromium
from vlpipe.renderers.layout import (
    FURNITURE_LINE,
    PageGeometry,
    PagePlan,
    TextLine,
    join_furniture,
    lines_in_view,
    page_furniture,
    page_text,
    plan_pages,
)
from vlpipe.renderers.policy import (
    ORIGIN,
    Block,
    CancelNavigation,
    HtmlDocument,
    Serve,
    decide_request,
    entry_url,
    served_as_html,
)

RenderMode = Literal["viewport", "full_page", "paginated"]

CHROMIUM_ARGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
    "--block-new-web-contents",
    # Chromium ignores history.replaceState past 200 calls in 10 s ("IPC flooding"); each
    # document written in place makes one (see _WRITE_IN_PLACE_JS), so a pool goes past it.
    "--disable-ipc-flooding-protection",
    "--disable-dev-shm-usage",
    "--disable-breakpad",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-extensions",
    "--disable-default-apps",
    "--no-default-browser-check",
    "--hide-scrollbars",
    "--mute-audio",
    "--font-render-hinting=none",
    "--force-color-profile=srgb",
    "--disable-features=Translate,MediaRouter,OptimizationHints,Prerender2,NetworkPrediction,"
    "AutofillServerCommunication,CertificateTransparencyComponentUpdater,RenderDocument",
)

# How long closing a context or browser may take before the watchdog kills the browser instead.
_TEARDOWN_S = 10.0
_LAUNCH_ATTEMPTS = 2
# How often a document that is still loading is asked whether it has finished (see _wait_for_load).
_LOAD_POLL_S = 0.05
_FRAME_S = 0.05  # one compositor frame and then some, before a screenshot is retried
_FAR = 100_000  # px: "unbounded" in a clip rectangle
# Run before any script of each new top-level document.
_CLEAR_WINDOW_NAME_JS = "if (window === window.top) { window.name = ''; }"
# Served with every file of a document that may not run scripts (``page_scripts=False``, or
# one that has none).
_NO_SCRIPTS_CSP = "script-src 'none'; object-src 'none'"
# What may run a script or load a document that may: a document holding none of it renders the
# same with its scripts blocked, which the Content-Security-Policy then makes sure of (``on…=``
# also matches plain text such as "once =": such a document is only navigated to).
_SCRIPTING = re.compile(
    r"<script|\bon[a-z]+\s*=|javascript:|<i?frame|<object|<embed|<portal|srcdoc", re.IGNORECASE
)
# What of a document can outlive document.open() and change how the next document written in
# its place renders: a pragma (``<meta http-equiv>``: a CSP adds to the document's policies for
# good), ``autofocus`` (a document autofocuses once), ``<meta name=color-scheme>``. A document
# holding any of them, or a ``<meta>`` not known to be inert, is navigated to.
_STICKY = re.compile("http-equiv|autofocus", re.IGNORECASE)
_META_TAG = re.compile(r"<meta\b([^>]*)>", re.IGNORECASE)
_ATTRIBUTE = re.compile(r"""([^\s/>="']+)\s*(?:=\s*("[^"]*"|'[^']*'|[^\s>]+))?""")
_INERT_META_NAMES = frozenset(
    {"viewport", "description", "keywords", "author", "generator", "robots", "theme-color"}
)
# Replace the document in place: a new URL (its own folder under the origin), then the HTML
# parser over the new markup, as a navigation would run it. Resolves with "loaded" once the new
# document's load event has fired (its readyState says "complete" before its images have
# loaded), "loading" if it has not after ``ms``, "elsewhere" if it does not stand at ``url``.
_WRITE_IN_PLACE_JS = """
async ([url, html, ms]) => {
  history.replaceState(null, '', url);
  document.open();
  const loaded = new Promise((done) => {
    window.addEventListener('load', () => done('loaded'), { once: true });
    setTimeout(() => done('loading'), ms);
  });
  document.write(html);
  document.close();
  window.scrollTo(0, 0);
  return location.href === url ? await loaded : 'elsewhere';
}
"""
# STYLE_JS then MEASURE_JS in one evaluation: ``null`` while the document is still loading.
_STYLE_AND_MEASURE_JS = f"""
async (args) => {{
  if (!({STYLE_JS.strip()})(args.css)) {{ return null; }}
  return await ({MEASURE_JS.strip()})(args);
}}
"""


class BrowserConfig(BaseModel):
    """How the Chromium pool runs. ``chromium`` defaults to ``$VLPIPE_CHROMIUM`` or
    /usr/bin/chromium; ``browsers`` is the number of browsers (worker threads) in one pool.
    ``javascript`` off stops every script, the renderer's page scripts too; ``page_scripts`` off
    stops only the documents' own (scripts, event handlers, ``javascript:`` URLs) with a
    Content-Security-Policy on everything served. A document without scripts is served under
    that policy either way, and documents under it replace each other in place.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    chromium: str | None = None
    browsers: int = Field(1, ge=1, le=64)
    mode: RenderMode = "paginated"
    geometry: PageGeometry = PageGeometry()
    javascript: bool = True
    page_scripts: bool = True
    load_timeout_s: float = Field(15.0, gt=0)
    render_timeout_s: float = Field(60.0, gt=0)
    max_height_px: int = Field(32768, ge=64)
    max_pages: int = Field(32, ge=1)
    js_heap_mb: int = Field(512, ge=64)
    recycle_after: int = Field(500, ge=1)


@dataclass(frozen=True, slots=True)
class PageScript:
    """Trusted JavaScript run in a document after it loads and is styled (laid out at its page
    geometry), before it is measured, through CDP (so neither the document's
    Content-Security-Policy nor disabled page scripts stop it): ``library`` is evaluated as a
    classic script, then ``call`` (a function expression) is called with the name of the
    document's atom attribute (see :mod:`vlpipe.renderers.dom`). ``call`` returns ``null``, or a
    message that fails the document with :class:`PageScriptError`."""

    library: str
    call: str


class PageScriptError(RenderError):
    """The page script found that the document cannot be rendered as asked (a formula KaTeX
    cannot typeset)."""


@dataclass(frozen=True, slots=True)
class Layout:
    """How one document is paginated, beyond the pool's config: its page geometry (a template;
    ``None``: the pool's), the number its first page prints for ``{page}``, a page script."""

    geometry: PageGeometry | None = None
    first_page: int = 1
    script: PageScript | None = None


@dataclass(frozen=True, slots=True)
class FurnitureBox:
    """A running header or footer on a page image: its role, its text, and the box of its text
    in image pixels ``(x0, y0, x1, y1)``."""

    role: str
    text: str
    box: tuple[int, int, int, int]


@dataclass(frozen=True, slots=True)
class RenderedPage:
    """One page image (PNG bytes) with the text visible on it, in reading order: in paginated
    mode the header, a blank line, the body, a blank line, the footer (``furniture``)."""

    index: int
    png: bytes
    text: str
    width: int
    height: int
    furniture: tuple[FurnitureBox, ...] = ()


def furniture_record(page: RenderedPage, text: str) -> list[dict[str, object]]:
    """A page's header and footer as a sample's json records them: ``role``, ``text``, ``box``
    (image px) and ``span``, their ``[start, end)`` in ``text`` — the page's text as paired (the
    renderer's, after any edit that leaves the furniture alone), which begins with the header and
    ends with the footer, so a trainer can cut them from the target or mask them in the image."""
    records: list[dict[str, object]] = []
    for item in page.furniture:
        start = 0 if item.role == "header" else len(text) - len(item.text)
        if text[start : start + len(item.text)] != item.text:
            raise ValueError(f"the page text does not hold its {item.role} {item.text!r}")
        span = [start, start + len(item.text)]
        records.append({"role": item.role, "text": item.text, "box": list(item.box), "span": span})
    return records


def _browser_pid(marker: str) -> int | None:
    """The pid of the browser process whose command line carries ``marker`` (Linux /proc)."""
    needle = marker.encode()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/cmdline", "rb") as fh:
                args = fh.read().split(b"\0")
        except OSError:
            continue
        if needle in args and not any(a.startswith(b"--type=") for a in args):
            return int(entry.name)
    return None


def _in_top_frame(request: Request) -> bool:
    """Whether a request belongs to the top-level frame; one whose frame Playwright cannot
    identify yet (a navigation that creates it) counts as top-level, the stricter answer."""
    try:
        return request.frame.parent_frame is None
    except PlaywrightError:
        return True


def _writable_in_place(doc: HtmlDocument) -> bool:
    """Whether ``doc`` may be written into an HTML document in place: served as HTML (not XHTML,
    which document.write() cannot parse), holding nothing that outlives it (see ``_STICKY``)."""
    return (
        served_as_html(doc)
        and _STICKY.search(doc.html) is None
        and all(_inert_meta(tag.group(1)) for tag in _META_TAG.finditer(doc.html))
    )


def _inert_meta(attributes: str) -> bool:
    """Whether a ``<meta>`` with these attributes changes nothing in how a page renders: a
    ``charset`` (the document is served as UTF-8), metadata (``property``, ``itemprop``), or a
    ``name`` known to be inert."""
    values = {
        name.lower(): value.strip("\"'").strip().lower()
        for name, value in _ATTRIBUTE.findall(attributes)
    }
    if values.keys() == {"charset"}:
        return True
    named = values.get("name")
    metadata = values.keys() <= {"name", "property", "itemprop", "content"}
    return metadata and (named is None or named in _INERT_META_NAMES)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


_Job = tuple[HtmlDocument, RenderMode, Layout, "Future[list[RenderedPage]]"]


class _Worker(threading.Thread):
    """One browser, one context, one page, driven by this thread only."""

    def __init__(
        self,
        pool_id: str,
        index: int,
        config: BrowserConfig,
        executable: str,
        jobs: queue.Queue[_Job | None],
    ) -> None:
        super().__init__(name=f"vlpipe-chromium-{index}", daemon=True)
        self.config = config
        self.ready = threading.Event()
        self.startup_error: ConfigError | None = None
        self.pid: int | None = None
        self._marker_base = f"--vlpipe-browser={pool_id}-{index}"
        self._executable = executable
        self._jobs = jobs
        self._lock = threading.Lock()
        self._deadline: float | None = None
        self._killed = False
        self._generation = 0
        self._pw: Playwright | None = None
        self._browser: Browser | None = None
        self._context: BrowserContext | None = None
        self._page: Page | None = None
        self._cdp: CDPSession | None = None
        self._doc: HtmlDocument | None = None
        self._served = 0  # documents this worker has served
        self._prefix = ""  # the folder of the origin the current document is served from
        self._scriptless = False  # whether the current document's files carry _NO_SCRIPTS_CSP
        # Whether the page's document may be replaced in place by the next one (see _write).
        self._writable = False
        self._docs_in_context = 0
        self._viewport = (config.geometry.width, config.geometry.height)
        self._canvas: str | None = None  # the page colour behind the document, None: white

    # -- watchdog -------------------------------------------------------------------------
    def _arm(self, seconds: float) -> None:
        with self._lock:
            self._killed = False
            self._deadline = time.monotonic() + seconds

    def _disarm(self) -> None:
        with self._lock:
            self._deadline = None

    def check_deadline(self, now: float) -> None:
        """Called by the pool's watchdog thread: kill the browser if its deadline has passed."""
        with self._lock:
            if self._deadline is None or now < self._deadline or self._killed:
                return
            self._killed = True
            pid = self.pid
        if pid is not None:
            _kill_group(pid)

    # -- lifecycle ------------------------------------------------------------------------
    def run(self) -> None:
        with sync_playwright() as pw:
            self._pw = pw
            try:
                self._launch()
            except ConfigError as exc:
                self.startup_error = exc
                return
            finally:
                self.ready.set()
            self._serve()
            self._close_browser()

    def _launch(self) -> None:
        assert self._pw is not None
        last: Exception | None = None
        for _ in range(_LAUNCH_ATTEMPTS):
            self._generation += 1
            marker = f"{self._marker_base}-{self._generation}"
            try:
                self._browser = self._pw.chromium.launch(
                    executable_path=self._executable,
                    args=[
                        *CHROMIUM_ARGS,
                        marker,
                        f"--js-flags=--max-old-space-size={self.config.js_heap_mb}",
                    ],
                    timeout=30_000,
                    handle_sigint=False,
                    handle_sigterm=False,
                    handle_sighup=False,
                )
            except PlaywrightError as exc:
                last = exc
                continue
            self.pid = _browser_pid(marker)
            if self.pid is None:
                self._browser.close()
                raise ConfigError("cannot find the Chromium process in /proc (Linux is required)")
            self._new_context()
            return
        reason = _first_line(last) if last else "unknown error"
        raise ConfigError(f"cannot start Chromium {self._executable}: {reason}")

    def _new_context(self) -> None:
        assert self._browser is not None
        g = self.config.geometry
        context = self._browser.new_context(
            viewport={"width": g.width, "height": g.height},
            device_scale_factor=1,
            service_workers="block",
            java_script_enabled=self.config.javascript,
            accept_downloads=False,
            locale="en-US",
            timezone_id="UTC",
            color_scheme="light",
            reduced_motion="reduce",
        )
        # The window's name outlives a same-origin navigation (it belongs to the tab, not the
        # document), so each document starts by clearing what the previous one left there.
        context.add_init_script(script=_CLEAR_WINDOW_NAME_JS)
        context.route("**/*", self._route)
        context.route_web_socket(re.compile(r".*"), lambda ws: ws.close())
        self._context = context
        self._page = context.new_page()
        self._cdp = context.new_cdp_session(self._page)
        self._docs_in_context = 0
        self._writable = False
        self._viewport = (g.width, g.height)
        self._canvas = None

    def _close_browser(self) -> None:
        browser, self._browser = self._browser, None
        self._context = self._page = self._cdp = None
        if browser is None:
            return
        self._arm(_TEARDOWN_S)
        try:
            browser.close()
        except PlaywrightError:
            pass
        finally:
            self._disarm()
        if self.pid is not None:
            _kill_group(self.pid)

    def _relaunch(self) -> None:
        self._close_browser()
        self._launch()

    def _fresh_context(self) -> None:
        context = self._context
        self._arm(_TEARDOWN_S)
        try:
            if context is not None:
                context.close()
            self._disarm()
            self._new_context()
        except PlaywrightError:
            self._disarm()
            self._relaunch()

    # -- serving --------------------------------------------------------------------------
    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            doc, mode, layout, future = job
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self._render(doc, mode, layout))
            except Exception as exc:  # delivered to the caller through the future
                future.set_exception(exc)

    def _route(self, route: Route) -> None:
        """Answer one request of the page as the network policy decides."""
        request = route.request
        decision = decide_request(
            self._doc,
            request.url,
            method=request.method,
            navigation=request.is_navigation_request(),
            top_frame=_in_top_frame(request),
            prefix=self._prefix,
        )
        try:
            match decision:
                case Serve(body, content_type):
                    headers = {"content-type": content_type, "cache-control": "no-store"}
                    if self._scriptless:
                        headers["content-security-policy"] = _NO_SCRIPTS_CSP
                    route.fulfill(status=200, body=body, headers=headers)
                case CancelNavigation():
                    route.fulfill(status=204, headers={"cache-control": "no-store"})
                case Block():
                    route.abort("blockedbyclient")
        except PlaywrightError:
            pass  # the page went away while the request was pending

    def _render(self, doc: HtmlDocument, mode: RenderMode, layout: Layout) -> list[RenderedPage]:
        # _killed still set: the watchdog fired as the previous document finished, so the
        # browser is dead or dying even if Playwright has not noticed yet.
        if self._killed or self._browser is None or not self._browser.is_connected():
            self._relaunch()
        elif self._docs_in_context >= self.config.recycle_after:
            self._fresh_context()
        self._docs_in_context += 1
        self._doc = doc
        self._arm(self.config.render_timeout_s)
        try:
            return self._render_document(doc, mode, layout)
        except PlaywrightError as exc:
            error, recovery = self._classify(exc)
        finally:
            self._disarm()
            self._doc = None
        recovery()
        raise error

    def _classify(self, exc: PlaywrightError) -> tuple[DocumentError, Callable[[], None]]:
        """The document's failure, and how to bring the worker back to a clean state."""
        assert self._browser is not None
        cfg = self.config
        if self._killed:
            message = f"rendering exceeded {cfg.render_timeout_s:g}s; browser restarted"
            return RenderTimeout(message), self._relaunch
        if not self._browser.is_connected():
            return BrowserCrashed("the browser process died while rendering"), self._relaunch
        if isinstance(exc, PlaywrightTimeoutError):
            return RenderTimeout(f"page load exceeded {cfg.load_timeout_s:g}s"), self._fresh_context
        message = _first_line(exc)
        if "crash" in message.lower() or "closed" in message.lower():
            return BrowserCrashed(f"the page crashed: {message}"), self._fresh_context
        return RenderError(f"render failed: {message}"), self._fresh_context

    def _capture(self, full_height: int | None = None) -> bytes:
        """The viewport as PNG, or (``full_height``) the document's top ``full_height`` px."""
        if full_height is None:
            return base64.b64decode(self._screenshot())
        clip = (0, 0, self._viewport[0], full_height)
        return base64.b64decode(self._screenshot(clip, beyond_viewport=True))

    def _screenshot(
        self, clip: tuple[float, float, float, float] | None = None, beyond_viewport: bool = False
    ) -> str:
        """A PNG (base64) of the viewport, or of ``clip`` ``(x, y, width, height)`` in document
        px. Headless Chromium now and then answers "Unable to capture screenshot" when no
        compositor frame is ready yet (seen about once in a few hundred pages on a loaded
        machine); one retry after a frame's time gets it."""
        assert self._cdp is not None
        params: dict[str, object] = {"format": "png", "optimizeForSpeed": True}
        if clip is not None:
            x, y, width, height = clip
            params["clip"] = {"x": x, "y": y, "width": width, "height": height, "scale": 1}
            params["captureBeyondViewport"] = beyond_viewport
        try:
            shot = self._cdp.send("Page.captureScreenshot", params)
        except PlaywrightError as exc:
            if "Unable to capture screenshot" not in str(exc):
                raise
            time.sleep(_FRAME_S)
            shot = self._cdp.send("Page.captureScreenshot", params)
        return str(shot["data"])

    def _write(self, doc: HtmlDocument, deadline: float) -> bool:
        """Replace the page's document with ``doc`` in place, under its own folder of the origin
        (so no URL of a previous document, nor an image cached under it, is ``doc``'s), and
        wait until it has loaded. False: it did not end at its URL, and must be navigated to.

        Why this is safe only without page scripts: document.open() keeps the window, so
        whatever a script of the previous document left (globals, timers, listeners) would live
        on. With every file served under ``script-src 'none'`` and the previous document free of
        what outlives it (see ``_STICKY``), what it could leave is its DOM, its styles and its
        loads: document.open() replaces the DOM (styles with it) and stops the loads. (Globals of
        the renderer's own page scripts stay; each document evaluates its library afresh.) A
        navigation costs about twice the CPU of writing the same document;
        ``tests/renderers/test_render_in_place.py`` checks that both give the same pixels and
        text, after documents that scroll, tint the canvas, fill the top layer, load pictures."""
        assert self._page is not None
        url = entry_url(doc, self._prefix)
        remaining_ms = max(1, round((deadline - time.monotonic()) * 1000))
        # A navigation's decoder drops a byte order mark; document.write() would parse it as text.
        html = doc.html.removeprefix("\ufeff")
        state = self._page.evaluate(_WRITE_IN_PLACE_JS, [url, html, remaining_ms])
        if state == "loading":
            raise RenderTimeout(f"page load exceeded {self.config.load_timeout_s:g}s")
        return state == "loaded"

    def _wait_for_load(self, deadline: float) -> None:
        """Wait, until ``deadline``, for the document just committed to finish loading.

        The wait happens here, never inside the page: with ``javascript=False``
        (``Emulation.setScriptExecutionDisabled``) the page runs no event listener or timer
        callback, not even ours, so an in-page wait for ``load`` would never end. Playwright's
        ``load`` state (CDP ``Page.lifecycleEvent``) ends the wait at once in the usual case, but
        Chromium does not report the load event of a document that started a navigation while
        loading (``location=``; ours are cancelled with a 204 and the document stays), and
        ``goto(wait_until="load")`` would wait for that navigation. So between short lifecycle
        waits we also ask the document itself (``document.readyState``, evaluated through CDP,
        which works with page scripts disabled). A renderer that a script hung while loading
        blocks that question until the watchdog ends it, as a hang must. A timeout is not
        decided here: MEASURE_JS reports a document that is still loading.
        """
        assert self._page is not None
        page = self._page
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                # At least 1 ms: Playwright reads a timeout of 0 as "no timeout".
                page.wait_for_load_state(
                    "load", timeout=max(1.0, min(remaining, _LOAD_POLL_S) * 1000)
                )
                return
            except PlaywrightTimeoutError:
                pass
            if page.evaluate("document.readyState") == "complete":
                return

    def _render_document(
        self, doc: HtmlDocument, mode: RenderMode, layout: Layout
    ) -> list[RenderedPage]:
        assert self._page is not None and self._cdp is not None and self._context is not None
        cfg, page = self.config, self._page
        g = layout.geometry or cfg.geometry
        if (g.width, g.height) != self._viewport:
            page.set_viewport_size({"width": g.width, "height": g.height})
            self._viewport = (g.width, g.height)
        self._cdp.send("Storage.clearDataForOrigin", {"origin": ORIGIN, "storageTypes": "all"})
        load_deadline = time.monotonic() + cfg.load_timeout_s
        # A document without scripts cannot see its URL, so it gets a folder of the origin of its
        # own, whether it is written in place or navigated to (the same URLs either way).
        self._served += 1
        self._scriptless = not cfg.page_scripts or _SCRIPTING.search(doc.html) is None
        self._prefix = f"d{self._served}" if self._scriptless else ""
        writable = self._scriptless and cfg.javascript and _writable_in_place(doc)
        if not (self._writable and writable and self._write(doc, load_deadline)):
            url = entry_url(doc, self._prefix)
            page.goto(url, wait_until="commit", timeout=cfg.load_timeout_s * 1000)
            self._wait_for_load(load_deadline)
        self._writable = writable
        css = STILL_CSS + (paginated_css(g) if mode == "paginated" else "")
        atom = f"data-vlpipe-atom-{uuid.uuid4().hex}"  # a name the document cannot know
        max_height = 0 if mode == "viewport" else cfg.max_height_px
        args = {"css": css, "maxHeight": max_height, "atom": atom}
        # Styling also checks that the load finished (None: still loading), and touches the
        # renderer: one that a script hung while loading blocks this call until the watchdog
        # kills the browser. Without a page script to run in between, styling and measuring are
        # one round trip.
        if layout.script is None:
            measured = page.evaluate(_STYLE_AND_MEASURE_JS, args)
        elif page.evaluate(STYLE_JS, css):
            self._run_script(layout.script, atom)
            measured = page.evaluate(MEASURE_JS, args)
        else:
            measured = None
        if measured is None:
            raise RenderTimeout(f"page load exceeded {cfg.load_timeout_s:g}s")
        height = float(measured["height"])
        if max_height and height > max_height:
            raise RenderError(f"document is {height:.0f} px tall, over the {max_height} px limit")
        lines = [TextLine.from_js(raw) for raw in measured["lines"]]
        self._paint_canvas(measured["canvas"] if mode == "paginated" else None)
        if mode == "viewport":
            text = page_text(lines_in_view(lines, 0, g.height))
            return [RenderedPage(0, self._capture(), text, g.width, g.height)]
        if mode == "full_page":
            full = max(1, int(height))
            return [RenderedPage(0, self._capture(full), page_text(lines), g.width, full)]
        plans = plan_pages(lines, g, float(measured["bottom"]))
        if not plans:
            raise RenderError("document has no visible content")
        if len(plans) > cfg.max_pages:
            raise RenderError(
                f"document needs {len(plans)} pages, over the {cfg.max_pages}-page limit"
            )
        return [
            self._show_page(g, plan, index, layout.first_page + index)
            for index, plan in enumerate(plans)
        ]

    def _paint_canvas(self, colour: str | None) -> None:
        """Paint what the document leaves unpainted (the margins of a paginated page, outside
        its clip) in the document's canvas colour (a CSS ``rgb()``/``rgba()``), or white."""
        if colour == self._canvas:
            return
        assert self._cdp is not None
        rgba = [float(v) for v in re.findall(r"[\d.]+", colour or "")]
        params = {}
        if len(rgba) >= 3:
            r, g, b = (round(v) for v in rgba[:3])
            params["color"] = {"r": r, "g": g, "b": b, "a": rgba[3] if len(rgba) > 3 else 1.0}
        self._cdp.send("Emulation.setDefaultBackgroundColorOverride", params)
        self._canvas = colour

    def _run_script(self, script: PageScript, atom: str) -> None:
        assert self._cdp is not None and self._page is not None
        loaded = self._cdp.send("Runtime.evaluate", {"expression": script.library})
        if "exceptionDetails" in loaded:
            raise RenderError(f"page script library failed: {loaded['exceptionDetails']}")
        problem = self._page.evaluate(script.call, atom)
        if problem:
            raise PageScriptError(str(problem)[:500])

    def _show(
        self,
        g: PageGeometry,
        band: tuple[int, int],
        right: float,
        overlays: list[object],
        first: bool = False,
    ) -> tuple[float, list[list[float]]]:
        """Show the document band ``[top, bottom)`` (left of ``right``) under the top margin,
        with ``overlays`` on top; returns the document's scroll position and the boxes of the
        text overlays. The ``first`` band of a document is shown with all that lies above it
        (only the body's top padding: glyphs reaching above the first line stay whole)."""
        assert self._page is not None
        top, bottom = band
        scroll = top - g.margin_top
        shown = self._page.evaluate(
            SHOW_PAGE_JS,
            {
                "rects": [[-_FAR, 0 if first else top, right, bottom]],
                "scroll": scroll,
                "minHeight": scroll + 2 * g.height,
                "overlays": overlays,
            },
        )
        return float(shown["scrollY"]), shown["boxes"]

    def _show_page(self, g: PageGeometry, plan: PagePlan, index: int, number: int) -> RenderedPage:
        """Capture one planned page: its first band in the first column; its second band, if
        any, captured first and laid over the second column; then header and footer."""
        furniture = page_furniture(g, plan, number)
        family = g.font_family or "serif"
        overlays: list[object] = [
            {
                "left": 0,
                "top": f.top,
                "width": plan.width,
                "text": f.text,
                "font": f"{g.furniture_px}px/{FURNITURE_LINE} {family}",
                "color": g.color or "#000000",
            }
            for f in furniture
        ]
        right = float(_FAR)
        if g.columns > 1:
            half = g.column_gap // 2
            left = max(0, g.margin_x - half)
            right = g.margin_x + g.column_width + half
            if len(plan.bands) > 1:
                top, bottom = plan.bands[1]
                self._show(g, plan.bands[1], right, [])
                strip = self._screenshot((left, top, right - left, bottom - top))
                shift = g.column_width + g.column_gap
                overlays.append({"left": left + shift, "top": g.margin_top, "png": strip})
        scroll, boxes = self._show(g, plan.bands[0], right, overlays, first=index == 0)
        full = (plan.width, plan.height) == (g.width, g.height)
        png = base64.b64decode(
            self._screenshot(None if full else (0, scroll, plan.width, plan.height))
        )
        placed = tuple(
            FurnitureBox(f.role, f.text, _pixel_box(box))
            for f, box in zip(furniture, boxes, strict=True)
        )
        text = join_furniture(plan.text, furniture)
        return RenderedPage(index, png, text, plan.width, plan.height, placed)


def _pixel_box(box: list[float]) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    return math.floor(x0), math.floor(y0), math.ceil(x1), math.ceil(y1)


class BrowserPool:
    """A pool of long-lived Chromium browsers; use as a context manager.

    ``render`` renders one document (raising a ``DocumentError`` subclass on failure);
    ``render_many`` spreads documents over the browsers and returns, in input order, each
    document's pages or its error, so one bad document never loses the rest of the batch.
    """

    def __init__(self, config: BrowserConfig | None = None) -> None:
        self.config = config or BrowserConfig()
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._workers: list[_Worker] = []
        self._stop = threading.Event()
        self._watchdog: threading.Thread | None = None

    def start(self) -> Self:
        """Launch the browsers; a missing or broken Chromium raises ``ConfigError``."""
        if self._workers:
            return self
        executable = find_chromium(self.config.chromium)
        pool_id = uuid.uuid4().hex[:12]
        self._stop.clear()
        self._workers = [
            _Worker(pool_id, i, self.config, executable, self._jobs)
            for i in range(self.config.browsers)
        ]
        self._watchdog = threading.Thread(
            target=self._watch, name="vlpipe-chromium-watchdog", daemon=True
        )
        self._watchdog.start()
        for worker in self._workers:
            worker.start()
        for worker in self._workers:
            worker.ready.wait()
        errors = [w.startup_error for w in self._workers if w.startup_error is not None]
        if errors:
            self.close()
            raise errors[0]
        return self

    def close(self) -> None:
        """Stop the workers and their browsers (pending documents still render first)."""
        for _ in self._workers:
            self._jobs.put(None)
        for worker in self._workers:
            worker.join()
        self._workers = []
        self._stop.set()
        if self._watchdog is not None:
            self._watchdog.join()
            self._watchdog = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            now = time.monotonic()
            for worker in self._workers:
                worker.check_deadline(now)

    def browser_pids(self) -> list[int]:
        """The pid of each worker's current browser process (for monitoring)."""
        return [w.pid for w in self._workers if w.pid is not None]

    def submit(
        self, doc: HtmlDocument, mode: RenderMode | None = None, layout: Layout | None = None
    ) -> Future[list[RenderedPage]]:
        """Queue one document; the future holds its pages or its ``DocumentError``."""
        if not self._workers:
            raise RuntimeError("BrowserPool is not started; use it as a context manager")
        future: Future[list[RenderedPage]] = Future()
        self._jobs.put((doc, mode or self.config.mode, layout or Layout(), future))
        return future

    def render(
        self, doc: HtmlDocument, mode: RenderMode | None = None, layout: Layout | None = None
    ) -> list[RenderedPage]:
        """Render one document; raises a ``DocumentError`` subclass if it cannot be rendered."""
        return self.submit(doc, mode, layout).result()

    def render_many(
        self, docs: list[HtmlDocument], mode: RenderMode | None = None
    ) -> list[list[RenderedPage] | DocumentError]:
        """Render documents on all browsers; each result is the pages or the document's error."""
        futures = [self.submit(doc, mode) for doc in docs]
        results: list[list[RenderedPage] | DocumentError] = []
        for future in futures:
            try:
                results.append(future.result())
            except DocumentError as exc:
                results.append(exc)
        return results


def render_html(
    html: str,
    *,
    base_dir: Path | None = None,
    mode: RenderMode | None = None,
    config: BrowserConfig | None = None,
) -> list[RenderedPage]:
    """One-off render with a single-browser pool (a pool is far faster for many documents)."""
    cfg = (config or BrowserConfig()).model_copy(update={"browsers": 1})
    with BrowserPool(cfg) as pool:
        return pool.render(HtmlDocument(html, base_dir), mode)
