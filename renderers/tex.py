"""LaTeX → PDF with TeX Live, treating every source as hostile.

The sandbox, layer by layer:

* the sources are copied into a private temporary directory (regular files only: symlinks in an
  archive could otherwise smuggle ``/etc/passwd`` in) and TeX runs there with a fresh environment:
  ``openout_any=p`` / ``openin_any=p`` (no absolute paths, no ``..``, no dot files; ``TEXMFOUTPUT``
  unset so no absolute path is exempt), ``TEXINPUTS`` = the folder plus the system tree, ``HOME``
  and ``TEXMFVAR`` inside the private directory;
* TeX Live's *restricted* shell escape with an allow-list that names no program
  (``shell_escape_commands`` = :data:`NO_COMMAND`): ``\\write18`` and ``\\input|`` run nothing,
  but packages see the same shell-escape status as under TeX Live's default, so ``epstopdf`` asks
  for ``x-eps-converted-to.pdf`` instead of giving up. vlpipe makes those files itself, with
  ghostscript ``-dSAFER`` in the same sandbox (:func:`eps_conversions`), for the EPS files the log
  names; TeX Live's ``repstopdf`` allowance is not used, as restricted shell escape has had
  command-injection holes (CVE-2016-10243, through an allowed program). xelatex's driver converts
  EPS itself, with ``gs -dSAFER`` from ``dvipdfmx.cfg``;
* minted (which highlights code by running Pygments through shell escape) is loaded with its
  own ``draft`` option (:func:`minted_draft`): fancyvrb typesets the code verbatim, without
  colours, and minted runs no program, so the page shows the same code text. Allowing a
  highlighter instead was ruled out: TeX Live 2022's minted 2.7 refuses anything but *full* shell
  escape (``\\pdf@shellescape=1``) and runs ``mkdir``, ``rm``, ``mv``, ``which`` and
  ``pygmentize`` with paper-controlled options (TeX Live's own restricted list leaves
  ``pygmentize`` out: "is the filter feature insecure?"); minted 3's ``latexminted``, made for
  restricted mode and on TeX Live 2024's list, is not shipped here and would still be a program
  reading paper-controlled input, so the allow-list stays empty. A paper that ships minted's
  ``frozencache`` (highlighting made beforehand, for arXiv) keeps it: no ``draft`` then;
* ``\\tikzexternalize`` is turned into ``\\tikzexternaldisable`` in the private copy, so TikZ
  pictures are drawn inline instead of by a nested TeX run that shell escape may not start;
* each process starts in its own session with ``RLIMIT_AS`` (memory), ``RLIMIT_CPU``,
  ``RLIMIT_FSIZE`` and no core dumps, and a wall-clock limit of ``TexConfig.timeout_s`` (as
  ``RLIMIT_CPU``, per process: each TeX pass, bibtex/biber, each ghostscript conversion, so that
  a long document's passes are not cut short by their sum, while a runaway pass is killed after
  that limit; a compilation runs at most ``max_runs`` passes); on overrun the process *group* is
  SIGKILLed, so helpers such as ``xdvipdfmx`` die with it;
* biber, which does not honour ``openin_any``, only runs when every data source it was told to
  read is a relative path inside the folder.

TeX runs in nonstop mode without halting on errors, as TeX Live's own ``-interaction=nonstopmode``
does: a PDF written despite recoverable errors is kept, with those errors listed, unless there are
more than ``TexConfig.max_errors``. Failures raise :class:`TexError`, with the first TeX error line
of the log where there is one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vlpipe.errors import ConfigError
from vlpipe.renderers.errors import TexError
from vlpipe.renderers.install import find_tex_binary

TexEngine = Literal["pdflatex", "xelatex"]

_XETEX_MARKERS = re.compile(
    r"\\usepackage\s*(\[[^\]]*\])?\s*\{[^}]*\b(xeCJK|ctex|fontspec|xltxtra|polyglossia|xunicode)\b"
    r"|\\documentclass\s*(\[[^\]]*\])?\s*\{ctex(art|rep|book|beamer)\}"
    r"|\\set(CJK)?mainfont\b"
)
_PDFTEX_CJK = re.compile(r"\\usepackage\s*(\[[^\]]*\])?\s*\{[^}]*\b(CJK|CJKutf8)\b")
_CJK_CHARS = re.compile("[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
# % after an even number of backslashes, to the end of the line, and with it the line break and
# the next line's leading blanks (TeX reads "a%\n  b" as "ab") unless that line is blank: a
# blank line after a comment still ends the paragraph
_COMMENT = re.compile(r"(?<!\\)((?:\\\\)*)%.*(?:\n[ \t]*(?=\S))?")
_URL_ARGUMENT = re.compile(r"\\(?:url|href)\s*\{[^{}]*\}")  # over line breaks too (a .bbl wraps)
# text TeX reads as typed, where ``%`` and commands are text: \verb|…|, \lstinline, the verbatim
# and code environments (the environment's options on its line, braced values in them too, and
# minted's language stay outside ``body``)
VERBATIM = re.compile(
    r"\\verb\*?(?P<verb>[^A-Za-z\s*])[^\n]*?(?P=verb)"
    r"|\\lstinline\s*(?:\[[^\]\n]*\])?(?:(?P<inline>[^A-Za-z\s{\[])[^\n]*?(?P=inline)|\{[^{}\n]*\})"
    r"|\\begin\s*\{(?P<env>verbatim\*?|Verbatim\*?|BVerbatim|LVerbatim|spverbatim|lstlisting"
    r"|minted|comment)\}(?P<options>[ \t]*(?:\[(?:[^\[\]{}]|\{(?:[^{}]|\{[^{}]*\})*\})*\])?"
    r"[ \t]*(?:\{[^{}\n]*\})?)"
    r"(?P<body>.*?)\\end\s*\{(?P=env)\}",
    re.DOTALL,
)
_KEPT_AS_TYPED = re.compile(f"{_URL_ARGUMENT.pattern}|{VERBATIM.pattern}", re.DOTALL)
_FILE_LINE_ERROR = re.compile(r"^(?:\./)?([^\s:][^:]*):(\d+): (.+)$")
# what asks for another run (rerunfilecheck says "Info" in every run, "Warning" only then)
_RERUN = re.compile(r"Rerun to get|Label\(s\) may have changed|Please rerun|rerunfilecheck Warning")
_MISSING_AUX = re.compile(r"^No file .*\.(toc|lof|lot)\.$", re.MULTILINE)
# labels a first run wrote for the next to read: LaTeX's own ask for a rerun, but a class's
# (elsarticle's ``\Newlabel`` for its address letters and ``∗`` marks) do not
_AUX_LABEL = re.compile(r"^\\[A-Za-z@]*newlabel\{", re.MULTILINE | re.IGNORECASE)
_BCF_SOURCE = re.compile(r"<bcf:datasource[^>]*>([^<]*)</bcf:datasource>")
_AUX_SUFFIXES = (".aux", ".toc", ".lof", ".lot", ".out", ".bbl", ".nav", ".snm")
_OUTPUT_SUFFIXES = (".aux", ".bbl", ".toc")  # what a compile hands back (``TexResult.outputs``)
_EPSTOPDF = re.compile(
    r"Source file: <([^>\n]+)>\n(?:\(epstopdf\).*\n)*?\(epstopdf\)\s+Output file: <([^>\n]+)>"
)
_EPS_SUFFIXES = (".eps", ".ps")
_TIKZ_EXTERNALIZE = re.compile(rb"\\tikzexternalize(?![A-Za-z@])\s*(?:\[[^\]]*\])?")
_OUTPUT_WRITTEN = re.compile(r"^Output written on ", re.MULTILINE)
_DRIVER_FATAL = re.compile(r"^\S*dvipdfmx:fatal: .*$", re.MULTILINE)
_LOADS_MINTED = re.compile(
    r"\\(?:usepackage|RequirePackage)\s*(?:\[[^\]]*\])?\s*\{[^}]*\bminted\b[^}]*\}"
)
_FROZEN_CACHE = re.compile(r"\bfrozencache\b")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_PACKAGE_SUFFIXES = (".tex", ".sty", ".cls")
# The restricted shell escape's allow-list: a name no program has, so that nothing is allowed.
NO_COMMAND = "vlpipe-no-command"


class TexConfig(BaseModel):
    """Engine choice and the limits of one compilation; ``timeout_s`` (wall clock) and ``cpu_s``
    apply to each process it runs (a TeX pass, bibtex/biber, ghostscript), not to their sum."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: Literal["auto", "pdflatex", "xelatex"] = "auto"
    timeout_s: float = Field(
        120.0, gt=0, description="wall clock of each TeX pass (and bibtex/biber, ghostscript run)"
    )
    cpu_s: int = Field(120, ge=1, description="CPU seconds of each process")
    memory_mb: int = Field(2048, ge=256)
    max_file_mb: int = Field(256, ge=1)
    max_source_mb: int = Field(200, ge=1)
    max_runs: int = Field(4, ge=1, le=8)
    max_errors: int | None = Field(
        0, ge=0, description="a PDF written with more TeX errors than this fails; None: any"
    )
    bibliography: bool = True
    synctex: bool = False
    # \today and PDF dates come from this epoch so that output is reproducible; None: the clock.
    source_date_epoch: int | None = 0
    tmp_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class TexResult:
    """A compiled PDF with the engine's final log; ``bibliography`` names the tool that ran,
    ``errors`` the recoverable TeX errors of the final run (first lines), ``outputs`` the
    ``.aux``/``.bbl``/``.toc`` files the compile wrote (relative path → bytes),
    ``fonts_substituted`` the fonts the sources name that are not installed and the installed
    ones that replaced them (see :func:`substitute_fonts`)."""

    pdf: bytes
    log: str
    engine: TexEngine
    runs: int
    bibliography: str | None = None
    synctex: bytes | None = None
    warnings: list[str] = field(default_factory=list)
    errors: tuple[str, ...] = ()
    outputs: dict[str, bytes] = field(default_factory=dict)
    fonts_substituted: dict[str, str] = field(default_factory=dict)


