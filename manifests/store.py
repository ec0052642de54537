"""Where a build's output lives: a local folder, or a prefix in an object store (``s3://``,
``gs://``, ``hf://`` … through fsspec), behind the few operations a build's commit needs.

- **Local folder**: a file is written under a temporary name and renamed into place (visible
  whole), folders are fsynced after renames (the order survives a power loss), and a chunk's
  claim is an ``flock`` the kernel drops if its holder dies.
- **Object store**: there is no rename, but an object only appears when its upload completes, so
  a file is simply written to its final key (shards are spooled to a local file and uploaded when
  the chunk commits). A claim is an object created with a conditional put (``If-None-Match: *``,
  one creator wins) that names its holder and a lease: a claim older than ``CLAIM_LEASE_S`` is
  the leftover of a dead attempt and is taken over.

Keys are ``/``-separated paths relative to the store's root (``ledger/documents/u00000-c00000
.parquet``). Credentials and endpoints come from fsspec's usual configuration (``AWS_*`` and
``FSSPEC_S3_*`` environment variables, config files), so Ray workers on other nodes open the same
store from its URL alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import socket
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from vlpipe.errors import BuildStopped, ConfigError

TMP_MARK = ".tmp-"
CLAIM_WAIT_S = 30.0  # how long a commit waits for another attempt's claim on the same chunk
CLAIM_LEASE_S = 600.0  # an object-store claim older than this belongs to a dead attempt


def temporary_name(name: str) -> str:
    """A fresh temporary name for ``name``, unique across the hosts sharing an output folder
    (pids repeat across nodes)."""
    return f"{name}{TMP_MARK}{socket.gethostname()}-{secrets.token_hex(6)}"


def owner() -> bytes:
    return orjson.dumps({"host": socket.gethostname(), "pid": os.getpid(), "time": time.time()})


class Store(ABC):
    url: str

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def read(self, key: str) -> bytes: ...

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A file to read (and seek) the object at ``key``."""

    @abstractmethod
    def write(self, key: str, data: bytes) -> None:
        """Write ``data`` so that the key shows it whole or not at all."""

    @abstractmethod
    def put(self, local: Path, key: str) -> None:
        """Move a finished local file (a shard) to ``key``, visible whole."""

    @abstractmethod
    def list(self, folder: str) -> list[str]:
        """Names of the files directly in ``folder`` (none if it does not exist)."""

    @abstractmethod
    def size(self, key: str) -> int: ...

    @abstractmethod
    def remove(self, key: str) -> None: ...

    @abstractmethod
    def makedirs(self, folder: str) -> None: ...

    @abstractmethod
    def sync(self, folder: str) -> None:
        """Make the renames in ``folder`` durable, in the order they were made."""

    @abstractmethod
    def claim(self, key: str, what: str) -> contextlib.AbstractContextManager[None]:
        """Hold ``key`` exclusively; ``what`` names it in the error if it stays taken."""

    @abstractmethod
    def spool(self, folder: str) -> contextlib.AbstractContextManager[Path]:
        """A local folder for files on their way to ``folder`` (shards before their commit)."""

    def uri(self, key: str) -> str:
        """The key as a URL readers outside vlpipe open (webdataset, datasets, Ray Data)."""
        return f"{self.url.rstrip('/')}/{key}"


