"""Input planning for sources whose documents are folders or live inside container files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from vlpipe.recipe import InputConfig
from vlpipe.schema import Document, Outcome
from vlpipe.sources.inputs import InputLayout, iter_documents, plan_units


def is_paper(folder: Path) -> bool:
    return (folder / "main.tex").is_file()


def read_bundle(path: Path, label: str, config: InputConfig) -> Iterator[Document | Outcome]:
    for number, line in enumerate(path.read_text().splitlines()):
        yield Document(f"{label}#{number}", line)


LAYOUT = InputLayout(
    file_suffixes=(".tex.gz",),
    is_document_folder=is_paper,
    container_suffixes=(".bundle",),
    read_container=read_bundle,
)


def test_folders_files_and_containers_become_units_in_a_fixed_order(tmp_path: Path) -> None:
    root = tmp_path / "papers"
    for name in ("b_paper", "a_paper", "nested/c_paper"):
        (root / name / "figures").mkdir(parents=True)
        (root / name / "main.tex").write_text("\\documentclass{article}")
        (root / name / "figures" / "main.tex").write_text("not a separate paper")
    (root / "single.tex.gz").write_bytes(b"\x1f\x8b")
    (root / "two.bundle").write_text("first\nsecond\n")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "main.tex").write_text("skipped")
    (root / "link").symlink_to(root / "a_paper")
    config = InputConfig(files_per_unit=2)
    units = plan_units([str(root)], LAYOUT, config)
    assert [(u.kind, [Path(p).name for p in u.paths]) for u in units] == [
        ("files", ["a_paper", "b_paper"]),
        ("files", ["c_paper", "single.tex.gz"]),
        ("container", ["two.bundle"]),
    ]
    documents = [d for u in units for d in iter_documents(u, config, LAYOUT)]
    assert [d.doc_id for d in documents] == [
        "papers/a_paper",
        "papers/b_paper",
        "papers/nested/c_paper",
        "papers/single.tex.gz",
        "papers/two.bundle#0",
        "papers/two.bundle#1",
    ]
    assert documents[0].content == root / "a_paper"


def test_a_document_folder_given_directly_and_its_size_guard(tmp_path: Path) -> None:
    paper = tmp_path / "paper"
    paper.mkdir()
    (paper / "main.tex").write_text("x" * 5000)
    units = plan_units([str(paper)], LAYOUT, InputConfig())
    (document,) = iter_documents(units[0], InputConfig(), LAYOUT)
    assert document.doc_id == f"{tmp_path.name}/paper"
    (too_big,) = iter_documents(units[0], InputConfig(max_doc_bytes=100), LAYOUT)
    assert isinstance(too_big, Outcome) and too_big.drop.reason == "doc_too_large"
