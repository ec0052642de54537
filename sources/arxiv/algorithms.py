"""Algorithms as the page prints them: algorithmicx's ``algpseudocode``, ``algorithmic`` and
``algorithm2e`` typeset one statement a line, with their keywords (**for** … **do**, **end
if**), line numbers and comments; pandoc knows none of their commands and ran an algorithm
into one paragraph of its formulas. Each algorithm float becomes its lines, as a figure's own
text, and its caption as printed (``Algorithm 3: …``, numbered as the compile numbered it)."""

from __future__ import annotations

import re

from vlpipe.sources.arxiv.align import FIGURE_TEXT
from vlpipe.sources.arxiv.compiled import Compiled
from vlpipe.sources.arxiv.macros import balanced_group, replace_commands
from vlpipe.sources.arxiv.tables import CAPTION, FLOAT_PLACEMENT, LABEL

# algpseudocode's and algorithmic's statements: what each prints (``#1``, ``#2``: its
# arguments), and whether it takes a line number
_STATEMENTS: dict[str, tuple[str, bool]] = {
    "State": ("", True),
    "Statex": ("", False),
    "Require": ("\\algorithmicrequire", False),
    "Ensure": ("\\algorithmicensure", False),
    "If": ("\\algorithmicif{} #1 \\algorithmicthen", True),
    "ElsIf": ("\\algorithmicelse{} \\algorithmicif{} #1 \\algorithmicthen", True),
    "Else": ("\\algorithmicelse", True),
    "For": ("\\algorithmicfor{} #1 \\algorithmicdo", True),
    "ForAll": ("\\algorithmicforall{} #1 \\algorithmicdo", True),
    "While": ("\\algorithmicwhile{} #1 \\algorithmicdo", True),
    "Repeat": ("\\algorithmicrepeat", True),
    "Until": ("\\algorithmicuntil{} #1", True),
    "Loop": ("\\algorithmicloop", True),
    "Procedure": ("\\algorithmicprocedure{} \\textsc{#1}(#2)", True),
    "Function": ("\\algorithmicfunction{} \\textsc{#1}(#2)", True),
    # algorithmic's, in capitals
    "STATE": ("", True),
    "REQUIRE": ("\\algorithmicrequire", False),
    "ENSURE": ("\\algorithmicensure", False),
    "IF": ("\\algorithmicif{} #1 \\algorithmicthen", True),
    "ELSIF": ("\\algorithmicelse{} \\algorithmicif{} #1 \\algorithmicthen", True),
    "ELSE": ("\\algorithmicelse", True),
    "FOR": ("\\algorithmicfor{} #1 \\algorithmicdo", True),
    "FORALL": ("\\algorithmicforall{} #1 \\algorithmicdo", True),
    "WHILE": ("\\algorithmicwhile{} #1 \\algorithmicdo", True),
    "REPEAT": ("\\algorithmicrepeat", True),
    "UNTIL": ("\\algorithmicuntil{} #1", True),
    "LOOP": ("\\algorithmicloop", True),
    "RETURN": ("\\algorithmicreturn", True),
    "PRINT": ("\\algorithmicprint", True),
}
# a block's end (``\\EndFor`` prints "end for"), which algpseudocode's ``noend`` leaves out
_ENDS = {
    **{f"End{block}": block.lower() for block in ("If", "For", "While", "Loop", "Procedure")},
    "EndFunction": "function",
    **{f"END{block}": block.lower() for block in ("IF", "FOR", "WHILE", "LOOP")},
}
_STATEMENT = re.compile(
    rf"\\({'|'.join(sorted({*_STATEMENTS, *_ENDS}, key=len, reverse=True))})(?![A-Za-z])\s*"
)
# the keywords as algorithmicx and algorithmic print them, which a paper may renew
# (``\\algrenewcommand\\algorithmicrequire{\\textbf{Input:}}``)
KEYWORDS = {
    "require": "\\textbf{Require:}",
    "ensure": "\\textbf{Ensure:}",
    "end": "\\textbf{end}",
    "if": "\\textbf{if}",
    "then": "\\textbf{then}",
    "else": "\\textbf{else}",
    "for": "\\textbf{for}",
    "forall": "\\textbf{for all}",
    "do": "\\textbf{do}",
    "while": "\\textbf{while}",
    "repeat": "\\textbf{repeat}",
    "until": "\\textbf{until}",
    "loop": "\\textbf{loop}",
    "return": "\\textbf{return}",
    "procedure": "\\textbf{procedure}",
    "function": "\\textbf{function}",
    "print": "\\textbf{print}",
    "true": "\\textbf{true}",
    "false": "\\textbf{false}",
    "and": "\\textbf{and}",
    "or": "\\textbf{or}",
    "not": "\\textbf{not}",
    "to": "\\textbf{to}",
}
_RENEWED_KEYWORD = re.compile(r"\\(?:alg)?renewcommand\*?\s*\{?\\algorithmic([a-z]+)\}?\s*(?=\{)")
_KEYWORD = re.compile(r"\\algorithmic([a-z]+)(?![A-Za-z])(?:\s*\{\})?")
# inline commands, algpseudocode's and algorithmic's: their argument counts and what they print
_INLINE = [
    (re.compile(rf"\\{name}(?![A-Za-z])\s*"), count, form)
    for name, count, form in (
        ("Return", 0, "\\algorithmicreturn"),
        ("Call", 2, "\\textsc{#1}(#2)"),
        ("Comment", 1, "$\\triangleright$ #1"),
        ("COMMENT", 1, "$\\triangleright$ #1"),
        ("TRUE", 0, "\\algorithmictrue"),
        ("FALSE", 0, "\\algorithmicfalse"),
        ("AND", 0, "\\algorithmicand"),
        ("OR", 0, "\\algorithmicor"),
        ("NOT", 0, "\\algorithmicnot"),
        ("TO", 0, "\\algorithmicto"),
    )
]
_ALGORITHMIC = re.compile(
    r"\\begin\s*\{algorithmic\}\s*(?:\[(\d*)\])?(.*?)\\end\s*\{algorithmic\}", re.DOTALL
)
_ALGORITHM = re.compile(
    r"\\begin\s*\{(algorithm2e|algorithm)(\*?)\}(.*?)\\end\s*\{\1\2\}", re.DOTALL
)
_NOEND = re.compile(r"\\usepackage\s*\[[^\]]*\bnoend\b[^\]]*\]\s*\{algpseudocode\}")
_ALGORITHM2E = re.compile(r"\\usepackage\s*(?:\[([^\]]*)\])?\s*\{algorithm2e\}")


