"""Scene-text OCR adapters: each bundled sample (in its dataset's published format) builds into
the legible text in reading order; the parsers read each format's own conventions (byte-order
marks, CRLF, commas in transcriptions, each dataset's mark for a region not to be read); the
geometric reading order survives rotated photos and unequal word heights."""

from __future__ import annotations

import gzip
import io
import json
import math
import random
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from PIL import Image

from tests.datasets import helpers
from tests.datasets.helpers import dataset_recipe, documents, shard_samples
from vlpipe.sources.dataset.adapters import load_adapter
from vlpipe.sources.dataset.scene_text import (
    Region,
    SceneText,
    ordered_text,
    parse_art,
    parse_coco_text,
    parse_hiertext,
    parse_icdar,
    parse_rects,
    parse_textocr,
    text_angle,
    text_lines,
)
from vlpipe.sources.registry import source_spec

# each adapter's bundled sample: its images' legible text in reading order (by record), and
# what the json says of it (regions in that order, illegible regions left out)
EXPECTED: dict[str, dict[str, tuple[str, int]]] = {
    "mlt17": {"gt/gt_img_1.txt": ("Castle Museum\n博物馆入口\n박물관 입구\nTickets 1,000", 2)},
    "mlt19": {"gt/tr_img_00001.txt": ("서울역\nSeoul Station\nExit 3,4", 1)},
    "rctw17": {"train_gts/image_0.txt": ("老王面馆\n牛肉面,拉面\n创于1989", 1)},
    "art": {
        "train_labels.json#gt_0": ("COFFEE\nHOUSE", 1),
        "train_labels.json#gt_1": ("燎申集团\nKTV欢唱", 0),
    },
    "lsvt": {"train_full_labels.json#gt_0": ("一站式购物中心\n欢迎光临", 1)},
    "rects": {"gt_unicode/train_ReCTS_000001.json": ("老北京炸酱面\n营业中", 1)},
    "coco_text": {"cocotext.v2.json#522579": ("STOP\nONE WAY", 1)},
    "textocr": {
        "TextOCR_0.1_train.json#a4ea732cd3d5948a": (
            "LIVE MUSIC\nevery Friday night\nfree entry",
            1,
        )
    },
    "hiertext": {
        "gt/train.jsonl.gz#0a0b1c2d3e4f5a6b": ("FRESH BREAD\ndaily\n\nCLOSED\non Sundays", 1)
    },
}
ILLEGIBLE_DRAWN = ("xq", "mn", "ab", "营业时间", "smudge", "模糊", "电话", "xx", "mfg", "scrawl")


def sample_folder(adapter: str) -> Path:
    return Path(source_spec("dataset").samples(dataset_recipe(adapter, None)))


def build(adapter: str, folder: Path, out: Path, **options: Any) -> dict[str, Any]:
    """A build of a sample folder, its ``images/`` as --images."""
    return helpers.build(adapter, folder, out, folder / "images", **options)


# -- each adapter's bundled sample -------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bundled_sample_builds_its_legible_text_in_reading_order(name: str, tmp_path: Path) -> None:
    folder = sample_folder(name)
    build(name, folder, tmp_path / "out")
    adapter = load_adapter(name)
    texts = {}
    for sample in list(shard_samples(tmp_path / "out").values()):
        meta = orjson.loads(sample["json"])
        assert (meta["dataset"], meta["task"], meta["lang"]) == (name, "scene_text", adapter.lang)
        assert meta["license"] == adapter.license
        assert Image.open(io.BytesIO(sample["jpg"])).size[0] <= 480
        text = sample["txt"].decode("utf-8")
        record = meta["doc_id"].removeprefix(f"{name}/")
        texts[record] = text
        expected, illegible = EXPECTED[name][record]
        assert meta["illegible"] == illegible
        words = [region["text"] for region in meta["regions"]]
        assert "###" not in words and "." not in words and "" not in words
        assert not any(drawn in text for drawn in ILLEGIBLE_DRAWN)
        joined = "".join(words).replace(" ", "")  # HierText's regions are lines of words
        assert joined == "".join(expected.split())  # the regions, in the text's order
        assert all(len(region["points"]) >= 4 for region in meta["regions"])
    assert texts == {record: expected for record, (expected, _) in EXPECTED[name].items()}
    statuses = {doc: row["status"] for doc, row in documents(tmp_path / "out").items()}
    assert "failed" not in statuses.values()