def strip_comments(tex: str) -> str:
    """TeX source without ``%`` comments (an escaped ``\\%`` stays, and so does a ``%`` in the URL
    of a ``\\url``/``\\href``, which reads it verbatim: ``%E5%B8%B8``, and in verbatim text and
    code: ``printf("%d")`` in a listing)."""
    out, position, start = [], 0, 0
    while (match := _KEPT_AS_TYPED.search(tex, start)) is not None:
        line_start = max(tex.rfind("\n", 0, match.start()) + 1, position)
        if _COMMENT.search(tex, line_start, match.start()):  # commented out: goes with its line
            line_end = tex.find("\n", match.start())
            start = len(tex) if line_end < 0 else line_end + 1
            continue
        out += [_COMMENT.sub(r"\1", tex[position : match.start()]), match[0]]
        position = start = match.end()
    return "".join(out) + _COMMENT.sub(r"\1", tex[position:])


def detect_engine(sources: Iterable[str]) -> TexEngine:
    """xelatex for sources that load xeCJK/ctex/fontspec or contain CJK characters (unless they
    use the pdfTeX CJK package), pdflatex otherwise."""
    texts = [strip_comments(s) for s in sources]
    if any(_XETEX_MARKERS.search(t) for t in texts):
        return "xelatex"
    if any(_PDFTEX_CJK.search(t) for t in texts):
        return "pdflatex"
    return "xelatex" if any(_CJK_CHARS.search(t) for t in texts) else "pdflatex"


