"""Loader for the Pascal VOC folder layout (XML annotations, JPEG images, image-set lists)."""

from __future__ import annotations

import dataclasses
import os
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence

import numpy as np

from keras_retinanet.data._annotation_checks import UNKNOWN_CLASS, DataProblem
from keras_retinanet.data._image_file_dataset import ImageFileDataset
from keras_retinanet.data.detection_dataset import ON_ERROR_RAISE

# The 20 Pascal VOC classes, in the devkit's (alphabetical) order.
VOC_CLASS_NAMES = (
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)

ANNOTATIONS_DIR = "Annotations"
IMAGES_DIR = "JPEGImages"
IMAGE_SETS_DIR = os.path.join("ImageSets", "Main")
DEFAULT_IMAGE_EXTENSION = ".jpg"

# VOC ids are "000005" (2007) or "2008_000008" (2012): digits, optionally split by "_".
_NUMERIC_ID = re.compile(r"\d+(_\d+)*")
# VOC pixel indices start at 1: the first pixel column is x = 1.
VOC_FIRST_PIXEL_INDEX = 1


class VocXmlDataset(ImageFileDataset):
    """Pascal VOC: `Annotations/<id>.xml`, `JPEGImages/`, `ImageSets/Main/<set>.txt`.

    Mapping to the element contract:

    * the images are those listed in `ImageSets/Main/<image_set>.txt`, in that order;
    * `image_id`: when every id of the set is digits optionally split by "_" ("000005",
      "2008_000008"), the id's digits as a number (5, 2008000008); otherwise the image's
      position in the set file;
    * the image file is `JPEGImages/<filename>` from the XML (`<id>.jpg` without one);
    * `difficult` objects are kept with `is_crowd=True` (ignored in matching, as the VOC
      evaluation ignores them);
    * coordinates: VOC's `xmin, ymin, xmax, ymax` are 1-based inclusive pixel indices (the
      box covers pixel columns `xmin..xmax`, width `xmax - xmin + 1`). In the element's
      continuous 0-based coordinates that box spans `[xmin - 1, xmax]`, so the yxyx box is
      `(ymin - 1, xmin - 1, ymax, xmax)`; a box around a whole W x H image reads
      `1, 1, W, H` in the XML and `(0, 0, H, W)` here;
    * the XML `<size>` must agree with the image file (a zero or missing size is taken
      from the file).

    Args:
        root: The VOC folder (e.g. `VOCdevkit/VOC2007`).
        image_set: Name of the list in `ImageSets/Main` ("train", "val", "trainval", "test").
        class_names: The class names; an object of another class is an unknown-class
            problem. VOC's 20 classes by default; category ids are `1..K`.
        on_error: "raise" or "skip" (skips the whole image; see `detection_dataset`).

    Raises:
        FileNotFoundError: If the folder, the set list or an XML file is missing, or (with
            "raise") an image file.
        ValueError: If an XML file is not VOC XML (always), or (with "raise") an image or
            object is malformed; the message names the XML file and object index.
    """

    def __init__(
        self,
        root: str,
        image_set: str = "trainval",
        class_names: Sequence[str] = VOC_CLASS_NAMES,
        on_error: str = ON_ERROR_RAISE,
    ):
        super().__init__(class_names, None, on_error)
        root = os.fspath(root)
        set_file = os.path.join(root, IMAGE_SETS_DIR, f"{image_set}.txt")
        if not os.path.isfile(set_file):
            raise FileNotFoundError(f"VOC image set list {set_file} does not exist")
        with open(set_file, encoding="utf-8") as file:
            names = [line.split()[0] for line in file if line.strip()]
        if all(_NUMERIC_ID.fullmatch(name) for name in names):
            image_ids = [int(name.replace("_", "")) for name in names]
        else:
            image_ids = list(range(len(names)))
        self._root = root
        self._image_set = image_set
        class_of_name = {name: index for index, name in enumerate(self.class_names)}

        records = []
        for line_number, (name, image_id) in enumerate(zip(names, image_ids), start=1):
            xml_path = os.path.join(root, ANNOTATIONS_DIR, f"{name}.xml")
            if not os.path.isfile(xml_path):
                raise FileNotFoundError(
                    f"{set_file} line {line_number}: annotation file {xml_path} does not exist"
                )
            annotation = _parse_voc_xml(xml_path)
            path = os.path.join(
                root, IMAGES_DIR, annotation.filename or f"{name}{DEFAULT_IMAGE_EXTENSION}"
            )
            try:
                classes = []
                for index, object_name in enumerate(annotation.object_names):
                    if object_name not in class_of_name:
                        raise DataProblem(
                            UNKNOWN_CLASS,
                            f"object {index}: class name '{object_name}' is not one of "
                            f"{len(class_of_name)} class_names",
                        )
                    classes.append(class_of_name[object_name])
                records.append(
                    self._index_image(
                        path,
                        image_id,
                        annotation.boxes_yxyx,
                        np.array(classes, dtype=np.int32),
                        annotation.difficult,
                        object_names=[
                            f"object {k} ({n})" for k, n in enumerate(annotation.object_names)
                        ],
                        height=annotation.height,
                        width=annotation.width,
                    )
                )
            except DataProblem as problem:
                self._reject(f"{xml_path} (image {path})", problem)
        self._set_records(records, set_file)

    @property
    def root(self) -> str:
        """The VOC folder."""
        return self._root

    @property
    def image_set(self) -> str:
        """The image set read."""
        return self._image_set