def test_mlt_regions_keep_their_script_and_coco_text_its_language(tmp_path: Path) -> None:
    build("mlt17", sample_folder("mlt17"), tmp_path / "out")
    (sample,) = list(shard_samples(tmp_path / "out").values())
    scripts = {r["text"]: r["script"] for r in orjson.loads(sample["json"])["regions"]}
    assert scripts == {
        "Castle": "Latin", "Museum": "Latin", "博物馆": "Chinese", "入口": "Chinese",
        "박물관": "Korean", "입구": "Korean", "Tickets": "Latin", "1,000": "Symbols",
    }  # fmt: skip


def test_coco_text_image_without_text_is_dropped_not_failed(tmp_path: Path) -> None:
    build("coco_text", sample_folder("coco_text"), tmp_path / "out")
    row = documents(tmp_path / "out")["coco_text/cocotext.v2.json#391895"]
    assert (row["status"], row["reason"]) == ("dropped", "no_legible_text")


def test_an_image_whose_regions_are_all_illegible_is_dropped(tmp_path: Path) -> None:
    folder = tmp_path / "art"
    shutil.copytree(sample_folder("art"), folder)
    labels = json.loads((folder / "train_labels.json").read_text(encoding="utf-8"))
    for entry in labels["gt_1"]:
        entry["illegibility"] = True
    (folder / "train_labels.json").write_text(json.dumps(labels), encoding="utf-8")
    build("art", folder, tmp_path / "out")
    rows = documents(tmp_path / "out")
    dropped = rows["art/train_labels.json#gt_1"]
    assert (dropped["status"], dropped["reason"]) == ("dropped", "no_legible_text")
    assert dropped["detail"] == "2 regions, none legible"
    assert rows["art/train_labels.json#gt_0"]["status"] == "kept"


def test_a_renamed_key_fails_the_record_naming_the_adapter_and_the_key(tmp_path: Path) -> None:
    folder = tmp_path / "art"
    shutil.copytree(sample_folder("art"), folder)
    raw = (folder / "train_labels.json").read_text(encoding="utf-8")
    (folder / "train_labels.json").write_text(raw.replace('"transcription"', '"text"'), "utf-8")
    build("art", folder, tmp_path / "out")
    rows = documents(tmp_path / "out")
    assert {row["status"] for row in rows.values()} == {"failed"}
    row = rows["art/train_labels.json#gt_0"]
    assert row["error_class"] == "MissingColumn"
    assert "'art'" in row["error"] and "'transcription'" in row["error"]
    assert "illegibility, language, points, text" in row["error"]  # what the record has instead


def test_crops_add_a_rectified_line_sample_per_legible_region(tmp_path: Path) -> None:
    folder = sample_folder("textocr")
    build("textocr", folder, tmp_path / "out", crops="lines")
    samples = list(shard_samples(tmp_path / "out").values())
    metas = [orjson.loads(s["json"]) for s in samples]
    (page,) = [m for m in metas if m["task"] == "scene_text"]
    crops = [(s, m) for s, m in zip(samples, metas, strict=True) if m["task"] == "scene_text_line"]
    assert len(crops) == len(page["regions"]) == 7
    assert [m["regions"][0]["text"] for _, m in crops] == [r["text"] for r in page["regions"]]
    assert len({m["crop_of"] for _, m in crops}) == 1
    for sample, meta in crops:
        (region,) = meta["regions"]
        assert sample["txt"].decode() == region["text"]
        p0, p1, _, p3 = region["points"]
        width, height = math.dist(p0, p1), math.dist(p0, p3)
        crop = Image.open(io.BytesIO(sample["png"]))
        assert crop.size[0] == pytest.approx(width, abs=2)
        assert crop.size[1] == pytest.approx(height, abs=2)
        assert crop.size[0] > crop.size[1]  # the 15°-turned word stands upright


