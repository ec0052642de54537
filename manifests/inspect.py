"""``vlpipe inspect``: a self-contained HTML contact sheet of a build's samples and drops."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import orjson
from PIL import Image

from vlpipe.manifests.ledger import read_documents
from vlpipe.manifests.shards import iter_samples
from vlpipe.manifests.stats import summarize
from vlpipe.manifests.store import Store, open_store

IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "webp")
TEXT_EXTENSIONS = ("py", "md", "txt", "html", "chat.json")
THUMBNAIL_SIDE = 320
STYLE = """body{font-family:sans-serif;margin:1.5em;background:#fafafa}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:1em}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.6em;overflow:hidden}
.card img{max-width:100%;display:block;margin:auto;background:#fff}
pre{white-space:pre-wrap;font-size:11px;max-height:18em;overflow:auto;background:#eee}
.meta{font-size:11px;color:#555}table{border-collapse:collapse}
td,th{padding:2px 8px;text-align:left}"""


def thumbnail(data: bytes) -> str:
    image = Image.open(io.BytesIO(data))
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=80)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


def sample_card(sample: dict[str, bytes]) -> str:
    image = next((sample[e] for e in sample if e.rsplit(".", 1)[-1] in IMAGE_EXTENSIONS), None)
    text = next((sample[e] for e in TEXT_EXTENSIONS if e in sample), b"")
    meta = orjson.loads(sample.get("json", b"{}"))
    if "chat.json" in sample:
        turns = orjson.loads(text)
        text = "\n\n".join(f"[{t['role']}] {t['content']}" for t in turns).encode()
    parts = [
        f'<div class="card"><div class="meta"><b>{html.escape(sample["__key__"].decode())}'
        f"</b> · {html.escape(str(meta.get('kind')))} / {html.escape(str(meta.get('task')))}"
        f"<br>{html.escape(str(meta.get('doc_id')))}</div>"
    ]
    if image is not None:
        parts.append(f'<img src="{thumbnail(image)}" alt="sample image">')
    parts.append(f"<pre>{html.escape(text.decode('utf-8', 'replace')[:3000])}</pre></div>")
    return "".join(parts)


def write_contact_sheet(output: Store | Path | str, limit: int = 60) -> str:
    """Write ``OUT/inspect.html`` with the build summary, drop examples and the first samples;
    returns where it went."""
    out = open_store(output)
    summary = summarize(out)
    rows = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(orjson.dumps(v).decode())}</td></tr>"
        for k, v in summary.items()
    )
    documents = read_documents(out).to_pylist()
    problems = [d for d in documents if d["status"] != "kept"][:limit]
    problem_rows = "".join(
        f"<tr><td>{html.escape(d['status'])}</td><td>{html.escape(d['doc_id'])}</td>"
        f"<td>{html.escape(d['reason'] or d['error_class'] or '')}</td>"
        f"<td>{html.escape((d['detail'] or d['error'] or '')[:200])}</td></tr>"
        for d in problems
    )
    cards = []
    for number, sample in enumerate(iter_samples(out)):
        if number >= limit:
            break
        cards.append(sample_card(sample))
    page = (
        f"<!doctype html><meta charset=utf-8><title>vlpipe inspect {html.escape(out.url)}</title>"
        f"<style>{STYLE}</style><h1>{html.escape(out.url)}</h1><table>{rows}</table>"
        f"<h2>Dropped and failed (first {limit})</h2><table>{problem_rows}</table>"
        f"<h2>Samples (first {limit})</h2><div class=grid>{''.join(cards)}</div>"
    )
    out.write("inspect.html", page.encode("utf-8"))
    return out.uri("inspect.html")
