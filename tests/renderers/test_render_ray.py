"""The renderers as Ray Data actor pools (map_batches with callable classes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import ray

from tests.renderers._render_helpers import FIXTURES
from vlpipe.renderers.ray_actors import HtmlRenderActor, PdfRenderActor, TexCompileActor


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.slow
def test_html_actor_pool(tools: None, local_ray: None) -> None:
    rows = [{"doc_id": f"d{i}", "html": f"<p>page {i}</p>"} for i in range(5)]
    rows.append({"doc_id": "tall", "html": "<div style='height:90000px'>x</div>"})
    ds = ray.data.from_items(rows).map_batches(
        HtmlRenderActor,
        fn_constructor_kwargs={"config": {"browsers": 1}},
        concurrency=1,
        batch_size=3,
        batch_format="pyarrow",
        num_cpus=0.5,
    )
    out = {r["doc_id"]: r for r in ds.take_all()}
    assert sorted(out) == ["d0", "d1", "d2", "d3", "d4", "tall"]
    assert out["d3"]["pages_text"] == ["page 3"] and out["d3"]["error"] is None
    assert out["d3"]["pages_png"][0][:8] == b"\x89PNG\r\n\x1a\n"
    assert out["tall"]["error_class"] == "RenderError" and out["tall"]["pages_png"] == []


@pytest.mark.slow
def test_tex_then_pdf_actor_pools(tools: None, local_ray: None) -> None:
    rows = [
        {"doc_id": "article", "source_dir": str(FIXTURES / "article")},
        {"doc_id": "broken", "tex": r"\documentclass{article}\begin{document}\foo"},
    ]
    ds = (
        ray.data.from_items(rows)
        .map_batches(
            TexCompileActor, concurrency=1, batch_size=2, batch_format="pyarrow", num_cpus=0.5
        )
        .map_batches(
            PdfRenderActor,
            fn_constructor_kwargs={"config": {"longest_side": 512}},
            concurrency=1,
            batch_size=2,
            batch_format="pyarrow",
            num_cpus=0.5,
        )
    )
    out = {r["doc_id"]: r for r in ds.take_all()}
    article, broken = out["article"], out["broken"]
    assert article["engine"] == "pdflatex" and article["error"] is None
    assert len(article["pages_png"]) == 2 and "Introduction" in article["pages_text"][0]
    assert article["pages_words"][0][0]["text"] == "Curating"
    assert broken["error_class"] == "TexError"
    assert broken["error"] == "main.tex:1: Undefined control sequence."
    assert broken["pages_png"] == []
