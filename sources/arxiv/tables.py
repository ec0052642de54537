"""Tables made readable for pandoc: boxes around them unwrapped (``\\resizebox``,
``\\scalebox``, ``adjustbox``), ``tabularx``/``tabu``/``tabulary`` and their column types turned
into ``tabular`` with ``l``/``c``/``r`` columns, cells that hold line breaks (``\\makecell``)
flattened; and, for a table pandoc still cannot read, a plain-text rendering of its cells
(:func:`cells_as_text`) instead of nothing."""

from __future__ import annotations

import re

from vlpipe.sources.arxiv.macros import balanced_group, replace_commands

_BOXES = re.compile(r"\\(resizebox\*?|scalebox|adjustbox|rotatebox|makecell|thead|shortstack)\b")
_BOX_ARGS = {"resizebox": 2, "resizebox*": 2, "scalebox": 1, "adjustbox": 1, "rotatebox": 1}
_ENV_BOX = re.compile(r"\\(begin|end)\s*\{(adjustbox|threeparttable|tablenotes|center)\}")
_TABLE_ENV = re.compile(r"\\(begin|end)\s*\{(tabularx|tabu|tabulary|tabular\*|longtabu|xtabular)\}")
_COLUMN_LETTERS = {"l": "l", "c": "c", "r": "r", "S": "c", "C": "c", "R": "r", "L": "l"}
_TABULAR = re.compile(r"\\begin\s*\{(tabular\*?|tabularx|tabu|tabulary|longtable)\}")
_CELL_COMMAND = re.compile(
    r"\\(?:hline|toprule|midrule|bottomrule|cmidrule(?:\([^)]*\))?(?:\{[^}]*\})?"
    r"|cline\{[^}]*\}|hhline\{[^}]*\}|rowcolor(?:\[[^\]]*\])?\{[^}]*\}"
    r"|cellcolor(?:\[[^\]]*\])?\{[^}]*\}|centering|raggedright|raggedleft|small"
    r"|footnotesize|scriptsize|tiny|bfseries|itshape|endhead|endfirsthead|endfoot"
    r"|endlastfoot|noalign\{[^}]*\}|addlinespace(?:\[[^\]]*\])?)"
)
_WIDTH_FIRST = frozenset({"tabular*", "tabularx", "tabulary"})
# a ``\\caption[short]{`` up to its braced text (pandoc.py reads captions with it too), a
# ``\\label{…}`` and a float's placement option (pandoc.py and algorithms.py too)
CAPTION = re.compile(r"\\caption\*?\s*(?:\[[^\]]*\])?\s*(?=\{)")
LABEL = re.compile(r"\\label\s*\{([^}]*)\}")
FLOAT_PLACEMENT = re.compile(r"^\s*\[[!htbpH]*\]")
_MULTI = re.compile(r"\\multi(?:row|column)\s*\{[^}]*\}\s*(?:\[[^\]]*\]\s*)?\{[^}]*\}\s*")


def column_spec(spec: str) -> str:
    """A column specification reduced to ``l``/``c``/``r`` letters, one per column: ``p{…}``,
    ``m{…}``, ``b{…}``, ``X``/``X[…]`` (tabularx, tabu) and unknown letters as ``l``, siunitx's
    ``S`` as ``c``; ``*{n}{…}`` repeated; ``|``, ``@{…}``, ``!{…}``, ``>{…}``, ``<{…}`` dropped."""
    out, index = [], 0
    while index < len(spec):
        char = spec[index]
        index += 1
        if char in "@!><":
            group = balanced_group(spec, index)
            index = group[1] if group else index
        elif char == "*":
            count, after = balanced_group(spec, index) or ("1", index)
            inner, after = balanced_group(spec, after) or ("", after)
            out.append(column_spec(inner) * (int(count) if count.strip().isdigit() else 1))
            index = after
        elif char.isalpha():
            if index < len(spec) and spec[index] in "[{":
                opener = spec[index]
                closer = "]" if opener == "[" else "}"
                group = balanced_group(spec, index, opener, closer)
                index = group[1] if group else index + 1
            out.append(_COLUMN_LETTERS.get(char, "l"))
    return "".join(out) or "l"


