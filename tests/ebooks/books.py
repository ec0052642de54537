"""Builders for the test books and pages (text written for vlpipe, public domain), and the
bundled samples: ``python -m tests.ebooks.books`` rewrites ``sources/ebooks/samples/`` and
``sources/websight/samples/``."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import orjson
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[2]
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf")

EN_SENTENCES = (
    "The keeper climbed the spiral stair before dawn and wound the great clock of the lamp.",
    "Salt wind rattled the panes while gulls argued over the rocks below the tower.",
    "Every evening she wrote the weather in a green ledger, one careful line per day.",
    "Ships passed far out on the grey water and answered the beam with a single horn.",
    "In winter the supply boat came only twice, bringing oil, flour, letters and seeds.",
    "Her brother had taught her to mend nets, and she taught the children of the village.",
    "Fog rolled in from the south and swallowed the harbour, the church and the hills.",
    "The old lens was ground in a city she had never seen, polished by hands long gone.",
)
ZH_SENTENCES = (
    "清晨，守灯人沿着螺旋楼梯登上灯塔，为灯具上好发条。",
    "海风带着盐味吹过窗户，海鸥在塔下的礁石上争吵不休。",
    "每天傍晚，她都在绿色的本子上记下当天的天气，一天一行。",
    "远处的船只驶过灰色的海面，用一声汽笛回应灯塔的光芒。",
    "冬天补给船只来两次，带来灯油、面粉、信件和种子。",
    "雾从南方涌来，吞没了港口、教堂和远处的山丘。",
    "那块旧透镜在她从未去过的城市里磨成，经过许多双手的打磨。",
)


def en_paragraphs(count: int, start: int = 1) -> list[str]:
    """Numbered paragraphs of three sentences each; the number makes each one findable."""
    return [
        f"Paragraph {n}. " + " ".join(EN_SENTENCES[(n + k) % len(EN_SENTENCES)] for k in range(3))
        for n in range(start, start + count)
    ]


def zh_paragraphs(count: int, start: int = 1) -> list[str]:
    return [
        f"第{n}段。" + "".join(ZH_SENTENCES[(n + k) % len(ZH_SENTENCES)] for k in range(3))
        for n in range(start, start + count)
    ]


def png(width: int, height: int, color: tuple[int, int, int] = (40, 90, 160)) -> bytes:
    image = Image.new("RGB", (width, height), (250, 250, 245))
    draw = ImageDraw.Draw(image)
    draw.rectangle((width // 8, height // 8, width * 7 // 8, height * 7 // 8), fill=color)
    draw.ellipse((width // 3, height // 4, width * 2 // 3, height * 3 // 4), fill=(240, 200, 60))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def xhtml(title: str, body: str, lang: str = "en", css: str = "../css/book.css") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html>\n'
        f'<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops"'
        f' lang="{lang}" xml:lang="{lang}">\n<head><title>{title}</title>'
        f'<link rel="stylesheet" type="text/css" href="{css}"/></head>\n'
        f"<body>\n{body}\n</body>\n</html>\n"
    )


def paragraphs_html(paragraphs: list[str]) -> str:
    return "\n".join(f"<p>{p}</p>" for p in paragraphs)


def container(opf: str = "OEBPS/content.opf") -> str:
    return (
        '<?xml version="1.0"?>\n'
        '<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
        f'<rootfiles><rootfile full-path="{opf}" media-type="application/oebps-package+xml"/>'
        "</rootfiles></container>"
    )


def opf(
    chapters: list[str],
    *,
    title: str,
    lang: str,
    version: str = "3.0",
    rights: str = "Public domain",
    extra_items: dict[str, str] | None = None,
    spine: list[str] | None = None,
) -> str:
    """An OPF whose manifest holds ``chapters`` (ids ``c0`` …) and ``extra_items`` (href → type);
    ``spine`` overrides the reading order (idrefs)."""
    items = [
        f'<item id="c{n}" href="{href}" media-type="application/xhtml+xml"/>'
        for n, href in enumerate(chapters)
    ]
    items += [
        f'<item id="x{n}" href="{href}" media-type="{kind}"/>'
        for n, (href, kind) in enumerate((extra_items or {}).items())
    ]
    refs = "".join(
        f'<itemref idref="{i}"/>' for i in spine or [f"c{n}" for n in range(len(chapters))]
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<package xmlns="http://www.idpf.org/2007/opf"'
        f' version="{version}" unique-identifier="uid">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<dc:title>{title}</dc:title><dc:language>{lang}</dc:language>"
        f'<dc:identifier id="uid">urn:vlpipe:test:{title.replace(" ", "-")}</dc:identifier>'
        f"<dc:creator>vlpipe authors</dc:creator><dc:rights>{rights}</dc:rights></metadata>"
        f"<manifest>{''.join(items)}</manifest><spine>{refs}</spine></package>"
    )


def zip_book(members: dict[str, bytes | str]) -> bytes:
    """An EPUB zip: ``mimetype`` first and stored, as the OCF spec asks."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip", zipfile.ZIP_STORED)
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), data)
    return buffer.getvalue()


