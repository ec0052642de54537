"""The pure notebook functions: parsing, IPython syntax, the line rule, candidates and context."""

from __future__ import annotations

import json
import random

import pytest

from tests.jupyter.helpers import NOTEBOOKS, code_cell, dumps, image_output, notebook, png_bytes
from vlpipe.sources.jupyter.notebook import (
    _MAYBE_IPYTHON,
    InvalidJSON,
    InvalidNotebook,
    candidates,
    parse_notebook,
    python_source,
    source_lines,
    without_ipython,
)


def test_real_v4_notebook_yields_the_plot_cell_with_its_preceding_code() -> None:
    parsed = parse_notebook((NOTEBOOKS / "damped_sine.ipynb").read_bytes())
    found = list(candidates(parsed, "all", 16_000))
    assert [c.cell_index for c in found] == [3]
    (plot,) = found
    assert plot.context_cells == 2
    assert "%matplotlib" not in plot.code
    assert plot.code.startswith(
        "import numpy as np\nimport matplotlib.pyplot as plt\n\nt = np.linspace"
    )
    assert plot.code.endswith("ax.legend()\n")
    assert plot.images[0].mime == "image/png"


def test_v3_notebook_reads_like_its_v4_twin() -> None:
    v3 = list(
        candidates(parse_notebook((NOTEBOOKS / "damped_sine_v3.ipynb").read_bytes()), "all", 16_000)
    )
    v4 = list(
        candidates(parse_notebook((NOTEBOOKS / "damped_sine.ipynb").read_bytes()), "all", 16_000)
    )
    assert [(c.cell_index, c.code, c.images) for c in v3] == [
        (c.cell_index, c.code, c.images) for c in v4
    ]


def test_markdown_attachments_and_non_code_outputs_never_count() -> None:
    parsed = parse_notebook((NOTEBOOKS / "markdown_attachment.ipynb").read_bytes())
    assert list(candidates(parsed, "all", 16_000)) == []
    raw = notebook(
        {"cell_type": "raw", "metadata": {}, "source": "x", "outputs": [image_output(png_bytes())]}
    )
    assert list(candidates(parse_notebook(dumps(raw)), "all", 16_000)) == []


def test_stream_error_and_html_outputs_are_not_images() -> None:
    outputs = [
        {"output_type": "stream", "name": "stdout", "text": "iVBORw0KGgo="},
        {"output_type": "error", "ename": "E", "evalue": "", "traceback": []},
        {
            "output_type": "display_data",
            "data": {"text/html": "<img src='data:image/png;base64,AAAA'>"},
            "metadata": {},
        },
    ]
    parsed = parse_notebook(dumps(notebook(code_cell("print(1)", outputs))))
    assert parsed.code_cells[0].images == ()


def test_one_output_bundle_is_one_image_png_preferred() -> None:
    bundle = image_output(png_bytes())
    bundle["data"]["image/svg+xml"] = "<svg/>"
    bundle["data"]["image/jpeg"] = "/9j/"
    parsed = parse_notebook(dumps(notebook(code_cell("plot()", [bundle]))))
    assert [image.mime for image in parsed.code_cells[0].images] == ["image/png"]


def test_multiline_list_sources_and_base64_lines_are_joined() -> None:
    encoded = json.loads(json.dumps(image_output(png_bytes())))
    text = encoded["data"]["image/png"]
    encoded["data"]["image/png"] = [text[i : i + 76] + "\n" for i in range(0, len(text), 76)]
    cell = code_cell(["a = 1\n", "b = 2"], [encoded])
    parsed = parse_notebook(dumps(notebook(cell)))
    assert parsed.code_cells[0].source == "a = 1\nb = 2"
    assert "".join(parsed.code_cells[0].images[0].data.split()) == text


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("%matplotlib inline\nimport numpy as np", "import numpy as np"),
        ("!pip install seaborn\nx = 1", "x = 1"),
        ("files = !ls data\nx = 1", "x = 1"),
        ("  %time fit()\ny = 2", "y = 2"),
        ("df.head?\ndf.describe()", "df.describe()"),
        ("%%time\nmodel.fit(x)\nplt.plot(x)", "model.fit(x)\nplt.plot(x)"),
        ("%%bash\nls -la", None),
        ("\n%%html\n<b>hi</b>", None),
        ("%%writefile a.py\nprint(1)", None),
        ("x = 7 % 3\ny = x if x else 1", "x = 7 % 3\ny = x if x else 1"),
    ],
)
def test_ipython_syntax_policy(source: str, expected: str | None) -> None:
    assert python_source(source) == expected