# -- parsers -----------------------------------------------------------------------------------


def test_parse_icdar_reads_bom_crlf_commas_and_dont_care() -> None:
    text = (
        "\ufeff377,117,463,117,465,130,378,130,Genaxis Theatre\r\n"
        "493,115,519,115,519,131,493,131,1,000,000\r\n"
        "374,155,409,155,409,170,374,170,###\r\n"
        "10,10,50,10,50,20,10,20,line\u2028sep\r\n"
        "\r\n"
    )
    scene = parse_icdar(text, "icdar2015")
    assert [r.text for r in scene.regions] == [
        "Genaxis Theatre",
        "1,000,000",
        "###",
        "line\u2028sep",
    ]
    assert [r.legible for r in scene.regions] == [True, True, False, True]
    assert scene.regions[0].points == ((377, 117), (463, 117), (465, 130), (378, 130))
    assert scene.regions[0].script is None


def test_parse_icdar_mlt_keeps_the_script_column() -> None:
    text = (
        "\ufeff131,34,181,34,179,47,131,49,Latin,Castle, the\r\n"
        "150,59,194,58,196,72,150,73,Arabic,متحف\r\n"
        "90,83,143,83,143,96,91,96,None,###\r\n"
        "90,100,143,100,143,110,91,110,Hindi,###\r\n"
    )
    scene = parse_icdar(text, "mlt")
    assert [(r.script, r.text, r.legible) for r in scene.regions] == [
        ("Latin", "Castle, the", True),
        ("Arabic", "متحف", True),
        ("None", "###", False),
        ("Hindi", "###", False),
    ]


def test_parse_icdar_rctw_unquotes_and_reads_difficult() -> None:
    text = (
        '\ufeff390,902,1856,902,1856,1225,390,1225,0,"金氏眼镜"\r\n'
        '1875,1170,2149,1170,2149,1245,1875,1245,0,"早餐,午餐"\r\n'
        '2054,1277,2190,1277,2190,1323,2054,1323,1,"城建店"\r\n'
        '2054,1400,2190,1400,2190,1450,2054,1450,0,"###"\r\n'
    )
    scene = parse_icdar(text, "rctw")
    assert [(r.text, r.legible) for r in scene.regions] == [
        ("金氏眼镜", True), ("早餐,午餐", True), ("城建店", False), ("###", False),
    ]  # fmt: skip
    # the small line stands beside the sign, level with it: one line of text
    assert ordered_text(scene)[0] == "金氏眼镜早餐,午餐"


def test_parse_art_illegibility_flag_or_hashes() -> None:
    record = [
        {"transcription": "燎申集团", "language": "Chinese", "illegibility": False,
         "points": [[141, 199], [237, 201], [313, 236], [357, 283], [359, 300], [309, 261],
                    [233, 230], [140, 231]]},
        {"transcription": "EXIT", "points": [[0, 0], [40, 0], [40, 10], [0, 10]],
         "language": "Latin", "illegibility": True},
        {"transcription": "###", "points": [[20, 40], [60, 40], [60, 52], [20, 52]],
         "language": "None", "illegibility": False},
    ]  # fmt: skip
    scene = parse_art(record, load_adapter("art"))
    assert [r.legible for r in scene.regions] == [True, False, False]
    assert len(scene.regions[0].points) == 8 and scene.regions[0].script == "Chinese"
    points = [[45, 272], [215, 273], [212, 296], [45, 290]]
    lsvt = [{"transcription": "一站式购物中心", "points": points, "illegibility": False}]
    assert parse_art(lsvt, load_adapter("lsvt")).regions[0].script is None


