"""Materialise the real-paper regression set listed in ``papers.json`` (next to this script).

    python -m bench.arxiv.fetch_papers [--mirror DIR] [--out bench/out/arxiv/papers]

Each paper is its repository's folder (``subdir``, else the root) at the pinned commit, written to
``<out>/<name>/`` with an arXiv ``00README.json`` naming its main file (as an arXiv submission
does). The repository is read from a local bare mirror ``<mirror>/<owner>+<name>/repo`` when there
is one, else cloned from GitHub. Nothing fetched is committed: ``bench/out/`` is git-ignored.

Mirrors made by the search tool's ``fetch`` leave out files of 4 MiB and more; a missing image
(``.png``/``.jpg``/``.pdf``/``.eps``) is replaced by a grey placeholder of its format, so that the
paper compiles as its authors wrote it minus that picture (TeX Live and vlpipe see the same
files), and the placeholders are listed.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pymupdf
from PIL import Image

from bench.mirrors import git_dir

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "papers.json"
DEFAULT_OUT = HERE.parents[0] / "out" / "arxiv" / "papers"


def _raster(fmt: str) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), (200, 200, 200)).save(buffer, fmt)
    return buffer.getvalue()


def _pdf() -> bytes:
    with pymupdf.open() as doc:
        doc.new_page(width=400, height=300).draw_rect(
            pymupdf.Rect(0, 0, 400, 300), color=None, fill=(0.8, 0.8, 0.8)
        )
        return doc.tobytes()


_EPS = b"""%!PS-Adobe-3.0 EPSF-3.0
%%BoundingBox: 0 0 400 300
0.8 setgray 0 0 400 300 rectfill showpage
%%EOF
"""
PLACEHOLDERS: dict[str, Callable[[], bytes]] = {
    ".png": lambda: _raster("PNG"),
    ".jpg": lambda: _raster("JPEG"),
    ".jpeg": lambda: _raster("JPEG"),
    ".pdf": _pdf,
    ".eps": lambda: _EPS,
}


def load_manifest() -> list[dict[str, Any]]:
    return list(json.loads(MANIFEST.read_text())["papers"])


def materialise(paper: dict[str, Any], git_dir: Path, out: Path) -> tuple[Path, list[str]]:
    """The paper's folder at its commit, written to ``out/<name>``, and the files the mirror
    lacks (snapshots leave out files of 4 MiB and more: a missing figure, as TeX will say)."""
    subdir = paper.get("subdir", "").rstrip("/")
    git = ["git", f"--git-dir={git_dir}"]
    tree = f"{paper['commit']}:{subdir}" if subdir else paper["commit"]
    listing = subprocess.run([*git, "ls-tree", "-r", "-z", tree], capture_output=True, check=True)
    target = out / paper["name"]
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    missing = []
    for entry in filter(None, listing.stdout.split(b"\0")):
        meta, _, raw_name = entry.partition(b"\t")
        mode, kind, sha = meta.decode().split()
        name = raw_name.decode("utf-8", "surrogateescape")
        if kind != "blob" or mode == "120000" or ".." in Path(name).parts:
            continue
        blob = subprocess.run([*git, "cat-file", "blob", sha], capture_output=True, check=False)
        path = target / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if blob.returncode == 0:
            path.write_bytes(blob.stdout)
        elif path.suffix.lower() in PLACEHOLDERS:
            path.write_bytes(PLACEHOLDERS[path.suffix.lower()]())
            missing.append(f"{name} (placeholder)")
        else:
            missing.append(name)
    readme = {"sources": [{"filename": paper["main"], "usage": "toplevel"}]}
    (target / "00README.json").write_text(json.dumps(readme))
    return target, missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, help="bare mirrors (default: clone from GitHub)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        for paper in load_manifest():
            repository = git_dir(args.mirror, paper["repo"], Path(scratch))
            folder, missing = materialise(paper, repository, args.out)
            lacking = f" (mirror lacks {len(missing)}: {', '.join(missing[:3])})" if missing else ""
            print(f"{paper['split']:10s} {paper['name']:20s} {folder}{lacking}")


if __name__ == "__main__":
    main()
