"""Materialise the real-book regression set listed in ``books.json`` (next to this script).

    python -m bench.ebooks.fetch_books [--mirror DIR] [--out bench/out/ebooks/books]

Each book is built from its repository at the pinned commit, read from a local bare mirror
``<mirror>/<owner>+<name>/repo`` when there is one, else cloned from GitHub, and written to
``<out>/<name>.epub``:

* ``standard-ebooks``: the repository's ``src/`` (an unpacked EPUB 3) zipped as an EPUB, its
  spine cut to the manifest's ``spine`` (item ids without ``.xhtml``) so a benchmark run stays
  short; everything else is the book as published;
* ``pandoc``: the listed markdown chapters made into an EPUB 3 by ``pandoc`` (title, creator and
  language from the manifest).

Nothing fetched is committed: ``bench/out/`` is git-ignored.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from bench.mirrors import git_dir

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "books.json"
DEFAULT_OUT = HERE.parents[0] / "out" / "ebooks" / "books"
_ITEMREF = re.compile(r'\s*<itemref\s+idref="([^"]+)"[^>]*/>')


def load_manifest() -> list[dict[str, Any]]:
    return list(json.loads(MANIFEST.read_text())["books"])


def tree(git: Path, commit: str, path: str) -> dict[str, bytes]:
    """The files under ``path`` at ``commit``, by their path below it."""
    archive = subprocess.run(
        ["git", f"--git-dir={git}", "archive", "--format=tar", commit, path],
        check=True,
        capture_output=True,
    ).stdout
    files = {}
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member in tar.getmembers():
            if member.isfile():
                data = tar.extractfile(member).read()  # type: ignore[union-attr]
                files[member.name.removeprefix(path).lstrip("/")] = data
    return files


def cut_spine(opf: str, keep: list[str]) -> str:
    """The OPF with only the spine items named in ``keep`` (ids without ``.xhtml``)."""

    def item(match: re.Match[str]) -> str:
        return match.group(0) if match.group(1).removesuffix(".xhtml") in keep else ""

    return _ITEMREF.sub(item, opf)


def standard_ebook(files: dict[str, bytes], keep: list[str]) -> bytes:
    """Zip an unpacked EPUB: ``mimetype`` first and stored, as the OCF spec asks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as epub:
        epub.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", zipfile.ZIP_STORED)
        for name, data in sorted(files.items()):
            if name == "mimetype":
                continue
            if name.endswith(".opf"):
                data = cut_spine(data.decode("utf-8"), keep).encode("utf-8")
            epub.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


def pandoc_book(files: dict[str, bytes], book: dict[str, Any]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        chapters = []
        for n, name in enumerate(book["files"]):
            path = Path(tmp, f"{n:03d}.md")
            path.write_bytes(files[name])
            chapters.append(str(path))
        out = Path(tmp, "book.epub")
        metadata = [f"title={book['title']}", f"author={book['creator']}", "lang=zh-CN"]
        command = ["pandoc", "--from=markdown", "--to=epub3", "-o", str(out), *chapters]
        for item in metadata:
            command[1:1] = ["--metadata", item]
        subprocess.run(command, check=True)
        return out.read_bytes()


def build(book: dict[str, Any], mirror: Path | None, scratch: Path) -> bytes:
    git = git_dir(mirror, book["repo"], scratch)
    if book["kind"] == "standard-ebooks":
        return standard_ebook(tree(git, book["commit"], "src"), book["spine"])
    files = {}
    for name in book["files"]:
        files[name] = subprocess.run(
            ["git", f"--git-dir={git}", "show", f"{book['commit']}:{name}"],
            check=True,
            capture_output=True,
        ).stdout
    return pandoc_book(files, book)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, help="bare mirrors (default: clone from GitHub)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        for book in load_manifest():
            data = build(book, args.mirror, Path(scratch))
            (args.out / f"{book['name']}.epub").write_bytes(data)
            print(f"{book['name']}: {len(data):,} bytes ({book['lang']})")


if __name__ == "__main__":
    main()