def read_by(main: str, texts: Mapping[str, str]) -> list[str]:
    """The ``.tex`` texts (``texts``: by path in the folder) that TeX reads for ``main``: it and
    what it inputs, includes or imports, at any depth. A folder also holds other documents (a
    poster loading fontspec, cover letters): their engine is not the paper's. Every ``.tex``
    text of the folder when a name is computed (a macro in it) or not in the folder."""
    tex_files = {name: text for name, text in texts.items() if name.endswith(".tex")}
    read: dict[str, str] = {}
    todo = [main]
    while todo:
        name = todo.pop()
        if name in read:
            continue
        if name not in tex_files:
            return list(tex_files.values())
        read[name] = tex_files[name]
        for found in _READS_FILE.finditer(strip_comments(read[name])):
            target = "".join(part for part in found.groups() if part).strip()
            if "\\" in target or "#" in target:
                return list(tex_files.values())
            target = str(PurePosixPath(target.removeprefix("./")))
            todo.append(target if target.endswith(".tex") else f"{target}.tex")
    return list(read.values())


# the files a document reads: \input{x} (or \input x), \include, \subfile, \import{dir/}{x}
_READS_FILE = re.compile(
    r"\\(?:input|include|subfile|InputIfFileExists)\s*\{([^{}]+)\}"
    r"|\\input\s+([^\s{}\\%]+)"
    r"|\\(?:sub)?import\s*\{([^{}]*)\}\s*\{([^{}]+)\}"
)


