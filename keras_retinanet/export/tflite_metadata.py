"""TFLite Model Metadata for an exported detector: what MediaPipe Tasks and Android read.

MediaPipe Tasks' `ObjectDetector` (Android, iOS, web, Python), the TFLite Task Library and
Android Studio's model import refuse a detection `.tflite` without TFLite Model Metadata
("Object detection models require TFLite Model Metadata but none was found"). The
metadata says what the input is (an RGB image and how its pixels are normalised), what
each of the four outputs of the post-process op means, and carries the label map as an
associated file, so that `detection_classes` index into it.

Where it lives in the file (the public metadata format, `metadata_schema.fbs` of
tflite-support / MediaPipe):

* a `ModelMetadata` flatbuffer (file identifier "M001") stored in a buffer of the model,
  referenced from the model's `metadata` list under the name "TFLITE_METADATA";
* the associated files (here the label map `labelmap.txt`) appended to the `.tflite` as an
  uncompressed zip archive: the file stays a valid flatbuffer and is also a valid zip.

Why it is written here with `flatbuffers.Builder` from the public schema rather than with a
library: `tflite-support` (the reference writer) pins protobuf < 4 and cannot be installed
beside TensorFlow 2.20+; `mediapipe` ships the generated schema modules but its Python
metadata writer fails to import (a compiled module is missing from the wheel), and a
~100 MB dependency for writing a few hundred bytes does not belong in the export path.
`flatbuffers` is already a TensorFlow dependency. The field slots below follow the
schema's field order (a union field takes two slots: its type, then its value); the tests
read the result back with MediaPipe's generated schema module and load the file in
MediaPipe's `ObjectDetector`, so a wrong slot cannot pass.

Only the tables a detector needs are written; the score calibration is left out (the
post-process op outputs sigmoid probabilities).
"""

from __future__ import annotations

import dataclasses
import io
import os
import zipfile
from collections.abc import Sequence

import flatbuffers
import numpy as np
from flatbuffers import table as flatbuffer_table
from tensorflow.lite.python import schema_py_generated as schema
from tensorflow.lite.tools import flatbuffer_utils

from keras_retinanet.export.tflite_graph import _read_bytes, _text

# Name of the model metadata entry that holds the buffer (read by every metadata parser).
METADATA_NAME = "TFLITE_METADATA"
# File identifier of a `ModelMetadata` buffer.
METADATA_FILE_IDENTIFIER = b"M001"
# Oldest metadata parser that reads every field written here (all are from the first
# schema version, 1.0.0, except tensor groups, from 1.2.1).
MIN_PARSER_VERSION = "1.2.1"
LABELS_FILE_NAME = "labelmap.txt"

# Output tensor names of a detector with the post-process op (the names MediaPipe and the
# Task Library look the outputs up by), in the order of the file's outputs.
LOCATION = "location"
CATEGORY = "category"
SCORE = "score"
NUMBER_OF_DETECTIONS = "number of detections"
OUTPUT_TENSOR_NAMES = (LOCATION, CATEGORY, SCORE, NUMBER_OF_DETECTIONS)
DETECTION_RESULT_GROUP = "detection_result"
INPUT_TENSOR_NAME = "image"

# Enum values of the schema.
_ASSOCIATED_FILE_TENSOR_VALUE_LABELS = 3
_COLOR_SPACE_RGB = 1
_BOUNDING_BOX_BOUNDARIES = 1
_COORDINATE_RATIO = 0
_CONTENT_FEATURE = 1  # ContentProperties union: FeatureProperties
_CONTENT_IMAGE = 2  # ImageProperties
_CONTENT_BOUNDING_BOX = 3  # BoundingBoxProperties
_PROCESS_UNIT_NORMALIZATION = 1  # ProcessUnitOptions union: NormalizationOptions
# BOUNDARIES order is (left, top, right, bottom); the op writes (ymin, xmin, ymax, xmax),
# so left is element 1, top element 0, right element 3, bottom element 2.
_BOX_INDEX_YXYX = (1, 0, 3, 2)
# Content range of the location, category and score outputs, as MediaPipe's own
# object-detector metadata writer writes it for the post-process op's outputs.
_CONTENT_VALUE_DIM = 2
# Pixel range of the input image.
_PIXEL_MIN, _PIXEL_MAX = 0.0, 255.0