def test_parse_rects_reads_lines_and_their_ignore_flag() -> None:
    record = {
        "chars": [
            {"ignore": 0, "transcription": "H", "points": [25, 175, 112, 175, 112, 286, 25, 286]}
        ],
        "lines": [
            {
                "ignore": 0,
                "transcription": "HOKI",
                "points": [23, 173, 327, 180, 327, 290, 23, 283],
            },
            {
                "ignore": 1,
                "transcription": "TEA",
                "points": [368, 180, 621, 180, 621, 294, 368, 294],
            },
        ],
    }
    scene = parse_rects(record, load_adapter("rects"))
    assert [(r.text, r.legible) for r in scene.regions] == [("HOKI", True), ("TEA", False)]


def test_parse_coco_text_reads_an_illegible_annotation_without_utf8_string() -> None:
    record = {
        "image": {"id": 522579, "file_name": "COCO_train2014_000000522579.jpg"},
        "annotations": [
            {"id": 45346, "image_id": 522579, "bbox": [468.9, 286.7, 24.1, 9.1],
             "utf8_string": "the", "legibility": "legible", "language": "english"},
            {"id": 45347, "image_id": 522579, "bbox": [100.0, 50.0, 30.0, 8.0],
             "legibility": "illegible", "language": "na"},
        ],
    }  # fmt: skip
    scene = parse_coco_text(record, load_adapter("coco_text"))
    assert [(r.text, r.legible) for r in scene.regions] == [("the", True), ("", False)]
    assert scene.regions[0].points[2] == pytest.approx((493.0, 295.8))
    assert scene.image["file_name"] == "COCO_train2014_000000522579.jpg"


def test_parse_textocr_reads_a_dot_as_an_illegible_word() -> None:
    record = {
        "image": {"id": "a4ea732cd3d5948a", "file_name": "train/a4ea732cd3d5948a.jpg"},
        "annotations": [
            {"id": "a_1", "utf8_string": "Performance",
             "points": [525.83, 3.4, 723.47, 7.29, 722.5, 37.34, 525.83, 33.94]},
            {"id": "a_2", "utf8_string": ".", "points": [30.0, 600.0, 70.0, 600.0, 70.0, 612.0]},
        ],
    }  # fmt: skip
    scene = parse_textocr(record, load_adapter("textocr"))
    assert [(r.text, r.legible) for r in scene.regions] == [("Performance", True), (".", False)]
    assert ordered_text(scene)[0] == "Performance"


def test_parse_hiertext_keeps_paragraphs_in_the_datasets_order() -> None:
    def line(text: str, x: int, y: int, legible: bool = True) -> dict[str, Any]:
        box = [[x, y], [x + 20 * max(1, len(text)), y], [x + 20 * max(1, len(text)), y + 20],
               [x, y + 20]]  # fmt: skip
        word = {"vertices": box, "text": text, "legible": legible, "handwritten": False,
                "vertical": False}  # fmt: skip
        return {**word, "words": [word] if text else []}

    # two signs side by side, lines level with each other's: geometry alone would interleave them
    record = {
        "image_id": "0a0b", "image_width": 640, "image_height": 200,
        "paragraphs": [
            {"vertices": [[0, 0], [300, 0], [300, 100], [0, 100]], "legible": True,
             "lines": [line("second line", 10, 50), line("first line", 10, 10)]},
            {"vertices": [[320, 0], [620, 0], [620, 100], [320, 100]], "legible": True,
             "lines": [line("right top", 330, 10), line("", 330, 50, legible=False),
                       line("right low", 330, 80)]},
        ],
    }  # fmt: skip
    scene = parse_hiertext(record, load_adapter("hiertext"))
    assert [r.paragraph for r in scene.regions] == [0, 0, 1, 1, 1]
    text, ordered = ordered_text(scene)
    assert text == "first line\nsecond line\n\nright top\nright low"
    assert len(ordered) == 4
    flat = SceneText(tuple(Region(r.text, r.points, r.legible) for r in scene.regions))
    assert ordered_text(flat)[0] == "first line right top\nsecond line\nright low"


# -- reading order -----------------------------------------------------------------------------


