"""Samples of the tables/charts/screens adapters, each in its dataset's published schema."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from PIL import Image, ImageDraw

from tests.datasets.drawing import (
    HF_IMAGE,
    bar_chart,
    encoded,
    font,
    hf_image,
    screen,
    write,
    write_json,
    write_jsonl,
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


# -- tables, charts and screens of DeepSeek-VL's mixture -------------------------------------


def _png(image: Image.Image) -> bytes:
    return encoded(image, "PNG")


def unichart(folder: Path) -> None:
    schema = pa.schema([("imgname", pa.string()), ("query", pa.string()), ("label", pa.string())])
    chart = bar_chart("Sales (million units)", {"2019": 10, "2020": 14, "2021": 9})
    write(folder / "images" / "10001.png", _png(chart))
    rows = [
        {"imgname": "10001.png", "query": "<extract_data_table>",
         "label": "Year | Sales (million units) & 2019 | 10 & 2020 | 14 & 2021 | 9"},
        {"imgname": "10001.png", "query": "In which year were sales the highest?",
         "label": "2020"},
    ]  # fmt: skip
    write_parquet(folder / "data" / "train-00000-of-00003.parquet", rows, schema)


def ureader(folder: Path) -> None:
    chart = bar_chart("Population (million)", {"Nigeria": 206, "Egypt": 102, "Kenya": 54})
    write(folder / "images" / "ChartQA" / "train" / "png" / "two_col_1043.png", _png(chart))
    rows = [
        {"image": ["ChartQA/train/png/two_col_1043.png"], "prompt": "", "text": "",
         "system_instruction": "", "conversations": [
             {"from": "user", "value": "<image>"},
             {"from": "user", "value": "Which country has the longest bar?"},
             {"from": "assistant", "value": "Nigeria"}],
         "task_type": "qa_sft"},
    ]  # fmt: skip
    write_jsonl(folder / "ureader_json" / "chartqa_train.jsonl", rows)


SCREENQA_ELEMENT = pa.struct(
    [("bounds", pa.list_(pa.float64())), ("text", pa.string()), ("vh_index", pa.int64())]
)
SCREENQA_SCHEMA = pa.schema(
    [("screen_id", pa.string()), ("question", pa.string()),
     ("ground_truth", pa.list_(pa.struct([("full_answer", pa.string()),
                                          ("ui_elements", pa.list_(SCREENQA_ELEMENT))]))),
     ("file_name", pa.string()), ("image", HF_IMAGE)]
)  # fmt: skip


def screenqa_row(question: str, **changes: Any) -> dict[str, Any]:
    """A ScreenQA row about an app page whose third row reads "Rating: 4.5 stars"."""
    image = screen("Weather Pro", ["Install", "Reviews: 1,204", "Rating: 4.5 stars", "Size: 8 MB"])
    element = {"bounds": [8.0, 148.0, 232.0, 184.0], "text": "Rating: 4.5 stars", "vh_index": 37}
    row = {
        "screen_id": "12345", "question": question,
        "ground_truth": [
            {"full_answer": "The rating of the app is 4.5 stars.", "ui_elements": [element]},
            {"full_answer": "4.5 stars", "ui_elements": [element | {"vh_index": -1}]}],
        "file_name": "12345.jpg", "image": hf_image(image),
    }  # fmt: skip
    return row | changes


def screenqa(folder: Path) -> None:
    rows = [screenqa_row("What is the rating of the app?")]
    write_parquet(folder / "data" / "train-00000-of-00017.parquet", rows, SCREENQA_SCHEMA)


def scigraphqa(folder: Path) -> None:
    schema = pa.schema(
        [("image_file", pa.string()), ("id", pa.string()), ("caption", pa.string()),
         ("conversations", pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))),
         ("first_mention", pa.string()), ("response", pa.string()), ("title", pa.string()),
         ("abstract", pa.string()), ("q_a_pairs", pa.list_(pa.list_(pa.string())))]
    )  # fmt: skip
    chart = bar_chart("Accuracy (%)", {"SGD": 71, "Adam": 78, "Ours": 85})
    write(folder / "images" / "1001.0025v1-Figure5-1.png", _png(chart))
    q1, a1 = "What does the graph show?", "It compares the accuracy of three optimisers."
    q2 = "Which method reaches the highest accuracy?"
    a2 = "Ours reaches the highest accuracy, 85%, ahead of Adam (78%) and SGD (71%)."
    rows = [
        {"image_file": "1001.0025v1-Figure5-1.png", "id": "1001.0025v1-Figure5-1",
         "caption": "Figure 5: Accuracy of SGD, Adam and our optimiser.",
         "conversations": [{"from": "human", "value": f"<image>\n{q1}"},
                           {"from": "gpt", "value": a1}, {"from": "human", "value": q2},
                           {"from": "gpt", "value": a2}],
         "first_mention": "Figure 5 shows that our optimiser outperforms SGD and Adam.",
         "response": f"Question: {q1} Answer: {a1} Question: {q2} Answer: {a2}",
         "title": "A Faster Optimiser", "abstract": "We propose an optimiser that ...",
         "q_a_pairs": [[q1, a1], [q2, a2]]},
    ]  # fmt: skip
    write_parquet(folder / "data" / "train-00000-of-00001.parquet", rows, schema)


def paper2fig(folder: Path) -> None:
    figure = Image.new("RGB", (360, 200), "white")
    draw = ImageDraw.Draw(figure)
    for box, label in (((20, 70, 140, 130), "Encoder"), ((220, 70, 340, 130), "Decoder")):
        draw.rectangle(box, outline="black", width=2)
        draw.text((box[0] + 22, box[1] + 20), label, font=font(16), fill="black")
    draw.line([(140, 100), (220, 100)], fill="black", width=2)
    draw.polygon([(220, 100), (208, 94), (208, 106)], fill="black")
    figure_id = "1905.01234v2-Figure2-1"
    write(folder / "images" / f"{figure_id}.png", _png(figure))
    ocr = [{"text": "Encoder", "bbox": "[[42, 90], [120, 90], [120, 110], [42, 110]]",
            "confidence": "0.98"},
           {"text": "Decoder", "bbox": "[[242, 90], [320, 90], [320, 110], [242, 110]]",
            "confidence": "0.97"}]  # fmt: skip
    records = [
        {"figure_id": figure_id,
         "captions": ["Figure 2: Overview of the proposed encoder-decoder architecture."],
         "captions_scipdf": ["Overview of the proposed encoder-decoder architecture."],
         "captions_galai": ["overview of the proposed encoder decoder architecture"],
         "ocr_result": {"figure_id": figure_id, "ocr_result": ocr},
         "ocr_with_coords": "Encoder [42, 90, 120, 110] Decoder [242, 90, 320, 110]",
         "class_tag": ["encoder", "decoder", "architecture"], "aspect": 1.8},
    ]  # fmt: skip
    write_json(folder / "paper2fig_train.json", records)


SCREEN2WORDS_CAPTIONS = [
    "screen displaying the login page of a banking app",
    "login screen with fields for user name and password",
    "page to sign in to an account",
]


def screen2words(folder: Path) -> None:
    schema = pa.schema(
        [("screenId", pa.int64()), ("captions", pa.list_(pa.string())),
         ("file_name", pa.string()), ("app_package_name", pa.string()),
         ("play_store_name", pa.string()), ("category", pa.string()),
         ("average_rating", pa.float64()), ("number_of_ratings", pa.string()),
         ("number_of_downloads", pa.string()), ("file_name_icon", pa.string()),
         ("file_name_semantic", pa.string()), ("semantic_annotations", pa.string()),
         ("view_hierarchy", pa.string()), ("image", HF_IMAGE), ("image_icon", HF_IMAGE),
         ("image_semantic", HF_IMAGE)]
    )  # fmt: skip
    page = screen("City Bank", ["Sign in", "User name", "Password", "Log in"])
    icon = Image.new("RGB", (48, 48), (33, 110, 200))
    semantic = Image.new("RGB", (240, 400), "white")
    ImageDraw.Draw(semantic).rectangle([0, 0, 240, 48], fill=(200, 40, 40))
    field = {"componentLabel": "Input", "bounds": [8, 104, 232, 140]}
    annotations = {"class": "Screen", "children": [field]}
    hierarchy = {"activity_name": "com.citybank.app/.LoginActivity", "activity": {"root": {}}}
    rows = [
        {"screenId": 10307, "captions": SCREEN2WORDS_CAPTIONS, "file_name": "10307.jpg",
         "app_package_name": "com.citybank.app", "play_store_name": "City Bank Mobile",
         "category": "Finance", "average_rating": 4.3, "number_of_ratings": "12,345",
         "number_of_downloads": "1,000,000 - 5,000,000", "file_name_icon": "10307.png",
         "file_name_semantic": "10307.png", "semantic_annotations": json.dumps(annotations),
         "view_hierarchy": json.dumps(hierarchy), "image": hf_image(page),
         "image_icon": hf_image(icon, "PNG"), "image_semantic": hf_image(semantic, "PNG")},
    ]  # fmt: skip
    write_parquet(folder / "data" / "train-00000-of-00006.parquet", rows, schema)


def screen_with_search() -> Image.Image:
    image = screen("Music", ["Top charts", "New releases", "Podcasts"])
    draw = ImageDraw.Draw(image)
    draw.ellipse([200, 14, 218, 32], outline="white", width=2)  # a search icon in the app bar
    draw.line([(216, 30), (226, 40)], fill="white", width=3)
    return image


def refexp(folder: Path) -> None:
    box = pa.struct([("xmax", pa.float64()), ("xmin", pa.float64()), ("ymax", pa.float64()),
                     ("ymin", pa.float64())])  # fmt: skip
    schema = pa.schema([("image", HF_IMAGE), ("image_id", pa.string()), ("prompt", pa.string()),
                        ("target_bounding_box", box)])  # fmt: skip
    image = screen_with_search()  # 240 x 400: the icon spans x 196-230, y 10-44
    rows = [
        {"image": hf_image(image), "image_id": "23456",
         "prompt": "click on the search icon at the top",
         "target_bounding_box": {"xmax": 230 / 240, "xmin": 196 / 240, "ymax": 44 / 400,
                                 "ymin": 10 / 400}},
        {"image": hf_image(image), "image_id": "23456", "prompt": "select podcasts",
         "target_bounding_box": {"xmax": 232 / 240, "xmin": 8 / 240, "ymax": 184 / 400,
                                 "ymin": 148 / 400}},
    ]  # fmt: skip
    write_parquet(folder / "data" / "train-00000-of-00085.parquet", rows, schema)


CHART2TEXT_SUMMARY = (
    "This statistic shows the revenue share of the LVMH Group worldwide in 2019 , by segment . "
    "In 2019 , 41 percent of the LVMH Group 's global revenue came from the company 's fashion "
    "and leather goods business segment ."
)


def chart2text(folder: Path) -> None:
    text = pa.struct([("user", pa.string()), ("assistant", pa.string()), ("source", pa.string())])
    schema = pa.schema([("images", pa.list_(HF_IMAGE)), ("texts", pa.list_(text))])
    chart = bar_chart("LVMH revenue share 2019 (%)", {"Fashion": 41, "Retail": 28, "Wines": 10})
    rows = [
        {"images": [hf_image(chart, "PNG")], "texts": [
            {"user": "Explain what this graph is communicating.", "assistant": CHART2TEXT_SUMMARY,
             "source": "Chart2Text"}]},
    ]  # fmt: skip
    write_parquet(folder / "chart2text" / "train-00000-of-00001.parquet", rows, schema)


WRITERS.update(
    unichart=unichart,
    ureader=ureader,
    screenqa=screenqa,
    scigraphqa=scigraphqa,
    paper2fig=paper2fig,
    screen2words=screen2words,
    refexp=refexp,
    chart2text=chart2text,
)
