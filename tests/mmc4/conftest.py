"""A local HTTP server serving good and hostile images, and a guard that refuses, in this
process, any connection to an address that is not loopback (tests never reach the network)."""

from __future__ import annotations

import ipaddress
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.mmc4.helpers import photo, png_bomb

_GUARD = {"on": False}


def _loopback_only(event: str, args: tuple[Any, ...]) -> None:
    if _GUARD["on"] and event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple) and not ipaddress.ip_address(address[0]).is_loopback:
            raise PermissionError(f"tests may only connect to loopback, not {address}")


sys.addaudithook(_loopback_only)


@pytest.fixture(autouse=True)
def loopback_only() -> Iterator[None]:
    _GUARD["on"] = True
    yield
    _GUARD["on"] = False


Route = Callable[[BaseHTTPRequestHandler], None]


def send(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    length: int | None = None,
) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body) if length is None else length))
    handler.end_headers()
    handler.wfile.write(body)


class ImageServer:
    """``ThreadingHTTPServer`` on 127.0.0.1: ``routes`` by path, requests counted by path; a
    path in ``held`` waits for ``release`` (and is answered only if ``answer_held``)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: Counter[str] = Counter()
        self.served: Counter[str] = Counter()
        self.held: set[str] = set()
        self.release = threading.Event()
        self.answer_held = True
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                with server.lock:
                    server.requests[path] += 1
                if path in server.held:
                    server.release.wait(30)
                    if not server.answer_held:
                        return
                server.routes.get(path, lambda h: send(h, 404, b"not found"))(self)
                with server.lock:
                    server.served[path] += 1

            def log_message(self, *_: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that hung up (a timeout, a size cap) is expected here

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def image(self, path: str, data: bytes, **headers: str) -> str:
        self.routes[path] = lambda h: send(h, 200, data, {"Content-Type": "image/jpeg", **headers})
        return self.url(path)

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def redirect(location: str, status: int = 302) -> Route:
    return lambda handler: send(handler, status, headers={"Location": location})


def _flaky(first_status: int, data: bytes, headers: dict[str, str] | None = None) -> Route:
    calls = Counter[str]()

    def route(handler: BaseHTTPRequestHandler) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            send(handler, first_status, b"try again", headers)
        else:
            send(handler, 200, data, {"Content-Type": "image/jpeg"})

    return route


def _slow(handler: BaseHTTPRequestHandler) -> None:
    time.sleep(1.5)
    send(handler, 200, photo(9))


def _truncated(handler: BaseHTTPRequestHandler) -> None:
    data = photo(10)
    send(handler, 200, data[:200], {"Content-Type": "image/jpeg"}, length=len(data))
    handler.close_connection = True


def _endless_jpeg(handler: BaseHTTPRequestHandler) -> None:
    """A JPEG start, then more bytes than the cap, with no Content-Length (the cap must hold
    while streaming)."""
    handler.send_response(200)
    handler.send_header("Content-Type", "image/jpeg")
    handler.end_headers()
    handler.wfile.write(photo(11)[:100])
    for _ in range(300):  # 19 MiB: more than any cap the tests set
        try:
            handler.wfile.write(b"\0" * 65536)
        except OSError:
            return
    handler.close_connection = True


@pytest.fixture
def server() -> Iterator[ImageServer]:
    """The hostile cases of the fetcher, each on its own path."""
    served = ImageServer()
    served.image("/good.jpg", photo(1))
    served.image("/good.png", photo(2, fmt="PNG"))
    served.image("/good.webp", photo(3, fmt="WEBP"))
    served.routes["/flaky.jpg"] = _flaky(500, photo(4))
    served.routes["/rate.jpg"] = _flaky(429, photo(5), {"Retry-After": "1"})
    served.routes["/rate-long.jpg"] = _flaky(429, photo(5), {"Retry-After": "3600"})
    served.routes["/gone.jpg"] = lambda h: send(h, 410, b"gone")
    served.routes["/broken.jpg"] = lambda h: send(h, 503, b"down")
    served.routes["/slow.jpg"] = _slow
    served.routes["/huge.jpg"] = _endless_jpeg
    served.routes["/huge-declared.jpg"] = lambda h: send(h, 200, photo(12), length=10**9)
    served.image("/page.jpg", b"<!doctype html><html><body>not an image</body></html>")
    served.image("/bomb.png", png_bomb())
    served.image("/noai.jpg", photo(6), **{"X-Robots-Tag": "noai"})
    served.image("/noimageai.jpg", photo(6), **{"X-Robots-Tag": "noindex, noimageai"})
    served.image("/other-bot.jpg", photo(6), **{"X-Robots-Tag": "otherbot: noai"})
    served.routes["/truncated.jpg"] = _truncated
    served.routes["/loop-a"] = redirect("/loop-b")
    served.routes["/loop-b"] = redirect("/loop-a")
    served.routes["/moved.jpg"] = redirect("/good.jpg", 301)
    yield served
    served.close()


@pytest.fixture
def elsewhere() -> Iterator[ImageServer]:
    """A second loopback server, on a port the guard is not told to allow."""
    other = ImageServer()
    other.image("/secret.jpg", photo(7))
    yield other
    other.close()