BOOK_CSS = """
body { font-family: serif; }
h1 { font-size: 1.6em; text-align: center; }
p { margin: 0 0 0.8em 0; text-align: justify; }
figure { text-align: center; margin: 1em 0; }
aside { font-size: 0.85em; border-top: 1px solid #888; }
"""
FONT_CSS = """
@font-face { font-family: "BookMono"; src: url("../fonts/BookMono.ttf"); }
.mono, .mono p { font-family: "BookMono", serif; }
"""


def en_book(*, paragraphs: int = 30, font: bool = False) -> bytes:
    """An EPUB 3 book: a cover that is only an image, a long chapter, a chapter with a figure
    and a footnote, and (``font``) a chapter set in a font shipped inside the book."""
    cover = xhtml(
        "Cover", '<div><img src="../images/cover.png" alt="" width="600" height="800"/></div>'
    )
    long_chapter = xhtml(
        "One", "<h1>Chapter One</h1>\n" + paragraphs_html(en_paragraphs(paragraphs))
    )
    figure = xhtml(
        "Two",
        "<h1>Chapter Two</h1>\n"
        + paragraphs_html(en_paragraphs(2, start=paragraphs + 1))
        + '\n<figure><img src="../images/lamp.png" alt="the lamp" width="300" height="200"/>'
        "<figcaption>Figure 1. The lamp room at night.</figcaption></figure>\n"
        '<p>The lens was cleaned every morning<a epub:type="noteref" href="#n1">1</a>.</p>\n'
        '<aside epub:type="footnote" id="n1"><p>1. With a soft cloth and vinegar.</p></aside>',
    )
    chapters = ["text/cover.xhtml", "text/ch1.xhtml", "text/ch2.xhtml"]
    members: dict[str, bytes | str] = {
        "OEBPS/text/cover.xhtml": cover,
        "OEBPS/text/ch1.xhtml": long_chapter,
        "OEBPS/text/ch2.xhtml": figure,
        "OEBPS/css/book.css": BOOK_CSS + (FONT_CSS if font else ""),
        "OEBPS/images/cover.png": png(600, 800),
        "OEBPS/images/lamp.png": png(300, 200, (160, 60, 40)),
    }
    extra = {"css/book.css": "text/css", "images/cover.png": "image/png"}
    extra["images/lamp.png"] = "image/png"
    if font:
        body = '<div class="mono"><h1>Chapter Three</h1>\n'
        body += paragraphs_html(en_paragraphs(3, start=paragraphs + 3)) + "</div>"
        members["OEBPS/text/ch3.xhtml"] = xhtml("Three", body)
        members["OEBPS/fonts/BookMono.ttf"] = FONT.read_bytes()
        chapters.append("text/ch3.xhtml")
        extra["fonts/BookMono.ttf"] = "font/ttf"
    members["META-INF/container.xml"] = container()
    members["OEBPS/content.opf"] = opf(
        chapters, title="The Lighthouse Almanac", lang="en", extra_items=extra
    )
    return zip_book(members)


