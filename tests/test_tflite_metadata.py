"""TFLite Model Metadata: written from the public schema, read back by us and by MediaPipe.

The independent reader is MediaPipe's generated schema module (`mediapipe` is installed by
`make test`); the file then loads in MediaPipe's ObjectDetector (tests/test_conformance.py).
"""

import io
import tempfile
import zipfile

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter
from tensorflow.lite.python import schema_py_generated as schema

from keras_retinanet.export.tflite_metadata import (
    LABELS_FILE_NAME,
    METADATA_NAME,
    OUTPUT_TENSOR_NAMES,
    DetectorMetadata,
    add_metadata,
    output_tensor_names,
    read_associated_files,
    read_metadata,
)

METADATA = DetectorMetadata(
    name="tiny detector",
    description="for the test",
    labels=("cat", "???", "dog"),
    image_size=(96, 128),
    mean=(127.5, 127.0, 126.5),
    std=(58.0, 57.0, 56.0),
    version="v1",
    author="tests",
    license="Apache-2.0",
)


def _tiny_model() -> bytes:
    """A .tflite with one input [1, 96, 128, 3] and four outputs (a stand-in detector)."""

    class Module(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, 96, 128, 3], tf.float32)])
        def serve(self, images):
            mean = tf.reduce_mean(images, axis=[1, 2])  # [1, 3]
            boxes = tf.tile(mean[:, tf.newaxis, :1], [1, 5, 4]) / 255.0
            return {
                "detection_boxes": boxes,
                "detection_classes": tf.zeros([1, 5]),
                "detection_scores": mean[:, :1] * tf.ones([1, 5]) / 255.0,
                "num_detections": tf.ones([1]),
            }

    module = Module()
    with tempfile.TemporaryDirectory() as directory:
        tf.saved_model.save(module, directory, signatures={"serving_default": module.serve})
        return tf.lite.TFLiteConverter.from_saved_model(directory).convert()


def test_round_trip_and_the_file_still_runs():
    content = add_metadata(_tiny_model(), METADATA)
    assert read_metadata(content) == METADATA
    assert output_tensor_names(content) == OUTPUT_TENSOR_NAMES
    # The file is a zip too, holding the label map uncompressed.
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        info = archive.getinfo(LABELS_FILE_NAME)
        assert info.compress_type == zipfile.ZIP_STORED
    assert read_associated_files(content) == {LABELS_FILE_NAME: b"cat\n???\ndog\n"}
    interpreter = Interpreter(model_content=content)
    interpreter.allocate_tensors()
    runner = interpreter.get_signature_runner("serving_default")
    out = runner(images=np.full([1, 96, 128, 3], 51.0, np.float32))
    np.testing.assert_allclose(out["detection_scores"], 0.2, rtol=1e-6)


def test_rewriting_replaces_the_metadata_and_the_archive():
    once = add_metadata(_tiny_model(), METADATA)
    other = DetectorMetadata(name="renamed", description="", labels=("a",), image_size=(96, 128))
    twice = add_metadata(once, other)
    assert read_metadata(twice) == other
    root = schema.Model.GetRootAs(twice, 0)
    names = [root.Metadata(i).Name() for i in range(root.MetadataLength())]
    assert names.count(METADATA_NAME.encode()) == 1
    assert read_associated_files(twice) == {LABELS_FILE_NAME: b"a\n"}


def test_a_file_without_metadata_reads_none():
    assert read_metadata(_tiny_model()) is None
    assert output_tensor_names(_tiny_model()) == ()


def test_invalid_normalisation_is_refused():
    with pytest.raises(ValueError, match="same, non-zero length"):
        add_metadata(_tiny_model(), DetectorMetadata("m", "", ("a",), (8, 8), (0.0,), (1.0, 1.0)))
    with pytest.raises(ValueError, match="std must be positive"):
        add_metadata(_tiny_model(), DetectorMetadata("m", "", ("a",), (8, 8), (0.0,), (0.0,)))


def test_mediapipes_schema_module_reads_what_we_wrote():
    generated = pytest.importorskip("mediapipe.tasks.metadata.metadata_schema_py_generated")
    content = add_metadata(_tiny_model(), METADATA)
    root = schema.Model.GetRootAs(content, 0)
    entry = next(
        root.Metadata(i)
        for i in range(root.MetadataLength())
        if root.Metadata(i).Name() == METADATA_NAME.encode()
    )
    buffer = root.Buffers(entry.Buffer()).DataAsNumpy().tobytes()
    assert generated.ModelMetadata.ModelMetadataBufferHasIdentifier(buffer, 0)
    model = generated.ModelMetadata.GetRootAsModelMetadata(buffer, 0)
    assert model.Name() == b"tiny detector" and model.License() == b"Apache-2.0"
    subgraph = model.SubgraphMetadata(0)
    image = subgraph.InputTensorMetadata(0)
    assert image.Name() == b"image"
    assert image.Content().ContentPropertiesType() == generated.ContentProperties.ImageProperties
    properties = generated.ImageProperties()
    properties.Init(
        image.Content().ContentProperties().Bytes, image.Content().ContentProperties().Pos
    )
    assert properties.ColorSpace() == generated.ColorSpaceType.RGB
    assert (properties.DefaultSize().Height(), properties.DefaultSize().Width()) == (96, 128)
    unit = image.ProcessUnits(0)
    assert unit.OptionsType() == generated.ProcessUnitOptions.NormalizationOptions
    options = generated.NormalizationOptions()
    options.Init(unit.Options().Bytes, unit.Options().Pos)
    np.testing.assert_allclose(options.MeanAsNumpy(), METADATA.mean)
    np.testing.assert_allclose(options.StdAsNumpy(), METADATA.std)
    np.testing.assert_allclose(image.Stats().MaxAsNumpy(), [255.0] * 3)
    outputs = [
        subgraph.OutputTensorMetadata(i) for i in range(subgraph.OutputTensorMetadataLength())
    ]
    assert [o.Name().decode() for o in outputs] == list(OUTPUT_TENSOR_NAMES)
    location = outputs[0].Content()
    assert location.ContentPropertiesType() == generated.ContentProperties.BoundingBoxProperties
    box = generated.BoundingBoxProperties()
    box.Init(location.ContentProperties().Bytes, location.ContentProperties().Pos)
    # (left, top, right, bottom) = elements 1, 0, 3, 2 of (ymin, xmin, ymax, xmax).
    assert box.IndexAsNumpy().tolist() == [1, 0, 3, 2]
    assert box.Type() == generated.BoundingBoxType.BOUNDARIES
    assert box.CoordinateType() == generated.CoordinateType.RATIO
    assert (location.Range().Min(), location.Range().Max()) == (2, 2)
    labels = outputs[1].AssociatedFiles(0)
    assert labels.Name() == LABELS_FILE_NAME.encode()
    assert labels.Type() == generated.AssociatedFileType.TENSOR_VALUE_LABELS
    group = subgraph.OutputTensorGroups(0)
    assert [group.TensorNames(i) for i in range(group.TensorNamesLength())] == [
        b"location",
        b"category",
        b"score",
    ]
