"""Row adapters of captions and of tables/charts/screens (TaiSu, ShareGPT4V and ALLaVA captions;
UniChart, UReader, ScreenQA, SciGraphQA, Paper2Fig, Screen2Words, RefExp, Chart2Text): each
bundled sample, in its dataset's published schema, builds into the text or turns of its record;
a renamed column fails the record naming the adapter and the column; an image missing from
``--images`` drops the record (``missing_image``)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from tests.datasets import helpers, samples_caption, samples_chart
from tests.datasets.drawing import SAMPLES, write_json, write_parquet
from tests.datasets.helpers import documents, shard_samples

IMAGE_SUFFIXES = ("png", "jpg", "webp", "gif")


def build(
    name: str, tmp_path: Path, sample: Path | None = None, **options: Any
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Builds a dataset sample (the bundled one unless given), its ``images/`` as --images;
    the kept samples by key (meta, text or turns) and the ledger's documents by doc id."""
    sample = sample or SAMPLES / name
    folder = sample / "images"  # datasets with the images in their rows have none
    out = tmp_path / "out"
    helpers.build(name, sample, out, folder if folder.is_dir() else None, **options)
    samples: dict[str, dict[str, Any]] = {}
    for key, raw in shard_samples(out).items():
        found: dict[str, Any] = {"meta": orjson.loads(raw["json"])}
        if "txt" in raw:
            found["text"] = raw["txt"].decode()
        if "chat.json" in raw:
            found["turns"] = [(m["role"], m["content"]) for m in orjson.loads(raw["chat.json"])]
        found["images"] = [f"{key}.{ext}" for ext in raw if ext.endswith(IMAGE_SUFFIXES)]
        samples[key] = found
    return samples, documents(out)


def only(samples: dict[str, dict[str, Any]]) -> dict[str, Any]:
    assert len(samples) == 1, sorted(samples)
    return next(iter(samples.values()))


def all_kept(documents: dict[str, dict[str, Any]]) -> None:
    assert {d["status"] for d in documents.values()} == {"kept"}, documents


# -- captions ----------------------------------------------------------------------------------


def test_taisu_gives_the_generated_chinese_caption(tmp_path: Path) -> None:
    samples, documents = build("taisu", tmp_path)
    all_kept(documents)
    sample = only(samples)
    assert sample["text"] == "蓝天下一棵开满粉色花朵的树"
    assert sample["meta"]["lang"] == "zh" and sample["meta"]["kind"] == "image_text"
    assert sample["meta"]["origin"]["record_key"] == samples_caption.TAISU_ID


def test_sharegpt4v_captions_take_the_gpt_turn_as_a_detailed_caption(tmp_path: Path) -> None:
    samples, documents = build("sharegpt4v_captions", tmp_path)
    assert len(documents) == 2
    all_kept(documents)
    by_id = {s["meta"]["id"]: s for s in samples.values()}
    assert set(by_id) == {"sa_545504", "000000000009"}
    street = by_id["sa_545504"]
    assert street["text"].startswith("The image shows a street scene under a blue sky. A red car")
    assert street["meta"]["task"] == "detailed_caption"
    assert street["meta"]["image_refs"] == ["sam/images/sa_545504.jpg"]
    assert by_id["000000000009"]["text"].endswith("against a cream-coloured wall.")


def test_allava_caption_takes_the_gpt_turn(tmp_path: Path) -> None:
    samples, documents = build("allava_caption", tmp_path)
    all_kept(documents)
    sample = only(samples)
    assert sample["text"] == (
        "The image displays a silver ring on a white background, with a small green leaf-shaped "
        "charm set at the top of the band."
    )
    assert sample["meta"]["id"] == "allava_laion_cap_100277305"
    assert sample["meta"]["image_refs"] == ["allava_laion/images/100277305.jpeg"]


# -- tables, charts and screens ----------------------------------------------------------------


