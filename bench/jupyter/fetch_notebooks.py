"""Copy the Jupyter regression set (``manifest.json``) out of git snapshots of its repositories.

    python bench/jupyter/fetch_notebooks.py --mirror DIR [--out bench/out/jupyter-real]

``DIR`` holds one git directory per repository, ``DIR/<owner>+<name>/repo`` (bare clones, e.g.
``git clone --bare https://github.com/<owner>/<name> DIR/<owner>+<name>/repo``); each notebook is
read at the manifest's commit, so the set is the same wherever it is fetched.
"""

from __future__ import annotations

import argparse
import fnmatch
import subprocess
from pathlib import Path

import orjson

MANIFEST = Path(__file__).with_name("manifest.json")


def git(mirror: Path, *args: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={mirror}", *args], check=True, capture_output=True
    ).stdout


def fetch(mirrors: Path, out: Path) -> tuple[int, list[str]]:
    """Notebooks copied, and those the snapshot lacks (snapshots may leave out large files)."""
    count, missing = 0, []
    for entry in orjson.loads(MANIFEST.read_bytes())["repositories"]:
        mirror = mirrors / entry["repo"].replace("/", "+") / "repo"
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
    parser.add_argument("--mirror", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("bench/out/jupyter-real"))
    args = parser.parse_args()
    count, missing = fetch(args.mirror, args.out)
    print(f"{count} notebooks in {args.out}; not in the snapshots: {len(missing)}")
    for path in missing:
        print(f"  missing {path}")


if __name__ == "__main__":
    main()
