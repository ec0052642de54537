"""Exam question rows written for vlpipe (public domain): numbered multiple choice, fill in the
blank, geometry with a figure, a table, Chinese and English. ``python -m tests.exams.questions``
rewrites the bundled ``sources/exams/samples/questions.jsonl``."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import orjson
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[2]
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def triangle_png() -> bytes:
    """Isosceles triangle ABC with D on AC and the bisector BD (a textbook figure)."""
    image = Image.new("RGB", (360, 280), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(FONT, 22)
    a, b, c = (180, 30), (40, 240), (320, 240)
    d = (262, 156)
    draw.line([a, b, c, a], fill="black", width=3)
    draw.line([b, d], fill="black", width=2)
    for name, (x, y), (dx, dy) in (
        ("A", a, (-8, -30)),
        ("B", b, (-28, -6)),
        ("C", c, (10, -6)),
        ("D", d, (10, -18)),
    ):
        draw.text((x + dx, y + dy), name, font=font, fill="black")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


CIRCLE_SVG = b"""<svg xmlns="http://www.w3.org/2000/svg" width="260" height="240"
viewBox="0 0 260 240">
<circle cx="130" cy="120" r="95" fill="none" stroke="black" stroke-width="2"/>
<polyline points="50,170 130,120 210,170" fill="none" stroke="black" stroke-width="2"/>
<polyline points="50,170 130,215 210,170" fill="none" stroke="black" stroke-width="2"/>
<g font-family="DejaVu Serif" font-size="20" font-style="italic">
<text x="24" y="178">A</text><text x="218" y="178">B</text><text x="124" y="236">C</text>
<text x="124" y="110">O</text></g></svg>"""


def questions() -> list[dict[str, Any]]:
    figure = base64.b64encode(triangle_png()).decode()
    circle = base64.b64encode(CIRCLE_SVG).decode()
    return [
        {
            "id": "zh-set-1",
            "number": 1,
            "title": "高一数学 期中测试",
            "subject": "math",
            "grade": "10",
            "type": "choice",
            "question": "已知集合 $A=\\{x \\mid x^2-3x+2=0\\}$，$B=\\{1,2,3\\}$，"
            "则 $A\\cap B=$（　　）",
            "options": ["$\\{1\\}$", "$\\{2\\}$", "$\\{1,2\\}$", "$\\{1,2,3\\}$"],
            "answer": "C",
            "explanation": "由 $x^2-3x+2=0$ 得 $x=1$ 或 $x=2$，所以 $A=\\{1,2\\}$，"
            "故 $A\\cap B=\\{1,2\\}$，选 C。",
        },
        {
            "id": "zh-fill-2",
            "number": 2,
            "title": "高一数学 期中测试",
            "subject": "math",
            "grade": "10",
            "type": "fill",
            "question": "函数 $f(x)=\\sqrt{x-1}+\\dfrac{1}{x-2}$ 的定义域为________。",
            "answer": "$[1,2)\\cup(2,+\\infty)$",
            "explanation": "要使函数有意义，需满足\n$$\\begin{cases} x-1\\geq 0, \\\\ x-2\\neq 0, "
            "\\end{cases}$$\n解得 $x\\geq 1$ 且 $x\\neq 2$。",
        },
        {
            "id": "zh-geometry-3",
            "number": 3,
            "title": "八年级数学 单元测试",
            "subject": "math",
            "grade": "8",
            "type": "solution",
            "question": "如图，在 $\\triangle ABC$ 中，$AB=AC$，$\\angle A=40^\\circ$，"
            "$BD$ 平分 $\\angle ABC$ 交 $AC$ 于点 $D$，求 $\\angle BDC$ 的度数。",
            "images": {"fig1.png": figure},
            "answer": "$75^\\circ$",
            "explanation": "因为 $AB=AC$，$\\angle A=40^\\circ$，所以\n\n"
            "$$\\angle ABC=\\angle C=\\frac{180^\\circ-40^\\circ}{2}=70^\\circ.$$\n\n"
            "因为 $BD$ 平分 $\\angle ABC$，所以 $\\angle DBC=35^\\circ$，\n"
            "故 $\\angle BDC=180^\\circ-35^\\circ-70^\\circ=75^\\circ$。",
        },
        {
            "id": "zh-table-4",
            "number": 4,
            "title": "七年级数学 统计",
            "subject": "math",
            "grade": "7",
            "type": "choice",
            "format": "html",
            "question": "<p>某地一周的最高气温（单位：&deg;C）如下表：</p>"
            "<table><tr><th>星期</th><th>一</th><th>二</th><th>三</th><th>四</th>"
            "<th>五</th></tr><tr><td>气温</td><td>12</td><td>15</td><td>15</td><td>18</td>"
            "<td>20</td></tr></table><p>这组数据的众数和中位数分别是（　　）</p>",
            "options": {"A": "15，15", "B": "15，16", "C": "18，15", "D": "20，18"},
            "answer": "A",
        },
        {
            "id": "en-choice-5",
            "number": 5,
            "title": "Algebra I — Unit Test",
            "subject": "math",
            "grade": "9",
            "type": "choice",
            "question": "If $3x - 7 = 11$, what is the value of $x$?",
            "options": ["4", "6", "$\\frac{11}{3}$", "18"],
            "answer": "B",
            "explanation": "Add 7 to both sides: $3x = 18$, so $x = 6$.",
        },
        {
            "id": "en-fill-6",
            "number": 6,
            "title": "Algebra I — Unit Test",
            "subject": "math",
            "grade": "9",
            "type": "fill",
            "question": "The solutions of $x^2 - 5x + 6 = 0$ are $x =$ ______ and $x =$ ______.",
            "answer": "$2$ and $3$",
            "explanation": "Factor: $x^2 - 5x + 6 = (x-2)(x-3)$, so\n\n"
            "$$x = 2 \\quad\\text{or}\\quad x = 3.$$",
        },
        {
            "id": "en-geometry-7",
            "number": 7,
            "title": "Geometry — Circles",
            "subject": "math",
            "grade": "10",
            "type": "solution",
            "question": "In the figure, $O$ is the centre of the circle and "
            "$\\angle AOB = 110^\\circ$. Find $\\angle ACB$.\n\n![](circle.svg)",
            "images": {"circle.svg": circle},
            "answer": "$\\angle ACB = 125^\\circ$",
            "explanation": "The reflex angle $AOB$ is $360^\\circ - 110^\\circ = 250^\\circ$, and "
            "$C$ lies on the minor arc, so the inscribed angle is half of it:\n\n"
            "$$\\angle ACB = \\tfrac{1}{2}\\left(360^\\circ - 110^\\circ\\right) = 125^\\circ.$$",
        },
        {
            "id": "en-html-8",
            "number": 8,
            "title": "Physical Science — Quiz 3",
            "subject": "physics",
            "grade": "8",
            "type": "fill",
            "format": "html",
            "question": "<p>A car travels <b>150 km</b> in <b>2.5 h</b>. Its average speed is "
            "<u>&nbsp;&nbsp;&nbsp;&nbsp;&nbsp;&nbsp;</u> km/h, and in SI units "
            "\\(v = \\dfrac{s}{t}\\) gives <u>&nbsp;&nbsp;&nbsp;&nbsp;&nbsp;&nbsp;</u> m/s.</p>",
            "answer": "60; about 16.7",
            "explanation": "<p>\\(v = \\dfrac{150\\ \\text{km}}{2.5\\ \\text{h}} = 60\\ "
            "\\text{km/h}\\) and 60 km/h = 60 000 m / 3600 s &asymp; 16.7 m/s.</p>",
        },
    ]


def write_samples() -> None:
    folder = ROOT / "sources" / "exams" / "samples"
    folder.mkdir(parents=True, exist_ok=True)
    lines = b"".join(orjson.dumps(row) + b"\n" for row in questions())
    (folder / "questions.jsonl").write_bytes(lines)


if __name__ == "__main__":
    write_samples()
