"""Loader for the common CSV annotation format (`path,x1,y1,x2,y2,class_name`)."""

from __future__ import annotations

import csv
import os

import numpy as np

from keras_retinanet.data._annotation_checks import UNKNOWN_CLASS, DataProblem
from keras_retinanet.data._image_file_dataset import ImageFileDataset
from keras_retinanet.data.detection_dataset import ON_ERROR_RAISE

ANNOTATION_COLUMNS = ("path", "x1", "y1", "x2", "y2", "class_name")
CLASS_COLUMNS = ("class_name", "id")


class CsvDataset(ImageFileDataset):
    """Annotations in a headerless CSV, one object per row, plus a class list CSV.

    Files:

    * `annotations_csv`: rows `path,x1,y1,x2,y2,class_name`. An image without objects is a
      row `path,,,,,`. An image's rows need not be adjacent. `x1, y1` is the top-left and
      `x2, y2` the bottom-right corner in absolute, continuous 0-based pixels (a box around
      a whole W x H image is `0,0,W,H`); the element's yxyx box is `(y1, x1, y2, x2)`.
      Relative paths are resolved against `base_dir`, or the CSV's own folder by default.
    * `classes_csv`: rows `class_name,id` with unique names and unique integer ids.
      Contiguous class `c` is the class with the c-th smallest id; `category_ids[c]` is
      that id.

    Images come in the order of their first row; `image_id` is that position (0, 1, ...).
    Image sizes are read from the files' headers.

    Args:
        annotations_csv: Path of the annotations CSV.
        classes_csv: Path of the class list CSV.
        base_dir: Folder relative image paths are resolved against; default: the folder of
            `annotations_csv`.
        on_error: "raise" or "skip" (skips the whole image; see `detection_dataset`).

    Raises:
        FileNotFoundError: If a CSV file is missing, or (with "raise") an image file.
        ValueError: For a row that is not in the format (always), or (with "raise") an image
            or object that is malformed; the message names the CSV file and line.
    """

    def __init__(
        self,
        annotations_csv: str,
        classes_csv: str,
        base_dir: str | None = None,
        on_error: str = ON_ERROR_RAISE,
    ):
        annotations_csv, classes_csv = os.fspath(annotations_csv), os.fspath(classes_csv)
        for path in (annotations_csv, classes_csv):
            if not os.path.isfile(path):
                raise FileNotFoundError(f"CSV file {path} does not exist")
        classes = _read_classes(classes_csv)
        super().__init__([name for name, _ in classes], [cid for _, cid in classes], on_error)
        self._annotations_csv = annotations_csv
        self._classes_csv = classes_csv
        self._base_dir = os.fspath(base_dir) if base_dir is not None else None
        folder = self._base_dir if base_dir is not None else os.path.dirname(annotations_csv)
        class_of_name = {name: index for index, name in enumerate(self.class_names)}

        rows_of_image: dict[str, list[tuple[int, list[float], str]]] = {}
        first_line: dict[str, int] = {}
        for line, row in _read_rows(annotations_csv, ANNOTATION_COLUMNS):
            path = row[0]
            if not path:
                raise ValueError(f"{annotations_csv} line {line}: empty image path")
            path = path if os.path.isabs(path) else os.path.join(folder, path)
            rows_of_image.setdefault(path, [])
            first_line.setdefault(path, line)
            values = row[1:]
            if not any(values):
                continue  # `path,,,,,`: an image without objects
            if not all(values):
                raise ValueError(
                    f"{annotations_csv} line {line}: x1, y1, x2, y2 and class_name must all "
                    "be given, or all be empty for an image without objects"
                )
            try:
                x1, y1, x2, y2 = (float(v) for v in values[:4])
            except ValueError:
                raise ValueError(
                    f"{annotations_csv} line {line}: coordinates {values[:4]} are not numbers"
                ) from None
            rows_of_image[path].append((line, [y1, x1, y2, x2], values[4]))

        records = []
        for image_id, (path, rows) in enumerate(rows_of_image.items()):
            try:
                classes_of_rows = []
                for line, _, name in rows:
                    if name not in class_of_name:
                        raise DataProblem(
                            UNKNOWN_CLASS,
                            f"line {line}: class name '{name}' is not in {classes_csv}",
                        )
                    classes_of_rows.append(class_of_name[name])
                records.append(
                    self._index_image(
                        path,
                        image_id,
                        np.array([box for _, box, _ in rows], dtype=np.float64).reshape(-1, 4),
                        np.array(classes_of_rows, dtype=np.int32),
                        np.zeros(len(rows), dtype=bool),
                        object_names=[f"line {line}" for line, _, _ in rows],
                    )
                )
            except DataProblem as problem:
                self._reject(f"{annotations_csv} line {first_line[path]} (image {path})", problem)
        self._set_records(records, annotations_csv)

    @property
    def annotations_csv(self) -> str:
        """Path of the annotations CSV."""
        return self._annotations_csv

    @property
    def classes_csv(self) -> str:
        """Path of the class list CSV."""
        return self._classes_csv

    @property
    def base_dir(self) -> str | None:
        """Folder relative paths are resolved against (None: the annotations CSV's folder)."""
        return self._base_dir


def _read_rows(path: str, columns: tuple[str, ...]) -> list[tuple[int, list[str]]]:
    """Reads a headerless CSV; returns (1-based line number, stripped fields) per row."""
    rows = []
    with open(path, encoding="utf-8", newline="") as file:
        reader = csv.reader(file)
        for row in reader:
            if not any(field.strip() for field in row):
                continue  # blank line
            if len(row) != len(columns):
                raise ValueError(
                    f"{path} line {reader.line_num}: {len(row)} fields, expected "
                    f"{len(columns)} ({','.join(columns)})"
                )
            rows.append((reader.line_num, [field.strip() for field in row]))
    return rows


def _read_classes(path: str) -> list[tuple[str, int]]:
    """Reads `class_name,id` rows; returns (name, id) pairs sorted by id."""
    classes: list[tuple[str, int]] = []
    names: set[str] = set()
    ids: set[int] = set()
    for line, (name, text_id) in _read_rows(path, CLASS_COLUMNS):
        try:
            class_id = int(text_id)
        except ValueError:
            raise ValueError(
                f"{path} line {line}: class id {text_id!r} is not an integer"
            ) from None
        if not name:
            raise ValueError(f"{path} line {line}: empty class name")
        if name in names or class_id in ids:
            raise ValueError(f"{path} line {line}: class name {name!r} or id {class_id} repeated")
        names.add(name)
        ids.add(class_id)
        classes.append((name, class_id))
    if not classes:
        raise ValueError(f"{path} lists no classes")
    return sorted(classes, key=lambda pair: pair[1])