@dataclasses.dataclass(frozen=True, eq=False)
class _VocAnnotation:
    """The parts of one VOC XML file the loader uses."""

    filename: str | None  # <filename>, None when absent
    height: int | None  # <size>, None when absent or zero
    width: int | None
    object_names: list[str]  # [N] <name>s
    boxes_yxyx: np.ndarray  # float64 [N, 4], 0-based continuous pixels
    difficult: np.ndarray  # bool [N]


def _parse_voc_xml(xml_path: str) -> _VocAnnotation:
    """Parses one VOC XML file; coordinates converted to 0-based continuous yxyx pixels.

    Raises:
        ValueError: If the file is not well-formed VOC XML.
    """
    try:
        root = ElementTree.parse(xml_path).getroot()
    except ElementTree.ParseError as error:
        raise ValueError(f"{xml_path} is not well-formed XML: {error}") from None
    if root.tag != "annotation":
        raise ValueError(f"{xml_path}: root element is <{root.tag}>, not <annotation>")
    filename = (root.findtext("filename") or "").strip() or None
    size = root.find("size")
    height = _positive_int_or_none(size, "height", xml_path)
    width = _positive_int_or_none(size, "width", xml_path)

    object_names, boxes, difficult = [], [], []
    for index, element in enumerate(root.findall("object")):
        name = (element.findtext("name") or "").strip()
        box = element.find("bndbox")
        if not name or box is None:
            raise ValueError(f"{xml_path}: object {index} lacks <name> or <bndbox>")
        try:
            xmin, ymin, xmax, ymax = (
                float(box.findtext(tag, "")) for tag in ("xmin", "ymin", "xmax", "ymax")
            )
            is_difficult = int(float((element.findtext("difficult") or "0").strip())) == 1
        except ValueError:
            raise ValueError(
                f"{xml_path}: object {index} ({name}): <bndbox> needs numeric xmin, ymin, "
                "xmax, ymax (and <difficult> 0 or 1)"
            ) from None
        object_names.append(name)
        first = VOC_FIRST_PIXEL_INDEX
        boxes.append([ymin - first, xmin - first, ymax - first + 1, xmax - first + 1])
        difficult.append(is_difficult)
    return _VocAnnotation(
        filename,
        height,
        width,
        object_names,
        np.array(boxes, dtype=np.float64).reshape(-1, 4),
        np.array(difficult, dtype=bool),
    )


def _positive_int_or_none(size: ElementTree.Element | None, tag: str, xml_path: str) -> int | None:
    text = (size.findtext(tag) or "").strip() if size is not None else ""
    if not text:
        return None
    try:
        value = int(float(text))
    except ValueError:
        raise ValueError(f"{xml_path}: <size><{tag}> is {text!r}, not a number") from None
    return value if value > 0 else None