def test_unichart_query_and_label_become_a_turn_pair(tmp_path: Path) -> None:
    samples, documents = build("unichart", tmp_path)
    assert len(documents) == 2
    all_kept(documents)
    turns = sorted(s["turns"] for s in samples.values())
    assert turns == [
        [("user", "<image>\n<extract_data_table>"),
         ("assistant", "Year | Sales (million units) & 2019 | 10 & 2020 | 14 & 2021 | 9")],
        [("user", "<image>\nIn which year were sales the highest?"), ("assistant", "2020")],
    ]  # fmt: skip
    assert all(s["meta"]["task"] == "chart_qa" for s in samples.values())


def test_ureader_keeps_its_user_assistant_turns_and_image_list(tmp_path: Path) -> None:
    samples, documents = build("ureader", tmp_path)
    all_kept(documents)
    sample = only(samples)
    assert sample["turns"] == [
        ("user", "<image>"),
        ("user", "Which country has the longest bar?"),
        ("assistant", "Nigeria"),
    ]
    assert sample["meta"]["task"] == "document_qa"
    assert sample["meta"]["image_refs"] == ["ChartQA/train/png/two_col_1043.png"]
    assert len(sample["images"]) == 1


def test_screenqa_answer_is_the_first_full_answer(tmp_path: Path) -> None:
    samples, documents = build("screenqa", tmp_path)
    all_kept(documents)
    sample = only(samples)
    assert sample["turns"] == [
        ("user", "<image>\nWhat is the rating of the app?"),
        ("assistant", "The rating of the app is 4.5 stars."),
    ]
    assert (sample["meta"]["id"], sample["meta"]["task"]) == ("12345", "screen_qa")
    assert sample["meta"]["image_refs"] == ["row"]


def test_scigraphqa_keeps_the_whole_conversation(tmp_path: Path) -> None:
    samples, documents = build("scigraphqa", tmp_path)
    all_kept(documents)
    sample = only(samples)
    assert sample["turns"] == [
        ("user", "<image>\nWhat does the graph show?"),
        ("assistant", "It compares the accuracy of three optimisers."),
        ("user", "Which method reaches the highest accuracy?"),
        ("assistant", "Ours reaches the highest accuracy, 85%, ahead of Adam (78%) and SGD (71%)."),
    ]
    assert sample["meta"]["image_refs"] == ["1001.0025v1-Figure5-1.png"]
    assert sample["meta"]["id"] == "1001.0025v1-Figure5-1"


def test_paper2fig_caption_and_its_figure_by_id(tmp_path: Path) -> None:
    samples, documents = build("paper2fig", tmp_path)
    all_kept(documents)
    sample = only(samples)
    assert sample["text"] == "Figure 2: Overview of the proposed encoder-decoder architecture."
    assert sample["meta"]["task"] == "figure_caption"
    assert sample["meta"]["image_refs"] == ["1905.01234v2-Figure2-1.png"]


def test_screen2words_first_caption_or_one_sample_per_caption(tmp_path: Path) -> None:
    samples, documents = build("screen2words", tmp_path / "first")
    all_kept(documents)
    sample = only(samples)
    assert sample["text"] == samples_chart.SCREEN2WORDS_CAPTIONS[0]
    assert (sample["meta"]["id"], sample["meta"]["task"]) == (10307, "screen_summary")
    every, documents = build("screen2words", tmp_path / "all", captions="all")
    all_kept(documents)
    texts = [s["text"] for _, s in sorted(every.items())]
    assert texts == samples_chart.SCREEN2WORDS_CAPTIONS


def test_refexp_answer_is_the_box_as_text(tmp_path: Path) -> None:
    samples, documents = build("refexp", tmp_path)
    assert len(documents) == 2
    all_kept(documents)
    turns = sorted(s["turns"] for s in samples.values())
    assert turns == [
        [("user", "<image>\nclick on the search icon at the top"),
         ("assistant", "[0.817, 0.025, 0.958, 0.110]")],
        [("user", "<image>\nselect podcasts"), ("assistant", "[0.033, 0.370, 0.967, 0.460]")],
    ]  # fmt: skip
    assert {s["meta"]["task"] for s in samples.values()} == {"ui_grounding"}