_FLOAT_NAME = re.compile(
    r"\\floatname\s*\{algorithm\}\s*\{([^{}\\]+)\}|\\SetAlgorithmName\s*\{([^{}\\]+)\}"
)


def _float_name(sources: str) -> str:
    """What the caption calls an algorithm: the paper's or its class's last renaming
    (``\\floatname{algorithm}{算法}``, algorithm2e's ``\\SetAlgorithmName``), else
    ``Algorithm``."""
    names = [found[1] or found[2] for found in _FLOAT_NAME.finditer(sources)]
    return names[-1].strip() if names else "Algorithm"


def keywords(sources: str) -> dict[str, str]:
    """The keywords as the paper prints them: the packages', with the paper's renewals."""
    printed = dict(KEYWORDS)
    for renewal in _RENEWED_KEYWORD.finditer(sources):
        body = balanced_group(sources, renewal.end())
        if body is not None:
            printed[renewal[1]] = body[0]
    return printed


def algorithmic_lines(body: str, every: int, noend: bool, printed: dict[str, str]) -> list[str]:
    """An ``algorithmic`` environment's lines as printed: a statement each, its line number
    (``3:``) on every ``every``-th numbered line when ``every`` is not 0."""
    lines, numbered = [], 0
    statements = list(_STATEMENT.finditer(body))
    for index, statement in enumerate(statements):
        end = statements[index + 1].start() if index + 1 < len(statements) else len(body)
        command, cursor = statement[1], statement.end()
        if command in _ENDS:
            if noend:
                continue
            text, counts = f"\\algorithmicend{{}} \\algorithmic{_ENDS[command]}", True
        else:
            text, counts = _STATEMENTS[command]
            for number in range(1, 3 if "#2" in text else 2 if "#1" in text else 1):
                argument = balanced_group(body, cursor)
                value, cursor = argument if argument is not None else ("", cursor)
                text = text.replace(f"#{number}", value)
        text = f"{text} {body[cursor:end].strip()}".strip()
        if counts:
            numbered += 1
            if every and numbered % every == 0:
                text = f"{numbered}: {text}"
        lines.append(_inline_commands(text, printed))
    return [line for line in lines if line]