def page(
    lines: list[list[str]], angle: float, centre: tuple[float, float] = (300, 300)
) -> list[Region]:
    """Lines of words on a page photographed turned ``angle`` degrees counter-clockwise."""
    radians = math.radians(angle)
    cos, sin = math.cos(radians), math.sin(radians)
    regions = []
    for number, words in enumerate(lines):
        x, y = -200.0, number * 44.0 - 60
        for word in words:
            width = 14.0 * len(word) + 6
            corners = [(x, y), (x + width, y), (x + width, y + 24), (x, y + 24)]
            points = tuple(
                (centre[0] + a * cos + b * sin, centre[1] - a * sin + b * cos) for a, b in corners
            )
            regions.append(Region(word, points, True))
            x += width + 12
    return regions


@pytest.mark.parametrize("angle", [0, 15, -20])
def test_a_rotated_photo_of_a_page_reads_line_by_line(angle: float) -> None:
    lines = [["The", "quick", "brown", "fox"], ["jumps", "over", "a", "lazy"], ["dog", "at", "9"]]
    regions = page(lines, angle)
    assert math.degrees(text_angle(regions)) == pytest.approx(-angle, abs=1)
    shuffled = regions[:]
    random.Random(angle).shuffle(shuffled)
    text, ordered = ordered_text(SceneText(tuple(shuffled)))
    assert text == "The quick brown fox\njumps over a lazy\ndog at 9"
    assert [r.text for r in ordered] == [w for line in lines for w in line]
    assert len(text_lines(shuffled)) == 3


def box(text: str, left: float, top: float, right: float, bottom: float) -> Region:
    return Region(text, ((left, top), (right, top), (right, bottom), (left, bottom)), True)


def test_one_line_of_unequal_heights_stays_one_line() -> None:
    # a shop front: a big name, small words on its baseline, a medium price (no second column)
    regions = [box("SALE", 10, 0, 150, 70), box("up", 160, 50, 190, 70),
               box("to", 196, 54, 214, 70), box("50%", 220, 30, 300, 70),
               box("off", 306, 52, 340, 70)]  # fmt: skip
    assert ordered_text(SceneText(tuple(reversed(regions))))[0] == "SALE up to 50% off"
    tops = [box("SALE", 10, 0, 150, 70), box("new", 160, 0, 200, 22), box("IN", 210, 0, 260, 40)]
    assert ordered_text(SceneText(tuple(tops[::-1])))[0] == "SALE new IN"


def test_square_regions_do_not_tilt_the_reading_direction() -> None:
    # a single letter or ideograph is as tall as wide: its axis says nothing of the line's
    regions = [box("A", 0, 0, 30, 30.5), box("word", 40, 5, 140, 25)]
    assert text_angle(regions) == 0.0
    assert ordered_text(SceneText(tuple(regions)))[0] == "A word"
    chars = [box("营", 0, 0, 40, 40.4), box("业", 50, 0, 90.3, 40), box("中", 100, 1, 140, 40)]
    assert ordered_text(SceneText(tuple(chars[::-1])))[0] == "营业中"


def test_vertical_columns_read_top_down_right_to_left() -> None:
    columns = [box("左上", 10, 0, 40, 60), box("左下", 10, 70, 40.5, 130),
               box("右上", 60, 0, 90.2, 60), box("右下", 60, 70, 89.8, 130)]  # fmt: skip
    assert ordered_text(SceneText(tuple(columns)))[0] == "右上右下\n左上左下"


def test_words_are_spaced_except_between_chinese_or_japanese_characters() -> None:
    row = [box("博物馆", 0, 0, 90, 30), box("入口", 100, 0, 160, 30),
           box("박물관", 170, 0, 260, 30), box("입구", 270, 0, 330, 30),
           box("KTV", 340, 0, 400, 30), box("欢唱", 410, 0, 470, 30)]  # fmt: skip
    assert ordered_text(SceneText(tuple(row)))[0] == "博物馆入口 박물관 입구 KTV 欢唱"


def test_hiertext_sample_is_one_gzipped_json_object() -> None:
    raw = (sample_folder("hiertext") / "gt" / "train.jsonl.gz").read_bytes()
    data = json.loads(gzip.decompress(raw))
    assert set(data) == {"info", "annotations"} and len(data["annotations"][0]["paragraphs"]) == 2