def test_chart2text_cauldron_exchanges_become_turns(tmp_path: Path) -> None:
    samples, documents = build("chart2text", tmp_path)
    all_kept(documents)
    sample = only(samples)
    assert sample["turns"] == [
        ("user", "<image>\nExplain what this graph is communicating."),
        ("assistant", samples_chart.CHART2TEXT_SUMMARY),
    ]
    assert sample["meta"]["task"] == "chart_summary" and len(sample["images"]) == 1


# -- records that are not what the adapter reads -----------------------------------------------


def test_a_renamed_column_fails_the_record_naming_adapter_and_column(tmp_path: Path) -> None:
    folder = tmp_path / "renamed"
    row = samples_chart.screenqa_row("What is the rating of the app?")
    row["query"] = row.pop("question")
    fields = [
        field.with_name("query") if field.name == "question" else field
        for field in samples_chart.SCREENQA_SCHEMA
    ]
    write_parquet(folder / "data" / "train-00000-of-00017.parquet", [row], pa.schema(fields))
    samples, documents = build("screenqa", tmp_path, sample=folder)
    assert samples == {}
    (failed,) = documents.values()
    assert (failed["status"], failed["error_class"]) == ("failed", "MissingColumn")
    assert "'screenqa'" in failed["error"] and "'question'" in failed["error"]
    assert "query" in failed["error"]  # what the record has instead


def test_an_image_missing_from_images_drops_the_record(tmp_path: Path) -> None:
    folder = tmp_path / "paths"
    shutil.copytree(SAMPLES / "sharegpt4v_captions", folder)
    path = folder / "share-captioner_coco_lcs_sam_1246k_1107.json"
    records = orjson.loads(path.read_bytes())
    records[1]["image"] = "coco/train2017/000000999999.jpg"
    write_json(path, records)
    samples, documents = build("sharegpt4v_captions", tmp_path, sample=folder)
    by_key = {doc_id.rsplit("#", 1)[1]: d for doc_id, d in documents.items()}
    assert by_key["0"]["status"] == "kept"
    missing = by_key["1"]
    assert (missing["status"], missing["reason"]) == ("dropped", "missing_image")
    assert "coco/train2017/000000999999.jpg" in missing["detail"]
    assert len(samples) == 1


def test_a_unichart_row_naming_an_absent_image_is_dropped(tmp_path: Path) -> None:
    folder = tmp_path / "unichart"
    shutil.copytree(SAMPLES / "unichart", folder)
    table = folder / "data" / "train-00000-of-00003.parquet"
    rows = pq.read_table(table).to_pylist()
    rows[1]["imgname"] = "99999.png"
    write_parquet(table, rows, pq.read_schema(table))
    _, documents = build("unichart", tmp_path, sample=folder)
    statuses = sorted((d["doc_id"].rsplit("#", 1)[1], d["status"], d["reason"])
                      for d in documents.values())  # fmt: skip
    assert statuses == [("row0", "kept", None), ("row1", "dropped", "missing_image")]


def test_coco_captions_join_each_image_with_its_captions(tmp_path: Path) -> None:
    samples, documents = build("coco_captions", tmp_path)
    all_kept(documents)
    by_image = {s["meta"]["id"]: s["text"] for s in samples.values()}
    assert by_image == {
        391895: "A red ball next to a green box.",
        522418: "A red ball under a blue sky.",
    }
    every, _ = build("coco_captions", tmp_path / "all", captions="all")
    texts = sorted(s["text"] for s in every.values() if s["meta"]["id"] == 391895)
    assert len(every) == 10 and "A red ball sits near a green box." in texts  # stripped