def _inline_commands(line: str, printed: dict[str, str]) -> str:
    for pattern, count, form in _INLINE:
        line = _with_arguments(line, pattern, count, form)
    return _KEYWORD.sub(lambda match: printed.get(match[1], match[1]), line)


def _with_arguments(text: str, command: re.Pattern[str], count: int, form: str) -> str:
    """Each ``command`` in ``text`` with its ``count`` braced arguments as ``form``."""
    out, position = [], 0
    for match in command.finditer(text):
        if match.start() < position:
            continue
        cursor, value = match.end(), form
        for number in range(1, count + 1):
            argument = balanced_group(text, cursor)
            if argument is None:
                break
            value, cursor = value.replace(f"#{number}", argument[0]), argument[1]
        out += [text[position : match.start()], value + " "]
        position = cursor
    return "".join(out) + text[position:]


# algorithm2e: a block's keywords around its condition and body, and whether it ends with
# "end" (the ``u`` forms are followed by an else: no end)
_BLOCKS_2E: dict[str, tuple[str, str, bool]] = {
    "For": ("for", "do", True),
    "ForEach": ("foreach", "do", True),
    "ForAll": ("forall", "do", True),
    "While": ("while", "do", True),
    "If": ("if", "then", True),
    "uIf": ("if", "then", False),
    "ElseIf": ("else if", "then", True),
    "uElseIf": ("else if", "then", False),
    "lIf": ("if", "then", False),
    "lForEach": ("foreach", "do", False),
    "lFor": ("for", "do", False),
    "lWhile": ("while", "do", False),
}
_INPUTS_2E = {"KwIn": "Input", "KwOut": "Output", "KwData": "Data", "KwResult": "Result"}
# commands that only lay the algorithm out, with their argument counts
_LAYOUT_2E = {
    **dict.fromkeys(
        re.findall(
            r"\w+",
            "SetAlgoLined SetAlgoNoLine SetAlgoVlined DontPrintSemicolon PrintSemicolon "
            "LinesNumbered LinesNotNumbered SetAlgoNoEnd BlankLine Indp Indm nl centering small "
            "footnotesize scriptsize normalsize",
        ),
        0,
    ),
    **dict.fromkeys(
        re.findall(
            r"\w+",
            "IncMargin DecMargin SetKwSty SetArgSty SetCommentSty SetFuncSty SetNlSty SetAlFnt "
            "SetAlCapFnt SetAlCapNameFnt SetAlgoCaptionSeparator SetInd SetDataSty "
            "SetProcNameSty SetProcArgSty",
        ),
        1,
    ),
    "SetKwComment": 3,
}
_TOKEN_2E = re.compile(
    r"(?P<math>\$\$.*?\$\$|\$(?:\\\$|[^$])*\$)|(?P<end>\\;|\\\\)"
    r"|\\(?P<name>[A-Za-z]+)(?P<star>\*?)(?:\s*\[[^\]]*\])?",
    re.DOTALL,
)
# the commands that define keywords, with their argument counts
_DEFINES_2E = {
    "SetKwInOut": 2,
    "SetKwInput": 2,
    "SetKwFunction": 2,
    "SetKw": 2,
    "SetKwData": 2,
    "SetKwProg": 4,
    "SetKwBlock": 3,
    "SetKwFor": 4,
    "SetKwRepeat": 3,
}
_DEFINITION_2E = re.compile(rf"\\({'|'.join(_DEFINES_2E)})(?![A-Za-z])\s*(?=\{{)")


