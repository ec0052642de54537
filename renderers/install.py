"""Check that the external tools the renderers drive are installed, naming the Debian package.

The renderers find their tools through these (the browser pool when it starts, TeX at each
compilation), so a missing binary raises a ``ConfigError``, which stops the build with one line,
instead of failing every document; :func:`check_renderer_tools` checks everything at once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from vlpipe.errors import ConfigError

DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ENV = "VLPIPE_CHROMIUM"

# binary -> Debian package that provides it
TEX_PACKAGES: dict[str, str] = {
    "pdflatex": "texlive-latex-base",
    "xelatex": "texlive-xetex",
    "bibtex": "texlive-binaries",
    "biber": "biber",
    "kpsewhich": "texlive-binaries",
}
# LaTeX file -> Debian package (checked with kpsewhich): what CJK and common papers need
TEX_FILES: dict[str, str] = {
    "xeCJK.sty": "texlive-lang-chinese",
    "ctex.sty": "texlive-lang-chinese",
    "biblatex.sty": "texlive-bibtex-extra",
    "lmodern.sty": "lmodern",
    "amsmath.sty": "texlive-latex-base",
}
CJK_FONT_FAMILY = "Noto Sans CJK SC"
CJK_FONT_PACKAGE = "fonts-noto-cjk"


def _hint(missing: list[tuple[str, str]]) -> str:
    names = ", ".join(name for name, _ in missing)
    packages = " ".join(sorted({pkg for _, pkg in missing}))
    return f"missing {names} (install with: apt-get install {packages})"


def find_chromium(path: str | None = None) -> str:
    """The Chromium executable: ``path``, else ``$VLPIPE_CHROMIUM``, else /usr/bin/chromium."""
    candidate = path or os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    resolved = shutil.which(candidate)
    if resolved is None or not Path(resolved).is_file():
        raise ConfigError(
            f"Chromium not found at {candidate} (install with: apt-get install chromium, "
            f"or set {CHROMIUM_ENV})"
        )
    return resolved


def find_tex_binary(name: str) -> str:
    """The absolute path of a TeX Live program, or a ``ConfigError`` naming its package."""
    found = shutil.which(name)
    if found is None:
        raise ConfigError(_hint([(name, TEX_PACKAGES.get(name, "texlive-binaries"))]))
    return found


def missing_tex_files(names: Iterable[str]) -> list[str]:
    """The LaTeX files among ``names`` that kpsewhich cannot find."""
    kpsewhich = find_tex_binary("kpsewhich")
    wanted = list(names)
    proc = subprocess.run(
        [kpsewhich, *wanted], capture_output=True, text=True, timeout=60, check=False
    )
    found = {Path(line).name for line in proc.stdout.splitlines() if line.strip()}
    return [name for name in wanted if name not in found]


def has_font_family(family: str) -> bool:
    """Whether fontconfig knows a font family (exact family name)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        raise ConfigError(_hint([("fc-list", "fontconfig")]))
    proc = subprocess.run(
        [fc_list, "--format", "%{family}\n"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    families = {f.strip() for line in proc.stdout.splitlines() for f in line.split(",")}
    return family in families


def check_renderer_tools(*, chromium: bool = True, tex: bool = True, fonts: bool = True) -> None:
    """Raise one ``ConfigError`` listing every missing tool, font or LaTeX package."""
    missing: list[tuple[str, str]] = []
    if chromium:
        try:
            find_chromium()
        except ConfigError:
            missing.append(("chromium", "chromium"))
    if tex:
        missing += [(b, pkg) for b, pkg in TEX_PACKAGES.items() if shutil.which(b) is None]
        if shutil.which("kpsewhich") is not None:
            missing += [(f, TEX_FILES[f]) for f in missing_tex_files(TEX_FILES)]
    if fonts and not has_font_family(CJK_FONT_FAMILY):
        missing.append((f"font {CJK_FONT_FAMILY!r}", CJK_FONT_PACKAGE))
    if missing:
        raise ConfigError(_hint(missing))
