"""A paper's LaTeX → markdown with pandoc: the flattened, macro-expanded source is prepared
(the ``.bbl`` inlined, citations and ``\\ref``s to floats and equations replaced by the numbers
LaTeX prints, since pandoc knows neither), then converted by a sandboxed pandoc run with the Lua
filter ``markdown.lua`` (package data) that applies vlpipe's markdown conventions."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from vlpipe.errors import ConfigError, DocumentError
from vlpipe.sources.arxiv.align import MATH
from vlpipe.sources.arxiv.macros import expand_macros
from vlpipe.sources.arxiv.mainfile import flatten, tex_texts

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


# vlpipe's markdown conventions as a pandoc Lua filter: a package data file next to this module.
LUA_FILTER = "markdown.lua"
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
        lua.write_bytes(resources.files("vlpipe.sources.arxiv").joinpath(LUA_FILTER).read_bytes())
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
    parts = MATH.split(markdown)
    maths = MATH.findall(markdown)
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
