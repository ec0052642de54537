"""Copy the Jupyter regression set (``manifest.json``) out of its repositories.

    python -m bench.jupyter.fetch_notebooks [--mirror DIR] [--out bench/out/jupyter-real]

Each repository is read from a local bare mirror ``DIR/<owner>+<name>/repo`` when there is one,
else cloned from GitHub (``bench/mirrors.py``); each notebook is read at the manifest's commit, so
the set is the same wherever it is fetched.
"""

from __future__ import annotations

import argparse
import fnmatch
import subprocess
import tempfile
from pathlib import Path

import orjson

from bench.mirrors import git_dir

MANIFEST = Path(__file__).with_name("manifest.json")


def git(mirror: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={mirror}", *args], check=True, capture_output=True
    ).stdout


def fetch(mirrors: Path | None, out: Path, scratch: Path) -> tuple[int, list[str]]:
    """Notebooks copied, and those the snapshot lacks (snapshots may leave out large files)."""
    count, missing = 0, []
    for entry in orjson.loads(MANIFEST.read_bytes())["repositories"]:
        mirror = git_dir(mirrors, entry["repo"], scratch)
        listing = git(mirror, "ls-tree", "-r", "--name-only", entry["commit"]).decode()
        pattern = entry["paths"].replace("**/", "")
        for path in listing.splitlines():
            if fnmatch.fnmatch(Path(path).name, Path(pattern).name) and (
                "**" in entry["paths"] or fnmatch.fnmatch(path, entry["paths"])
            ):
                try:
                    data = git(mirror, "show", f"{entry['commit']}:{path}")
                except subprocess.CalledProcessError:
                    missing.append(f"{entry['repo']}/{path}")
                    continue
                target = out / entry["repo"].replace("/", "__") / path
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                count += 1
    return count, missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, help="bare mirrors (default: clone from GitHub)")
    parser.add_argument("--out", type=Path, default=Path("bench/out/jupyter-real"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        count, missing = fetch(args.mirror, args.out, Path(scratch))
    print(f"{count} notebooks in {args.out}; not in the snapshots: {len(missing)}")
    for path in missing:
        print(f"  missing {path}")


if __name__ == "__main__":
    main()