# Field slots (0-based field order) of the schema's tables.
_ASSOCIATED_FILE = {"name": 0, "description": 1, "type": 2}
_IMAGE_SIZE = {"width": 0, "height": 1}
_IMAGE_PROPERTIES = {"color_space": 0, "default_size": 1}
_BOUNDING_BOX_PROPERTIES = {"index": 0, "type": 1, "coordinate_type": 2}
_VALUE_RANGE = {"min": 0, "max": 1}
_CONTENT = {"content_properties_type": 0, "content_properties": 1, "range": 2}
_NORMALIZATION_OPTIONS = {"mean": 0, "std": 1}
_PROCESS_UNIT = {"options_type": 0, "options": 1}
_STATS = {"max": 0, "min": 1}
_TENSOR_GROUP = {"name": 0, "tensor_names": 1}
_TENSOR_METADATA = {
    "name": 0,
    "description": 1,
    "content": 3,
    "process_units": 4,
    "stats": 5,
    "associated_files": 6,
}
_SUBGRAPH_METADATA = {
    "name": 0,
    "description": 1,
    "input_tensor_metadata": 2,
    "output_tensor_metadata": 3,
    "output_tensor_groups": 8,
}
_MODEL_METADATA = {
    "name": 0,
    "description": 1,
    "version": 2,
    "subgraph_metadata": 3,
    "author": 4,
    "license": 5,
    "min_parser_version": 7,
}
_NUM_FIELDS = {
    "AssociatedFile": 5,
    "FeatureProperties": 0,
    "ImageSize": 2,
    "ImageProperties": 2,
    "BoundingBoxProperties": 3,
    "ValueRange": 2,
    "Content": 3,
    "NormalizationOptions": 2,
    "ProcessUnit": 2,
    "Stats": 2,
    "TensorGroup": 2,
    "TensorMetadata": 7,
    "SubGraphMetadata": 10,
    "ModelMetadata": 8,
}


@dataclasses.dataclass(frozen=True)
class DetectorMetadata:
    """The metadata of an exported detector.

    Attributes:
        name: model name.
        description: one paragraph for a human.
        labels: the label map, one name per score column of the post-process op (so
            `detection_classes` index it; placeholder columns of class-wise files
            included, see `ClassColumnLayout`).
        image_size: `(H, W)` of the input.
        mean: per-channel (or one) mean subtracted from 0..255 RGB pixels before they
            enter the graph; `(0.0,)` for a graph that takes raw pixels.
        std: per-channel (or one) divisor applied after the mean.
        version: model version string.
        author: author string.
        license: license string.
    """

    name: str
    description: str
    labels: tuple[str, ...]
    image_size: tuple[int, int]
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    version: str = ""
    author: str = ""
    license: str = ""


def add_metadata(model: bytes, metadata: DetectorMetadata) -> bytes:
    """Writes `metadata` into a `.tflite` and appends the label map as a zip entry.

    Args:
        model: the flatbuffer bytes of a detector whose graph outputs are, in this order,
            boxes `[1, N, 4]` (ymin, xmin, ymax, xmax normalised), classes `[1, N]`,
            scores `[1, N]`, num_detections `[1]` (`export_tflite`'s contract). Any
            metadata of that name and any appended archive are replaced.

    Returns:
        The new file content (flatbuffer + zip of `LABELS_FILE_NAME`).
    """
    if len(metadata.mean) != len(metadata.std) or not metadata.mean:
        raise ValueError(
            f"mean and std need the same, non-zero length; got {metadata.mean} and {metadata.std}."
        )
    if any(s <= 0 for s in metadata.std):
        raise ValueError(f"std must be positive; got {metadata.std}.")
    model_object = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(_metadata_buffer(metadata), np.uint8)
    entries = [m for m in (model_object.metadata or []) if _text(m.name) != METADATA_NAME]
    entry = schema.MetadataT()
    entry.name = METADATA_NAME.encode("utf-8")
    model_object.buffers.append(buffer)
    entry.buffer = len(model_object.buffers) - 1
    model_object.metadata = [*entries, entry]
    content = bytes(flatbuffer_utils.convert_object_to_bytearray(model_object))
    labels = "".join(f"{label}\n" for label in metadata.labels).encode("utf-8")
    return _append_zip(content, {LABELS_FILE_NAME: labels})