def minted_draft(sources: Iterable[str]) -> bool:
    """Whether to load minted in ``draft`` mode: some source loads minted and none mentions its
    ``frozencache`` (with which minted reads shipped highlighting and needs no shell escape)."""
    texts = [strip_comments(s) for s in sources]
    return any(_LOADS_MINTED.search(t) for t in texts) and not any(
        _FROZEN_CACHE.search(t) for t in texts
    )


def tex_errors(log: str) -> list[str]:
    """The error lines of a TeX log, in order: ``! Message`` or ``file:line: message``."""
    errors = []
    for line in log.splitlines():
        if line.startswith("! "):
            errors.append(line.strip())
            continue
        match = _FILE_LINE_ERROR.match(line)
        if match:
            errors.append(f"{match[1]}:{match[2]}: {match[3].strip()}")
    return errors


def first_tex_error(log: str) -> str | None:
    """The first error line of a TeX log: ``! Message`` or ``file:line: message``."""
    return next(iter(tex_errors(log)), None)


def eps_conversions(log: str, workdir: Path) -> list[tuple[PurePosixPath, PurePosixPath]]:
    """The EPS → PDF conversions epstopdf asked for in a pdflatex log and that are still to do:
    ``(source, target)`` pairs of safe relative paths, the source an existing ``.eps``/``.ps``
    file in ``workdir`` and the target its missing ``-eps-converted-to.pdf``."""
    wanted = []
    for source_name, target_name in _EPSTOPDF.findall(log):
        try:
            source, target = safe_relative_path(source_name), safe_relative_path(target_name)
        except TexError:
            continue
        if (
            source.suffix.lower() in _EPS_SUFFIXES
            and target.name.endswith("-eps-converted-to.pdf")
            and (workdir / source).is_file()
            and not (workdir / source).is_symlink()
            and not (workdir / target).exists()
            and (source, target) not in wanted
        ):
            wanted.append((source, target))
    return wanted


def disable_tikz_externalize(tex: bytes) -> bytes:
    """``\\tikzexternalize[…]`` replaced by ``\\tikzexternaldisable``: pictures are drawn in the
    document's own run instead of by a nested TeX run (shell escape) writing files of its own."""
    return _TIKZ_EXTERNALIZE.sub(rb"\\tikzexternaldisable ", tex)


def unsafe_bcf_sources(bcf: str) -> list[str]:
    """Data sources in a biblatex control file that point outside the folder."""
    bad = []
    for raw in _BCF_SOURCE.findall(bcf):
        path = PurePosixPath(raw.strip())
        if path.is_absolute() or ".." in path.parts or "~" in raw or ":" in raw:
            bad.append(raw.strip())
    return bad


