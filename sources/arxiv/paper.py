"""arXiv papers from their LaTeX sources: the pure parts of the arXiv source.

Reading what arXiv serves (a gzipped tar, a gzipped single ``.tex``, a PDF, bulk
``arXiv_src_YYMM_NNN.tar`` archives), finding the main file, inlining ``\\input`` files,
expanding simple user macros, preparing the source for pandoc, and splitting the paper's
markdown into pages by aligning it with each page's PDF text layer. No TeX and no pandoc here:
each function works on bytes and strings, so all of it is unit-tested without either.

Archives are never extracted to disk here: members are read into memory with guards (regular
files only, no absolute or ``..`` names, total size, member count, gzip ratio), so a hostile tar
cannot write or read outside its paper.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from rapidfuzz.distance import Indel, LCSseq

from vlpipe.errors import ConfigError, DocumentError
from vlpipe.recipe import ArchiveLimits, InputConfig
from vlpipe.renderers.tex import strip_comments
from vlpipe.schema import Document, Drop, Outcome
from vlpipe.sources.inputs import too_large

SOURCE = "arxiv"
# Loose files: arXiv names them ``<id>``, ``<id>.gz`` or ``<id>.tar.gz`` (ids end in a digit);
# the format is read from the magic bytes, never from the name.
FILE_SUFFIXES = (".gz", ".tgz", ".pdf", *"0123456789")
CONTAINER_SUFFIXES = (".tar",)
_ID = re.compile(
    r"^(?P<id>\d{4}\.\d{4,5}|[a-z][a-z\-]*(?:\.[A-Z]{2})?\d{7})(?:v(?P<version>\d+))?"
    r"(?:\.tar\.gz|\.tgz|\.gz|\.pdf|\.tar)?$"
)
_OLD_STYLE = re.compile(r"^([a-z][a-z\-]*(?:\.[A-Z]{2})?)(\d{7})$")
_DOCUMENTCLASS = re.compile(r"\\document(?:class|style)\b")
_BEGIN_DOCUMENT = re.compile(r"\\begin\s*\{document\}")
_INCLUDE = re.compile(
    r"\\(?:input|include|subfile|subfileinclude)\s*\{([^}]+)\}|\\input\s+([^\s{}\\]+)"
    r"|\\(?:sub)?import\s*\*?\s*\{([^}]*)\}\s*\{([^}]+)\}"
)
_LICENSE_URL = re.compile(
    r"creativecommons\.org/(?:licenses/([a-z\-]+)/(\d\.\d)|publicdomain/zero)"
)
_LICENSE_NAME = re.compile(r"\bCC[ -](BY(?:-(?:NC|SA|ND))*)[ -](\d\.\d)\b|\bCC0\b")
_WITHDRAWN = re.compile(rb"withdraw", re.IGNORECASE)
TEX_SUFFIXES = (".tex", ".ltx", ".latex")


class ArchiveError(DocumentError):
    """The paper's archive is hostile, too large or not an arXiv source at all."""


class NoMainFile(DocumentError):
    """The source holds ``.tex`` files but none of them is a LaTeX document."""


@dataclass(frozen=True)
class PaperFiles:
    """A paper's source files (relative POSIX path → bytes) and the members that were refused."""

    files: dict[str, bytes]
    refused: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArxivId:
    id: str | None
    version: int | None


def parse_arxiv_id(name: str) -> ArxivId:
    """The arXiv id and version in a file name (``2401.00001v2.gz``, ``hep-th9901001``)."""
    match = _ID.match(PurePosixPath(name).name)
    if match is None:
        return ArxivId(None, None)
    old = _OLD_STYLE.match(match["id"])
    identifier = f"{old[1]}/{old[2]}" if old else match["id"]
    version = int(match["version"]) if match["version"] else None
    return ArxivId(identifier, version)


SourceFormat = Literal["gzip", "tar", "pdf", "text", "binary"]


def sniff(data: bytes) -> SourceFormat:
    """The format of arXiv source bytes, from magic bytes (names lie: ``<id>`` may be a tar)."""
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:5] == b"%PDF-":
        return "pdf"
    if (len(data) >= 512 and data[257:262] == b"ustar") or _is_old_tar(data):
        return "tar"
    return "binary" if b"\0" in data[:8192] else "text"


