"""The MMC4 source: rows in MMC4's published schema (and OBELICS-style rows), images placed where
they belong, the source's rules, a ledger row for every image, ``--images`` and a loopback server
giving the same samples, hostile servers, and resume after SIGKILL mid-download."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.jupyter.helpers import png_bytes
from tests.mmc4.conftest import ImageServer, redirect
from tests.mmc4.helpers import (
    build,
    mmc4_recipe,
    mmc4_row,
    photo,
    samples,
    shard_members,
    write_jsonl,
)
from vlpipe.manifests.stats import summarize
from vlpipe.recipe import load_recipe
from vlpipe.sources.mmc4 import Mmc4Options
from vlpipe.sources.mmc4.step import (
    InvalidDocument,
    parse_document,
    render_text,
    select_images,
)

SENTENCES = [
    "The harbour wakes before dawn, when the first boats slip their moorings and head out to sea.",
    "Fishermen sort the night's catch on the quay while gulls circle overhead in the grey light.",
    "By midmorning the market stalls are full of crabs, mussels and silver mackerel on ice.",
    "In the afternoon the tide goes out and the boats rest on the mud until evening comes again.",
]


def image_spec(name: str, url: str, index: int, **extra: Any) -> dict[str, Any]:
    return {"image_name": name, "raw_url": url, "matched_text_index": index, **extra}


# -- rows and placement (pure) -----------------------------------------------------------------


def test_an_image_goes_before_its_matched_sentence_in_image_info_order() -> None:
    row = mmc4_row(
        "http://example.com/a",
        ["S0.", "S1.", "S2."],
        [
            image_spec("a.jpg", "http://example.com/a.jpg", 2),
            image_spec("b.jpg", "http://example.com/b.jpg", 0),
            image_spec("c.jpg", "http://example.com/c.jpg", 2),
        ],
    )
    document = parse_document(row)
    assert render_text(document, document.images) == "<image> S0. S1. <image> <image> S2."
    assert render_text(document, document.images[:1]) == "S0. S1. <image> S2."


def test_obelics_rows_keep_their_own_order_and_a_literal_placeholder_is_removed() -> None:
    row = {
        "texts": ["Intro <image> text.", None, "Middle.", None, None],
        "images": [None, "http://example.com/1.jpg", None, "http://example.com/2.jpg",
                   "http://example.com/3.jpg"],
        "general_metadata": '{"url": "http://example.com/page"}',
        "metadata": "[]",
    }  # fmt: skip
    document = parse_document(row)
    assert (document.layout, document.url) == ("obelics", "http://example.com/page")
    assert [image.position for image in document.images] == [1, 2, 2]
    expected = "Intro  text.\n\n<image>\n\nMiddle.\n\n<image>\n\n<image>"
    assert render_text(document, document.images) == expected


@pytest.mark.parametrize(
    "row",
    [
        [],
        {"url": "http://example.com"},
        {"text_list": "not a list"},
        {"text_list": ["a"], "image_info": "nope"},
        {"texts": ["a", None], "images": [None]},
        {"texts": ["a"], "images": ["http://example.com/both.jpg"]},
    ],
)
def test_rows_that_are_not_documents_are_refused(row: Any) -> None:
    with pytest.raises(InvalidDocument):
        parse_document(row)


def test_the_source_rules_leave_images_out_or_drop_the_document() -> None:
    images = [
        image_spec("ok.jpg", "http://example.com/ok.jpg", 0, matched_sim=0.3),
        image_spec("low.jpg", "http://example.com/low.jpg", 1, matched_sim=0.1),
        image_spec("face.jpg", "http://example.com/face.jpg", 1, face_detections=[{"x": 1}]),
        image_spec("far.jpg", "http://example.com/far.jpg", 9),
    ]
    document = parse_document(mmc4_row("http://example.com", SENTENCES, images))
    selection = select_images(document, Mmc4Options(min_matched_sim=0.24))
    assert [image.image_name for image in selection.wanted] == ["ok.jpg"]
    assert {n: reason for n, (reason, _) in selection.left_out.items()} == {
        1: "low_matched_sim",
        2: "face_detected",
        3: "invalid_text_index",
    }
    assert selection.drop is None
    kept_faces = select_images(document, Mmc4Options(drop_face_images=False, max_images=1))
    assert kept_faces.drop is not None and kept_faces.drop.reason == "too_many_images"
    none_left = select_images(document, Mmc4Options(min_matched_sim=0.5, min_images=1))
    assert none_left.drop is not None and none_left.drop.reason == "too_few_images"


# -- builds ------------------------------------------------------------------------------------


def corpus(server: ImageServer, folder: Path, documents: int = 4) -> list[dict[str, Any]]:
    """``documents`` rows whose images are both in ``folder/images`` (by image_name) and served
    by ``server`` (by raw_url); document 1 puts two images on one sentence."""
    images = folder / "images"
    images.mkdir(parents=True, exist_ok=True)
    rows = []
    for number in range(documents):
        specs = []
        for index in range(2 + number % 2):
            name = f"{number:04d}{index:02d}abcdef.jpg"
            data = photo(1000 + 10 * number + index, fmt="PNG" if index == 1 else "JPEG")
            (images / name).write_bytes(data)
            url = server.image(f"/img/{name}", data)
            sentence = 1 if number == 1 else (index * 2 + number) % len(SENTENCES)
            specs.append(image_spec(name, url, sentence, matched_sim=0.3))
        rows.append(mmc4_row(f"http://example.com/page/{number}", SENTENCES, specs))
    return rows


def served(server: ImageServer, fetch: dict[str, Any] | None = None, **options: Any) -> Any:
    """The bundled recipe, fetching from ``server`` (its port allowed) with short timeouts."""
    allowed = {"allow_loopback_ports": [server.port], "backoff_s": 0.01, "timeout_s": 1.0}
    return mmc4_recipe(**options, fetch=allowed | (fetch or {}))


def assets(out: Path) -> list[dict[str, Any]]:
    return pq.read_table(out / "ledger" / "assets").to_pylist()


def test_local_images_and_a_server_give_the_same_samples(
    server: ImageServer, tmp_path: Path
) -> None:
    rows = corpus(server, tmp_path / "given")
    table = write_jsonl(tmp_path / "in" / "docs_no_face_shard_7_v2.jsonl", rows)
    local, fetched = tmp_path / "local", tmp_path / "fetched"
    images = str(tmp_path / "given" / "images")
    build([table], local, mmc4_recipe(input={"images": images}))
    assert sum(server.requests.values()) == 0
    build([table], fetched, served(server))
    assert shard_members(local) == shard_members(fetched)
    by_doc = samples(fetched)
    assert len(by_doc) == 4
    two_on_one = by_doc["in/docs_no_face_shard_7_v2.jsonl#L2"]
    assert two_on_one["text"].startswith(f"{SENTENCES[0]} <image> <image> <image> {SENTENCES[1]}")
    assert [i["image_name"] for i in two_on_one["meta"]["image_info"]] == [
        "000100abcdef.jpg", "000101abcdef.jpg", "000102abcdef.jpg"
    ]  # fmt: skip
    for sample in by_doc.values():
        assert sample["text"].count("<image>") == len(sample["images"])
        assert sample["meta"]["kind"] == "interleaved" and sample["meta"]["sentences"] == 4
    statuses = {out.name: sorted({a["status"] for a in assets(out)}) for out in (local, fetched)}
    assert statuses == {"local": ["local"], "fetched": ["fetched"]}
    ledger = assets(fetched)
    assert len(ledger) == 10 and all(a["sample_key"] and a["sha256"] for a in ledger)
    assert summarize(fetched)["assets"]["success_rate"] == 1.0


def test_images_from_a_tar_and_no_paths_outside_the_given_images(
    server: ImageServer, tmp_path: Path
) -> None:
    rows = corpus(server, tmp_path / "given", documents=2)
    (tmp_path / "given" / "outside.jpg").write_bytes(photo(77))
    sneaky = [image_spec(name, None, 0) for name in ("../outside.jpg", "/etc/passwd", "..")]  # type: ignore[arg-type]
    rows.append(mmc4_row("http://example.com/sneaky", SENTENCES, sneaky))
    table = write_jsonl(tmp_path / "in" / "docs.jsonl", rows)
    archive = tmp_path / "images.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(tmp_path / "given" / "images", arcname="mmc4_images")
    from_folder, from_tar = tmp_path / "folder", tmp_path / "tar"
    build([table], from_folder, mmc4_recipe(input={"images": str(tmp_path / "given" / "images")}))
    build([table], from_tar, mmc4_recipe(input={"images": str(archive)}))
    assert shard_members(from_folder) == shard_members(from_tar)
    assert sum(server.requests.values()) == 0
    refused = [a for a in assets(from_tar) if a["doc_id"].endswith("#L3")]
    assert [a["reason"] for a in refused] == ["no_source"] * 3
    missing = subprocess.run(
        [sys.executable, "-m", "vlpipe", "build", "--source", "mmc4", "--executor", "inline",
         "--input", str(table), "--output", str(tmp_path / "x"), "--images", str(tmp_path / "no")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 2 and "--images" in missing.stderr


def test_a_zipped_shard_and_a_repeated_build_reuse_the_cache(
    server: ImageServer, tmp_path: Path
) -> None:
    rows = corpus(server, tmp_path / "given", documents=2)
    folder = tmp_path / "in"
    folder.mkdir()
    lines = b"".join(orjson.dumps(row) + b"\n" for row in rows)
    with zipfile.ZipFile(folder / "docs_no_face_shard_3_v2.jsonl.zip", "w") as archive:
        archive.writestr("docs_no_face_shard_3_v2.jsonl", lines, zipfile.ZIP_DEFLATED)
    out = tmp_path / "out"
    build([folder], out, served(server))
    assert summarize(out)["samples"] == 2 and sum(server.requests.values()) == 5
    assert sorted(samples(out)) == [f"in/docs_no_face_shard_3_v2.jsonl.zip#L{n}" for n in (1, 2)]
    first = shard_members(out)
    for name in ("shards", "ledger", "build.json"):
        shutil.rmtree(out / name) if (out / name).is_dir() else (out / name).unlink()
    build([folder], out, served(server))  # the same build again: every image from the cache
    assert sum(server.requests.values()) == 5
    assert {a["status"] for a in assets(out)} == {"cached"}
    assert shard_members(out) == first


def test_gzip_jsonl_and_parquet_give_the_same_samples(server: ImageServer, tmp_path: Path) -> None:
    rows = corpus(server, tmp_path / "given", documents=3)
    folder = tmp_path / "in"
    plain = write_jsonl(folder / "docs_no_face_shard_1_v2.jsonl", rows)
    (folder / "docs_no_face_shard_2_v2.jsonl.gz").write_bytes(gzip.compress(plain.read_bytes()))
    pq.write_table(pa.Table.from_pylist(rows), folder / "docs_no_face_shard_3_v2.parquet")
    recipe = mmc4_recipe(input={"images": str(tmp_path / "given" / "images")})
    found = {}
    for table in sorted(folder.iterdir()):
        out = tmp_path / table.name
        build([table], out, recipe)
        found[table.name] = sorted(
            (s["text"], s["images"], {k: v for k, v in s["meta"].items() if k != "doc_id"})
            for s in samples(out).values()
        )
    first, *others = found.values()
    assert len(first) == 3 and all(other == first for other in others)
    assert sum(server.requests.values()) == 0


@pytest.mark.parametrize(
    ("min_ink", "resize"),
    [(None, "longest_side"), (0.002, "keep")],  # fails to decode when resized / when measured
)
def test_an_image_that_passes_a_light_screening_but_does_not_decode_is_left_out(
    tmp_path: Path, min_ink: float | None, resize: str
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    whole = photo(41, (400, 300))
    (images / "whole.jpg").write_bytes(whole)
    (images / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    specs = [image_spec(name, None, 0) for name in ("cut.jpg", "whole.jpg")]  # type: ignore[arg-type]
    table = write_jsonl(
        tmp_path / "in" / "docs.jsonl", [mmc4_row("http://example.com/", SENTENCES, specs)]
    )
    data = mmc4_recipe(input={"images": str(images)}).model_dump()
    data["filters"][0]["image"].update(full_decode=False, min_ink=min_ink)
    data["mmc4"]["resize"].update(mode=resize, size=100)
    out = tmp_path / "out"
    build([table], out, type(load_recipe("mmc4")).model_validate(data))
    cut, kept = assets(out)
    assert (cut["status"], cut["reason"], kept["status"]) == ("dropped", "corrupt_image", "local")
    assert "does not decode: image file is truncated" in cut["detail"]
    (sample,) = samples(out).values()
    assert sample["text"].count("<image>") == len(sample["images"]) == 1


def test_hostile_images_end_as_reasons_and_a_document_keeps_its_good_images(
    server: ImageServer, elsewhere: ImageServer, tmp_path: Path
) -> None:
    server.routes["/escape"] = redirect(elsewhere.url("/secret.jpg"))
    server.image("/blank.png", png_bytes(64, 64, (255, 255, 255)))
    hostile = [
        "/missing.jpg", "/broken.jpg", "/slow.jpg", "/huge.jpg", "/page.jpg", "/bomb.png",
        "/noai.jpg", "/loop-a", "/truncated.jpg", "/escape", "/blank.png",
    ]  # fmt: skip
    specs = [image_spec(f"h{n}.jpg", server.url(p), 0) for n, p in enumerate(hostile)]
    specs.append(image_spec("good.jpg", server.url("/good.jpg"), 3))
    specs.append(image_spec("metadata.jpg", "http://169.254.169.254/latest/meta-data/", 1))
    rows = [
        mmc4_row("http://example.com/mixed", SENTENCES, specs),
        mmc4_row("http://example.com/bad", SENTENCES, specs[:3]),
    ]
    table = write_jsonl(tmp_path / "in" / "docs.jsonl", rows)
    out = tmp_path / "out"
    build([table], out, served(server, fetch={"retries": 1, "timeout_s": 0.5}))
    ledger = assets(out)
    reasons = {a["url"].rstrip("/").rsplit("/", 1)[-1]: a["reason"] for a in ledger[:13]}
    assert reasons == {
        "missing.jpg": "http_404", "broken.jpg": "http_5xx", "slow.jpg": "timeout",
        "huge.jpg": "too_large", "page.jpg": "not_an_image", "bomb.png": "decompression_bomb",
        "noai.jpg": "opted_out", "loop-a": "redirect_loop", "truncated.jpg": "truncated",
        "escape": "blocked_address", "blank.png": "near_uniform", "good.jpg": None,
        "meta-data": "blocked_address",
    }  # fmt: skip
    assert sum(elsewhere.requests.values()) == 0
    by_doc = samples(out)
    (kept,) = by_doc.values()
    assert kept["text"] == " ".join(SENTENCES[:3]) + " <image> " + SENTENCES[3]
    rows_by_id = {r["doc_id"]: r for r in pq.read_table(out / "ledger" / "documents").to_pylist()}
    bad = rows_by_id["in/docs.jsonl#L2"]
    assert (bad["status"], bad["filter"], bad["reason"]) == ("dropped", "mmc4", "too_few_images")
    assert "http_404 1" in bad["detail"] and "timeout 1" in bad["detail"]
    assert len(ledger) == 13 + 3  # a row for every image of every document
    stats = summarize(out)["assets"]
    assert stats["total"] == 16 and stats["by_status"]["fetched"] == 1
    assert stats["dropped"]["blocked_address"] == 2


def test_obelics_rows_from_a_server(server: ImageServer, tmp_path: Path) -> None:
    row = {
        "texts": [SENTENCES[0], None, SENTENCES[1], None],
        "images": [None, server.image("/o1.jpg", photo(31)), None, server.url("/missing.jpg")],
        "general_metadata": orjson.dumps({"url": "http://example.com/wiki"}).decode(),
    }
    table = write_jsonl(tmp_path / "in" / "obelics.jsonl", [row])
    out = tmp_path / "out"
    build([table], out, served(server))
    (sample,) = samples(out).values()
    assert sample["text"] == f"{SENTENCES[0]}\n\n<image>\n\n{SENTENCES[1]}"
    assert (
        sample["meta"]["layout"] == "obelics" and sample["meta"]["url"] == "http://example.com/wiki"
    )
    assert [a["reason"] for a in assets(out)] == [None, "http_404"]


def test_bad_rows_fail_alone(server: ImageServer, tmp_path: Path) -> None:
    rows = corpus(server, tmp_path / "given", documents=1)
    lines = [orjson.dumps(rows[0]), b'{"text_list": 5}', b"[1, 2]", b"{not json"]
    table = tmp_path / "in" / "docs.jsonl"
    table.parent.mkdir()
    table.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "out"
    build([table], out, served(server))
    summary = summarize(out)
    failed = {"InvalidDocument": 1, "InvalidJSON": 1, "MissingContent": 1}
    assert (summary["kept"], summary["failed"]) == (1, failed)


def test_odd_values_in_a_row_leave_images_out_instead_of_breaking_the_build(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    (images / "good.jpg").write_bytes(photo(51))
    odd = [
        {"image_name": "good.jpg", "raw_url": 42, "matched_text_index": 0, "matched_sim": "high"},
        {"image_name": {"x": 1}, "raw_url": None, "matched_text_index": 1},
        {"image_name": "good.jpg", "raw_url": None, "matched_text_index": "2"},
        {"image_name": "good.jpg", "raw_url": None, "matched_text_index": True},
        {"image_name": "good.jpg", "raw_url": None, "matched_text_index": -1},
        {
            "image_name": "good.jpg",
            "raw_url": None,
            "matched_text_index": 1,
            "face_detections": "y",
        },
    ]
    row = {"url": 7, "text_list": SENTENCES, "image_info": odd, "lang": 5, "license": ["x"]}
    table = write_jsonl(tmp_path / "in" / "docs.jsonl", [row])
    out = tmp_path / "out"
    build([table], out, mmc4_recipe(input={"images": str(images)}))
    reasons = [a["reason"] for a in assets(out)]
    assert reasons == [None, "no_source"] + ["invalid_text_index"] * 3 + ["face_detected"]
    (sample,) = samples(out).values()
    meta = sample["meta"]
    assert (meta["lang"], meta["license"], meta["url"]) == ("en", "ODC-BY-1.0", None)
    assert meta["image_info"][0]["matched_sim"] is None and sample["text"].startswith("<image> ")


def test_the_bundled_samples_build_offline(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vlpipe", "build", "--source", "mmc4", "--executor", "inline"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = summarize(tmp_path / "out" / "mmc4")
    assert (summary["read"], summary["samples"]) == (3, 3)
    assert summary["assets"]["by_status"] == {"dropped": 2, "local": 7}
    assert summary["assets"]["dropped"] == {"face_detected": 1, "low_matched_sim": 1}


# -- resume ------------------------------------------------------------------------------------


def test_a_build_killed_mid_download_resumes_without_fetching_an_image_twice(
    server: ImageServer, tmp_path: Path
) -> None:
    rows = corpus(server, tmp_path / "given", documents=8)
    table = write_jsonl(tmp_path / "in" / "docs.jsonl", rows)
    later = {f"/img/{i['image_name']}" for row in rows[2:] for i in row["image_info"]}
    server.held = later  # chunk 0 (two documents) completes; the rest waits
    recipe_file = tmp_path / "recipe.yaml"
    recipe = served(server, output={"docs_per_chunk": 2})
    recipe_file.write_bytes(orjson.dumps(recipe.model_dump(mode="json")))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "vlpipe", "build", "--source", "mmc4", "--executor",
               "inline", "--input", str(table), "--output", str(out),
               "--recipe", str(recipe_file)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    committed = out / "ledger" / "documents" / "u00000-c00000.parquet"
    deadline = time.monotonic() + 60
    while not (committed.exists() and any(server.requests[p] for p in later)):
        assert time.monotonic() < deadline and process.poll() is None, "the build never got there"
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    server.answer_held = False  # what was asked before the kill is never answered
    server.release.set()
    server.held = set()
    served_before = sum(server.served.values())
    assert 0 < served_before < 20
    resumed = subprocess.run(command, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert max(server.served.values()) == 1  # no image was fetched twice
    assert sum(server.served.values()) == 20
    reference = tmp_path / "reference"
    build([table], reference, recipe)
    assert shard_members(out) == shard_members(reference)
    assert summarize(out)["samples"] == 8