def read_metadata(model: bytes | str | os.PathLike) -> DetectorMetadata | None:
    """Reads back what `add_metadata` wrote (labels from the zip, normalisation, names).

    Args:
        model: the file content or path.

    Returns:
        A `DetectorMetadata`, or None when the file has no "TFLITE_METADATA".
    """
    content = _read_bytes(model)
    model_table = _metadata_root(content)
    if model_table is None:
        return None
    subgraph = model_table.tables("subgraph_metadata", _MODEL_METADATA)[0]
    image = subgraph.tables("input_tensor_metadata", _SUBGRAPH_METADATA)[0]
    normalisation = image.tables("process_units", _TENSOR_METADATA)[0].table(
        "options", _PROCESS_UNIT
    )
    outputs = subgraph.tables("output_tensor_metadata", _SUBGRAPH_METADATA)
    category = next(o for o in outputs if o.string("name", _TENSOR_METADATA) == CATEGORY)
    labels_file = category.tables("associated_files", _TENSOR_METADATA)[0].string(
        "name", _ASSOCIATED_FILE
    )
    archive = read_associated_files(content)
    labels = tuple(
        line for line in archive.get(labels_file, b"").decode("utf-8").splitlines() if line
    )
    image_properties = image.table("content", _TENSOR_METADATA).table(
        "content_properties", _CONTENT
    )
    size = image_properties.table("default_size", _IMAGE_PROPERTIES)
    return DetectorMetadata(
        name=model_table.string("name", _MODEL_METADATA),
        description=model_table.string("description", _MODEL_METADATA),
        labels=labels,
        image_size=(size.uint("height", _IMAGE_SIZE), size.uint("width", _IMAGE_SIZE)),
        mean=tuple(normalisation.floats("mean", _NORMALIZATION_OPTIONS)),
        std=tuple(normalisation.floats("std", _NORMALIZATION_OPTIONS)),
        version=model_table.string("version", _MODEL_METADATA),
        author=model_table.string("author", _MODEL_METADATA),
        license=model_table.string("license", _MODEL_METADATA),
    )


def read_associated_files(model: bytes | str | os.PathLike) -> dict[str, bytes]:
    """The files zipped onto a `.tflite` (`{}` when none)."""
    content = _read_bytes(model)
    try:
        with zipfile.ZipFile(io.BytesIO(bytes(content))) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    except zipfile.BadZipFile:
        return {}


def output_tensor_names(model: bytes | str | os.PathLike) -> tuple[str, ...]:
    """The metadata names of the graph outputs, in file order (`()` without metadata)."""
    model_table = _metadata_root(_read_bytes(model))
    if model_table is None:
        return ()
    subgraph = model_table.tables("subgraph_metadata", _MODEL_METADATA)[0]
    outputs = subgraph.tables("output_tensor_metadata", _SUBGRAPH_METADATA)
    return tuple(o.string("name", _TENSOR_METADATA) for o in outputs)


# ---------------------------------------------------------------------------- writing


