"""Samples of the sft adapters, each in its dataset's published schema: LLaVA-style JSON arrays
(a text-only ShareGPT record among them), parquet shards as the Hugging Face cards describe them
(an ``Image`` struct, null on a text-only row; LAION-GPT4V's always-null ``image`` column and
its URL ``link``), TextOCR-GPT4V's JSON Lines and IconQA's ``problems.json`` keyed by pid."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from PIL import Image, ImageDraw

from tests.datasets.drawing import (
    HF_IMAGE,
    bar_chart,
    encoded,
    font,
    hf_image,
    picture,
    scene,
    write,
    write_json,
    write_jsonl,
    write_parquet,
)

URL_HOST = "http://images.vlpipe.test/"


def _icons(shape: str, count: int, size: tuple[int, int] = (300, 160)) -> Image.Image:
    """IconQA-style clip art: ``count`` coloured shapes in a row."""
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    for n in range(count):
        box = [20 + n * 64, 50, 70 + n * 64, 100]
        if shape == "circle":
            draw.ellipse(box, fill=(230, 90, 60), outline="black", width=2)
        elif shape == "triangle":
            draw.polygon([(box[0], box[3]), (box[2], box[3]), ((box[0] + box[2]) // 2, box[1])],
                         fill=(60, 140, 220), outline="black")  # fmt: skip
        else:
            draw.rectangle(box, fill=(250, 200, 40), outline="black", width=2)
    return image


def sharegpt4v(folder: Path) -> None:
    images = folder / "images"
    ball = picture("a red ball and a green box", seed=1)
    write(images / "coco" / "train2017" / "000000033471.jpg", encoded(ball))
    street = picture("a red sign by a green wall", size=(360, 240), seed=2)
    write(images / "sam" / "images" / "sa_545504.jpg", encoded(street))
    records = [
        {"id": "000000033471", "image": "coco/train2017/000000033471.jpg", "conversations": [
            {"from": "human", "value": "<image>\nWhat colour is the ball in the image?"},
            {"from": "gpt", "value": "The ball is red."},
            {"from": "human", "value": "What is to the right of the ball?"},
            {"from": "gpt", "value": "A green box."}]},
        {"id": "sa_545504", "image": "sam/images/sa_545504.jpg", "conversations": [
            {"from": "human",
             "value": "Analyze the image in a comprehensive and detailed manner.\n<image>"},
            {"from": "gpt", "value": "The image shows a round red sign on the left and a green "
             "wall on the right before a pink-blue sky; the words \"a red sign by a green "
             "wall\" are written at the bottom."}]},
        {"id": "i6IyJda_0", "conversations": [
            {"from": "human", "value": "How do I boil an egg?"},
            {"from": "gpt", "value": "Put the egg in boiling water for nine minutes."},
            {"from": "human", "value": "And a soft one?"},
            {"from": "gpt", "value": "Six minutes, then cool it under cold water."}]},
    ]  # fmt: skip
    write_json(folder / "sharegpt4v_mix665k_cap23k_coco-ap9k_lcs3k_sam9k_div2k.json", records)


def laion_gpt4v(folder: Path) -> None:
    path = "attachments/1176061284735221832/1176087012456837190/image.png"
    write(folder / "images" / path, encoded(picture("a red ball and a green box"), "PNG"))
    schema = pa.schema(
        [("link", pa.string()), ("caption", pa.string()), ("message_id", pa.string()),
         ("timestamp", pa.string()), ("image", pa.null())]
    )  # fmt: skip
    rows = [
        {"link": URL_HOST + path, "message_id": "1176087012909838376",
         "timestamp": "2023-11-20T14:07:31.119000+00:00", "image": None,
         "caption": "The image shows a red ball on the left and a green box on the right, in "
         "front of a blue-to-pink gradient sky. White text at the bottom reads \"a red ball "
         "and a green box\"."},
    ]  # fmt: skip
    write_parquet(folder / "data" / "train-00000-of-00001.parquet", rows, schema)


def lvis_instruct4v(folder: Path) -> None:
    images = folder / "images" / "coco"
    write(images / "train2017" / "000000000139.jpg", encoded(picture("a red ball", seed=0)))
    write(images / "val2017" / "000000498659.jpg", encoded(picture("a green box", seed=3)))
    records = [
        {"id": "000000000139", "image": "coco/train2017/000000000139.jpg", "conversations": [
            {"from": "human", "value": "<image>\nWhat colour is the ball?"},
            {"from": "gpt", "value": "The ball is red."},
            {"from": "human", "value": "Is it to the left or the right of the green box?"},
            {"from": "gpt", "value": "It is to the left of the green box."}]},
        {"id": "000000498659", "image": "coco/val2017/000000498659.jpg", "conversations": [
            {"from": "human", "value": "What is written at the bottom of the image?\n<image>"},
            {"from": "gpt", "value": "The text at the bottom reads \"a green box\"."}]},
    ]  # fmt: skip
    write_json(folder / "lvis_instruct4v_220k.json", records)


def textocr_gpt4v(folder: Path) -> None:
    image, _ = scene((400, 300), [("BAKERY", 200, 80, 34, 0), ("OPEN 7-19", 200, 200, 24, 0)])
    write(folder / "images" / "a4ea732cd3d5948a.jpg", encoded(image))
    description = (
        "A green striped wall with two pale signs: a large one near the top and a smaller one "
        "below it."
    )
    text = 'The upper sign reads "BAKERY". The lower sign reads "OPEN 7-19".'
    rows = [
        {"filename": "a4ea732cd3d5948a.jpg",
         "caption": f"DESCRIPTION\n{description}\n\nTEXT\n{text}",
         "caption_image": description, "caption_text": text,
         "caption_condensed": 'A green wall with signs reading "BAKERY" and "OPEN 7-19".'},
    ]  # fmt: skip
    write_jsonl(folder / "train.jsonl", rows)


def llava_next(folder: Path) -> None:
    schema = pa.schema(
        [("id", pa.string()),
         ("conversations", pa.list_(pa.struct([("from", pa.string()), ("value", pa.string())]))),
         ("data_source", pa.string()), ("image", HF_IMAGE)]
    )  # fmt: skip
    chart = bar_chart("Sales", {"Q1": 12, "Q2": 18})
    rows = [
        {"id": "chartqa_1024", "data_source": "chartqa", "image": hf_image(chart, "PNG"),
         "conversations": [
             {"from": "human", "value": "<image>\nWhat were the sales in Q2?"},
             {"from": "gpt", "value": "18"},
             {"from": "human", "value": "By how much did they grow from Q1?"},
             {"from": "gpt", "value": "By 6, from 12 to 18."}]},
        {"id": "sharegpt_77", "data_source": "sharegpt", "image": None,
         "conversations": [
             {"from": "human", "value": "Name a prime number between 10 and 15."},
             {"from": "gpt", "value": "11 and 13 are both prime."}]},
    ]  # fmt: skip
    write_parquet(folder / "data" / "train-00000-of-00006.parquet", rows, schema)


def iconqa(folder: Path) -> None:
    root = folder / "images" / "iconqa"
    write(
        root / "train" / "choose_txt" / "10012" / "image.png", encoded(_icons("circle", 1), "PNG")
    )
    write(root / "train" / "fill_in_blank" / "20345" / "image.png",
          encoded(_icons("triangle", 3), "PNG"))  # fmt: skip
    choose = root / "train" / "choose_img" / "30678"
    write(choose / "image.png", encoded(_icons("square", 2), "PNG"))
    write(choose / "choice_0.png", encoded(_icons("square", 1, (120, 120)), "PNG"))
    write(choose / "choice_1.png", encoded(_icons("square", 2, (160, 120)), "PNG"))
    problems = {
        "10012": {"question": "Which shape is this?", "choices": ["square", "circle", "triangle"],
                  "answer": 1, "ques_type": "choose_txt", "split": "train",
                  "grade": "kindergarten", "label": "identify shapes", "skills": ["geometry"]},
        "20345": {"question": "How many triangles are there?", "answer": "3",
                  "ques_type": "fill_in_blank", "split": "train", "grade": "pre-k",
                  "label": "count shapes", "skills": ["counting"]},
        "30678": {"question": "Which picture shows the same number of squares?",
                  "choices": ["choice_0.png", "choice_1.png"], "answer": 1,
                  "ques_type": "choose_img", "split": "train", "grade": "pre-k",
                  "label": "count and match", "skills": ["counting", "comparing"]},
    }  # fmt: skip
    write_json(folder / "problems.json", problems)


def allava_instruct(folder: Path) -> None:
    ring = Image.new("RGB", (300, 300), (245, 245, 245))
    draw = ImageDraw.Draw(ring)
    draw.ellipse([70, 70, 230, 230], outline=(170, 170, 180), width=18)
    draw.text((80, 260), "silver ring", font=font(16), fill="black")
    write(folder / "images" / "allava_laion" / "images" / "100277305.jpeg", encoded(ring))
    records = [
        {"id": "allava_laion_inst_100277305", "image": "allava_laion/images/100277305.jpeg",
         "conversations": [
             {"from": "human", "value": "<image>\nWhat kind of jewellery is shown, and what "
              "colour is it?"},
             {"from": "gpt", "value": "The image shows a single silver ring, seen from above "
              "on a light grey background, with the words \"silver ring\" below it."}],
         "original_caption": "190952cz Pandora Tropical Palm Leaf Ring",
         "url": "https://theartofpandora.com/wp-content/uploads/2016/05/190952CZ-1-600x600.jpg"},
    ]  # fmt: skip
    write_json(folder / "allava_laion" / "ALLaVA-Instruct-LAION-4V.json", records)


WRITERS: dict[str, Callable[[Path], None]] = {
    "sharegpt4v": sharegpt4v,
    "laion_gpt4v": laion_gpt4v,
    "lvis_instruct4v": lvis_instruct4v,
    "textocr_gpt4v": textocr_gpt4v,
    "llava_next": llava_next,
    "iconqa": iconqa,
    "allava_instruct": allava_instruct,
}