def test_non_python_cell_magic_is_neither_producer_nor_context() -> None:
    nb = notebook(
        code_cell("%%bash\necho hi", [image_output(png_bytes())]),
        code_cell("%%sql\nSELECT 1"),
        code_cell("", []),
        code_cell("a = 1", []),
        code_cell("plot(a)", [image_output(png_bytes())]),
    )
    (only,) = candidates(parse_notebook(dumps(nb)), "all", 16_000)
    assert only.cell_index == 4
    assert only.code == "a = 1\n\nplot(a)\n"


def test_context_count_and_character_budget_cut_oldest_cells_first() -> None:
    nb = notebook(
        code_cell("first = 1"),
        code_cell("second = 2"),
        code_cell("third = 3"),
        code_cell("plot()", [image_output(png_bytes())]),
    )
    parsed = parse_notebook(dumps(nb))
    assert next(candidates(parsed, 0, 16_000)).code == "plot()\n"
    assert next(candidates(parsed, 2, 16_000)).code == "second = 2\n\nthird = 3\n\nplot()\n"
    exact = len("third = 3\n\nplot()\n")
    assert next(candidates(parsed, "all", exact)).code == "third = 3\n\nplot()\n"
    assert next(candidates(parsed, "all", exact - 1)).code == "plot()\n"  # never over budget
    for budget in range(len("plot()\n"), 60):
        assert len(next(candidates(parsed, "all", budget)).code) <= budget


def test_source_lines_split_only_where_python_ends_a_line() -> None:
    assert source_lines("a = 1\r\nb = '\x0c'\x0c\rc\x1c = 3\nd") == [
        "a = 1",
        "b = '\x0c'\x0c",
        "c\x1c = 3",
        "d",
    ]
    # a form feed is whitespace to Python, not a line break: the magic stays one line
    assert python_source("%matplotlib inline\x0c\nx = 1") == "x = 1"
    assert python_source("x = 1\x0c y = 2\n!ls") == "x = 1\x0c y = 2"


IPYTHON_OR_NOT = (
    "import numpy as np", "x = 7 % 3", "%matplotlib inline", "  !ls", "files = !ls", "df.head?",
    "??np.sum", "%%time", "y = a != b", "print('100%')", "", "   ", "\x0c", "z = {'a': 1}",
    "if x:", "    pass", "a, b = %who_ls", "s = '?'", "q = x ? y",
)  # fmt: skip


def test_cells_without_ipython_lines_are_kept_whole_as_line_by_line_would() -> None:
    rng = random.Random(11)
    plain = 0
    for _ in range(3000):
        lines = rng.choices(IPYTHON_OR_NOT, k=rng.randrange(1, 10))
        source = rng.choice(["\n", "\r\n"]).join(lines) + rng.choice(["", "\n"])
        assert python_source(source) == without_ipython(source), source
        plain += "\r" not in source and not _MAYBE_IPYTHON.search(source)
    assert plain > 300


def test_kernel_language_is_read_from_metadata() -> None:
    assert parse_notebook(dumps(notebook(language="R"))).language == "r"
    bare = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 2}
    assert parse_notebook(dumps(bare)).language == "python"


@pytest.mark.parametrize(
    ("raw", "error", "message"),
    [
        (b'{"cells": [', InvalidJSON, "not valid JSON"),
        (b"\xff\xfe{\x00}", InvalidJSON, "not valid JSON"),
        (b"[1, 2]", InvalidNotebook, "top level is a JSON list"),
        (b'{"nbformat": 5, "cells": []}', InvalidNotebook, "unsupported nbformat 5"),
        (b'{"nbformat": 4}', InvalidNotebook, "'cells' is missing"),
        (b'{"nbformat": 4, "cells": [7]}', InvalidNotebook, "cell 0 is a JSON int"),
        (
            b'{"nbformat": 4, "cells": [{"cell_type": "code", "source": 5}]}',
            InvalidNotebook,
            "source",
        ),
        (
            b'{"nbformat": 4, "cells": [{"cell_type": "code", "source": "", "outputs": {}}]}',
            InvalidNotebook,
            "outputs",
        ),
        (b'{"nbformat": 3}', InvalidNotebook, "worksheets"),
        (b"[" * 5000 + b"]" * 5000, InvalidJSON, "not valid JSON"),
    ],
)
def test_malformed_documents_raise_clear_errors(
    raw: bytes, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        parse_notebook(raw)


def test_utf8_bom_is_accepted() -> None:
    assert parse_notebook(b"\xef\xbb\xbf" + dumps(notebook())).nbformat == 4