def _metadata_buffer(metadata: DetectorMetadata) -> bytes:
    builder = flatbuffers.Builder(1024)
    builder.ForceDefaults(True)  # write every scalar given, defaults included (RATIO = 0)
    height, width = metadata.image_size

    # The input image: RGB, its size, the normalisation of 0..255 pixels, the pixel range.
    default_size = _table(
        builder,
        "ImageSize",
        [("uint32", _IMAGE_SIZE["width"], width)],
        [("uint32", _IMAGE_SIZE["height"], height)],
    )
    image_properties = _table(
        builder,
        "ImageProperties",
        [("uint8", _IMAGE_PROPERTIES["color_space"], _COLOR_SPACE_RGB)],
        [("offset", _IMAGE_PROPERTIES["default_size"], default_size)],
    )
    image_content = _content(builder, _CONTENT_IMAGE, image_properties, value_range=None)
    mean = _float_vector(builder, metadata.mean)
    std = _float_vector(builder, metadata.std)
    normalisation = _table(
        builder,
        "NormalizationOptions",
        [("offset", _NORMALIZATION_OPTIONS["mean"], mean)],
        [("offset", _NORMALIZATION_OPTIONS["std"], std)],
    )
    process_unit = _table(
        builder,
        "ProcessUnit",
        [("uint8", _PROCESS_UNIT["options_type"], _PROCESS_UNIT_NORMALIZATION)],
        [("offset", _PROCESS_UNIT["options"], normalisation)],
    )
    channels = len(metadata.mean)
    stats = _table(
        builder,
        "Stats",
        [("offset", _STATS["max"], _float_vector(builder, [_PIXEL_MAX] * channels))],
        [("offset", _STATS["min"], _float_vector(builder, [_PIXEL_MIN] * channels))],
    )
    image = _tensor_metadata(
        builder,
        INPUT_TENSOR_NAME,
        "Input image: RGB pixels in 0..255, resized (letterboxed) to "
        f"{height}x{width}; uint8 inputs take the pixel values as they are.",
        image_content,
        process_units=[process_unit],
        stats=stats,
    )

    # The four outputs of the post-process op.
    box_index = _uint_vector(builder, _BOX_INDEX_YXYX)
    box_properties = _table(
        builder,
        "BoundingBoxProperties",
        [("offset", _BOUNDING_BOX_PROPERTIES["index"], box_index)],
        [("uint8", _BOUNDING_BOX_PROPERTIES["type"], _BOUNDING_BOX_BOUNDARIES)],
        [("uint8", _BOUNDING_BOX_PROPERTIES["coordinate_type"], _COORDINATE_RATIO)],
    )
    location = _tensor_metadata(
        builder,
        LOCATION,
        "Boxes [1, N, 4] as (ymin, xmin, ymax, xmax), normalised to the input size.",
        _content(builder, _CONTENT_BOUNDING_BOX, box_properties, _CONTENT_VALUE_DIM),
    )
    labels_file = _table(
        builder,
        "AssociatedFile",
        [("offset", _ASSOCIATED_FILE["name"], builder.CreateString(LABELS_FILE_NAME))],
        [
            (
                "offset",
                _ASSOCIATED_FILE["description"],
                builder.CreateString("Class names, one per line, indexed by the category."),
            )
        ],
        [("uint8", _ASSOCIATED_FILE["type"], _ASSOCIATED_FILE_TENSOR_VALUE_LABELS)],
    )
    category = _tensor_metadata(
        builder,
        CATEGORY,
        "Classes [1, N]: 0-based index into the label map.",
        _feature_content(builder, _CONTENT_VALUE_DIM),
        associated_files=[labels_file],
    )
    score = _tensor_metadata(
        builder,
        SCORE,
        "Scores [1, N]: sigmoid class probability.",
        _feature_content(builder, _CONTENT_VALUE_DIM),
    )
    count = _tensor_metadata(
        builder,
        NUMBER_OF_DETECTIONS,
        "Number of valid leading rows of the other outputs [1].",
        _feature_content(builder, None),
    )
    group_names = _offset_vector(
        builder, [builder.CreateString(n) for n in OUTPUT_TENSOR_NAMES[:3]]
    )
    group = _table(
        builder,
        "TensorGroup",
        [("offset", _TENSOR_GROUP["name"], builder.CreateString(DETECTION_RESULT_GROUP))],
        [("offset", _TENSOR_GROUP["tensor_names"], group_names)],
    )
    subgraph = _table(
        builder,
        "SubGraphMetadata",
        [("offset", _SUBGRAPH_METADATA["input_tensor_metadata"], _offset_vector(builder, [image]))],
        [
            (
                "offset",
                _SUBGRAPH_METADATA["output_tensor_metadata"],
                _offset_vector(builder, [location, category, score, count]),
            )
        ],
        [("offset", _SUBGRAPH_METADATA["output_tensor_groups"], _offset_vector(builder, [group]))],
    )
    strings = {
        key: builder.CreateString(value)
        for key, value in (
            ("name", metadata.name),
            ("description", metadata.description),
            ("version", metadata.version),
            ("author", metadata.author),
            ("license", metadata.license),
            ("min_parser_version", MIN_PARSER_VERSION),
        )
        if value
    }
    root = _table(
        builder,
        "ModelMetadata",
        *[[("offset", _MODEL_METADATA[key], offset)] for key, offset in strings.items()],
        [("offset", _MODEL_METADATA["subgraph_metadata"], _offset_vector(builder, [subgraph]))],
    )
    builder.Finish(root, file_identifier=METADATA_FILE_IDENTIFIER)
    return bytes(builder.Output())


def _table(builder: flatbuffers.Builder, kind: str, *fields) -> int:
    """A table of `kind` with `fields`, each a one-element list `[(type, slot, value)]`."""
    builder.StartObject(_NUM_FIELDS[kind])
    for ((field_type, slot, value),) in fields:
        if field_type == "offset":
            builder.PrependUOffsetTRelativeSlot(slot, value, 0)
        elif field_type == "uint8":
            builder.PrependUint8Slot(slot, value, 0)
        elif field_type == "uint32":
            builder.PrependUint32Slot(slot, value, 0)
        elif field_type == "int32":
            builder.PrependInt32Slot(slot, value, 0)
        else:
            raise ValueError(field_type)
    return builder.EndObject()


def _content(builder, properties_type: int, properties: int, value_range: int | None) -> int:
    fields = [
        [("uint8", _CONTENT["content_properties_type"], properties_type)],
        [("offset", _CONTENT["content_properties"], properties)],
    ]
    if value_range is not None:
        range_table = _table(
            builder,
            "ValueRange",
            [("int32", _VALUE_RANGE["min"], value_range)],
            [("int32", _VALUE_RANGE["max"], value_range)],
        )
        fields.append([("offset", _CONTENT["range"], range_table)])
    return _table(builder, "Content", *fields)


