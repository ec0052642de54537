"""The sft row adapters (ShareGPT4V, LVIS-Instruct4V, TextOCR-GPT4V, LLaVA-NeXT, IconQA,
ALLaVA-Instruct) on their bundled samples: the exact turns and images of every sample, the
records left out and why; the OpenAI ``role``/``content`` spelling; and hostile image paths in
rows, which the shared resolver refuses before opening anything."""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.datasets import helpers
from tests.datasets.drawing import SAMPLES, encoded, picture
from tests.datasets.helpers import documents, shard_samples

PLACEHOLDER = "<image>"


def build(adapter: str, inputs: Path, images: Path | None, out: Path) -> None:
    helpers.build(adapter, inputs, out, images)


def ledger(out: Path) -> dict[str, dict[str, Any]]:
    """Ledger rows by record key (what follows ``#`` in the doc_id)."""
    return {doc.rpartition("#")[2]: row for doc, row in documents(out).items()}


def chats(out: Path) -> dict[str, dict[str, Any]]:
    """Kept chat samples by record key: their turns, images and metadata."""
    found = {}
    for raw in shard_samples(out).values():
        if "chat.json" not in raw:
            continue
        meta = orjson.loads(raw["json"])
        images = sorted(ext for ext in raw if ext[0].isdigit())  # 0.png, 1.jpg …
        found[meta["doc_id"].rpartition("#")[2]] = {
            "turns": orjson.loads(raw["chat.json"]),
            "images": [raw[ext] for ext in images],
            "meta": meta,
        }
    return found


def statuses(out: Path) -> dict[str, tuple[str, str | None]]:
    return {key: (row["status"], row["reason"]) for key, row in ledger(out).items()}


def sample_build(name: str, tmp_path: Path) -> tuple[Path, dict[str, dict[str, Any]]]:
    sample = SAMPLES / name
    out = tmp_path / "out"
    images = sample / "images"
    build(name, sample, images if images.is_dir() else None, out)
    return out, chats(out)


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


def turns_and_images(found: dict[str, dict[str, Any]]) -> dict[str, tuple[list, int]]:
    return {key: (s["turns"], len(s["images"])) for key, s in found.items()}


# -- the bundled samples -----------------------------------------------------------------------


def test_sharegpt4v_keeps_multi_turn_caption_and_text_only_records(tmp_path: Path) -> None:
    out, found = sample_build("sharegpt4v", tmp_path)
    assert statuses(out) == {str(n): ("kept", None) for n in range(3)}
    caption = (
        "The image shows a round red sign on the left and a green wall on the right before a "
        'pink-blue sky; the words "a red sign by a green wall" are written at the bottom.'
    )
    assert turns_and_images(found) == {
        "0": (
            [
                user("<image>\nWhat colour is the ball in the image?"),
                assistant("The ball is red."),
                user("What is to the right of the ball?"),
                assistant("A green box."),
            ],
            1,
        ),
        "1": (
            [
                user("Analyze the image in a comprehensive and detailed manner.\n<image>"),
                assistant(caption),
            ],
            1,
        ),
        "2": (
            [
                user("How do I boil an egg?"),
                assistant("Put the egg in boiling water for nine minutes."),
                user("And a soft one?"),
                assistant("Six minutes, then cool it under cold water."),
            ],
            0,
        ),
    }
    image = SAMPLES / "sharegpt4v" / "images" / "coco" / "train2017" / "000000033471.jpg"
    assert found["0"]["images"] == [image.read_bytes()]
    meta = found["0"]["meta"]
    assert (meta["kind"], meta["task"], meta["dataset"], meta["id"]) == (
        "chat",
        "sft",
        "sharegpt4v",
        "000000033471",
    )
    assert meta["image_refs"] == ["coco/train2017/000000033471.jpg"]
    assert found["2"]["meta"]["image_refs"] == [] and found["2"]["meta"]["id"] == "i6IyJda_0"