def _unwrap_boxes(tex: str) -> str:
    """``\\resizebox{w}{h}{X}`` → ``X`` and the like (their other arguments dropped);
    ``\\makecell{a\\\\b}`` → ``a b``."""
    out, position = [], 0
    for match in _BOXES.finditer(tex):
        if match.start() < position:
            continue
        cursor = match.end()
        skipped = True
        for _ in range(_BOX_ARGS.get(match[1], 0)):
            while cursor < len(tex) and tex[cursor] in " \t\n":
                cursor += 1
            if cursor < len(tex) and tex[cursor] == "[":
                close = tex.find("]", cursor)
                cursor = close + 1 if close > 0 else cursor
            group = balanced_group(tex, cursor)
            if group is None:
                skipped = False
                break
            cursor = group[1]
        while cursor < len(tex) and tex[cursor] in " \t\n[":
            if tex[cursor] == "[":
                close = tex.find("]", cursor)
                cursor = close + 1 if close > 0 else cursor + 1
            else:
                cursor += 1
        body = balanced_group(tex, cursor) if skipped else None
        if body is None:
            continue
        inner = body[0]
        if match[1] in ("makecell", "thead", "shortstack"):
            inner = re.sub(r"\\\\(\[[^\]]*\])?", " ", inner)
        out.append(tex[position : match.start()])
        out.append(_unwrap_boxes(inner))
        position = body[1]
    out.append(tex[position:])
    return "".join(out)


_LONGTABLE = re.compile(r"\\begin\s*\{longtable\}(.*?)\\end\s*\{longtable\}", re.DOTALL)
_LONGTABLE_CAPTION = re.compile(r"\\caption\s*(?=\{)")
_HEAD_MARKS = re.compile(r"\\end(?:first)?(?:head|foot)\b|\\endlastfoot\b")


def _longtable_as_table(match: re.Match[str]) -> str:
    """A ``longtable`` as a ``table`` float holding a ``tabular``, its caption the float's (pandoc
    reads a caption row inside a longtable as a table of its own)."""
    body = _HEAD_MARKS.sub("", match[1])
    caption = ""
    found = _LONGTABLE_CAPTION.search(body)
    group = balanced_group(body, found.end()) if found else None
    if found and group:
        caption = f"\\caption{{{group[0]}}}"
        rest = re.sub(r"^\s*\\\\", "", body[group[1] :])
        body = body[: found.start()] + rest
    return f"\\begin{{table}}{caption}\\begin{{tabular}}{body}\\end{{tabular}}\\end{{table}}"


# rules and colours with their arguments: booktabs' \specialrule{width}{above}{below} and
# xcolor's \rowcolors[commands]{row}{odd}{even} take three
_RULES = re.compile(
    r"\\(?:specialrule|rowcolors)(?![A-Za-z])\s*(?:\[[^\]]*\])?(?:\s*\{[^{}]*\}){3}"
    r"|\\(?:cmidrule|cline|addlinespace|rowcolor|cellcolor)(?![A-Za-z])\s*(?:\([^)]*\))?"
    r"(?:\s*\[[^\]]*\])?(?:\s*\{[^{}]*\})?"
)


_NEWCOLUMNTYPE = re.compile(r"\\newcolumntype\s*\{[^}]*\}\s*(?:\[\s*\d\s*\])?\s*")


def _without_column_types(tex: str) -> str:
    """``\\newcolumntype`` definitions removed: every column becomes ``l``/``c``/``r`` here,
    and pandoc fails on the whole paper where one with an argument (``m{#1}``) is in the body."""
    return replace_commands(tex, _NEWCOLUMNTYPE, lambda _, __: "")