def _feature_content(builder, value_range: int | None) -> int:
    return _content(builder, _CONTENT_FEATURE, _table(builder, "FeatureProperties"), value_range)


def _tensor_metadata(
    builder,
    name: str,
    description: str,
    content: int,
    process_units: Sequence[int] = (),
    stats: int | None = None,
    associated_files: Sequence[int] = (),
) -> int:
    fields = [
        [("offset", _TENSOR_METADATA["name"], builder.CreateString(name))],
        [("offset", _TENSOR_METADATA["description"], builder.CreateString(description))],
        [("offset", _TENSOR_METADATA["content"], content)],
    ]
    if process_units:
        vector = _offset_vector(builder, process_units)
        fields.append([("offset", _TENSOR_METADATA["process_units"], vector)])
    if stats is not None:
        fields.append([("offset", _TENSOR_METADATA["stats"], stats)])
    if associated_files:
        vector = _offset_vector(builder, associated_files)
        fields.append([("offset", _TENSOR_METADATA["associated_files"], vector)])
    return _table(builder, "TensorMetadata", *fields)


def _offset_vector(builder, offsets: Sequence[int]) -> int:
    builder.StartVector(4, len(offsets), 4)
    for offset in reversed(offsets):
        builder.PrependUOffsetTRelative(offset)
    return builder.EndVector()


def _float_vector(builder, values: Sequence[float]) -> int:
    return builder.CreateNumpyVector(np.asarray(values, np.float32))


def _uint_vector(builder, values: Sequence[int]) -> int:
    return builder.CreateNumpyVector(np.asarray(values, np.uint32))


def _append_zip(content: bytes, files: dict[str, bytes]) -> bytes:
    """Appends `files` as an uncompressed zip (absolute offsets: the file is the zip)."""
    stream = io.BytesIO()
    stream.write(_strip_zip(content))
    with zipfile.ZipFile(stream, mode="a", compression=zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return stream.getvalue()


def _strip_zip(content: bytes) -> bytes:
    """The flatbuffer without an appended archive (re-export replaces it)."""
    if not read_associated_files(content):
        return content
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        start = min(info.header_offset for info in archive.infolist())
    return content[:start]


# ---------------------------------------------------------------------------- reading


def _metadata_root(content: bytearray) -> _Table | None:
    """The `ModelMetadata` table of a `.tflite`, or None when it has none."""
    root = schema.Model.GetRootAs(content, 0)
    for index in range(root.MetadataLength()):
        entry = root.Metadata(index)
        if _text(entry.Name()) == METADATA_NAME:
            data = root.Buffers(entry.Buffer()).DataAsNumpy()
            buffer = bytearray(np.asarray(data, np.uint8).tobytes())
            offset = flatbuffers.encode.Get(flatbuffers.packer.uoffset, buffer, 0)
            return _Table(flatbuffer_table.Table(buffer, offset))
    return None


class _Table:
    """Minimal typed access to a metadata table through its field slots."""

    def __init__(self, tab: flatbuffer_table.Table):
        self._tab = tab

    def _offset(self, field: str, slots: dict[str, int]) -> int:
        return self._tab.Offset(4 + 2 * slots[field])

    def string(self, field: str, slots: dict[str, int]) -> str:
        offset = self._offset(field, slots)
        return _text(self._tab.String(offset + self._tab.Pos)) if offset else ""

    def uint(self, field: str, slots: dict[str, int]) -> int:
        offset = self._offset(field, slots)
        if not offset:
            return 0
        return self._tab.Get(flatbuffers.number_types.Uint32Flags, offset + self._tab.Pos)

    def table(self, field: str, slots: dict[str, int]) -> _Table:
        offset = self._offset(field, slots)
        if not offset:
            raise ValueError(f"metadata field {field!r} is missing")
        return _Table(
            flatbuffer_table.Table(self._tab.Bytes, self._tab.Indirect(offset + self._tab.Pos))
        )

    def tables(self, field: str, slots: dict[str, int]) -> list[_Table]:
        offset = self._offset(field, slots)
        if not offset:
            return []
        start = self._tab.Vector(offset)
        return [
            _Table(flatbuffer_table.Table(self._tab.Bytes, self._tab.Indirect(start + 4 * i)))
            for i in range(self._tab.VectorLen(offset))
        ]

    def floats(self, field: str, slots: dict[str, int]) -> list[float]:
        offset = self._offset(field, slots)
        if not offset:
            return []
        values = self._tab.GetVectorAsNumpy(flatbuffers.number_types.Float32Flags, offset)
        return [float(v) for v in values]