def test_lvis_instruct4v_reads_train_and_val_images(tmp_path: Path) -> None:
    out, found = sample_build("lvis_instruct4v", tmp_path)
    assert statuses(out) == {"0": ("kept", None), "1": ("kept", None)}
    assert turns_and_images(found) == {
        "0": (
            [
                user("<image>\nWhat colour is the ball?"),
                assistant("The ball is red."),
                user("Is it to the left or the right of the green box?"),
                assistant("It is to the left of the green box."),
            ],
            1,
        ),
        "1": (
            [
                user("What is written at the bottom of the image?\n<image>"),
                assistant('The text at the bottom reads "a green box".'),
            ],
            1,
        ),
    }
    assert [found[k]["meta"]["image_refs"] for k in ("0", "1")] == [
        ["coco/train2017/000000000139.jpg"],
        ["coco/val2017/000000498659.jpg"],
    ]


def test_textocr_gpt4v_caption_becomes_a_one_turn_chat(tmp_path: Path) -> None:
    out, found = sample_build("textocr_gpt4v", tmp_path)
    assert statuses(out) == {"L1": ("kept", None)}
    (sample,) = found.values()
    caption = (
        "DESCRIPTION\nA green striped wall with two pale signs: a large one near the top and a "
        'smaller one below it.\n\nTEXT\nThe upper sign reads "BAKERY". The lower sign reads '
        '"OPEN 7-19".'
    )
    assert sample["turns"] == [
        user("<image>\nDescribe this image in detail, then transcribe the text in it."),
        assistant(caption),
    ]
    assert len(sample["images"]) == 1
    assert sample["meta"]["image_refs"] == ["a4ea732cd3d5948a.jpg"]
    assert sample["meta"]["id"] == "a4ea732cd3d5948a.jpg"


def test_llava_next_keeps_image_rows_and_null_image_rows_as_text_chats(tmp_path: Path) -> None:
    out, found = sample_build("llava_next", tmp_path)
    assert statuses(out) == {"row0": ("kept", None), "row1": ("kept", None)}
    by_id = {s["meta"]["id"]: (s["turns"], len(s["images"])) for s in found.values()}
    assert by_id == {
        "chartqa_1024": (
            [
                user("<image>\nWhat were the sales in Q2?"),
                assistant("18"),
                user("By how much did they grow from Q1?"),
                assistant("By 6, from 12 to 18."),
            ],
            1,
        ),
        "sharegpt_77": (
            [
                user("Name a prime number between 10 and 15."),
                assistant("11 and 13 are both prime."),
            ],
            0,
        ),
    }
    chart = next(s for s in found.values() if s["meta"]["id"] == "chartqa_1024")
    assert chart["images"][0][:8] == b"\x89PNG\r\n\x1a\n" and chart["meta"]["image_refs"] == ["row"]


def test_iconqa_leaves_out_choose_img_and_lists_text_choices(tmp_path: Path) -> None:
    out, found = sample_build("iconqa", tmp_path)
    rows = ledger(out)
    assert {k: (r["status"], r["reason"]) for k, r in rows.items()} == {
        "10012": ("kept", None),
        "20345": ("kept", None),
        "30678": ("dropped", "excluded_record"),
    }
    assert "choose_img" in rows["30678"]["detail"]
    assert turns_and_images(found) == {
        "10012": (
            [user("<image>\nWhich shape is this?\nOptions:\nA. square\nB. circle\nC. triangle"),
             assistant("B. circle")],
            1,
        ),
        "20345": ([user("<image>\nHow many triangles are there?"), assistant("3")], 1),
    }  # fmt: skip
    assert found["10012"]["meta"]["task"] == "icon_qa"
    assert found["20345"]["meta"]["image_refs"] == ["iconqa/train/fill_in_blank/20345/image.png"]