# ``\\multicolumn1{c}{…}``: TeX reads one digit as the argument, pandoc fails on the table
_UNBRACED_SPAN = re.compile(r"\\multi(column|row)\s*(\d)(?!\d)")


_TABLE_FLOAT_BODY = re.compile(r"\\begin\s*\{(table\*?)\}(.*?)\\end\s*\{\1\}", re.DOTALL)
_SUBTABLE = re.compile(
    r"\\begin\s*\{subtable\}(?:\s*\[[^\]]*\])?(?:\s*\{[^{}]*\})?(.*?)\\end\s*\{subtable\}",
    re.DOTALL,
)


def subtables_unwrapped(tex: str) -> str:
    """A table float's subtables as its tables, their captions after the float's own caption as
    ``(a) … (b) …``: pandoc gave every table the last subcaption and lost the float's caption
    (compressive's Table 1)."""

    def float_(match: re.Match[str]) -> str:
        captions: list[str] = []

        def unwrapped(sub: re.Match[str]) -> str:
            def taken(_command: re.Match[str], inside: str) -> str:
                captions.append(f"({chr(ord('a') + len(captions) % 26)}) {inside}")
                return ""

            return replace_commands(sub[1], CAPTION, taken)

        body = _SUBTABLE.sub(unwrapped, match[2])
        if not captions:
            return match[0]
        main = CAPTION.search(body)
        group = balanced_group(body, main.end()) if main else None
        if main is None or group is None:
            body = f"\n\n{' '.join(captions)}\n\n{body}"
        else:
            body = f"{body[: group[1] - 1]} {' '.join(captions)}{body[group[1] - 1 :]}"
        return f"\\begin{{{match[1]}}}{body}\\end{{{match[1]}}}"

    return _TABLE_FLOAT_BODY.sub(float_, tex)


def normalize_tables(tex: str) -> str:
    """Tables rewritten into the ``tabular`` pandoc reads (see the module docstring)."""
    tex = _UNBRACED_SPAN.sub(r"\\multi\1{\2}", subtables_unwrapped(tex))
    tex = _unwrap_boxes(_ENV_BOX.sub("", _RULES.sub(" ", _without_column_types(tex))))
    tex = _LONGTABLE.sub(_longtable_as_table, tex)
    out, position = [], 0
    for match in _TABLE_ENV.finditer(tex):
        out.append(tex[position : match.start()])
        position = match.end()
        env = "longtable" if match[2] == "longtabu" else "tabular"
        if match[1] == "end":
            out.append(f"\\end{{{env}}}")
            continue
        cursor = position
        if match[2] in ("tabularx", "tabular*", "tabulary"):  # the width argument
            width = balanced_group(tex, cursor)
            cursor = width[1] if width else cursor
        elif match[2] in ("tabu", "longtabu"):  # tabu: optional "to <width>" / "spread <dim>"
            spread = re.match(r"\s*(?:to|spread)\s*[^{]*", tex[cursor:])
            cursor += spread.end() if spread else 0
        spec = balanced_group(tex, cursor)
        if spec is None:
            out.append(match[0])
            continue
        out.append(f"\\begin{{{env}}}{{{column_spec(spec[0])}}}")
        position = spec[1]
    out.append(tex[position:])
    return _flatten_nested(_fix_specs("".join(out)))


_TABULAR_TOKEN = re.compile(
    r"\\begin\s*\{(tabular|longtable)\}(?:\s*\[[^\]]*\])?\s*|\\end\s*\{(tabular|longtable)\}"
)


def _flatten_nested(tex: str) -> str:
    """A ``tabular`` inside a table cell (the stacked-lines idiom) replaced by its text, its rows
    joined by spaces: pandoc's reader stops at nested tables."""
    out, position, depth = [], 0, 0
    for match in _TABULAR_TOKEN.finditer(tex):
        if match.start() < position:
            continue
        if match[1]:
            depth += 1
            if depth == 1:
                continue
            spec = balanced_group(tex, match.end())
            out.append(tex[position : match.start()])
            position = spec[1] if spec else match.end()
        else:
            depth = max(depth - 1, 0)
            if depth == 0:
                continue
            inner = tex[position : match.start()]
            out.append(re.sub(r"\\\\(?:\[[^\]]*\])?", " ", inner))
            position = match.end()
    out.append(tex[position:])
    return "".join(out)


