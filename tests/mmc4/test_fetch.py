"""The fetcher: the SSRF guard as pure functions (private, link-local and metadata addresses are
checked, never connected to), then every hostile server case against a loopback server."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from PIL import Image
from yarl import URL

from tests.mmc4.conftest import ImageServer, Route, redirect, send
from tests.mmc4.helpers import photo
from vlpipe.sources.fetch import (
    BlockedAddress,
    FetchCache,
    Fetched,
    Fetcher,
    FetchOptions,
    GuardedResolver,
    ImageLimits,
    ResizeOptions,
    blocked_reason,
    opted_out,
    prepare_image,
    retry_after_s,
    url_refusal,
)

LIMITS = ImageLimits(max_bytes=1 << 20, max_pixels=40_000_000)
HOSTS = ("127.0.0.1", "localhost")  # two hosts for the per-host limit, one loopback server

# -- the guard, without connecting -------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.8.9.10", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "metadata"),
        ("169.254.10.10", "link_local"),
        ("fd00:ec2::254", "metadata"),
        ("fd00::1", "private"),
        ("fe80::1", "link_local"),
        ("100.64.0.1", "not_global"),
        ("100.100.100.200", "metadata"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:a9fe:a9fe::1", "metadata"),  # 6to4 around 169.254.169.254
        ("64:ff9b::a00:1", "private"),  # NAT64 around 10.0.0.1
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_blocked_reason(address: str, reason: str | None) -> None:
    assert blocked_reason(ipaddress.ip_address(address), 80) == reason


def test_loopback_is_allowed_only_on_named_ports() -> None:
    loopback = ipaddress.ip_address("127.0.0.1")
    assert blocked_reason(loopback, 8080, (8080,)) is None
    assert blocked_reason(loopback, 8081, (8080,)) == "loopback"
    assert blocked_reason(ipaddress.ip_address("10.0.0.1"), 8080, (8080,)) == "private"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/a.jpg", "unsupported_scheme"),
        ("file:///etc/passwd", "unsupported_scheme"),
        ("gopher://127.0.0.1:70/", "unsupported_scheme"),
        ("http://10.0.0.1/a.jpg", "blocked_address"),
        ("http://169.254.169.254/latest/meta-data/", "blocked_address"),
        ("http://[fd00::1]/a.jpg", "blocked_address"),
        ("http://[::ffff:169.254.169.254]/", "blocked_address"),
        ("http://2130706433/", "blocked_address"),  # 127.0.0.1 to the system resolver
        ("http://127.1/", "blocked_address"),
        ("http://0177.0.0.1/", "blocked_address"),
        ("http://127.0.0.1./", "blocked_address"),
        ("http://0/", "blocked_address"),
        ("http://example.com/a.jpg", None),  # a name: the resolver checks it
    ],
)
def test_url_refusal(url: str, reason: str | None) -> None:
    refusal = url_refusal(URL(url), ())
    assert (refusal[0] if refusal else None) == reason


def stub_lookup(table: dict[str, list[str]]):  # type: ignore[no-untyped-def]
    asked: list[str] = []

    async def lookup(host: str, port: int) -> list[str]:
        asked.append(host)
        return table[host]

    lookup.asked = asked  # type: ignore[attr-defined]
    return lookup


@pytest.mark.parametrize(
    ("host", "addresses"),
    [
        ("metadata.test", ["169.254.169.254"]),
        ("intranet.test", ["10.0.0.1"]),
        ("v6.test", ["fd00::1"]),
        ("mixed.test", ["93.184.216.34", "192.168.0.7"]),  # one bad address refuses the host
        ("rebind.test", ["::ffff:127.0.0.1"]),
    ],
)
def test_the_resolver_refuses_names_that_resolve_to_blocked_addresses(
    host: str, addresses: list[str]
) -> None:
    resolver = GuardedResolver(stub_lookup({host: addresses}), ())
    with pytest.raises(BlockedAddress, match=host):
        asyncio.run(resolver.resolve(host, 80))


def test_the_resolver_returns_the_addresses_it_checked() -> None:
    resolver = GuardedResolver(stub_lookup({"ok.test": ["93.184.216.34", "93.184.216.34"]}), ())
    (result,) = asyncio.run(resolver.resolve("ok.test", 443))
    assert (result["host"], result["port"], result["hostname"]) == ("93.184.216.34", 443, "ok.test")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["noai"], True),
        (["noindex, NoImageAI"], True),
        (["none"], True),
        (["vlpipe: noai"], True),
        (["googlebot: noindex, noimageai"], False),  # for another agent
        (["noindex", "nofollow"], False),
        (["unavailable_after: 25 Jun 2010 15:00:00 PST"], False),
        (["noindex, unavailable_after: 25 Jun 2010", "noai"], True),
        ([], False),
    ],
)
def test_opted_out(values: list[str], expected: bool) -> None:
    assert opted_out(values, ("noai", "noimageai", "none")) is expected


def test_retry_after() -> None:
    assert retry_after_s("7", 0.0) == 7.0
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT", 1445412470.0) == 10.0
    for hostile in ("soon", None, "", "-5", "1.5", "²", "١٢", "Wed, 21 Oct 99999 07:28:00 GMT"):
        assert retry_after_s(hostile, 0.0) is None


# -- the fetcher against a loopback server -----------------------------------------------------


@pytest.fixture
def fetcher(server: ImageServer, tmp_path: Path) -> Iterator[Fetcher]:
    yield from open_fetcher(server, tmp_path / "cache")


def open_fetcher(server: ImageServer, cache: Path, **options: object) -> Iterator[Fetcher]:
    settings = {
        "allow_loopback_ports": (server.port,),
        "timeout_s": 0.5,
        "retries": 1,
        "backoff_s": 0.01,
        "max_retry_after_s": 5.0,
        **options,
    }
    lookup = stub_lookup({"localhost": ["127.0.0.1"], "metadata.test": ["169.254.169.254"]})
    with Fetcher(FetchOptions(**settings), FetchCache(cache), LIMITS, lookup) as opened:
        yield opened


def fetch(fetcher: Fetcher, *urls: str) -> list[Fetched]:
    return list(fetcher.fetch_all(urls))


def test_good_images_are_fetched_and_cached(
    fetcher: Fetcher, server: ImageServer, tmp_path: Path
) -> None:
    paths = ["/good.jpg", "/good.png", "/good.webp", "/moved.jpg"]
    results = fetch(fetcher, *map(server.url, paths))
    assert [r.status for r in results] == ["fetched"] * 4
    assert results[0].body() == photo(1) == results[3].body()
    assert results[3].http_status == 200 and results[3].attempts == 2  # 301, then the image
    again = fetch(fetcher, *map(server.url, paths))
    assert [r.status for r in again] == ["cached"] * 4
    assert [r.sha256 for r in again] == [r.sha256 for r in results]
    assert server.requests["/good.jpg"] == 2  # itself and through /moved.jpg, once each


def test_the_same_url_asked_twice_at_once_is_requested_once(
    fetcher: Fetcher, server: ImageServer
) -> None:
    first, second = fetch(fetcher, server.url("/good.jpg"), server.url("/good.jpg"))
    assert (first.status, second.status) == ("fetched", "cached")
    assert server.requests["/good.jpg"] == 1


@pytest.mark.parametrize(
    ("path", "reason", "http_status", "requests"),
    [
        ("/missing.jpg", "http_404", 404, 1),
        ("/gone.jpg", "http_410", 410, 1),  # 4xx: never retried
        ("/broken.jpg", "http_5xx", 503, 2),  # 5xx: retried, then given up
        ("/slow.jpg", "timeout", None, 2),
        ("/huge.jpg", "too_large", 200, 1),
        ("/huge-declared.jpg", "too_large", 200, 1),
        ("/page.jpg", "not_an_image", 200, 1),
        ("/bomb.png", "decompression_bomb", 200, 1),
        ("/noai.jpg", "opted_out", 200, 1),
        ("/noimageai.jpg", "opted_out", 200, 1),
        ("/loop-a", "redirect_loop", 302, 1),
        ("/truncated.jpg", "truncated", None, 2),
        ("/rate-long.jpg", "http_429", 429, 1),  # Retry-After beyond max_retry_after_s
    ],
)
def test_hostile_responses_end_as_reasons(
    fetcher: Fetcher, server: ImageServer, path: str, reason: str, http_status: int | None,
    requests: int,
) -> None:  # fmt: skip
    (result,) = fetch(fetcher, server.url(path))
    assert (result.status, result.reason, result.http_status) == ("dropped", reason, http_status)
    assert server.requests[path] == requests
    (cached,) = fetch(fetcher, server.url(path))  # a failure is remembered too
    assert (cached.status, cached.reason) == ("dropped", reason)
    assert server.requests[path] == requests


def test_retries_recover_and_honour_retry_after(fetcher: Fetcher, server: ImageServer) -> None:
    started = time.monotonic()
    flaky, rate = fetch(fetcher, server.url("/flaky.jpg"), server.url("/rate.jpg"))
    assert time.monotonic() - started >= 1.0  # the 429's Retry-After: 1, not the 0.01 s backoff
    assert (flaky.status, flaky.attempts, flaky.body()) == ("fetched", 2, photo(4))
    assert (rate.status, rate.attempts) == ("fetched", 2)
    assert server.requests["/flaky.jpg"] == 2 == server.requests["/rate.jpg"]


def test_opt_out_for_another_agent_is_not_ours(fetcher: Fetcher, server: ImageServer) -> None:
    (result,) = fetch(fetcher, server.url("/other-bot.jpg"))
    assert result.status == "fetched"


def test_redirects_are_checked_again_and_blocked_hosts_get_no_request(
    fetcher: Fetcher, server: ImageServer, elsewhere: ImageServer
) -> None:
    server.routes["/escape-ip"] = redirect(elsewhere.url("/secret.jpg"))
    server.routes["/escape-name"] = redirect(elsewhere.url("/secret.jpg", host="localhost"), 307)
    server.routes["/to-metadata"] = redirect("http://metadata.test/latest/meta-data/")
    server.routes["/to-file"] = redirect("file:///etc/passwd")
    results = fetch(
        fetcher,
        server.url("/escape-ip"),
        server.url("/escape-name"),
        server.url("/to-metadata"),
        server.url("/to-file"),
        elsewhere.url("/secret.jpg"),
        "http://10.0.0.1/a.jpg",
        "http://metadata.test/latest/meta-data/",
    )
    assert [r.reason for r in results] == ["blocked_address"] * 3 + ["unsupported_scheme"] + [
        "blocked_address"
    ] * 3
    assert "loopback" in results[0].detail and "169.254.169.254" in results[2].detail
    assert sum(elsewhere.requests.values()) == 0


class InFlight:
    """Requests being answered, in all (``*``) and per ``Host`` header, and their peaks. A request
    stops counting before its answer is sent, so the next one a client's freed slot lets in
    never overlaps it here."""

    def __init__(self) -> None:
        self.now: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()
        self.lock = threading.Lock()

    def route(self, data: bytes, seconds: float) -> Route:
        def answer(handler: BaseHTTPRequestHandler) -> None:
            keys = ("*", handler.headers["Host"])
            with self.lock:
                for key in keys:
                    self.now[key] += 1
                    self.peak[key] = max(self.peak[key], self.now[key])
            time.sleep(seconds)
            with self.lock:
                for key in keys:
                    self.now[key] -= 1
            send(handler, 200, data, {"Content-Type": "image/jpeg"})

        return answer


def test_the_concurrency_limits_hold(server: ImageServer, tmp_path: Path) -> None:
    gauge = InFlight()
    for number in range(8):
        server.routes[f"/many/{number}.jpg"] = gauge.route(photo(100 + number), 0.2)
    urls = [server.url(f"/many/{n}.jpg", host) for n in range(8) for host in HOSTS]
    for opened in open_fetcher(server, tmp_path / "c", per_host=2, concurrency=3):
        assert [r.status for r in fetch(opened, *urls)] == ["fetched"] * 16
    assert sum(server.requests.values()) == 16
    per_host = [gauge.peak[f"{host}:{server.port}"] for host in HOSTS]
    assert 2 <= gauge.peak["*"] <= 3 and max(per_host) <= 2


# -- resize -------------------------------------------------------------------------------------


def dimensions(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


@pytest.mark.parametrize(
    ("mode", "size", "expected"),
    [
        ("longest_side", 80, (80, 60)),
        ("shortest_side", 60, (80, 60)),
        ("center_crop", 50, (50, 50)),
        ("border", 100, (100, 100)),
        ("longest_side", 400, (160, 120)),  # never enlarged unless asked
    ],
)
def test_resize_modes(mode: str, size: int, expected: tuple[int, int]) -> None:
    ext, data = prepare_image(photo(1, (160, 120)), ResizeOptions(mode=mode, size=size))  # type: ignore[arg-type]
    assert (ext, dimensions(data)) == ("jpg", expected)


def test_keep_leaves_png_and_jpeg_untouched_and_makes_webp_png() -> None:
    jpeg, webp = photo(1), photo(2, fmt="WEBP")
    assert prepare_image(jpeg, ResizeOptions()) == ("jpg", jpeg)
    ext, data = prepare_image(webp, ResizeOptions())
    assert ext == "png" and data.startswith(b"\x89PNG") and dimensions(data) == (160, 120)