def _definitions_2e(tex: str) -> dict[str, tuple[str, tuple[str, ...]]]:
    """The keywords a paper defines for algorithm2e (``\\SetKwFunction{Send}{Send}``, the name
    given without its backslash): each command's kind and its printed parts."""
    found = {}
    for definition in _DEFINITION_2E.finditer(tex):
        parts, cursor = [], definition.end()
        count = _DEFINES_2E[definition[1]]
        for _ in range(count):
            group = balanced_group(tex, cursor)
            if group is None:
                break
            parts.append(group[0].strip())
            cursor = group[1]
        if len(parts) == count and re.fullmatch(r"\\?[A-Za-z]+", parts[0]):
            found[parts[0].lstrip("\\")] = (definition[1], tuple(parts[1:]))
    return found


def algorithm2e_lines(
    body: str, semicolons: bool, numbered: bool, defined: dict[str, tuple[str, tuple[str, ...]]]
) -> list[str]:
    """An algorithm2e algorithm's lines as printed: a statement each (``\\;`` ends one, with a
    semicolon unless ``\\DontPrintSemicolon``), blocks opened by their keywords and closed by
    **end**, inputs as ``Input: …``, comments after ``//``; numbered ``1``, ``2`` … when the
    algorithm's lines are."""
    lines, number = [], 0
    for line, counts in _lines_2e(body, semicolons, defined):
        number += counts
        lines.append(f"{number} {line}" if numbered and counts else line)
    return lines


def _bold(word: str) -> str:
    return f"\\textbf{{{word}}}" if word.strip() else ""


def _lines_2e(
    body: str, semicolons: bool, defined: dict[str, tuple[str, tuple[str, ...]]]
) -> list[tuple[str, bool]]:
    """The lines, each with whether it takes a number (an input's does not)."""
    lines: list[tuple[str, bool]] = []
    current = ""
    position = 0

    def argument() -> str:
        nonlocal position
        group = balanced_group(body, position)
        if group is None:
            return ""
        position = group[1]
        return group[0]

    def inline(text: str) -> str:  # a condition's keywords (``\\KwTo``) and functions
        return " ".join(line for line, _ in _lines_2e(text, False, defined))

    def flush() -> None:
        nonlocal current
        if current.strip():
            lines.append((" ".join(current.split()), True))
        current = ""

    def block(header: str, inner: str, end: str) -> None:
        flush()
        lines.append((header, True))
        lines.extend(_lines_2e(inner, semicolons, defined))
        if end:
            lines.append((end, True))

    while True:
        token = _TOKEN_2E.search(body, position)
        if token is None:
            current += body[position:]
            break
        current += body[position : token.start()]
        position = token.end()
        name = token["name"]
        if token["math"]:
            current += token["math"]
        elif token["end"]:
            current += ";" if token["end"] == "\\;" and semicolons else ""
            flush()
        elif name in _BLOCKS_2E:
            opening, middle, ends = _BLOCKS_2E[name]
            condition = inline(argument())
            inner = argument()
            header = f"{_bold(opening)} {condition} {_bold(middle)}"
            block(header, inner, _bold("end") if ends else "")
        elif name in ("Else", "uElse", "lElse"):
            block(_bold("else"), argument(), _bold("end") if name == "Else" else "")
        elif name == "eIf":
            condition, then, otherwise = inline(argument()), argument(), argument()
            block(f"{_bold('if')} {condition} {_bold('then')}", then, "")
            block(_bold("else"), otherwise, _bold("end"))
        elif name == "Repeat":
            condition, inner = inline(argument()), argument()
            block(_bold("repeat"), inner, f"{_bold('until')} {condition}")
        elif name in _INPUTS_2E or defined.get(name, ("",))[0] in ("SetKwInOut", "SetKwInput"):
            label = _INPUTS_2E.get(name) or defined[name][1][0]
            flush()
            lines.append((f"{_bold(label + ':')} {argument()}", False))
        elif name in ("KwRet", "Return"):
            current += f"{_bold('return')} {argument()}"
        elif name == "KwTo":
            current += f" {_bold('to')} "
        elif name in ("tcp", "tcc"):
            comment = argument()
            comment = f"// {comment}" if name == "tcp" else f"/* {comment} */"
            if token["star"] and not current.strip() and lines:  # beside the line before
                lines[-1] = (f"{lines[-1][0]} {comment}", lines[-1][1])
            elif current.strip():  # beside the statement
                current += f" {comment}"
                flush()
            else:  # a line of its own, which takes no number
                lines.append((comment, False))
        elif name in _LAYOUT_2E:
            for _ in range(_LAYOUT_2E[name]):
                argument()
        elif name in defined:
            kind, parts = defined[name]
            if kind == "SetKwFunction":
                current += f"\\textsc{{{parts[0]}}}({argument()})"
            elif kind == "SetKwProg":
                header, inner = inline(argument()), argument()
                block(f"{_bold(parts[0])} {header}{_bold(parts[1])}", inner, _bold(parts[2]))
            elif kind == "SetKwBlock":
                block(_bold(parts[0]), argument(), _bold(parts[1]))
            elif kind == "SetKwFor":  # \\SetKwFor{\\Loop}{loop}{}{end loop}
                condition, inner = inline(argument()), argument()
                block(f"{_bold(parts[0])} {condition} {_bold(parts[1])}", inner, _bold(parts[2]))
            elif kind == "SetKwRepeat":
                condition, inner = inline(argument()), argument()
                block(_bold(parts[0]), inner, f"{_bold(parts[1])} {condition}")
            else:  # SetKw, SetKwData: a word
                current += _bold(parts[0]) if kind == "SetKw" else parts[0]
        elif name in _DEFINES_2E:
            for _ in range(_DEFINES_2E[name]):
                argument()
        else:
            current += token[0]
    flush()
    return lines