class LocalStore(Store):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    def _path(self, key: str) -> Path:
        return self.root / key

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def write(self, key: str, data: bytes) -> None:
        target = self._path(key)
        temporary = target.with_name(temporary_name(target.name))
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)

    def put(self, local: Path, key: str) -> None:
        os.replace(local, self._path(key))

    def list(self, folder: str) -> list[str]:
        path = self._path(folder)
        return sorted(p.name for p in path.iterdir()) if path.is_dir() else []

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def remove(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def makedirs(self, folder: str) -> None:
        self._path(folder).mkdir(parents=True, exist_ok=True)

    def sync(self, folder: str) -> None:
        handle = os.open(self._path(folder), os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)

    @contextmanager
    def claim(self, key: str, what: str) -> Iterator[None]:
        """An exclusive ``flock`` on the claim file. The file is removed while held; a waiter that
        then locks the removed file tries again."""
        path = self._path(key)
        deadline = time.monotonic() + CLAIM_WAIT_S
        while True:
            handle = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(handle)
                _wait_or_stop(deadline, what, path)
                continue
            try:
                current = os.stat(path).st_ino == os.fstat(handle).st_ino
            except FileNotFoundError:
                current = False
            if current:
                break
            os.close(handle)
        try:
            os.write(handle, owner())
            yield
        finally:
            path.unlink(missing_ok=True)
            os.close(handle)

    @contextmanager
    def spool(self, folder: str) -> Iterator[Path]:
        yield self._path(folder)  # the same file system: placing a shard is a rename


class FsspecStore(Store):
    """An object store (or any fsspec file system) prefix."""

    def __init__(self, url: str, fs: Any, root: str) -> None:
        self.url, self.fs, self.root = url, fs, root.rstrip("/")

    def _path(self, key: str) -> str:
        return f"{self.root}/{key}"

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self._path(key)))

    def read(self, key: str) -> bytes:
        return bytes(self.fs.cat_file(self._path(key)))

    def open(self, key: str) -> BinaryIO:
        return self.fs.open(self._path(key), "rb")  # type: ignore[no-any-return]

    def write(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self._path(key), data)

    def put(self, local: Path, key: str) -> None:
        self.fs.put_file(str(local), self._path(key))
        local.unlink()

    def list(self, folder: str) -> list[str]:
        path = self._path(folder)
        self.fs.invalidate_cache(path)
        try:
            return sorted(entry.rsplit("/", 1)[-1] for entry in self.fs.ls(path, detail=False))
        except FileNotFoundError:
            return []

    def size(self, key: str) -> int:
        return int(self.fs.size(self._path(key)))

    def remove(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm_file(self._path(key))

    def makedirs(self, folder: str) -> None:
        """Object stores have no folders; a bucket that does not exist is a configuration error
        (vlpipe never creates buckets)."""
        bucket = self.root.split("/", 1)[0]
        if not self.fs.exists(bucket):
            raise ConfigError(f"cannot write to {self.url}: bucket {bucket!r} does not exist")

    def sync(self, folder: str) -> None:
        """Nothing to do: a completed upload is durable."""

    @contextmanager
    def claim(self, key: str, what: str) -> Iterator[None]:
        path = self._path(key)
        deadline = time.monotonic() + CLAIM_WAIT_S
        while True:
            try:
                self.fs.pipe_file(path, owner(), mode="create")
                break
            except FileExistsError:
                if self._stale(path):
                    self.remove(key)
                    continue
                _wait_or_stop(deadline, what, path)
        try:
            yield
        finally:
            self.remove(key)

    def _stale(self, path: str) -> bool:
        try:
            held = orjson.loads(self.fs.cat_file(path))
        except (FileNotFoundError, orjson.JSONDecodeError):
            return True
        return time.time() - float(held.get("time", 0)) > CLAIM_LEASE_S

    @contextmanager
    def spool(self, folder: str) -> Iterator[Path]:
        local = Path(tempfile.mkdtemp(prefix="vlpipe-spool-"))
        try:
            yield local
        finally:
            shutil.rmtree(local, ignore_errors=True)


def _wait_or_stop(deadline: float, what: str, where: object) -> None:
    if time.monotonic() > deadline:
        raise BuildStopped(f"{what} stays claimed by another attempt ({where}); re-run to resume")
    time.sleep(0.05)


def open_store(location: Store | Path | str) -> Store:
    """The store at a local path or a URL (``s3://bucket/prefix``, ``file:///…``)."""
    if isinstance(location, Store):
        return location
    text = str(location)
    if "://" not in text or text.startswith("file://"):
        return LocalStore(Path(text.removeprefix("file://")))
    from fsspec.core import url_to_fs

    try:
        # No listings cache: other processes (Ray workers) write here, and a cached listing of a
        # folder would hide their files from exists() and size() in this one.
        fs, root = url_to_fs(text, use_listings_cache=False)
    except (ImportError, ValueError) as exc:
        raise ConfigError(f"cannot open {text}: {exc}") from None
    return FsspecStore(text, fs, root)