def zh_book(*, paragraphs: int = 24) -> bytes:
    """An EPUB 2 book in Simplified Chinese with an image and an ``&nbsp;`` entity."""
    one = xhtml(
        "第一章",
        "<h1>第一章　灯塔</h1>\n" + paragraphs_html(zh_paragraphs(paragraphs)),
        lang="zh-CN",
    )
    two = xhtml(
        "第二章",
        "<h1>第二章&nbsp;海雾</h1>\n"
        + paragraphs_html(zh_paragraphs(3, start=paragraphs + 1))
        + '\n<p><img src="../images/fog.png" alt="雾" width="240" height="160"/></p>',
        lang="zh-CN",
    )
    members: dict[str, bytes | str] = {
        "META-INF/container.xml": container(),
        "OEBPS/text/chapter1.xhtml": one,
        "OEBPS/text/chapter2.xhtml": two,
        "OEBPS/css/book.css": BOOK_CSS,
        "OEBPS/images/fog.png": png(240, 160, (120, 120, 130)),
        "OEBPS/content.opf": opf(
            ["text/chapter1.xhtml", "text/chapter2.xhtml"],
            title="灯塔年记",
            lang="zh-CN",
            version="2.0",
            extra_items={"css/book.css": "text/css", "images/fog.png": "image/png"},
        ),
    }
    return zip_book(members)


WEB_PAGES = (
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Harbour Café</title>
<link rel="stylesheet" href="https://cdn.example.com/tailwind.min.css">
<script src="https://cdn.example.com/analytics.js"></script>
<style>body{font-family:sans-serif;margin:0}header{background:#1e3a5f;color:#fff;padding:24px}
.hero{background:url('https://images.example.com/sea.jpg') #dbe9f6;padding:48px}
.menu{display:flex;gap:16px;padding:24px}.card{border:1px solid #ccc;padding:16px;width:30%}
</style></head>
<body><header><h1>Harbour Café</h1><nav><a href="https://example.com/menu">Menu</a>
<a href="#visit">Visit</a></nav></header>
<section class="hero"><h2>Fresh bread by the sea</h2><p>Open every day from seven.</p>
<img src="https://images.example.com/bread.jpg" alt="bread" width="240" height="160"></section>
<section class="menu"><div class="card"><h3>Rye loaf</h3><p>Baked at dawn.</p></div>
<div class="card"><h3>Fish soup</h3><p>With dill and cream.</p></div>
<div class="card"><h3>Apple cake</h3><p>From the island orchard.</p></div></section>
<footer id="visit"><p>Pier 4, Old Harbour</p></footer></body></html>""",
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Signup</title>
<style>body{font-family:sans-serif;background:#f4f4f8}form{margin:80px auto;width:360px;
background:#fff;padding:32px;border-radius:8px;box-shadow:0 2px 8px #0002}
label{display:block;margin-top:12px}input{width:100%;padding:8px}
button{margin-top:20px;background:#2a7;color:#fff;border:0;padding:12px 24px}</style></head>
<body><form action="https://forms.example.com/submit"><h2>Join the reading club</h2>
<label>Name <input name="name"></label><label>Email <input name="email" type="email"></label>
<button type="submit">Sign up</button></form></body></html>""",
    """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Pricing</title>
<style>body{font-family:sans-serif;margin:40px}table{border-collapse:collapse;width:100%}
td,th{border:1px solid #999;padding:12px;text-align:left}th{background:#eee}</style></head>
<body><h1>Plans</h1><table><tr><th>Plan</th><th>Price</th><th>Storage</th></tr>
<tr><td>Basic</td><td>$4</td><td>10 GB</td></tr><tr><td>Team</td><td>$12</td><td>100 GB</td></tr>
<tr><td>Archive</td><td>$30</td><td>1 TB</td></tr></table>
<p><a href="//cdn.example.com/terms">Terms</a> · <a href="mailto:help@example.com">Help</a></p>
</body></html>""",
)


def websight_rows() -> list[dict[str, str]]:
    ideas = ("a seaside café landing page", "a signup form", "a pricing table")
    return [
        {"id": f"websight-sample-{n}", "text": page, "llm_generated_idea": idea}
        for n, (page, idea) in enumerate(zip(WEB_PAGES, ideas, strict=True))
    ]


def write_samples() -> None:
    books = ROOT / "sources" / "ebooks" / "samples"
    books.mkdir(parents=True, exist_ok=True)
    (books / "lighthouse_almanac_en.epub").write_bytes(en_book(paragraphs=12))
    (books / "dengta_nianji_zh.epub").write_bytes(zh_book(paragraphs=10))
    pages = ROOT / "sources" / "websight" / "samples"
    pages.mkdir(parents=True, exist_ok=True)
    lines = b"".join(orjson.dumps(row) + b"\n" for row in websight_rows())
    (pages / "pages.jsonl").write_bytes(lines)


if __name__ == "__main__":
    write_samples()
