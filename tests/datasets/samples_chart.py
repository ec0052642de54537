"""Samples of the tables/charts/screens adapters, each in its dataset's published schema."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from tests.datasets.drawing import (
    HF_IMAGE,
    bar_chart,
    encoded,
    hf_image,
    write,
    write_json,
    write_parquet,
)


def scienceqa(folder: Path) -> None:
    schema = pa.schema(
        [("image", HF_IMAGE), ("question", pa.string()), ("choices", pa.list_(pa.string())),
         ("answer", pa.int8()), ("hint", pa.string()), ("task", pa.string()),
         ("grade", pa.string()), ("subject", pa.string()), ("topic", pa.string()),
         ("category", pa.string()), ("skill", pa.string()), ("lecture", pa.string()),
         ("solution", pa.string())]
    )  # fmt: skip
    chart = bar_chart("Average rainfall (mm)", {"Jan": 80, "Feb": 65, "Mar": 40})
    common = {"task": "closed choice", "grade": "grade5", "lecture": "Graphs show data."}
    rows = [
        {"image": hf_image(chart), "question": "Which month had the most rainfall?",
         "choices": ["Feb", "Jan", "Mar"], "answer": 1, "hint": "The graph shows rainfall.",
         "subject": "natural science", "topic": "weather-and-climate", "category": "Weather",
         "skill": "Read a bar graph", "solution": "The tallest bar is January, 80 mm.", **common},
        {"image": None, "question": "Which word would you find on a dictionary page between "
         "'boot' and 'bun'?", "choices": ["bridge", "bake"], "answer": 0, "hint": "",
         "subject": "language science", "topic": "reference-guide", "category": "Reference",
         "skill": "Use guide words", "solution": "Bridge comes between boot and bun.", **common},
    ]  # fmt: skip
    write_parquet(folder / "data" / "train-00000-of-00001.parquet", rows, schema)


def geo170k(folder: Path) -> None:
    from PIL import Image, ImageDraw

    from tests.datasets.drawing import font

    image = Image.new("RGB", (320, 240), "white")
    draw = ImageDraw.Draw(image)
    draw.polygon([(40, 200), (280, 200), (160, 40)], outline="black", width=2)
    draw.text((30, 205), "A", font=font(14), fill="black")
    draw.text((282, 205), "B", font=font(14), fill="black")
    draw.text((156, 20), "C", font=font(14), fill="black")
    draw.text((60, 180), "40°", font=font(12), fill="black")
    draw.text((230, 180), "60°", font=font(12), fill="black")
    write(folder / "images" / "geoqa_plus" / "1024.png", encoded(image, "PNG"))
    question = (
        "<image>\nFirst perform reasoning, then finally select the answer from the choices in "
        "the following format: Answer: xxx.\nQuestion: In triangle ABC, angle A = 40° and "
        "angle B = 60°. What is angle C?\nChoices:\nA:40°\nB:60°\nC:80°\nD:100°"
    )
    answer = "The angles of a triangle add up to 180°, so C = 180° - 40° - 60° = 80°.\nAnswer:C"
    records = [
        {"image": "geoqa_plus/1024.png", "conversations": [
            {"from": "human", "value": question}, {"from": "gpt", "value": answer}]},
    ]  # fmt: skip
    write_json(folder / "qa_tuning.json", records)


WRITERS: dict[str, Callable[[Path], None]] = {"scienceqa": scienceqa, "geo170k": geo170k}
