"""Samples of the caption adapters, each in its dataset's published schema: CapsFusion's parquet
(images by URL: the files sit under ``images/`` at the URL's path, for a loopback server),
TaiSu's JSON object of ``{id: {w, g}}`` (Chinese), ShareGPT4V's and ALLaVA's LLaVA-style arrays."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from PIL import Image, ImageDraw

from tests.datasets.drawing import encoded, font, picture, write, write_json, write_parquet

IMAGE_HOST = "http://images.vlpipe.test/"


def scene_of(shapes: list[tuple[str, str, tuple[int, int, int, int]]], label: str = "",
             size: tuple[int, int] = (320, 240), sky: tuple[int, int, int] = (150, 200, 240),
             cjk: bool = False) -> Image.Image:  # fmt: skip
    """A drawn scene: a sky, a ground line and shapes ("ellipse"/"rect", colour, box)."""
    image = Image.new("RGB", size, sky)
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, size[1] * 3 // 4, size[0], size[1]], fill=(110, 160, 80))
    for shape, colour, box in shapes:
        (draw.ellipse if shape == "ellipse" else draw.rectangle)(box, fill=colour)
    if label:
        draw.text((10, 8), label, font=font(16, cjk), fill="black")
    return image


def capsfusion(folder: Path) -> None:
    schema = pa.schema(
        [("image_url", pa.string()), ("laion_2b", pa.string()), ("laion_coco", pa.string()),
         ("capsfusion", pa.string())]
    )  # fmt: skip
    ball = picture("red ball", seed=0)
    sunset = scene_of(
        [("ellipse", "orange", (120, 120, 200, 200)), ("rect", (40, 40, 40), (0, 180, 320, 240))],
        sky=(240, 150, 90),
    )
    files = {"laion/00000/000000001.jpg": ball, "laion/00000/000000002.jpg": sunset}
    for path, image in files.items():
        write(folder / "images" / path, encoded(image))
    rows = [
        {"image_url": IMAGE_HOST + "laion/00000/000000001.jpg",
         "laion_2b": "Red Rubber Ball Toy Kids Outdoor Play 4 inch",
         "laion_coco": "a red ball and a green box on a blue background",
         "capsfusion": "A red rubber ball sits beside a green box against a blue gradient "
                       "background, with the words \"red ball\" written at the bottom."},
        {"image_url": IMAGE_HOST + "laion/00000/000000002.jpg",
         "laion_2b": "Sunset over the city skyline stock photo",
         "laion_coco": "the sun setting over a dark skyline",
         "capsfusion": "An orange sun sets behind a dark city skyline under an orange sky."},
    ]  # fmt: skip
    write_parquet(folder / "capsfusion_1.parquet", rows, schema)


TAISU_ID = "img1baiducomitu1848496827104259151"


def taisu(folder: Path) -> None:
    image = scene_of(
        [("ellipse", (240, 170, 200), (30, 60, 130, 160)),
         ("ellipse", (250, 190, 210), (150, 50, 260, 160)),
         ("rect", (110, 70, 40), (140, 150, 160, 200))],
        label="春天的樱花", cjk=True,
    )  # fmt: skip
    write(folder / "images" / f"{TAISU_ID}.jpg", encoded(image))
    records = {TAISU_ID: {"w": "春天的樱花盛开", "g": "蓝天下一棵开满粉色花朵的树"}}
    write_json(folder / "taisu_captions.json", records)


def sharegpt4v_captions(folder: Path) -> None:
    street = scene_of(
        [("rect", (200, 40, 40), (40, 130, 140, 190)),
         ("rect", (60, 60, 200), (180, 140, 280, 190)),
         ("ellipse", (30, 30, 30), (50, 180, 75, 205)),
         ("ellipse", (30, 30, 30), (105, 180, 130, 205))],
        label="MAIN ST",
    )  # fmt: skip
    kitchen = scene_of(
        [("rect", "white", (40, 60, 140, 200)), ("rect", (180, 120, 60), (170, 140, 300, 200))],
        sky=(235, 225, 200),
    )
    write(folder / "images" / "sam" / "images" / "sa_545504.jpg", encoded(street))
    write(folder / "images" / "coco" / "train2017" / "000000000009.jpg", encoded(kitchen))
    records = [
        {"id": "sa_545504", "image": "sam/images/sa_545504.jpg", "conversations": [
            {"from": "human", "value": "<image>\nWhat do you see happening in this image?"},
            {"from": "gpt", "value": "The image shows a street scene under a blue sky. A red "
             "car and a blue van stand on the grass, and the words in the "
             "top left corner read \"MAIN ST\"."}]},
        {"id": "000000000009", "image": "coco/train2017/000000000009.jpg", "conversations": [
            {"from": "human",
             "value": "Analyze the image in a comprehensive and detailed manner.\n<image>"},
            {"from": "gpt", "value": "The image shows a simple kitchen with a tall white "
             "refrigerator on the left and a brown wooden counter on the right, against a "
             "cream-coloured wall."}]},
    ]  # fmt: skip
    write_json(folder / "share-captioner_coco_lcs_sam_1246k_1107.json", records)


def allava_caption(folder: Path) -> None:
    ring = Image.new("RGB", (300, 300), "white")
    draw = ImageDraw.Draw(ring)
    draw.ellipse([60, 60, 240, 240], outline=(170, 170, 180), width=18)
    draw.polygon([(150, 40), (135, 70), (165, 70)], fill=(40, 150, 60))
    write(folder / "images" / "allava_laion" / "images" / "100277305.jpeg", encoded(ring))
    records = [
        {"id": "allava_laion_cap_100277305", "image": "allava_laion/images/100277305.jpeg",
         "conversations": [
             {"from": "human", "value": "<image>\nPlease depict the image in words."},
             {"from": "gpt", "value": "The image displays a silver ring on a white background, "
              "with a small green leaf-shaped charm set at the top of the band."}],
         "original_caption": "190952cz Pandora Tropical Palm Leaf Ring",
         "url": "https://theartofpandora.com/wp-content/uploads/190952CZ-1-600x600.jpg"},
    ]  # fmt: skip
    write_json(folder / "allava_laion" / "ALLaVA-Caption-LAION-4V.json", records)


def coco_captions(folder: Path) -> None:
    """captions_train2017.json: images and their caption annotations (about five each)."""
    scenes = {391895: "a red ball beside a green box", 522418: "a red ball under a blue sky"}
    images, annotations = [], []
    for number, (image_id, subject) in enumerate(scenes.items()):
        name = f"{image_id:012d}.jpg"
        write(folder / "images" / name, encoded(picture(subject, seed=number)))
        images.append({
            "license": 3, "file_name": name,
            "coco_url": f"http://images.cocodataset.org/train2017/{name}",
            "height": 240, "width": 320, "date_captured": "2013-11-14 11:18:45",
            "flickr_url": f"http://farm9.staticflickr.com/8186/{image_id}_b.jpg", "id": image_id,
        })  # fmt: skip
    captions = {
        391895: ["A red ball next to a green box. ", "A ball and a box on a light background.",
                 "A red circle beside a green square.", "Two simple shapes, one red, one green.",
                 "A red ball sits near a green box.\n"],
        522418: ["A red ball under a blue sky.", "A red circle against a blue gradient.",
                 "A ball and a green block outdoors.", "A red round shape and a green shape.",
                 "Simple shapes under a sky."],
    }  # fmt: skip
    caption_id = 770337
    for image_id, texts in captions.items():
        for text in texts:
            annotations.append({"image_id": image_id, "id": caption_id, "caption": text})
            caption_id += 1
    info = {
        "description": "COCO 2017 Dataset",
        "url": "http://cocodataset.org",
        "version": "1.0",
        "year": 2017,
        "contributor": "COCO Consortium",
        "date_created": "2017/09/01",
    }
    licenses = [{"url": "http://creativecommons.org/licenses/by/2.0/", "id": 3,
                 "name": "Attribution License"}]  # fmt: skip
    document = {"info": info, "licenses": licenses, "images": images, "annotations": annotations}
    write_json(folder / "annotations" / "captions_train2017.json", document)


WRITERS: dict[str, Callable[[Path], None]] = {
    "capsfusion": capsfusion,
    "taisu": taisu,
    "sharegpt4v_captions": sharegpt4v_captions,
    "allava_caption": allava_caption,
    "coco_captions": coco_captions,
}