def _is_old_tar(data: bytes) -> bool:
    """A pre-POSIX tar header has no magic; its checksum field is the only tell."""
    if len(data) < 512 or not data[:1].strip(b"\0"):
        return False
    try:
        return tarfile.TarInfo.frombuf(data[:512], "utf-8", "surrogateescape") is not None
    except tarfile.HeaderError:
        return False


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """Decompress a gzip stream, stopping at ``max_bytes`` (a gzip bomb never inflates fully)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise ArchiveError(f"corrupt gzip stream: {exc}") from None
    if len(out) > max_bytes:
        raise ArchiveError(f"gzip stream inflates beyond the {max_bytes}-byte limit (gzip bomb)")
    return out


def read_tar(data: bytes, limits: ArchiveLimits) -> PaperFiles:
    """The regular files of a tar held in memory; links, devices and unsafe names are refused."""
    files: dict[str, bytes] = {}
    refused: list[str] = []
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            for count, member in enumerate(tar, start=1):
                if count > limits.max_members:
                    raise ArchiveError(f"archive has over {limits.max_members} members")
                name = _safe_name(member.name)
                if member.isdir():
                    continue
                if name is None or not member.isfile():
                    refused.append(member.name)
                    continue
                total += member.size
                if total > limits.max_unpacked_bytes:
                    raise ArchiveError(f"archive holds over {limits.max_unpacked_bytes} bytes")
                extracted = tar.extractfile(member)
                assert extracted is not None  # a regular file always has data
                files[name] = extracted.read()
    except (tarfile.TarError, EOFError) as exc:
        raise ArchiveError(f"corrupt tar archive: {exc}") from None
    return PaperFiles(files, tuple(refused))


def _safe_name(name: str) -> str | None:
    """``name`` as a clean relative path, or None when it could escape the paper's folder."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or "\0" in name:
        return None
    clean = PurePosixPath(*[part for part in path.parts if part != "."])
    return clean.as_posix() if clean.parts else None


def unpack_source(data: bytes, limits: ArchiveLimits) -> PaperFiles | Drop:
    """A paper's files from what arXiv serves, or a ``Drop`` for PDF-only and withdrawn papers."""
    kind = sniff(data)
    if kind == "gzip":
        data = gunzip(data, limits.max_unpacked_bytes)
        kind = sniff(data)
    if kind == "tar":
        return read_tar(data, limits)
    if kind == "pdf":
        return Drop(SOURCE, "pdf_only", "the submission is a PDF without TeX source")
    if kind == "binary":
        raise ArchiveError("not a TeX source, tar or gzip archive (binary data)")
    if not _DOCUMENTCLASS.search(decode_tex(data)):
        reason = "withdrawn" if _WITHDRAWN.search(data[:4096]) else "no_tex_source"
        return Drop(SOURCE, reason, data[:120].decode("utf-8", "replace").strip())
    return PaperFiles({"main.tex": data})


def read_folder(folder: Path, limits: ArchiveLimits) -> PaperFiles:
    """An unpacked paper folder read with the same guards as a tar (symlinks are refused)."""
    files: dict[str, bytes] = {}
    refused: list[str] = []
    total = 0
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink() or (not path.is_file() and not path.is_dir()):
            refused.append(relative)
        elif path.is_file():
            if len(files) >= limits.max_members:
                raise ArchiveError(f"folder has over {limits.max_members} files")
            total += path.stat().st_size
            if total > limits.max_unpacked_bytes:
                raise ArchiveError(f"folder holds over {limits.max_unpacked_bytes} bytes")
            files[relative] = path.read_bytes()
    return PaperFiles(files, tuple(refused))


def is_paper_folder(folder: Path) -> bool:
    """A folder is one paper when a top-level ``.tex`` file in it declares ``\\documentclass``."""
    for path in sorted(folder.iterdir()):
        if path.suffix in TEX_SUFFIXES and path.is_file() and not path.is_symlink():
            with path.open("rb") as handle:
                if _DOCUMENTCLASS.search(decode_tex(handle.read(65536))):
                    return True
    return False


