"""A paper's main file and its include graph: which ``.tex`` is the document (arXiv's
``00README`` hints, else the root no other file includes), which files it pulls in with
``\\input``/``\\include``/``\\subfile``/``\\import``, and the whole paper as one string with those
files inlined (``flatten``)."""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath

from vlpipe.errors import DocumentError
from vlpipe.renderers.tex import strip_comments
from vlpipe.sources.arxiv.archive import DOCUMENTCLASS, TEX_SUFFIXES, decode_tex

_BEGIN_DOCUMENT = re.compile(r"\\begin\s*\{document\}")
_INCLUDE = re.compile(
    r"\\(?:input|include|subfile|subfileinclude)\s*\{([^}]+)\}|\\input\s+([^\s{}\\]+)"
    r"|\\(?:sub)?import\s*\*?\s*\{([^}]*)\}\s*\{([^}]+)\}"
)


class NoMainFile(DocumentError):
    """The source holds ``.tex`` files but none of them is a LaTeX document."""


def tex_texts(files: dict[str, bytes]) -> dict[str, str]:
    """The decoded ``.tex`` files (and ``.bbl``, and ``.sty`` a paper may ``\\input`` by its full
    name: parabs-pldi's ``\\input{prophecy/macros.sty}``), comments removed."""
    return {
        name: strip_comments(decode_tex(data))
        for name, data in files.items()
        if name.endswith((*TEX_SUFFIXES, ".bbl", ".sty"))
    }


def _readme_hints(files: dict[str, bytes]) -> tuple[set[str], set[str]]:
    """Top-level and ignored files named by arXiv's ``00README.json`` or legacy ``00README.XXX``."""
    top: set[str] = set()
    ignored: set[str] = set()
    if "00README.json" in files:
        try:
            sources = json.loads(files["00README.json"]).get("sources", [])
        except (ValueError, AttributeError):
            sources = []
        for entry in sources if isinstance(sources, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("filename"), str):
                usage = entry.get("usage")
                (top if usage == "toplevel" else ignored if usage == "ignore" else set()).add(
                    entry["filename"]
                )
    for name in ("00README.XXX", "00README"):
        for line in decode_tex(files.get(name, b"")).splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[1] in ("toplevelfile", "ignore"):
                (top if parts[1] == "toplevelfile" else ignored).add(parts[0])
    return top, ignored


def included_files(tex: str, names: set[str], relative_to: str = "") -> list[str]:
    """Files that ``tex`` pulls in with ``\\input``/``\\include``/``\\subfile``/``\\import``,
    resolved against ``names`` (``.tex`` appended as TeX does)."""
    found: list[str] = []
    for match in _INCLUDE.finditer(tex):
        target = match[1] or match[2] or (match[3] or "") + (match[4] or "")
        resolved = resolve_tex_name(target.strip(), names, relative_to)
        if resolved is not None:
            found.append(resolved)
    return found


def resolve_tex_name(target: str, names: set[str], relative_to: str = "") -> str | None:
    for base in dict.fromkeys((relative_to, "")):
        candidate = (PurePosixPath(base) / target).as_posix() if base else target
        candidate = candidate.removeprefix("./")
        for name in (candidate, f"{candidate}.tex"):
            if name in names:
                return name
    return None


def find_main_file(files: dict[str, bytes]) -> str:
    """The paper's main file: a ``.tex`` with ``\\documentclass`` and ``\\begin{document}``,
    named by ``00README`` hints if any, else the root that no other file includes (ties: one with
    a matching ``.bbl``, then the one reaching the most files, then by name)."""
    texts = tex_texts(files)
    top, ignored = _readme_hints(files)
    hinted = sorted(name for name in top if name in texts)
    if hinted:
        return hinted[0]
    candidates = [
        name
        for name, text in sorted(texts.items())
        if name.endswith(TEX_SUFFIXES)
        and name not in ignored
        and DOCUMENTCLASS.search(text)
        and _BEGIN_DOCUMENT.search(text)
    ]
    if not candidates:
        if any(name.endswith(TEX_SUFFIXES) for name in texts):
            raise NoMainFile("no .tex file has both \\documentclass and \\begin{document}")
        raise NoMainFile("the source holds no .tex file")
    names = set(texts)
    included = {
        child
        for name, text in texts.items()
        for child in included_files(text, names, str(PurePosixPath(name).parent))
        if child != name
    }
    roots = [name for name in candidates if name not in included] or candidates

    def rank(name: str) -> tuple[bool, int, str]:
        has_bbl = f"{name.rsplit('.', 1)[0]}.bbl" in files
        return (not has_bbl, -len(_reachable(name, texts)), name)

    return min(roots, key=rank)


def _reachable(root: str, texts: dict[str, str]) -> set[str]:
    seen, stack, names = {root}, [root], set(texts)
    while stack:
        name = stack.pop()
        for child in included_files(texts[name], names, str(PurePosixPath(name).parent)):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def flatten(main: str, texts: dict[str, str], max_depth: int = 16) -> str:
    """The main file with every ``\\input``/``\\include`` replaced by the file's text (recursively;
    cycles and missing files leave nothing), so that one string holds the whole paper."""
    names = set(texts)

    def expand(name: str, stack: tuple[str, ...]) -> str:
        base = str(PurePosixPath(name).parent)

        def replace(match: re.Match[str]) -> str:
            target = match[1] or match[2] or (match[3] or "") + (match[4] or "")
            child = resolve_tex_name(target.strip(), names, base)
            if child is None or child in stack or len(stack) >= max_depth:
                return ""
            return "\n" + expand(child, (*stack, child)) + "\n"

        return _INCLUDE.sub(replace, texts[name])

    return expand(main, (main,))