def test_iconqa_fill_in_blank_with_empty_or_null_choices(tmp_path: Path) -> None:
    images = SAMPLES / "iconqa" / "images"
    problems = {
        "20345": {"question": "How many triangles are there?", "choices": [], "answer": 3,
                  "ques_type": "fill_in_blank", "split": "train"},
        "20346": {"question": "How many triangles are there?", "choices": None, "answer": "3",
                  "ques_type": "fill_in_blank", "split": "train"},
    }  # fmt: skip
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "problems.json").write_bytes(orjson.dumps(problems))
    (tmp_path / "img").mkdir()
    target = tmp_path / "img" / "iconqa" / "train" / "fill_in_blank"
    target.mkdir(parents=True)
    for pid in problems:
        (target / pid).mkdir()
        source = images / "iconqa" / "train" / "fill_in_blank" / "20345" / "image.png"
        (target / pid / "image.png").write_bytes(source.read_bytes())
    out = tmp_path / "out"
    build("iconqa", folder, tmp_path / "img", out)
    assert turns_and_images(chats(out)) == {
        pid: ([user("<image>\nHow many triangles are there?"), assistant("3")], 1)
        for pid in problems
    }


def test_allava_instruct_sample(tmp_path: Path) -> None:
    out, found = sample_build("allava_instruct", tmp_path)
    assert statuses(out) == {"0": ("kept", None)}
    assert turns_and_images(found) == {
        "0": (
            [
                user("<image>\nWhat kind of jewellery is shown, and what colour is it?"),
                assistant(
                    "The image shows a single silver ring, seen from above on a light grey "
                    'background, with the words "silver ring" below it.'
                ),
            ],
            1,
        )
    }
    meta = found["0"]["meta"]
    assert meta["image_refs"] == ["allava_laion/images/100277305.jpeg"]
    assert meta["id"] == "allava_laion_inst_100277305" and meta["license"].startswith("Apache")