_OUTER_TABLE = re.compile(r"\\begin\s*\{(tabular|longtable)\}.*?\\end\s*\{\1\}", re.DOTALL)


def tables_as_markers(tex: str) -> str:
    """Every table replaced by a marker paragraph holding its LaTeX in hex, for
    ``pandoc.render_table_fallbacks``: the second try when pandoc cannot read the paper."""
    return _OUTER_TABLE.sub(lambda m: f"\n\nVLPIPETABLE{m[0].encode().hex()}\n\n", tex)


def _fix_specs(tex: str) -> str:
    """``tabular``/``longtable`` column specifications reduced by :func:`column_spec`."""
    return replace_commands(tex, _TABULAR, lambda begin, spec: f"{begin[0]}{{{column_spec(spec)}}}")


def cells_as_text(table: str) -> list[list[str]]:
    """The cells of a LaTeX table environment as plain text, row by row (formatting commands and
    rules dropped): the fallback when pandoc cannot read the table."""
    begin = _TABULAR.search(table)
    body = table
    if begin:
        spec = balanced_group(table, begin.end())
        if spec and begin[1] in _WIDTH_FIRST:  # ``{\linewidth}{lXr}``: the width, then the spec
            spec = balanced_group(table, spec[1]) or spec
        body = table[spec[1] if spec else begin.end() :]
        end = re.search(rf"\\end\s*\{{{re.escape(begin[1])}\}}", body)
        body = body[: end.start()] if end else body  # a float's caption after it is no row
    body = re.sub(r"(?:\\end\s*\{[^}]*\}\s*)+$", "", body.strip())
    body = _MULTI.sub("", _CELL_COMMAND.sub(" ", body))
    rows = []
    for row in re.split(r"\\\\(?:\[[^\]]*\])?|\\tabularnewline", body):
        cells = [_plain(cell) for cell in re.split(r"(?<!\\)&", row)]
        if any(cells):
            rows.append(cells)
    return rows


# a picture in a cell (an icon, a logo) shows no text
_CELL_PICTURE = re.compile(r"\\includegraphics\*?\s*(?:\[(?:[^\[\]]|\[[^\]]*\])*\])?\s*\{[^}]*\}")


def _plain(cell: str) -> str:
    """A cell's text, its formulas kept as markdown math (``$\\pi_i$``, ``|`` as ``\\vert``: a
    pipe would end the cell)."""
    out, position = [], 0
    for math in _CELL_MATH.finditer(cell):
        formula = " ".join((math[1] if math[1] is not None else math[2]).split())
        out += [
            _cell_text(cell[position : math.start()]),
            "$" + formula.replace("|", "\\vert ") + "$",
        ]
        position = math.end()
    return " ".join(" ".join([*out, _cell_text(cell[position:])]).split())


_CELL_MATH = re.compile(r"(?<!\\)\$([^$]+)(?<!\\)\$|\\\((.+?)\\\)")


def _cell_text(text: str) -> str:
    text = _CELL_PICTURE.sub(" ", text)
    text = re.sub(
        r"\\(?:textbf|textit|emph|texttt|textsc|mathrm|text|underline)\s*\{([^{}]*)\}", r"\1", text
    )
    text = re.sub(r"\\[A-Za-z@]+\*?", " ", text)
    return text.replace("{", " ").replace("}", " ").replace("\\%", "%")


def table_caption(table: str) -> str | None:
    """The text of a raw table float's ``\\caption``, or None."""
    found = CAPTION.search(table)
    group = balanced_group(table, found.end()) if found else None
    return _plain(group[0]) if group else None