def algorithms_as_printed(tex: str, compiled: Compiled, sources: str) -> str:
    """Each algorithm float as its lines (a figure's own text) and its caption as printed,
    ``Algorithm N: …``, numbered as the compile numbered it (its label's number, else the
    compile's list of algorithms in order, else counted); ``algorithmic`` environments
    outside a float as their lines."""
    printed = keywords(sources)
    noend = bool(_NOEND.search(sources))
    numbers = [
        text.split()[0]
        for lines in compiled.contents.values()
        for level, text, _page in lines
        if level in ("algorithm", "algocf") and text.split()
    ]
    name = _float_name(sources)
    count = 0

    package = _ALGORITHM2E.search(sources)
    options = set((package[1] or "").replace(" ", "").split(",")) if package else set()
    defined = _definitions_2e(sources)  # (the paper's text too: a body's own definitions)
    preamble = sources.split("\\begin{document}", 1)[0]

    def lines_of(body: str) -> list[str]:
        if package is None or _ALGORITHMIC.search(body):
            return [
                line
                for match in _ALGORITHMIC.finditer(body)
                for line in algorithmic_lines(match[2], int(match[1] or 0), noend, printed)
            ]
        semicolons = "\\DontPrintSemicolon" not in body + preamble
        numbered = "linesnumbered" in options or "\\LinesNumbered" in body
        return algorithm2e_lines(body, semicolons, numbered, defined)

    def floated(match: re.Match[str]) -> str:
        nonlocal count
        body = FLOAT_PLACEMENT.sub("", match[3])
        captions: list[str] = []
        body = replace_commands(body, CAPTION, lambda _c, inside: captions.append(inside) or "")
        label = LABEL.search(body)
        lines = lines_of(body)
        if not lines:
            return match[0]
        text = f"\\begin{{{FIGURE_TEXT}}}\n" + "\n\n".join(lines) + f"\n\\end{{{FIGURE_TEXT}}}"
        if not captions:
            return f"\n\n{text}\n\n"
        count += 1
        number = compiled.labels.get(label[1]) if label else None
        number = number or (numbers[count - 1] if count <= len(numbers) else str(count))
        return f"\n\n{text}\n\n{name} {number}: {captions[0]}\n\n"

    tex = _ALGORITHM.sub(floated, tex)
    return _ALGORITHMIC.sub(lambda match: "\n\n".join(["", *lines_of(match[0]), ""]), tex)
