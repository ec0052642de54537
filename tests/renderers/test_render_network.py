"""Rendered documents must not reach the network: a local HTTP server counts every request."""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from vlpipe.renderers import BrowserPool, HtmlDocument


class _Recorder(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def _record(self) -> None:
        type(self).hits.append(f"{self.command} {self.path}")
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "/redirected")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(b"<p>served</p>")

    do_GET = do_POST = do_HEAD = do_PUT = do_OPTIONS = _record

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    _Recorder.hits = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    httpd.daemon_threads = True
    httpd.timeout = 5
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}", _Recorder.hits
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _hostile_documents(host: str) -> list[HtmlDocument]:
    u = f"http://{host}"
    loc = u.replace("127.0.0.1", "localhost")
    static = f"""<!doctype html><html><head>
      <link rel="stylesheet" href="{u}/css">
      <link rel="prefetch" href="{u}/prefetch"><link rel="preload" as="image" href="{u}/preload">
      <link rel="dns-prefetch" href="//{host}/"><link rel="preconnect" href="{u}/preconnect">
      <link rel="icon" href="{u}/favicon.ico"><link rel="manifest" href="{u}/manifest">
      <style>@import url("{u}/import.css");
        @font-face {{ font-family: F; src: url("{u}/font.woff2"); }}
        body {{ font-family: F; background: url("{u}/bg.png"); }}</style>
      <script type="speculationrules">{{"prefetch": [{{"source": "list", "urls": ["{u}/spec"]}}],
        "prerender": [{{"source": "list", "urls": ["{u}/prerender"]}}]}}</script>
      <script src="{u}/script.js"></script>
      </head><body><p>static</p>
      <img src="{u}/img.png"><img srcset="{u}/srcset.png 1x"><img src="{loc}/localhost.png">
      <picture><source srcset="{u}/source.png">
        <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></picture>
      <video poster="{u}/poster.png" src="{u}/video.mp4" autoplay></video>
      <audio src="{u}/a.mp3" autoplay></audio>
      <iframe src="{u}/iframe"></iframe><object data="{u}/object"></object><embed src="{u}/embed">
      <svg><image href="{u}/svgimage.png" width="10" height="10"/></svg>
      <img src="{u}/redirect"><a ping="{u}/ping" href="{u}/link">link</a>
      <iframe srcdoc="<img src='{u}/srcdoc.png'>"></iframe>
      </body></html>"""
    scripted = f"""<p>scripted</p><script>
      fetch("{u}/fetch").catch(() => {{}});
      fetch("{loc}/fetch-localhost", {{mode: "no-cors"}}).catch(() => {{}});
      const x = new XMLHttpRequest(); x.open("GET", "{u}/xhr"); x.send();
      navigator.sendBeacon("{u}/beacon", "data");
      addEventListener("pagehide", () => navigator.sendBeacon("{u}/beacon-unload", "bye"));
      try {{ new WebSocket("ws://{host}/ws"); }} catch (e) {{}}
      try {{ new EventSource("{u}/events"); }} catch (e) {{}}
      try {{ new Worker("{u}/worker.js"); }} catch (e) {{}}
      import("{u}/module.js").catch(() => {{}});
      new Image().src = "{u}/image-js";
      window.open("{u}/popup");
      navigator.serviceWorker && navigator.serviceWorker.register("/sw.js").catch(() => {{}});
      const f = document.createElement("form"); f.method = "POST"; f.action = "{u}/form";
      document.body.appendChild(f); setTimeout(() => f.submit(), 20);
      document.querySelector("p").click();
    </script>"""
    return [
        HtmlDocument(static),
        HtmlDocument(scripted),
        HtmlDocument(f'<meta http-equiv="refresh" content="0;url={u}/refresh"><p>refresh</p>'),
        HtmlDocument(f'<p>location</p><script>location = "{u}/location";</script>'),
        HtmlDocument(
            f'<p>later</p><script>setTimeout(() => location.href = "{u}/later", 50)</script>'
        ),
        HtmlDocument(f'<p>top</p><script>window.top.location.replace("{u}/replace")</script>'),
    ]


@pytest.mark.slow
def test_rendered_documents_make_no_requests(
    pool: BrowserPool, server: tuple[str, list[str]]
) -> None:
    host, hits = server
    with urllib.request.urlopen(f"http://{host}/control", timeout=5) as response:
        assert response.status == 200
    assert hits == ["GET /control"]  # the recorder works
    hits.clear()
    results = pool.render_many(_hostile_documents(host), "paginated")
    for result in results:
        assert not isinstance(result, Exception), result
    time.sleep(1.0)  # let timers, refreshes and unload beacons fire …
    pool.render_many([HtmlDocument("<p>next</p>")] * 4)  # … and unload the hostile pages
    time.sleep(0.5)
    assert hits == []
    assert [r[0].text for r in results[2:]] == ["refresh", "location", "later", "top"]