def safe_relative_path(name: str) -> PurePosixPath:
    """A source file name as a relative path inside the folder, or a ``TexError``."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or "\0" in name:
        raise TexError(f"unsafe source path {name!r}")
    return path


def sandbox_env(home: Path, source_date_epoch: int | None = 0) -> dict[str, str]:
    """The whole environment TeX runs with (nothing inherited except PATH)."""
    dates = (
        {}
        if source_date_epoch is None
        else {"SOURCE_DATE_EPOCH": str(source_date_epoch), "FORCE_SOURCE_DATE": "1"}
    )
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        # ghostscript's -dSAFER lets PostScript write in the temporary folder: make it private
        "TMPDIR": str(home),
        "TEXMFVAR": str(home / "texmf-var"),
        "TEXMFCONFIG": str(home / "texmf-config"),
        "LANG": "C.UTF-8",
        "openout_any": "p",
        "openin_any": "p",
        "shell_escape": "p",
        "shell_escape_commands": NO_COMMAND,
        "TEXINPUTS": ".:",
        "BIBINPUTS": ".:",
        "BSTINPUTS": ".:",
        # a font a paper names that is not installed fails at once: mktextfm would run
        # METAFONT on each name (seconds per size and shape), and TeX Live ships every TFM
        "MKTEXTFM": "0",
        "max_print_line": "10000",
        "error_line": "254",
        "half_error_line": "238",
        **dates,
    }


_MISSING_FONT = re.compile(r'fontspec Error: The font "([^"]+)" cannot be found')
# what a font's name says it is (SimSun, FZShuSong, HYZhongHeiS, 方正楷体, Consolas, Arial …)
# and the installed font of that kind (fonts-noto-cjk, fonts-arphic-gkai00mp, lmodern); the
# first that matches, Latin Modern Roman for the rest
_FONT_KINDS = (
    (re.compile(r"kai|楷", re.IGNORECASE), "AR PL KaitiM GB"),
    (re.compile(r"hei|yuan|黑|圆", re.IGNORECASE), "Noto Sans CJK SC"),
    (re.compile(r"song|sun|fang|ming|mincho|cjk|宋|仿|明", re.IGNORECASE), "Noto Serif CJK SC"),
    (re.compile(r"mono|code|courier|consol|typewriter", re.IGNORECASE), "Latin Modern Mono"),
    (re.compile(r"sans|arial|helvet|grotesk|gothic", re.IGNORECASE), "Latin Modern Sans"),
)
_FONT_NAMING_SUFFIXES = (*_PACKAGE_SUFFIXES, ".cfg", ".def")


def substitute_fonts(workdir: Path, log: str) -> dict[str, str]:
    """The fonts the log says fontspec could not find (a thesis written on a machine with
    commercial Hanyi or Founder fonts, a paper set in Minion Pro) replaced, where the sources
    name them, by an installed font of the same kind (Song/Ming serif, Hei sans, Kai; Latin
    serif, sans, mono): without it every Chinese character prints as a missing-glyph box, and
    text in a missing Latin font does not print at all. Returns what was replaced by what."""
    wanted = {
        name: next((font for kind, font in _FONT_KINDS if kind.search(name)), "Latin Modern Roman")
        for name in dict.fromkeys(_MISSING_FONT.findall(log))
    }
    done: dict[str, str] = {}
    for path in sorted(workdir.rglob("*")):
        if path.suffix not in _FONT_NAMING_SUFFIXES or not path.is_file():
            continue
        text = _read(path)
        named = {name: font for name, font in wanted.items() if name in text}
        if named:
            path.write_text(_fonts_renamed(text, named), encoding="utf-8")
            done.update(named)
    return done


def _fonts_renamed(text: str, fonts: dict[str, str]) -> str:
    """``text`` with each font name of ``fonts`` replaced by its substitute: with ``~`` for its
    spaces in expl3 code, which ignores spaces (fduthesis names its fonts there)."""
    expl = _expl3_spans(text)

    def replaced(match: re.Match[str]) -> str:
        font = fonts[match[0]]
        inside = any(start <= match.start() < end for start, end in expl)
        return font.replace(" ", "~") if inside else font

    pattern = "|".join(re.escape(name) for name in sorted(fonts, key=len, reverse=True))
    return re.sub(pattern, replaced, text)


_EXPL3_ON = re.compile(r"\\ExplSyntaxOn\b|\\ProvidesExpl(?:Package|Class|File)\b")
_EXPL3_OFF = re.compile(r"\\ExplSyntaxOff\b")


def _expl3_spans(text: str) -> list[tuple[int, int]]:
    """Where ``text`` is expl3 code: from ``\\ExplSyntaxOn`` (or an expl3 package's first
    line) to the next ``\\ExplSyntaxOff`` or the end."""
    spans = []
    for on in _EXPL3_ON.finditer(text):
        off = _EXPL3_OFF.search(text, on.end())
        spans.append((on.end(), off.start() if off else len(text)))
    return spans


def _limiter(cfg: TexConfig) -> Callable[[], None]:
    """A preexec function applying the resource limits (capped by the current hard limits)."""
    wanted = {
        resource.RLIMIT_CPU: cfg.cpu_s,
        resource.RLIMIT_AS: cfg.memory_mb * 2**20,
        resource.RLIMIT_FSIZE: cfg.max_file_mb * 2**20,
        resource.RLIMIT_CORE: 0,
    }
    limits = {}
    for which, value in wanted.items():
        hard = resource.getrlimit(which)[1]
        limits[which] = value if hard == resource.RLIM_INFINITY else min(value, hard)

    def apply() -> None:
        for which, value in limits.items():
            resource.setrlimit(which, (value, value))

    return apply


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


@dataclass
class _Sandbox:
    workdir: Path
    env: dict[str, str]
    cfg: TexConfig

    def run(self, argv: list[str], output: Path | None = None) -> int:
        """Run one tool in the folder (its terminal output to ``output``, else discarded); when it
        runs past ``timeout_s`` (this run's own limit) kill its process group and raise."""
        name = Path(argv[0]).name
        with open(output or os.devnull, "wb") as sink:
            proc = subprocess.Popen(
                argv,
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_limiter(self.cfg),
            )
        try:
            code = proc.wait(timeout=self.cfg.timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.wait()
            raise TexError(
                f"{name} exceeded the {self.cfg.timeout_s:g}s time limit of one run (killed)"
            ) from None
        _kill_group(proc.pid)  # helpers it left behind in its session
        if code < 0 and -code in _LIMIT_SIGNALS:
            raise TexError(f"{name} killed by {signal.Signals(-code).name} (resource limit)")
        return code


# What the kernel sends a process over its CPU, file-size or memory limit (or our timeout).
_LIMIT_SIGNALS = {signal.SIGKILL, signal.SIGXCPU, signal.SIGXFSZ, signal.SIGSEGV}


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", errors="replace") if path.is_file() else ""


def _aux_digest(workdir: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in workdir.rglob("*") if p.suffix in _AUX_SUFFIXES):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _run_bibliography(box: _Sandbox, stem: str, had_bbl: bool) -> tuple[str | None, list[str]]:
    """Run bibtex or biber when the document asks for one and no .bbl was supplied."""
    if had_bbl:
        return None, []
    bcf = box.workdir / f"{stem}.bcf"
    if bcf.is_file():
        bad = unsafe_bcf_sources(_read(bcf))
        if bad:
            return None, [f"biber skipped: data source outside the folder: {bad[0]}"]
        tool, argv = "biber", [find_tex_binary("biber"), "--nodieonerror", stem]
    elif re.search(r"\\bibdata\{", _read(box.workdir / f"{stem}.aux")):
        tool, argv = "bibtex", [find_tex_binary("bibtex"), stem]
    else:
        return None, []
    code = box.run(argv)
    if code >= 2 or not (box.workdir / f"{stem}.bbl").is_file():
        log = _read(box.workdir / f"{stem}.blg")
        detail = next(
            (
                ln.strip()
                for ln in log.splitlines()
                if "ERROR" in ln or "couldn't" in ln or ln.startswith("I ")
            ),
            "",
        )
        return None, [f"{tool} failed (exit {code}){': ' + detail if detail else ''}"]
    return tool, []


def _convert_eps(box: _Sandbox, log: str, home: Path) -> bool:
    """Make the PDFs epstopdf asked for with ghostscript ``-dSAFER`` (PostScript may read only
    its own file and write only the output), in the sandbox; whether any was made."""
    made = False
    gs = shutil.which("gs")
    if gs is None:
        raise ConfigError("missing gs (install with: apt-get install ghostscript)")
    for source, target in eps_conversions(log, box.workdir):
        # "./" first: a name cannot read as an option, a pipe ("|cmd") or a %-device.
        output = "./" + target.as_posix().replace("%", "%%")
        argv = [gs, "-q", "-dSAFER", "-dNOPAUSE", "-dBATCH", "-dEPSCrop", "-sDEVICE=pdfwrite"]
        argv += ["-dAutoRotatePages=/None", f"-sOutputFile={output}", f"./{source.as_posix()}"]
        box.run(argv, home / "gs.out")
        made = made or (box.workdir / target).is_file()
    return made


def _disable_tikz_externalize(workdir: Path) -> None:
    for path in workdir.rglob("*.tex"):
        data = path.read_bytes()
        if b"tikzexternalize" in data:
            path.write_bytes(disable_tikz_externalize(data))


def _outputs(workdir: Path) -> dict[str, bytes]:
    return {
        path.relative_to(workdir).as_posix(): path.read_bytes()
        for path in sorted(workdir.rglob("*"))
        if path.suffix in _OUTPUT_SUFFIXES and path.is_file() and not path.is_symlink()
    }


def _compile(workdir: Path, home: Path, main: str, cfg: TexConfig) -> TexResult:
    main_path = workdir / safe_relative_path(main)
    if not main_path.is_file():
        raise TexError(f"main file {main} not found in the sources")
    if main_path.parent != workdir:
        raise TexError(f"main file {main} must be at the top of the folder")
    sources = {
        p: _read(p)
        for p in sorted(workdir.rglob("*"))
        if p.suffix in _PACKAGE_SUFFIXES and p.is_file() and p.stat().st_size < 2**22
    }
    if cfg.engine == "auto":
        texts = {p.relative_to(workdir).as_posix(): t for p, t in sources.items()}
        engine: TexEngine = detect_engine(read_by(main_path.name, texts))
    else:
        engine = cfg.engine
    binary = find_tex_binary(engine)
    stem = main_path.stem
    had_bbl = (workdir / f"{stem}.bbl").is_file()
    aux_path = workdir / f"{stem}.aux"
    had_aux = aux_path.is_file()
    env = sandbox_env(home, cfg.source_date_epoch)
    box = _Sandbox(workdir, env, cfg)
    argv = [
        binary,
        "-shell-restricted",
        "-interaction=nonstopmode",
        "-file-line-error",
        *(["-synctex=1"] if cfg.synctex else []),
    ]
    if minted_draft(sources.values()) and _PLAIN_NAME.fullmatch(main_path.name):
        # the option is set before the main file is read; -jobname keeps the output names
        preset = r"\PassOptionsToPackage{draft}{minted}"
        argv += [f"-jobname={stem}", rf"{preset}\input{{{main_path.name}}}"]
    else:
        argv.append(main_path.name)
    log_path, pdf_path = workdir / f"{stem}.log", workdir / f"{stem}.pdf"
    _disable_tikz_externalize(workdir)

    def run_engine() -> str:
        """One engine run; it fails only when it wrote no PDF (recoverable errors are data)."""
        pdf_path.unlink(missing_ok=True)
        code = box.run(argv, home / "engine.out")
        log = _read(log_path)
        if not (pdf_path.is_file() and _OUTPUT_WRITTEN.search(log)):
            driver = _DRIVER_FATAL.search(_read(home / "engine.out"))
            reason = first_tex_error(log) or (driver[0].strip() if driver else None)
            raise TexError(reason or f"{engine} wrote no PDF (exit code {code})")
        return log

    log, runs = run_engine(), 1
    fonts = substitute_fonts(workdir, log) if engine != "pdflatex" else {}
    if fonts:
        log, runs = run_engine(), runs + 1
    converted = engine == "pdflatex" and _convert_eps(box, log, home)
    bibliography, warnings = None, []
    if cfg.bibliography:
        bibliography, warnings = _run_bibliography(box, stem, had_bbl)
    labels_written = not had_aux and _AUX_LABEL.search(_read(aux_path))
    asked = _RERUN.search(log) or _MISSING_AUX.search(log)
    needs_rerun = bool(converted or bibliography or labels_written or asked)
    digest = _aux_digest(workdir)
    while needs_rerun and runs < cfg.max_runs:
        log, runs = run_engine(), runs + 1
        new_digest = _aux_digest(workdir)
        needs_rerun = new_digest != digest or bool(_RERUN.search(log))
        digest = new_digest
    errors = tex_errors(log)
    if cfg.max_errors is not None and len(errors) > cfg.max_errors:
        if not cfg.max_errors:
            raise TexError(errors[0])
        raise TexError(f"{len(errors)} TeX errors (over {cfg.max_errors}), the first: {errors[0]}")
    synctex_path = workdir / f"{stem}.synctex.gz"
    return TexResult(
        pdf=pdf_path.read_bytes(),
        log=log,
        engine=engine,
        runs=runs,
        bibliography=bibliography,
        synctex=synctex_path.read_bytes() if cfg.synctex and synctex_path.is_file() else None,
        warnings=warnings,
        errors=tuple(errors),
        outputs=_outputs(workdir),
        fonts_substituted=fonts,
    )


def _private_dirs(cfg: TexConfig) -> tempfile.TemporaryDirectory[str]:
    if cfg.tmp_dir is not None:
        cfg.tmp_dir.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryDirectory(prefix="vlpipe-tex-", dir=cfg.tmp_dir)


def compile_latex(
    tex: str,
    *,
    files: Mapping[str, bytes] | None = None,
    main: str = "main.tex",
    config: TexConfig | None = None,
) -> TexResult:
    """Compile LaTeX source text (plus extra files such as ``refs.bib`` or figures)."""
    cfg = config or TexConfig()
    total = len(tex.encode()) + sum(len(b) for b in (files or {}).values())
    if total > cfg.max_source_mb * 2**20:
        raise TexError(
            f"sources are {total / 2**20:.0f} MiB, over the {cfg.max_source_mb} MiB limit"
        )
    with _private_dirs(cfg) as tmp:
        workdir, home = Path(tmp, "src"), Path(tmp, "home")
        workdir.mkdir()
        home.mkdir()
        for name, data in (files or {}).items():
            target = workdir / safe_relative_path(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (workdir / safe_relative_path(main)).write_text(tex, encoding="utf-8")
        return _compile(workdir, home, main, cfg)


def compile_latex_dir(
    folder: Path, main: str = "main.tex", config: TexConfig | None = None
) -> TexResult:
    """Compile a LaTeX project folder (it is copied first; the original is never written)."""
    cfg = config or TexConfig()
    if not folder.is_dir():
        raise TexError(f"source folder {folder} does not exist")
    limit, total = cfg.max_source_mb * 2**20, 0
    with _private_dirs(cfg) as tmp:
        workdir, home = Path(tmp, "src"), Path(tmp, "home")
        home.mkdir()
        workdir.mkdir()
        for path in sorted(folder.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            total += path.stat().st_size
            if total > limit:
                raise TexError(f"sources exceed the {cfg.max_source_mb} MiB limit")
            target = workdir / path.relative_to(folder)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        return _compile(workdir, home, main, cfg)