def test_openai_role_content_turns_are_read_too(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    rows = [
        {"id": "openai_1", "image": "coco/train2017/000000000139.jpg", "conversations": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "What colour is the ball?"},
            {"role": "assistant", "content": "Red."},
            {"role": "user", "content": "And the box?"},
            {"role": "assistant", "content": "Green."}]},
    ]  # fmt: skip
    (folder / "chats.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    out = tmp_path / "out"
    build("lvis_instruct4v", folder, SAMPLES / "lvis_instruct4v" / "images", out)
    (sample,) = chats(out).values()
    assert sample["turns"] == [
        {"role": "system", "content": "Answer briefly."},
        user("<image>\nWhat colour is the ball?"),
        assistant("Red."),
        user("And the box?"),
        assistant("Green."),
    ]
    assert len(sample["images"]) == 1 and sample["meta"]["id"] == "openai_1"


# -- hostile paths in rows (the shared resolver) -----------------------------------------------


def llava_record(image: str, number: int) -> dict[str, Any]:
    return {
        "id": f"r{number}",
        "image": image,
        "conversations": [
            {"from": "human", "value": "<image>\nWhat is shown?"},
            {"from": "gpt", "value": "A red ball and a green box."},
        ],
    }


@pytest.mark.timeout(120)
def test_hostile_image_paths_are_refused_before_anything_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photo = encoded(picture("a red ball and a green box"))
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(photo)  # a valid image: reading it would keep the record
    (tmp_path / "outside_dir").mkdir()
    (tmp_path / "outside_dir" / "photo.jpg").write_bytes(photo)
    images = tmp_path / "images"
    (images / "real").mkdir(parents=True)
    (images / "real" / "inside.jpg").write_bytes(photo)
    (images / "x.jpg").write_bytes(photo)
    os.symlink("real/inside.jpg", images / "inside_link.jpg")
    os.symlink(outside, images / "escape.jpg")
    os.symlink("../outside.jpg", images / "escape_relative.jpg")
    os.symlink(tmp_path / "outside_dir", images / "outdir")
    os.mkfifo(images / "pipe.jpg")
    paths = {
        "../outside.jpg": "image_path_refused",
        "/etc/passwd": "image_path_refused",
        "a/../../x.jpg": "image_path_refused",
        "real\\inside.jpg": "image_path_refused",
        "real/inside.jpg\0.png": "image_path_refused",
        "escape.jpg": "image_path_refused",
        "escape_relative.jpg": "image_path_refused",
        "outdir/photo.jpg": "image_path_refused",
        "pipe.jpg": "image_path_refused",
        "inside_link.jpg": None,
        "./real/inside.jpg": None,
        "not_there.jpg": "missing_image",
    }
    folder = tmp_path / "in"
    folder.mkdir()
    records = [llava_record(path, n) for n, path in enumerate(paths)]
    (folder / "rows.json").write_bytes(orjson.dumps(records))
    opened: list[str] = []
    real_open = os.open

    def recording_open(path: Any, *args: Any, **kwargs: Any) -> int:
        if isinstance(path, str | bytes | os.PathLike):
            opened.append(os.path.realpath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", recording_open)
    out = tmp_path / "out"
    build("sharegpt4v", folder, images, out)
    monkeypatch.undo()
    found = statuses(out)
    assert found == {
        str(n): ("kept", None) if reason is None else ("dropped", reason)
        for n, reason in enumerate(paths.values())
    }
    assert os.path.realpath(images / "real" / "inside.jpg") in opened  # the recording works
    refused = {outside, tmp_path / "outside_dir" / "photo.jpg", Path("/etc/passwd")}
    assert not {os.path.realpath(path) for path in refused} & set(opened)
    assert os.path.realpath(images / "x.jpg") not in opened  # a/../../x.jpg is not x.jpg
    kept = chats(out)
    assert [len(kept[k]["images"]) for k in ("9", "10")] == [1, 1]
    assert kept["9"]["images"] == [photo] and kept["9"]["meta"]["image_refs"] == ["inside_link.jpg"]
    details = {key: row["detail"] for key, row in ledger(out).items()}
    assert "not a regular file" in details["8"]
    assert "outside --images" in details["5"]


def test_a_tar_given_as_images_is_read_by_relative_member_paths(tmp_path: Path) -> None:
    photo = encoded(picture("a red ball and a green box"))
    source = tmp_path / "photo.jpg"
    source.write_bytes(photo)
    archive = tmp_path / "images.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(source, arcname="coco/train2017/000000000139.jpg")
        tar.add(source, arcname="coco/val2017/000000498659.jpg")
    paths = {
        "coco/train2017/000000000139.jpg": ("kept", None),
        "coco/val2017/000000498659.jpg": ("kept", None),
        "../coco/train2017/000000000139.jpg": ("dropped", "image_path_refused"),
        "/coco/train2017/000000000139.jpg": ("dropped", "image_path_refused"),
        "coco/test2017/000000000001.jpg": ("dropped", "missing_image"),
    }
    folder = tmp_path / "in"
    folder.mkdir()
    records = [llava_record(path, n) for n, path in enumerate(paths)]
    (folder / "lvis_instruct4v_220k.json").write_bytes(orjson.dumps(records))
    out = tmp_path / "out"
    build("lvis_instruct4v", folder, archive, out)
    assert statuses(out) == {str(n): status for n, status in enumerate(paths.values())}
    kept = chats(out)
    assert {k: s["images"] for k, s in kept.items()} == {"0": [photo], "1": [photo]}


def test_an_iconqa_download_folder_is_read_by_its_problems_file_only(tmp_path: Path) -> None:
    """The download holds pid_splits.json and pid2skills.json beside problems.json: the
    adapter's record_files keep them from being read as records."""
    folder = tmp_path / "iconqa_data"
    shutil.copytree(SAMPLES / "iconqa", folder)
    (folder / "pid_splits.json").write_text('{"train": ["1", "2"], "val": []}')
    (folder / "pid2skills.json").write_text('{"1": ["counting"]}')
    out = tmp_path / "out"
    build("iconqa", folder, folder / "images", out)
    files = {doc.rpartition("#")[0] for doc in documents(out)}
    assert files == {"iconqa_data/problems.json"}
    assert {row["status"] for row in documents(out).values()} == {"kept", "dropped"}
