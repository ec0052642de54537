"""Images from the web, for any source that needs them (MMC4's ``raw_url``): fast, bounded, and
safe against hostile URLs.

- **Concurrency**: one asyncio loop in a background thread, one aiohttp session; at most
  ``concurrency`` requests in flight and ``per_host`` per host (slots are taken before an
  attempt's clock starts, so waiting for a slot never times out a request). ``submit`` returns a
  ``concurrent.futures.Future`` at once, so a caller queues a whole chunk of URLs and collects the
  results in its own order.
- **Bounds**: connect, read (between bytes) and whole-attempt timeouts; retries with exponential
  backoff on 429, 5xx, timeouts, broken connections and truncated bodies — never on other 4xx —
  honouring ``Retry-After`` (a server asking for longer than ``max_retry_after_s`` is given up
  on); a size cap enforced while the body streams; content judged by its magic bytes, never by
  ``Content-Type``; the image header checked against ``max_pixels`` before anything decodes it;
  bodies are not content-decoded (``Accept-Encoding: identity``), so no gzip bomb inflates.
- **Opt-out**: ``X-Robots-Tag`` directives ``noai``, ``noimageai`` or ``none`` (for every agent,
  or for ``vlpipe``) drop the image as ``opted_out``, as img2dataset does.
- **SSRF guard**: only ``http``/``https``. A host is resolved by the system resolver (injectable),
  every address it resolves to is checked (``blocked_reason``: loopback, private, link-local,
  multicast, reserved, unspecified, cloud metadata, and IPv4 embedded in IPv6), and the connection
  goes to the checked addresses themselves (the check is aiohttp's resolver), so DNS cannot
  rebind between check and connect. IP literals are checked before any request; numeric hosts
  in other forms (``2130706433``, ``127.1``) are refused. Redirects are followed by hand, each
  hop checked again, at most ``max_redirects``; a loop is ``redirect_loop``.
  ``allow_loopback_ports`` admits named loopback ports (tests only).
- **Cache**: every URL's final outcome, fetched or not, is kept under the cache folder by the
  URL's sha256 (one file: a JSON line, then the body), so a resumed or repeated build never asks
  for a URL twice. Entries are written without fsync and checked against their sha256 when read:
  a torn entry is a miss.

``prepare_image`` resizes and re-encodes (img2dataset's modes); the original bytes are kept when
no resize is asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import io
import ipaddress
import os
import socket
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiohttp
import orjson
from aiohttp.abc import AbstractResolver, ResolveResult
from PIL import Image
from pydantic import Field
from yarl import URL

from vlpipe import __version__
from vlpipe.filters.image import image_format, image_header
from vlpipe.manifests.store import LocalStore, Store
from vlpipe.recipe import StrictModel
from vlpipe.schema import Drop

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Lookup = Callable[[str, int], Awaitable[list[str]]]
FetchStatus = Literal["fetched", "cached", "dropped"]

REDIRECTS = frozenset({301, 302, 303, 307, 308})
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
OPT_OUT_TOKEN = "vlpipe"
STREAM_CHUNK = 1 << 16
MAGIC_BYTES = 12  # enough to tell PNG, JPEG, GIF and WebP apart
DISK_THREADS = 4  # cache reads and writes in flight
T = TypeVar("T")


class FetchOptions(StrictModel):
    """How images are fetched from the web (``vlpipe.sources.fetch``)."""

    concurrency: int = Field(256, gt=0, description="requests in flight in all")
    per_host: int = Field(8, gt=0, description="requests in flight to one host")
    connect_timeout_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(10.0, gt=0, description="longest wait for the next bytes")
    timeout_s: float = Field(30.0, gt=0, description="longest one attempt may take in all")
    retries: int = Field(2, ge=0, description="on 429, 5xx, timeouts and broken connections")
    backoff_s: float = Field(1.0, ge=0, description="before the first retry; doubled after")
    max_retry_after_s: float = Field(60.0, ge=0, description="a longer Retry-After gives up")
    max_redirects: int = Field(5, ge=0)
    opt_out: tuple[str, ...] = Field(
        ("noai", "noimageai", "none"), description="X-Robots-Tag directives that drop an image"
    )
    user_agent: str = f"vlpipe/{__version__} (image fetcher; honours X-Robots-Tag noai)"
    allow_loopback_ports: tuple[int, ...] = Field(
        (), description="loopback ports the SSRF guard admits: for tests only"
    )


ResizeMode = Literal["keep", "longest_side", "shortest_side", "center_crop", "border"]


class ResizeOptions(StrictModel):
    """img2dataset's resize modes: ``longest_side`` is its ``keep_ratio_largest``,
    ``shortest_side`` its ``keep_ratio``; ``keep`` leaves the original bytes."""

    mode: ResizeMode = "keep"
    size: int = Field(512, gt=0, description="pixels of the side the mode names")
    upscale: bool = Field(False, description="enlarge smaller images too")
    encode_format: Literal["jpg", "png"] = "jpg"
    quality: int = Field(95, ge=1, le=100, description="JPEG quality")


@dataclass(frozen=True)
class ImageLimits:
    """What an image may be before anything decodes it (the image filter's own limits)."""

    max_bytes: int
    max_pixels: int


@dataclass(frozen=True)
class Fetched:
    """A URL's outcome: fetched now, taken from the cache, or dropped with a reason."""

    url: str
    status: FetchStatus
    reason: str | None = None
    detail: str | None = None
    http_status: int | None = None
    attempts: int = 0
    sha256: str | None = None
    size: int | None = None
    path: Path | None = None  # the cache entry holding the body

    def body(self) -> bytes:
        assert self.path is not None, f"{self.url} was not fetched"
        return self.path.read_bytes().partition(b"\n")[2]


# -- the SSRF guard: pure functions ------------------------------------------------------------


def blocked_reason(address: IpAddress, port: int, allowed_ports: Iterable[int] = ()) -> str | None:
    """Why a connection to ``address`` must not be made, or None when it may: only global
    unicast addresses are allowed (a loopback address on one of ``allowed_ports`` too)."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return blocked_reason(embedded, port, allowed_ports)
    if address in METADATA_ADDRESSES:
        return "metadata"
    if address.is_loopback:
        return None if port in allowed_ports else "loopback"
    for reason, flag in (
        ("unspecified", address.is_unspecified),
        ("multicast", address.is_multicast),
        ("link_local", address.is_link_local),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
        ("not_global", not address.is_global),
    ):
        if flag:
            return reason
    return None


class BlockedAddress(OSError):
    """A host resolves to an address the guard refuses."""


async def system_lookup(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for ``host``."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver: resolves with ``lookup`` and refuses the host when any of its
    addresses is blocked, so a connection only ever goes to addresses that were checked."""

    def __init__(self, lookup: Lookup, allowed_ports: tuple[int, ...]) -> None:
        self.lookup, self.allowed_ports = lookup, allowed_ports

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await self.lookup(host, port)
        results: list[ResolveResult] = []
        for text in dict.fromkeys(addresses):
            address = ipaddress.ip_address(text.split("%", 1)[0])
            if reason := blocked_reason(address, port, self.allowed_ports):
                raise BlockedAddress(f"{host} resolves to {address} ({reason})")
            kind = socket.AF_INET6 if address.version == 6 else socket.AF_INET
            results.append(
                {"hostname": host, "host": str(address), "port": port, "family": kind,
                 "proto": 0, "flags": socket.AI_NUMERICHOST}
            )  # fmt: skip
        if not results:
            raise OSError(f"{host} resolves to no address")
        return results

    async def close(self) -> None:
        return None


def url_refusal(url: URL, allowed_ports: tuple[int, ...]) -> tuple[str, str] | None:
    """(reason, detail) when ``url`` may not be requested before any resolution: a scheme other
    than http(s), no host, an IP literal the guard refuses, or a numeric host in another form."""
    if url.scheme not in ("http", "https"):
        return "unsupported_scheme", f"{url.scheme or 'no'} scheme"
    if not url.host or url.port is None:
        return "bad_url", "no host"
    try:
        address = ipaddress.ip_address(url.host)
    except ValueError:
        if ":" in url.host or url.host.replace(".", "").isdigit():
            # aiohttp's test for an IP literal: such a host would reach the system resolver
            # without ours (2130706433, 127.1, 0177.0.0.1, 127.0.0.1. are 127.0.0.1 to it)
            return "blocked_address", f"{url.host} (not a canonical IP address)"
        return None  # a name: checked by the resolver when connecting
    if reason := blocked_reason(address, url.port, allowed_ports):
        return "blocked_address", f"{address} ({reason})"
    return None


def opted_out(values: Iterable[str], directives: Iterable[str], token: str = OPT_OUT_TOKEN) -> bool:
    """Whether ``X-Robots-Tag`` header values forbid the use: a listed directive for every
    agent (``noai``) or for ``token`` (``vlpipe: noai``)."""
    wanted = {d.lower() for d in directives}
    for value in values:
        agent, colon, rules = value.partition(":")
        if not colon or "," in agent:  # no agent named: the directives are for every agent
            agent, rules = "", value
        agent = agent.strip().lower()
        if agent and agent != token:
            continue
        if wanted & {rule.strip().lower() for rule in rules.split(",")}:
            return True
    return False


def retry_after_s(value: str | None, now: float) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit alone admits '²'
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


def status_reason(status: int) -> str:
    return "http_5xx" if status >= 500 else f"http_{status}"


def screen(data: bytes, limits: ImageLimits) -> tuple[str, str] | None:
    """(reason, detail) when bytes cannot be an acceptable image, judged without decoding:
    too large, no image magic, or a header over ``max_pixels`` (a decompression bomb)."""
    if len(data) > limits.max_bytes:
        return "too_large", f"{len(data)} bytes > {limits.max_bytes}"
    if image_format(data) is None:
        return "not_an_image", f"starts with {data[:MAGIC_BYTES]!r}"
    header = image_header(data, limits.max_pixels)
    if isinstance(header, Drop):
        return header.reason, header.detail
    return None


# -- resizing ----------------------------------------------------------------------------------


def prepare_image(data: bytes, options: ResizeOptions) -> tuple[str, bytes]:
    """The image as a shard holds it, with its extension: PNG and JPEG unchanged under ``keep``
    (WebP and GIF's first frame become PNG: shards hold PNG and JPEG), else resized by ``mode``
    and encoded as ``encode_format``."""
    ext = image_format(data)
    if options.mode == "keep" and ext in ("png", "jpg"):
        return ext, data
    with Image.open(io.BytesIO(data)) as image:
        image.seek(0)
        if options.mode == "keep":
            return "png", _encode(image, "png", options.quality)
        resized = _resize(image, options)
        return options.encode_format, _encode(resized, options.encode_format, options.quality)


def _resize(image: Image.Image, options: ResizeOptions) -> Image.Image:
    width, height = image.size
    side = max(width, height) if options.mode in ("longest_side", "border") else min(width, height)
    scale = options.size / side
    if scale < 1 or options.upscale:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image.draft("RGB", size)  # a JPEG is decoded at the smallest DCT scale still >= size
        image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        image = image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if options.mode == "center_crop":
        crop = min(options.size, *image.size)
        left, top = (image.width - crop) // 2, (image.height - crop) // 2
        image = image.crop((left, top, left + crop, top + crop))
    elif options.mode == "border":
        canvas = Image.new(image.mode if image.mode in ("RGB", "RGBA") else "RGB",
                           (options.size, options.size))  # fmt: skip
        canvas.paste(image, ((options.size - image.width) // 2, (options.size - image.height) // 2))
        image = canvas
    return image


def _encode(image: Image.Image, ext: str, quality: int) -> bytes:
    buffer = io.BytesIO()
    if ext == "jpg":
        image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    else:
        image.save(buffer, format="PNG")
    return buffer.getvalue()


# -- the cache ---------------------------------------------------------------------------------


class FetchCache:
    """Each URL's final outcome in ``root/<h[:2]>/<h>`` (``h``: the URL's sha256): a JSON line,
    then the body when there is one."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folders: set[Path] = set()  # made already

    def path(self, url: str) -> Path:
        digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()
        return self.root / digest[:2] / digest

    def load(self, url: str) -> Fetched | None:
        path = self.path(url)
        try:
            head, _, body = path.read_bytes().partition(b"\n")
            record = orjson.loads(head)
        except (OSError, orjson.JSONDecodeError):
            return None
        if record.get("url") != url:
            return None
        if record["status"] == "dropped":
            return Fetched(url, "dropped", record["reason"], record["detail"],
                           record["http_status"])  # fmt: skip
        if hashlib.sha256(body).hexdigest() != record["sha256"]:
            return None  # torn by a crash: fetch again
        return Fetched(url, "cached", http_status=record["http_status"], sha256=record["sha256"],
                       size=len(body), path=path)  # fmt: skip

    def store(self, result: Fetched, body: bytes) -> Fetched:
        """Keep ``result`` (and its body); the same result, pointing at its entry."""
        path = self.path(result.url)
        if path.parent not in self.folders:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.folders.add(path.parent)
        record = {
            "url": result.url,
            "status": "dropped" if result.status == "dropped" else "fetched",
            "reason": result.reason,
            "detail": result.detail,
            "http_status": result.http_status,
            "sha256": result.sha256,
        }
        temporary = path.with_name(f"{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
        temporary.write_bytes(orjson.dumps(record) + b"\n" + body)
        os.replace(temporary, path)
        return result if result.status == "dropped" else dataclasses.replace(result, path=path)


def cache_folder(out: Store) -> Path:
    """The fetch cache: under the output folder, or for an object-store output in the local
    temporary folder (it lasts as long as the node's)."""
    if isinstance(out, LocalStore):
        return out.root / "cache" / "fetch"
    name = hashlib.sha256(out.url.encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "vlpipe-fetch-cache" / name


# -- the fetcher -------------------------------------------------------------------------------


@dataclass
class _Attempt:
    """One request's answer: a body, a redirect, or a reason (retryable or not)."""

    reason: str | None = None
    detail: str = ""
    http_status: int | None = None
    body: bytes = b""
    location: str | None = None
    retryable: bool = False
    wait_s: float | None = None  # Retry-After


@dataclass
class _Slots:
    total: asyncio.Semaphore
    per_host: int
    hosts: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    @contextlib.asynccontextmanager
    async def take(self, host: str) -> Any:
        host_slot = self.hosts.setdefault(host, asyncio.Semaphore(self.per_host))
        async with host_slot, self.total:
            yield


class Fetcher:
    """Fetches URLs concurrently on its own event loop (a background thread); use as a context
    manager. ``lookup`` replaces the system resolver (tests resolve names without DNS)."""

    def __init__(
        self,
        options: FetchOptions,
        cache: FetchCache,
        limits: ImageLimits,
        lookup: Lookup = system_lookup,
    ) -> None:
        self.options, self.cache, self.limits, self.lookup = options, cache, limits, lookup
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="vlpipe-fetch")
        self.session: aiohttp.ClientSession | None = None
        self.running: dict[str, asyncio.Task[Fetched]] = {}
        self.disk = ThreadPoolExecutor(DISK_THREADS, thread_name_prefix="vlpipe-fetch-disk")

    def __enter__(self) -> Fetcher:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), self.loop).result()
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._close(), self.loop).result()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()
        self.disk.shutdown()

    def submit(self, url: str) -> Future[Fetched]:
        """Start getting ``url`` (from the cache or the web); the future holds its outcome."""
        return asyncio.run_coroutine_threadsafe(self.get(url), self.loop)

    def fetch_all(self, urls: Iterable[str]) -> Iterator[Fetched]:
        """Outcomes of ``urls``, in their order, all fetched concurrently."""
        for future in [self.submit(url) for url in urls]:
            yield future.result()

    async def _open(self) -> None:
        options = self.options
        connector = aiohttp.TCPConnector(
            limit=options.concurrency,
            limit_per_host=options.per_host,
            resolver=GuardedResolver(self.lookup, options.allow_loopback_ports),
            ttl_dns_cache=300,
        )
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=options.connect_timeout_s, sock_read=options.read_timeout_s
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            auto_decompress=False,
            headers={
                "User-Agent": options.user_agent,
                "Accept": "image/*",
                "Accept-Encoding": "identity",
            },
        )
        self.slots = _Slots(asyncio.Semaphore(options.concurrency), options.per_host)

    async def _close(self) -> None:
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if self.session is not None:
            await self.session.close()

    async def get(self, url: str) -> Fetched:
        """The cached outcome of ``url``, else a download. A URL already on its way is not asked
        for again: its second caller gets the cached outcome."""
        if (running := self.running.get(url)) is not None:
            await asyncio.wait([running])
            return await self._disk(self.cache.load, url) or running.result()
        task = asyncio.create_task(self._cached_or_downloaded(url))
        self.running[url] = task
        task.add_done_callback(lambda _: self.running.pop(url, None))
        return await task

    async def _cached_or_downloaded(self, url: str) -> Fetched:
        if (cached := await self._disk(self.cache.load, url)) is not None:
            return cached
        result, body = await self._download(url)
        return await self._disk(self.cache.store, result, body)

    async def _disk(self, function: Callable[..., T], *args: Any) -> T:
        """Cache reads and writes run on the fetcher's I/O threads, never on its event loop."""
        return await self.loop.run_in_executor(self.disk, function, *args)

    async def _download(self, url: str) -> tuple[Fetched, bytes]:
        """Follow ``url`` through its redirects, each hop checked and retried on its own."""
        attempts, seen, current = 0, {url}, url
        for _ in range(self.options.max_redirects + 1):
            try:
                target = URL(current)
            except (ValueError, TypeError) as exc:
                return Fetched(url, "dropped", "bad_url", str(exc), attempts=attempts), b""
            if refusal := url_refusal(target, self.options.allow_loopback_ports):
                return Fetched(url, "dropped", *refusal, attempts=attempts), b""
            answer, tries = await self._with_retries(target)
            attempts += tries
            if answer.location is None:
                return self._result(url, answer, attempts)
            try:
                current = str(target.join(URL(answer.location)).with_fragment(None))
            except (ValueError, TypeError) as exc:
                return Fetched(url, "dropped", "bad_redirect", str(exc), answer.http_status,
                               attempts), b""  # fmt: skip
            if current in seen:
                return Fetched(url, "dropped", "redirect_loop", f"back to {current}",
                               answer.http_status, attempts), b""  # fmt: skip
            seen.add(current)
        detail = f"more than {self.options.max_redirects} redirects"
        return Fetched(url, "dropped", "too_many_redirects", detail, attempts=attempts), b""

    def _result(self, url: str, answer: _Attempt, attempts: int) -> tuple[Fetched, bytes]:
        if answer.reason is None and (problem := screen(answer.body, self.limits)) is not None:
            answer = _Attempt(*problem, http_status=answer.http_status)
        if answer.reason is not None:
            dropped = Fetched(url, "dropped", answer.reason, answer.detail or None,
                              answer.http_status, attempts)  # fmt: skip
            return dropped, b""
        body = answer.body
        fetched = Fetched(url, "fetched", http_status=answer.http_status, attempts=attempts,
                          sha256=hashlib.sha256(body).hexdigest(), size=len(body))  # fmt: skip
        return fetched, body

    async def _with_retries(self, url: URL) -> tuple[_Attempt, int]:
        options = self.options
        for attempt in range(options.retries + 1):
            async with self.slots.take(f"{url.host}:{url.port}"):
                answer = await self._once(url)
            if not answer.retryable or attempt == options.retries:
                break
            wait = options.backoff_s * 2**attempt
            if answer.wait_s is not None:
                if answer.wait_s > options.max_retry_after_s:
                    answer.detail += f"; Retry-After {answer.wait_s:.0f}s is too long"
                    break
                wait = max(wait, answer.wait_s)
            await asyncio.sleep(wait)
        return answer, attempt + 1

    async def _once(self, url: URL) -> _Attempt:
        assert self.session is not None
        try:
            async with (
                asyncio.timeout(self.options.timeout_s),
                self.session.get(url, allow_redirects=False) as response,
            ):
                return await self._read(response)
        except TimeoutError:
            return _Attempt("timeout", "no answer within the time limits", retryable=True)
        except aiohttp.ClientPayloadError as exc:
            return _Attempt("truncated", str(exc), retryable=True)
        except aiohttp.ClientConnectorDNSError as exc:
            if isinstance(exc.os_error, BlockedAddress):
                return _Attempt("blocked_address", str(exc.os_error))
            return _Attempt("dns_error", str(exc.os_error))
        except (aiohttp.ClientSSLError, aiohttp.ServerFingerprintMismatch) as exc:
            return _Attempt("tls_error", str(exc))
        except aiohttp.InvalidURL as exc:
            return _Attempt("bad_url", str(exc))
        except aiohttp.ClientResponseError as exc:
            return _Attempt("bad_response", exc.message, exc.status or None)
        except (aiohttp.ClientError, OSError) as exc:
            return _Attempt("connection_error", f"{type(exc).__name__}: {exc}", retryable=True)

    async def _read(self, response: aiohttp.ClientResponse) -> _Attempt:
        status = response.status
        if status in REDIRECTS and "Location" in response.headers:
            return _Attempt(http_status=status, location=response.headers["Location"])
        if status == 429 or status >= 500:
            wait = retry_after_s(response.headers.get("Retry-After"), time.time())
            return _Attempt(status_reason(status), response.reason or "", status, retryable=True,
                            wait_s=wait)  # fmt: skip
        if status != 200:
            return _Attempt(status_reason(status), response.reason or "", status)
        if opted_out(response.headers.getall("X-Robots-Tag", []), self.options.opt_out):
            detail = "X-Robots-Tag: " + ", ".join(response.headers.getall("X-Robots-Tag"))
            return _Attempt("opted_out", detail, status)
        cap = self.limits.max_bytes
        if (response.content_length or 0) > cap:
            return _Attempt("too_large", f"Content-Length {response.content_length} > {cap}", 200)
        body = bytearray()
        async for piece in response.content.iter_chunked(STREAM_CHUNK):
            checked = len(body) >= MAGIC_BYTES
            body += piece
            if len(body) > cap:
                return _Attempt("too_large", f"more than {cap} bytes", status)
            if not checked and len(body) >= MAGIC_BYTES and image_format(bytes(body)) is None:
                return _Attempt("not_an_image", f"starts with {bytes(body[:MAGIC_BYTES])!r}", 200)
        return _Attempt(http_status=status, body=bytes(body))
