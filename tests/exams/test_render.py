"""Exam questions through real Chromium and KaTeX: typeset math paired with its LaTeX source,
what tesseract reads on the page, hostile rows, and a build's ledger."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from rich.console import Console

from tests.ebooks.ocr import ocr
from tests.exams.questions import questions
from vlpipe.manifests import ledger
from vlpipe.pipelines.build import run_build
from vlpipe.recipe import load_recipe
from vlpipe.schema import Document, Outcome
from vlpipe.sources.exams import COLUMNS, ExamsRecipe
from vlpipe.sources.exams import step as exams
from vlpipe.sources.exams.question import Formula, split_math
from vlpipe.sources.registry import DocumentStep, StepContext

EXAMS: ExamsRecipe = load_recipe("exams")  # type: ignore[assignment]
TEMPLATES = {t.name: t for t in EXAMS.exams.templates}


def only(name: str) -> ExamsRecipe:
    options = EXAMS.exams.model_copy(update={"templates": (TEMPLATES[name],)})
    return EXAMS.model_copy(update={"exams": options})


@pytest.fixture(scope="module")
def step() -> Iterator[DocumentStep]:
    with exams.open_step(EXAMS, StepContext(Path("unused"))) as opened:
        yield opened


def run(step: DocumentStep, row: dict[str, Any], recipe: ExamsRecipe = EXAMS) -> Outcome:
    content = {c: row.get(c) for c in COLUMNS}
    origin = {k: v for k, v in row.items() if k not in COLUMNS}
    return step(Document(str(row.get("id", "q")), content, origin), recipe)


def meta(files: dict[str, bytes]) -> dict[str, Any]:
    return orjson.loads(files["json"])


def formulas_of(row: dict[str, Any]) -> list[str]:
    parts = [row["question"], *(row.get("options") or []), row.get("answer") or ""]
    parts.append(row.get("explanation") or "")
    if isinstance(row.get("options"), dict):
        parts = [row["question"], *row["options"].values(), row.get("answer") or ""]
        parts.append(row.get("explanation") or "")
    return [p.source for part in parts for p in split_math(part) if isinstance(p, Formula)]


def test_every_formula_is_paired_with_its_latex_exactly_as_written(step: DocumentStep) -> None:
    for row in questions():
        outcome = run(step, row)
        assert outcome.status == "kept", (row["id"], outcome)
        text = "\n\n".join(s.files["txt"].decode() for s in outcome.samples)
        info = meta(outcome.samples[0].files)
        expected = [f.replace("&lt;", "<") for f in formulas_of(row)]
        assert info["question"]["formulas"] == expected
        position = 0
        for formula in expected:  # each one, in order, character for character
            position = text.index(formula, position) + len(formula)
        assert info["template"]["name"] == EXAMS.exams.draw(row["id"], info["lang"]).name
        assert info["task"] == "ocr_page" and info["target"] == "txt"
        assert info["origin"]["title"] == row["title"]


def test_the_page_shows_typeset_math_where_the_text_has_latex(step: DocumentStep) -> None:
    row = next(r for r in questions() if r["id"] == "en-choice-5")
    [page] = run(step, row, only("default")).samples
    text = page.files["txt"].decode()
    assert text.startswith("5. If $3x - 7 = 11$, what is the value of $x$?\n\nA. 4\nB. 6\n")
    read = ocr(page.files["png"], None, "eng")
    # typeset (tesseract reads the italic x as it likes), not "$3x - 7 = 11$"
    assert re.search(r"3\S?\s*[-—–]\s*7\s*=\s*11", read), read
    assert "$" not in read and "frac" not in read and "\\" not in read
    for words in ("what is the value of", "Answer: B", "Add 7 to both sides"):
        assert words in read


def test_a_long_question_is_cut_into_pages_with_its_header(step: DocumentStep) -> None:
    long_row = {
        "id": "long",
        "title": "期末测试",
        "question": "\n\n".join(f"第{n}问：求 $x_{{{n}}}^2+{n}x$ 的最小值。" for n in range(60)),
    }
    outcome = run(step, long_row, only("zh_song"))
    assert len(outcome.samples) >= 2
    texts = [s.files["txt"].decode() for s in outcome.samples]
    assert all(t.startswith("期末测试\n\n") for t in texts)
    assert [t.rsplit("\n\n", 1)[1] for t in texts] == [
        f"第 {n} 页" for n in range(1, len(texts) + 1)
    ]
    found = [int(n) for t in texts for n in re.findall(r"第(\d+)问", t)]
    assert found == list(range(60))


HOSTILE: dict[str, tuple[dict[str, Any], str]] = {
    "script": (
        {
            "question": '<p onclick="steal()">Compute $2+2$.</p>'
            "<script>document.body.innerHTML='HACKED'</script>",
            "format": "html",
        },
        "kept",
    ),
    "href": ({"question": r"Click $\href{javascript:alert(1)}{here}$ now."}, "MathError"),
    "parse": ({"question": r"Broken $\frac{1}{$ formula."}, "MathError"),
    "macro_bomb": ({"question": r"Loop $\def\a{\a\a}\a$ forever."}, "MathError"),
    "wide": (
        {"question": "Sum $" + "+".join(f"x_{{{n}}}" for n in range(120)) + "$."},
        "MathError",
    ),
    "huge": ({"question": "$" + "x+" * 3000 + "x$"}, "formula_too_long"),
    "broken_html": (
        {
            "question": "<p>Compute <b>$x+1$<div>when $x=2$</div></div></div>",
            "options": ["<i>3", "4</i>", "</li></ol><h1>5"],
            "format": "html",
        },
        "kept",
    ),
    "remote_image": ({"question": "See ![](https://evil.example/fig.png)."}, "missing_image"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_questions_end_as_data(step: DocumentStep, case: str) -> None:
    row, expected = HOSTILE[case]
    if expected == "MathError":
        with pytest.raises(exams.MathError):
            run(step, {"id": case, **row})
        return
    outcome = run(step, {"id": case, **row})
    if expected == "kept":
        assert outcome.status == "kept"
        text = outcome.samples[0].files["txt"].decode()
        assert "HACKED" not in text and "$" in text
    else:
        assert outcome.drop is not None and outcome.drop.reason == expected


def test_broken_html_stays_inside_its_part(step: DocumentStep) -> None:
    """Unclosed and stray tags of one part neither swallow nor close the parts after it."""
    row, _ = HOSTILE["broken_html"]
    [page] = run(step, {"id": "b", **row}, only("default")).samples
    assert page.files["txt"].decode() == "Compute $x+1$\n\nwhen $x=2$\n\nA. 3\nB. 4\nC.\n\n5"


@pytest.mark.slow
def test_a_build_records_every_row(tmp_path: Path) -> None:
    rows = [*questions()]
    rows += [{"id": f"bad-{name}", **row} for name, (row, _) in HOSTILE.items()]
    rows.append({"id": "no-question", "question": None, "answer": "x"})
    folder = tmp_path / "rows"
    folder.mkdir()
    (folder / "rows.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    totals = run_build(
        EXAMS, [str(folder)], tmp_path / "out", "inline", console=Console(file=io.StringIO())
    )
    documents = ledger.read_documents(tmp_path / "out").to_pylist()
    assert len(documents) == len(rows) == totals["documents"]
    by_id = {d["doc_id"]: d for d in documents}
    status = {row["id"]: by_id[f"rows/rows.jsonl#L{n}"] for n, row in enumerate(rows, start=1)}
    assert {status[r["id"]]["status"] for r in questions()} == {"kept"}
    for name, (_, expected) in HOSTILE.items():
        row = status[f"bad-{name}"]
        if expected == "kept":
            assert row["status"] == "kept"
        elif expected == "MathError":
            assert (row["status"], row["error_class"]) == ("failed", "MathError")
        else:
            assert (row["status"], row["reason"]) == ("dropped", expected)
    assert status["no-question"]["error_class"] == "MissingContent"