def decode_tex(data: bytes) -> str:
    """TeX source as text: UTF-8, else Latin-1 (old sources), which never fails."""
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def tex_texts(files: dict[str, bytes]) -> dict[str, str]:
    """The decoded ``.tex`` files (and ``.bbl``), comments removed."""
    return {
        name: strip_comments(decode_tex(data))
        for name, data in files.items()
        if name.endswith((*TEX_SUFFIXES, ".bbl"))
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
        and _DOCUMENTCLASS.search(text)
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


def find_license(files: dict[str, bytes]) -> str | None:
    """A license the source states (a Creative Commons URL or name in any text file), else None:
    arXiv's license is chosen at submission and usually not in the source."""
    for _, data in sorted(files.items()):
        if sniff(data) != "text" or len(data) > 2**21:
            continue
        text = decode_tex(data)
        url = _LICENSE_URL.search(text)
        if url:
            return f"CC-{url[1].upper()}-{url[2]}" if url[1] else "CC0-1.0"
        named = _LICENSE_NAME.search(text) if "licen" in text.lower() else None
        if named:
            return f"CC-{named[1].upper()}-{named[2]}" if named[1] else "CC0-1.0"
    return None


# --- macros ---------------------------------------------------------------------------------

_NEWCOMMAND = re.compile(r"\\(?:re)?newcommand\*?|\\providecommand\*?")
_DEF = re.compile(r"\\[egx]?def\s*(\\[A-Za-z@]+)")
_MATHOP = re.compile(r"\\DeclareMathOperator(\*?)\s*")
_MACRO_USE = re.compile(r"\\([A-Za-z@]+)")


@dataclass(frozen=True)
class Macro:
    params: int
    default: str | None  # the optional first argument's default (``\newcommand\x[2][d]{…}``)
    body: str


def _group(tex: str, start: int) -> tuple[str, int] | None:
    """The balanced ``{…}`` group at ``start`` (after spaces): its inside and the end index."""
    index = start
    while index < len(tex) and tex[index] in " \t\n":
        index += 1
    if index >= len(tex) or tex[index] != "{":
        return None
    depth = 0
    for position in range(index, len(tex)):
        char = tex[position]
        if char == "\\":
            continue
        if char == "{" and tex[position - 1] != "\\":
            depth += 1
        elif char == "}" and tex[position - 1] != "\\":
            depth -= 1
            if depth == 0:
                return tex[index + 1 : position], position + 1
    return None


def _bracket(tex: str, start: int) -> tuple[str, int] | None:
    index = start
    while index < len(tex) and tex[index] in " \t":
        index += 1
    if index >= len(tex) or tex[index] != "[":
        return None
    end = tex.find("]", index)
    return (tex[index + 1 : end], end + 1) if end > 0 else None


def _argument(tex: str, start: int) -> tuple[str, int] | None:
    """One macro argument: a braced group, else a single token (``\\foo`` or one character)."""
    group = _group(tex, start)
    if group is not None:
        return group
    index = start
    while index < len(tex) and tex[index] in " \t\n":
        index += 1
    if index >= len(tex) or tex[index] in "}":
        return None
    if tex[index] == "\\":
        match = _MACRO_USE.match(tex, index)
        end = match.end() if match else index + 2
        return tex[index:end], end
    return tex[index], index + 1


def collect_macros(tex: str) -> tuple[dict[str, Macro], str]:
    """The simple user macros of a paper and the text without their definitions.

    ``\\newcommand``/``\\renewcommand``/``\\providecommand`` (with arguments and an optional
    default), parameterless or ``#1…#9`` ``\\def``, and ``\\DeclareMathOperator`` (as
    ``\\operatorname``). Definitions that are not simple (delimited ``\\def`` parameters,
    unbalanced bodies) stay in the text untouched.
    """
    macros: dict[str, Macro] = {}
    out: list[str] = []
    position = 0
    pattern = re.compile(f"{_NEWCOMMAND.pattern}|{_DEF.pattern}|{_MATHOP.pattern}")
    for match in pattern.finditer(tex):
        if match.start() < position:
            continue
        parsed = _definition(tex, match)
        if parsed is None:
            continue
        name, macro, end = parsed
        macros[name] = macro
        out.append(tex[position : match.start()])
        position = end
    out.append(tex[position:])
    return macros, "".join(out)


def _definition(tex: str, match: re.Match[str]) -> tuple[str, Macro, int] | None:
    end = match.end()
    if match[0].startswith("\\DeclareMathOperator"):
        name = _argument(tex, end)
        body = _group(tex, name[1]) if name else None
        if name is None or body is None:
            return None
        star = match[2] or ""
        return name[0].strip(), Macro(0, None, f"\\operatorname{star}{{{body[0]}}}"), body[1]
    if match[1] is not None:  # \def\name{…}
        name = match[1]
        params = re.match(r"((?:#\d)*)\s*\{", tex[end:])
        if params is None:
            return None
        count = len(params[1]) // 2
        body = _group(tex, end + len(params[1]))
        return (name, Macro(count, None, body[0]), body[1]) if body else None
    name = _argument(tex, end)
    if name is None or not name[0].strip().startswith("\\"):
        return None
    cursor = name[1]
    count_arg = _bracket(tex, cursor)
    count = 0
    if count_arg is not None:
        if not count_arg[0].strip().isdigit():
            return None
        count, cursor = int(count_arg[0]), count_arg[1]
    default_arg = _bracket(tex, cursor)
    default = None
    if default_arg is not None:
        default, cursor = default_arg
    body = _group(tex, cursor)
    if body is None:
        return None
    return name[0].strip(), Macro(count, default, body[0]), body[1]


def expand_macros(tex: str, max_passes: int = 8, max_growth: int = 4) -> str:
    """``tex`` with its simple user macros expanded and their definitions removed: converters
    (pandoc, LaTeXML) then see only standard LaTeX. Passes stop when nothing changes, and
    expansion stops growing the text beyond ``max_growth`` times (a macro bomb)."""
    macros, text = collect_macros(tex)
    if not macros:
        return text
    limit = max_growth * max(len(text), 1)
    for _ in range(max_passes):
        expanded = _expand_once(text, macros)
        if expanded == text or len(expanded) > limit:
            break
        text = expanded
    return text


def _expand_once(text: str, macros: dict[str, Macro]) -> str:
    out: list[str] = []
    position = 0
    for match in _MACRO_USE.finditer(text):
        if match.start() < position:
            continue
        if match.start() > 0 and text[match.start() - 1] == "\\":
            continue  # ``\\name``: a line break followed by letters
        macro = macros.get(match[0])
        if macro is None:
            continue
        cursor = match.end()
        args: list[str] = []
        if macro.default is not None:
            optional = _bracket(text, cursor)
            if optional is not None:
                args.append(optional[0])
                cursor = optional[1]
            else:
                args.append(macro.default)
        while len(args) < macro.params:
            argument = _argument(text, cursor)
            if argument is None:
                break
            args.append(argument[0])
            cursor = argument[1]
        if len(args) < macro.params:
            continue
        body = macro.body
        for number, value in enumerate(args, start=1):
            body = body.replace(f"#{number}", value)
        if macro.params == 0 and cursor < len(text) and text[cursor : cursor + 2] == "{}":
            cursor += 2  # ``\model{}``: the empty group only ended the control word
        separator = " " if body[-1:].isalpha() and text[cursor : cursor + 1].isalpha() else ""
        out.append(text[position : match.start()])
        out.append(body + separator)
        position = cursor
    out.append(text[position:])
    return "".join(out)


# --- preparing the source for pandoc --------------------------------------------------------

_BIBLIOGRAPHY = re.compile(r"\\bibliography\s*\{[^}]*\}|\\printbibliography\b(\[[^\]]*\])?")
_BIBSTYLE = re.compile(r"\\bibliographystyle\s*\{[^}]*\}")
_THEBIB = re.compile(
    r"\\begin\s*\{thebibliography\}\s*\{[^}]*\}(.*?)\\end\s*\{thebibliography\}", re.DOTALL
)
_BIBITEM = re.compile(r"\\bibitem\s*(?:\[((?:[^\[\]]|\{[^{}]*\})*)\])?\s*\{([^}]+)\}")
_CITE = re.compile(
    r"\\(?:cite|citep|citet|citealp|citealt|citenum|parencite|autocite)\*?"
    r"\s*(?:\[[^\]]*\]\s*){0,2}\{([^}]+)\}"
)
_NEWBLOCK = re.compile(r"\\newblock\b\s*")
_LABEL = re.compile(r"\\label\s*\{[^}]*\}")
_NUMBERED = re.compile(
    r"\\begin\s*\{(figure|table|equation|align|gather|multline|eqnarray)(\*?)\}"
    r"|\\end\s*\{(figure|table|equation|align|gather|multline|eqnarray)\*?\}"
    r"|\\label\s*\{([^}]+)\}|\\caption\b|\\\\|\\nonumber\b|\\notag\b"
)
_REF = re.compile(r"\\(ref|eqref|autoref|cref|Cref)\s*\{([^}]+)\}")
_MULTIROW = ("align", "gather", "eqnarray")
_MATH_ENVS = ("equation", "multline", *_MULTIROW)


def float_and_equation_numbers(tex: str) -> dict[str, str]:
    """The numbers LaTeX gives labelled figures, tables and equations (counted in source order:
    a caption, an ``equation``, a row of ``align`` & co. without ``\\nonumber``), so ``\\ref``
    can print them; pandoc numbers sections itself."""
    counters = {"figure": 0, "table": 0, "equation": 0}
    numbers: dict[str, str] = {}
    stack: list[tuple[str, bool]] = []  # open environments, numbered or starred
    row_numbered = True
    for match in _NUMBERED.finditer(tex):
        if match[1]:
            stack.append((match[1], not match[2]))
            counters["equation"] += match[1] == "equation" and not match[2]
            row_numbered = True
        elif match[3]:
            if stack and stack[-1][0] == match[3]:
                env, numbered = stack.pop()
                counters["equation"] += env in _MULTIROW and numbered and row_numbered
        elif not stack:
            continue
        elif match[4]:
            env, _ = stack[-1]
            kind = "equation" if env in _MATH_ENVS else env
            numbers[match[4].strip()] = str(counters[kind] + (env in _MULTIROW))
        elif match[0] == "\\caption" and stack[-1][0] in ("figure", "table"):
            counters[stack[-1][0]] += 1
        elif match[0] in ("\\nonumber", "\\notag"):
            row_numbered = False
        elif match[0] == "\\\\" and stack[-1][0] in _MULTIROW and stack[-1][1]:
            counters["equation"] += row_numbered
            row_numbered = True
    return numbers


def resolve_refs(tex: str) -> str:
    """``\\ref``/``\\eqref`` to labelled floats and equations replaced by their numbers."""
    numbers = float_and_equation_numbers(tex)

    def replace(match: re.Match[str]) -> str:
        number = numbers.get(match[2].strip())
        if number is None:
            return match[0]
        return f"({number})" if match[1] == "eqref" else number

    return _REF.sub(replace, tex)


def bbl_for(main: str, texts: dict[str, str]) -> str | None:
    """The ``.bbl`` that goes with the main file (arXiv requires shipping it for BibTeX users)."""
    return texts.get(f"{main.rsplit('.', 1)[0]}.bbl")


def prepare_for_pandoc(tex: str, bbl: str | None) -> str:
    """Flattened, macro-expanded LaTeX made easy for pandoc: the ``.bbl`` replaces
    ``\\bibliography``, citations become their numbers, the reference list becomes numbered
    paragraphs under a *References* heading, and ``\\label``s leave display math."""
    tex = _BIBSTYLE.sub("", tex)
    if bbl is not None:
        tex = _BIBLIOGRAPHY.sub(lambda _: bbl, tex, count=1)
    tex = _BIBLIOGRAPHY.sub("", tex)
    numbers: dict[str, int] = {}
    bibliography = _THEBIB.search(tex)
    if bibliography is not None:
        items = _BIBITEM.findall(bibliography[1])
        numbers = {key.strip(): number for number, (_, key) in enumerate(items, start=1)}
        tex = tex[: bibliography.start()] + _references(bibliography[1]) + tex[bibliography.end() :]

    def cite(match: re.Match[str]) -> str:
        keys = [key.strip() for key in match[1].split(",")]
        if not all(key in numbers for key in keys):
            return match[0]
        return "[" + ", ".join(str(numbers[key]) for key in keys) + "]"

    return _LABEL.sub("", _CITE.sub(cite, resolve_refs(tex)))


def _references(body: str) -> str:
    entries = _BIBITEM.split(body)[1:]
    paragraphs = []
    for number, start in enumerate(range(0, len(entries), 3), start=1):
        text = _NEWBLOCK.sub("", entries[start + 2]).strip()
        paragraphs.append(f"[{number}] {text}")
    return "\n\\section*{References}\n" + "\n\n".join(paragraphs) + "\n"


# --- page alignment -------------------------------------------------------------------------

_MATH = re.compile(r"\$\$.*?\$\$|\$[^$\n]*\$", re.DOTALL)
_COMMAND = re.compile(r"\\[A-Za-z]+|\\.")
_FLOAT = re.compile(r"^(?:Figure|Table) \d+:")


def normalize(text: str) -> str:
    """Text reduced to what both the markdown and the PDF text layer agree on: lower-case letters
    and digits, one space between words (markup, LaTeX commands and punctuation removed)."""
    text = _COMMAND.sub(" ", text)
    words = ("".join(c for c in word if c.isalnum()) for word in text.lower().split())
    return " ".join(word for word in words if word)


def char_f1(markdown: str, page_text: str) -> float:
    """Character-level F1 of the normalised texts: 2·LCS / (len₁ + len₂)."""
    a, b = normalize(markdown), normalize(page_text)
    if not a and not b:
        return 0.0
    return float(Indel.normalized_similarity(a, b))


@dataclass(frozen=True)
class _Token:
    start: int  # offset in the prose markdown
    block: int
    text: str  # normalised


@dataclass(frozen=True)
class _Prose:
    text: str
    block_starts: tuple[int, ...]
    atomic: tuple[tuple[int, int], ...]  # spans (tables, display math) that cannot be cut
    tokens: tuple[_Token, ...]


def markdown_blocks(markdown: str) -> list[str]:
    return [block.strip("\n").rstrip() for block in re.split(r"\n\s*\n", markdown) if block.strip()]


def _is_float(block: str) -> bool:
    return bool(_FLOAT.match(block)) or block.lstrip().startswith("|")


def _prose(blocks: list[str]) -> _Prose:
    text_parts: list[str] = []
    starts: list[int] = []
    atomic: list[tuple[int, int]] = []
    tokens: list[_Token] = []
    offset = 0
    for number, block in enumerate(blocks):
        starts.append(offset)
        if block.startswith("$$") or block.lstrip().startswith(("|", "<")):
            atomic.append((offset, offset + len(block)))
        for match in re.finditer(r"\S+", block):
            norm = normalize(match[0])
            for word in norm.split():
                tokens.append(_Token(offset + match.start(), number, word))
        text_parts.append(block)
        offset += len(block) + 2
    return _Prose("\n\n".join(text_parts), tuple(starts), tuple(atomic), tuple(tokens))


def _token_pages(tokens: tuple[_Token, ...], page_texts: list[str]) -> list[int | None]:
    """The page of each markdown token matched by a longest common subsequence of words:
    matched pages never decrease along the markdown, since both follow the reading order."""
    pdf_words: list[str] = []
    pdf_pages: list[int] = []
    for page, text in enumerate(page_texts):
        words = normalize(text).split()
        pdf_words.extend(words)
        pdf_pages.extend([page] * len(words))
    pages: list[int | None] = [None] * len(tokens)
    if not tokens or not pdf_words:
        return pages
    for block in LCSseq.opcodes([t.text for t in tokens], pdf_words):
        if block.tag == "equal":
            for offset in range(block.src_end - block.src_start):
                pages[block.src_start + offset] = pdf_pages[block.dest_start + offset]
    return pages


def _cut(prose: _Prose, last: int | None, first: int | None) -> int:
    """Where page boundary falls between the last token matched before it and the first after:
    a paragraph break in between if there is one, else right after the last token; never inside
    an atomic block."""
    low = prose.tokens[last].start + 1 if last is not None else 0
    high = prose.tokens[first].start if first is not None else len(prose.text)
    breaks = [start for start in prose.block_starts if low <= start <= high]
    if breaks:
        return breaks[0]
    following = next((t.start for t in prose.tokens[(last or -1) + 1 :]), len(prose.text))
    position = min(max(following, low), high)
    for start, end in prose.atomic:
        if start < position < end:
            return end + 2 if first is None or prose.tokens[first].start >= end else start
    return position


def _page_cuts(prose: _Prose, pages: list[int | None], count: int) -> list[int]:
    cuts = [0]
    for boundary in range(1, count):
        last = max((i for i, p in enumerate(pages) if p is not None and p < boundary), default=None)
        first = next((i for i, p in enumerate(pages) if p is not None and p >= boundary), None)
        cuts.append(max(cuts[-1], _cut(prose, last, first)))
    cuts.append(len(prose.text) + 2)
    return cuts


def _float_page(block: str, page_texts: list[str], fallback: int) -> int:
    """The page whose text contains most of the float's words (floats move away from their
    place in the source), else the page of its place in the source."""
    words = set(normalize(block).split())
    if not words:
        return fallback
    overlaps = [len(words & set(normalize(text).split())) / len(words) for text in page_texts]
    best = max(range(len(page_texts)), key=lambda p: (overlaps[p], -abs(p - fallback)))
    return best if overlaps[best] >= 0.5 else fallback


@dataclass(frozen=True)
class PageMarkdown:
    index: int
    markdown: str
    score: float  # character-level F1 against the page's text layer


def split_pages(markdown: str, page_texts: list[str]) -> list[PageMarkdown]:
    """The paper's markdown cut into one part per PDF page (Nougat-style alignment).

    Prose is aligned monotonically: a word-level longest common subsequence between the
    markdown and the pages' text layers labels matched words with their page, and each page
    boundary is cut between the last word of one page and the first of the next (at a paragraph
    break when there is one). Figure and table captions and tables are placed separately on the
    page that contains their words, since LaTeX floats them away from their source position.
    """
    blocks = markdown_blocks(markdown)
    floats = [(n, block) for n, block in enumerate(blocks) if _is_float(block)]
    float_indexes = {n for n, _ in floats}
    prose_blocks = [block for n, block in enumerate(blocks) if n not in float_indexes]
    prose = _prose(prose_blocks)
    cuts = _page_cuts(prose, _token_pages(prose.tokens, page_texts), len(page_texts))
    parts: list[list[str]] = [
        markdown_blocks(prose.text[cuts[p] : cuts[p + 1]]) for p in range(len(page_texts))
    ]
    for index, block in floats:
        prose_before = sum(1 for n in range(index) if n not in float_indexes)
        offset = prose.block_starts[prose_before] if prose_before < len(prose_blocks) else None
        home = _page_of_offset(cuts, offset)
        page = _float_page(block, page_texts, home)
        parts[page].insert(_float_position(parts[page], block, page_texts[page]), block)
    return [
        PageMarkdown(p, "\n\n".join(part), char_f1("\n\n".join(part), page_texts[p]))
        for p, part in enumerate(parts)
    ]


def _page_of_offset(cuts: list[int], offset: int | None) -> int:
    if offset is None:
        return len(cuts) - 2
    return max(p for p in range(len(cuts) - 1) if cuts[p] <= offset or p == 0)


def _float_position(part: list[str], block: str, page_text: str) -> int:
    """Where a float goes among the page's blocks: before the first block whose text comes
    after the float's in the page's text layer (top floats go on top), else at the end."""
    text = normalize(page_text)
    where = _find_start(block, text)
    if where < 0:
        return len(part)
    for index, other in enumerate(part):
        if _find_start(other, text) > where:
            return index
    return len(part)


def _find_start(block: str, text: str) -> int:
    """The position of a block's first words in normalised page text, -1 when not found."""
    words = normalize(_MATH.sub(" ", block)).split()[:4]
    return text.find(" ".join(words)) if words else -1


# --- bulk archives --------------------------------------------------------------------------


def read_bulk_archive(path: Path, label: str, config: InputConfig) -> Iterator[Document | Outcome]:
    """The papers of an arXiv bulk archive (``arXiv_src_YYMM_NNN.tar``: ``YYMM/<id>.gz`` and
    ``YYMM/<id>.pdf`` members), one document per member, ``doc_id`` ``<archive>#<member>`` (the
    arXiv id is in its origin: two archives may hold the same paper). A tar that is not a bulk
    archive is one paper whose ``doc_id`` is the archive's path."""
    try:
        with tarfile.open(path, mode="r:") as tar:
            members = [m for m in tar if not m.isdir()]
            papers = [m for m in members if parse_arxiv_id(m.name).id is not None]
            if not papers or len(papers) < len(members) / 2:
                yield _whole_tar(path, label, config)
                return
            for member in members:
                yield _bulk_member(tar, member, label, config)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveError(f"{label}: not a readable tar archive: {exc}") from None


def _whole_tar(path: Path, label: str, config: InputConfig) -> Document | Outcome:
    size = path.stat().st_size
    if size > config.max_doc_bytes:
        return too_large(label, size, config)
    return Document(label, path.read_bytes(), {"path": label})


def _bulk_member(
    tar: tarfile.TarFile, member: tarfile.TarInfo, label: str, config: InputConfig
) -> Document | Outcome:
    arxiv = parse_arxiv_id(member.name)
    doc_id = f"{label}#{member.name}"
    if not member.isfile():
        return Outcome(doc_id, error_class="ArchiveError", error=f"{member.name}: not a file")
    if member.size > config.max_doc_bytes:
        return too_large(doc_id, member.size, config)
    extracted = tar.extractfile(member)
    assert extracted is not None  # a regular file always has data
    origin = {"archive": label, "member": member.name, "arxiv_id": arxiv.id}
    return Document(doc_id, extracted.read(), {**origin, "version": arxiv.version})


# --- LaTeX → markdown with pandoc -----------------------------------------------------------

# The markdown conventions, applied to pandoc's AST: numbered section headings as LaTeX prints
# them ("## 2.1 Model"), title/authors/abstract first, "Figure N: caption" and "Table N: caption"
# paragraphs (images dropped: the page image shows them), footnotes as a numbered paragraph after
# the paragraph citing them, links and citations reduced to their text, display math alone in its
# paragraph, raw LaTeX pandoc did not understand dropped.
PANDOC_FILTER = r"""
local sections = {0, 0, 0, 0, 0, 0}
local figures, tables, notes = 0, 0, 0

local function caption_para(label, number, blocks)
  local inlines = pandoc.List({pandoc.Str(label .. " " .. number .. ":"), pandoc.Space()})
  for _, block in ipairs(blocks) do
    if block.content then inlines:extend(block.content) end
  end
  return pandoc.Para(inlines)
end

function Header(h)
  local unnumbered = h.classes:includes("unnumbered")
  h.attr = pandoc.Attr()
  if unnumbered or h.level > 3 then return h end
  sections[h.level] = sections[h.level] + 1
  for level = h.level + 1, 6 do sections[level] = 0 end
  local parts = {}
  for level = 1, h.level do table.insert(parts, tostring(sections[level])) end
  h.content:insert(1, pandoc.Space())
  h.content:insert(1, pandoc.Str(table.concat(parts, ".")))
  return h
end

function Para(p)
  if #p.content == 1 and p.content[1].t == "Image" and p.content[1].title:match("^fig:") then
    figures = figures + 1
    return caption_para("Figure", figures, {pandoc.Plain(p.content[1].caption)})
  end
  local out, current = pandoc.List(), pandoc.List()
  for _, inline in ipairs(p.content) do
    if inline.t == "Image" then
    elseif inline.t == "Math" and inline.mathtype == "DisplayMath" then
      if #current > 0 then out:insert(pandoc.Para(current)) end
      out:insert(pandoc.Para({inline}))
      current = pandoc.List()
    elseif not (#current == 0 and (inline.t == "Space" or inline.t == "SoftBreak")) then
      current:insert(inline)
    end
  end
  if #current > 0 then out:insert(pandoc.Para(current)) end
  return out
end

function Figure(f)
  figures = figures + 1
  return caption_para("Figure", figures, f.caption.long)
end

function Table(t)
  tables = tables + 1
  local caption = caption_para("Table", tables, t.caption.long)
  t.caption.long = pandoc.List()
  return {caption, t}
end

function Link(l) return l.content end
function Span(s) return s.content end
function Div(d)
  if d.identifier == "refs" then
    local heading = pandoc.Header(1, "References", pandoc.Attr("", {"unnumbered"}))
    return {heading, table.unpack(d.content)}
  end
  return d.content
end
function RawInline(_) return {} end
function RawBlock(_) return {} end
function Cite(c)
  if #c.content > 0 then return c.content end
  local keys = {}
  for _, citation in ipairs(c.citations) do table.insert(keys, citation.id) end
  return pandoc.Str("[" .. table.concat(keys, ", ") .. "]")
end

function Blocks(blocks)
  local out = pandoc.List()
  for _, block in ipairs(blocks) do
    local found = pandoc.List()
    block = pandoc.walk_block(block, {Note = function(note)
      notes = notes + 1
      found:insert({notes, note.content})
      return pandoc.Superscript({pandoc.Str(tostring(notes))})
    end})
    out:insert(block)
    for _, item in ipairs(found) do
      local inlines = pandoc.List({pandoc.Str(tostring(item[1])), pandoc.Space()})
      for _, inner in ipairs(item[2]) do
        if inner.content then inlines:extend(inner.content) end
      end
      out:insert(pandoc.Para(inlines))
    end
  end
  return out
end

function Pandoc(doc)
  local front = pandoc.List()
  local meta = doc.meta
  if meta.title then
    front:insert(pandoc.Header(1, pandoc.utils.stringify(meta.title)))
  end
  if meta.author then
    local names = {}
    local authors = meta.author
    if authors.t == "MetaInlines" or authors.t == "MetaString" or authors[1].t ~= nil then
      authors = {authors}
    end
    for _, author in ipairs(authors) do table.insert(names, pandoc.utils.stringify(author)) end
    front:insert(pandoc.Para({pandoc.Str(table.concat(names, ", "))}))
  end
  if meta.abstract then
    front:insert(pandoc.Header(6, "Abstract"))
    local abstract = meta.abstract
    if abstract.t == "MetaBlocks" then front:extend(abstract) else
      front:insert(pandoc.Para(pandoc.utils.stringify(abstract))) end
  end
  front:extend(doc.blocks)
  return pandoc.Pandoc(front, doc.meta)
end
"""
# Plain markdown with pipe tables and $/$$ math; pandoc's attribute and div syntaxes off.
PANDOC_OUTPUT = (
    "markdown-header_attributes-link_attributes-fenced_divs-bracketed_spans-native_divs"
    "-native_spans-raw_attribute-simple_tables-multiline_tables-grid_tables-smart"
    "-fenced_code_attributes-inline_code_attributes"
)


class ConversionError(DocumentError):
    """pandoc could not convert the paper's LaTeX to markdown."""


def latex_to_markdown(tex: str, bib: dict[str, bytes] | None = None, timeout_s: float = 60) -> str:
    """Convert LaTeX to markdown with pandoc (sandboxed: it reads no file but those named here).

    With ``bib`` (``.bib`` files, used when the paper ships no ``.bbl``) citations are
    formatted by pandoc's citeproc; otherwise ``prepare_for_pandoc`` has resolved them.
    """
    binary = shutil.which("pandoc")
    if binary is None:
        raise ConfigError("pandoc is not installed (Debian package: pandoc)")
    with tempfile.TemporaryDirectory(prefix="vlpipe-pandoc-") as tmp:
        lua = Path(tmp, "filter.lua")
        lua.write_text(PANDOC_FILTER, encoding="utf-8")
        argv = [binary, "--sandbox", "-f", "latex", "-t", PANDOC_OUTPUT, "--wrap=none"]
        for number, data in enumerate((bib or {}).values()):
            path = Path(tmp, f"refs{number}.bib")
            path.write_bytes(data)
            argv += [f"--bibliography={path}"]
        if bib:
            argv += ["--citeproc", "--metadata=link-citations:false"]
        argv += [f"--lua-filter={lua}"]
        try:
            done = subprocess.run(
                argv, input=tex.encode(), capture_output=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            raise ConversionError(f"pandoc exceeded the {timeout_s:g}s time limit") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ConversionError(f"pandoc failed: {message[-1] if message else done.returncode}")
    text = done.stdout.decode("utf-8", "replace").replace("\u00a0", " ")  # ~ ties are spaces
    return unescape_brackets(text)


def unescape_brackets(markdown: str) -> str:
    """pandoc escapes ``[``/``]`` in text (they could start links); citations and reference
    numbers read ``[1]`` on the page, and math keeps its own backslashes."""
    parts = _MATH.split(markdown)
    maths = _MATH.findall(markdown)
    plain = [part.replace("\\[", "[").replace("\\]", "]") for part in parts]
    return "".join(p + m for p, m in zip(plain, [*maths, ""], strict=True))


def paper_markdown(files: dict[str, bytes], main: str, timeout_s: float = 60) -> str:
    """The whole paper as markdown: inputs inlined, macros expanded, bibliography resolved."""
    texts = tex_texts(files)
    bbl = bbl_for(main, texts)
    tex = prepare_for_pandoc(expand_macros(flatten(main, texts)), bbl)
    bib = None
    if bbl is None:
        bib = {name: data for name, data in sorted(files.items()) if name.endswith(".bib")}
    return latex_to_markdown(tex, bib or None, timeout_s)
