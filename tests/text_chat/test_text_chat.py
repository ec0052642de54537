"""The text and chat sources: bundled samples, table inputs, and their bad inputs."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from tests.jupyter.helpers import build, documents, png_bytes
from vlpipe.manifests.stats import summarize
from vlpipe.recipe import load_recipe


def members(out: Path) -> dict[str, bytes]:
    found = {}
    for shard in sorted((out / "shards").glob("*.tar")):
        with tarfile.open(shard) as tar:
            found.update({m.name: tar.extractfile(m).read() for m in tar.getmembers()})
    return found


def test_bundled_text_and_chat_samples_build(tmp_path: Path) -> None:
    for source in ("text", "chat"):
        result = subprocess.run(
            [sys.executable, "-m", "vlpipe", "build", "--source", source, "--executor", "inline"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
        )
        assert result.returncode == 0, result.stderr
    text = summarize(tmp_path / "out" / "text")
    assert (text["read"], text["samples"], text["dropped"]) == (8, 7, {"text_length/too_short": 1})
    chat = summarize(tmp_path / "out" / "chat")
    assert (chat["read"], chat["samples"]) == (9, 9)
    files = members(tmp_path / "out" / "chat")
    conversations = {n: orjson.loads(d) for n, d in files.items() if n.endswith(".chat.json")}
    with_images = [n for n in conversations if n.replace(".chat.json", ".0.png") in files]
    assert len(with_images) == 8
    shared_gpt = next(c for n, c in conversations.items() if n not in with_images)
    assert [m["role"] for m in shared_gpt] == ["user", "assistant"]
    zh = [
        orjson.loads(d)
        for n, d in members(tmp_path / "out" / "text").items()
        if n.endswith(".json")
    ]
    assert {m["lang"] for m in zh} == {"en", "zh"} and all(m["kind"] == "text" for m in zh)


def test_text_files_and_rows_with_bad_input(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    body = (
        "The lighthouse keeper climbed the spiral stair before dawn and wound the great clock "
        "that turned the lens. From the gallery he could see the fishing boats leaving the "
        "harbour, their lamps still burning against the grey water. He wrote the weather in "
        "his log: a light wind from the west, a falling glass, and rain expected by evening. "
        "Then he trimmed the wicks, polished the brass, and went down to make his breakfast."
    )
    (folder / "good.txt").write_text(body, encoding="utf-8")
    (folder / "bom.txt").write_bytes(b"\xef\xbb\xbf" + body.encode())
    (folder / "latin1.txt").write_bytes(body.encode() + b"caf\xe9")
    (folder / "short.txt").write_text("tiny")
    pq.write_table(
        pa.table({"text": [body, None, "x" * 300_001], "id": ["r1", "r2", "r3"]}),
        folder / "rows.parquet",
    )
    pq.write_table(pa.table({"content": [body]}), folder / "wrong_schema.parquet")
    out = tmp_path / "out"
    build([folder], out, load_recipe("text"))
    rows = documents(out)
    status = {
        doc_id.removeprefix("in/"): (r["status"], r["reason"] or r["error_class"])
        for doc_id, r in rows.items()
    }
    assert status == {
        "good.txt": ("kept", None),
        "bom.txt": ("kept", None),
        "latin1.txt": ("failed", "InvalidText"),
        "short.txt": ("dropped", "too_short"),
        "rows.parquet#row0": ("kept", None),
        "rows.parquet#row1": ("failed", "MissingContent"),
        "rows.parquet#row2": ("dropped", "too_long"),
        "wrong_schema.parquet": ("failed", "MissingColumns"),
    }
    texts = [d for n, d in members(out).items() if n.endswith(".txt")]
    assert all(t.decode() == body.strip() for t in texts)


def chat_row(doc_id: str, messages: list, images: list | None = None) -> bytes:
    row = {"id": doc_id, "messages": messages}
    if images is not None:
        row["images"] = images
    return json.dumps(row).encode() + b"\n"


def test_chat_rows_with_bad_input(tmp_path: Path) -> None:
    png = base64.b64encode(png_bytes(64, 64)).decode()
    ask = {"role": "user", "content": "<image>\nWhat is shown?"}
    answer = {"role": "assistant", "content": "A red square."}
    lines = [
        chat_row("ok", [ask, answer], [png]),
        chat_row(
            "auto_placeholder", [{"role": "user", "content": "Describe."}, answer], [png, png]
        ),
        chat_row("mismatch", [ask, {"role": "user", "content": "<image> again"}, answer], [png]),
        chat_row("no_answer", [ask], [png]),
        chat_row("bad_role", [{"role": "wizard", "content": "hi"}, answer]),
        chat_row("not_a_list", "hello"),  # type: ignore[arg-type]
        chat_row("path_not_bytes", [ask, answer], ["/etc/passwd"]),
        chat_row(
            "corrupt_png", [ask, answer], [base64.b64encode(png_bytes(64, 64)[:-30]).decode()]
        ),
        chat_row("not_an_image", [ask, answer], [base64.b64encode(b"<svg/> or anything").decode()]),
        chat_row("too_many", [ask, answer], [png] * 9),
        b"{not json\n",
    ]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "chats.jsonl").write_bytes(b"".join(lines))
    out = tmp_path / "out"
    build([folder], out, load_recipe("chat"))
    names = [orjson.loads(line)["id"] for line in lines[:-1]]
    status = {
        names[int(doc_id.rpartition("#L")[2]) - 1] if doc_id != "in/chats.jsonl#L11" else doc_id: (
            r["status"],
            r["reason"] or r["error_class"],
        )
        for doc_id, r in documents(out).items()
    }
    assert status == {
        "ok": ("kept", None),
        "auto_placeholder": ("kept", None),
        "mismatch": ("dropped", "image_placeholder_mismatch"),
        "no_answer": ("dropped", "no_assistant_turn"),
        "bad_role": ("failed", "InvalidChat"),
        "not_a_list": ("failed", "InvalidChat"),
        "path_not_bytes": ("dropped", "corrupt_base64"),
        "corrupt_png": ("dropped", "corrupt_image"),
        "not_an_image": ("dropped", "not_an_image"),
        "too_many": ("dropped", "too_many_images"),
        "in/chats.jsonl#L11": ("failed", "InvalidJSON"),
    }
    files = members(out)
    auto = next(
        orjson.loads(d) for n, d in files.items() if n.endswith(".chat.json") and b"Describe" in d
    )
    assert auto[0]["content"] == "<image><image>\nDescribe."
    assert sum(1 for n in files if n.endswith(".png")) == 3


def test_chat_rows_from_parquet_with_hf_image_structs(tmp_path: Path) -> None:
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    table = pa.table(
        {
            "messages": [
                [
                    {"role": "user", "content": "<image>\nColour?"},
                    {"role": "assistant", "content": "Red."},
                ]
            ],
            "images": pa.array(
                [[{"bytes": png_bytes(32, 32), "path": None}]], pa.list_(image_type)
            ),
            "id": ["p1"],
        }
    )
    (tmp_path / "in").mkdir()
    pq.write_table(table, tmp_path / "in" / "chat.parquet")
    out = tmp_path / "out"
    build([tmp_path / "in"], out, load_recipe("chat"))
    assert documents(out)["in/chat.parquet#row0"]["status"] == "kept"
    meta = next(orjson.loads(d) for n, d in members(out).items() if n.endswith("0000.json"))
    (image,) = meta["images"]
    assert meta["kind"] == "chat" and (image["format"], image["width"], image["height"]) == (
        "png",
        32,
        32,
    )
