"""Where the regression sets' fetch scripts read a repository from: a local bare mirror when there
is one (``<mirror>/<owner>+<name>/repo``, as the search library's ``fetch`` leaves them), else a
bare clone from GitHub into a scratch folder. Every set pins its commits, so both give the same
files."""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_dir(mirror: Path | None, repo: str, scratch: Path) -> Path:
    if mirror is not None:
        base = mirror / repo.replace("/", "+") / "repo"
        for candidate in (base / ".git", base):
            if (candidate / "HEAD").is_file():
                return candidate
    target = scratch / repo.replace("/", "+")
    if not target.exists():
        url = f"https://github.com/{repo}.git"
        subprocess.run(["git", "clone", "--bare", "--quiet", url, str(target)], check=True)
    return target
