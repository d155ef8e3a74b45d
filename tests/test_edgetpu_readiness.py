"""Edge TPU readiness of exported models, read from the flatbuffer."""

import os
import tempfile

import numpy as np
import pytest
import tensorflow as tf
from test_tflite_exporter import tiny_export

from keras_retinanet.export import (
    POSTPROCESS_OP_NAME,
    DetectionPostProcess,
    check_edgetpu_readiness,
)
from keras_retinanet.export.edgetpu_readiness import EDGETPU_SUPPORTED_OPS

GRID = 4  # the toy detector's feature map is 4 x 4, one anchor per cell
NUM_CLASSES = 2
IMAGE_SIZE = 16


def _toy_detector(upsample_with_tile: bool) -> bytes:
    """An int8 toy detector: conv -> (optional repeat-upsampling) -> heads -> post-process.

    `upsample_with_tile` adds a nearest-neighbour 2x upsampling written as reshape + tile
    (what Keras 3's UpSampling2D lowers to), which the Edge TPU cannot map.
    """
    rng = np.random.default_rng(0)
    stem = tf.constant(rng.normal(0, 0.2, (3, 3, 3, 8)), tf.float32)
    box_head = tf.constant(rng.normal(0, 0.2, (1, 1, 8, 4)), tf.float32)
    class_head = tf.constant(rng.normal(0, 0.2, (1, 1, 8, NUM_CLASSES)), tf.float32)
    cells = (np.arange(GRID) + 0.5) / GRID
    centers = np.stack(np.meshgrid(cells, cells, indexing="ij"), -1).reshape(-1, 2)
    anchors = np.concatenate([centers, np.full_like(centers, 0.3)], -1).astype(np.float32)
    postprocess = DetectionPostProcess(num_classes=NUM_CLASSES, max_detections=5)

    class Toy(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([1, IMAGE_SIZE, IMAGE_SIZE, 3], tf.float32)])
        def serve(self, images):
            stride = 2 if upsample_with_tile else 4
            features = tf.nn.relu(tf.nn.conv2d(images / 255.0, stem, stride, "SAME"))
            if upsample_with_tile:
                features = tf.nn.max_pool2d(features, 4, 4, "SAME")  # 8 -> 2
                features = tf.reshape(features, [1, 2, 1, 2, 1, 8])
                features = tf.tile(features, [1, 1, 2, 1, 2, 1])
                features = tf.reshape(features, [1, GRID, GRID, 8])
            boxes = tf.reshape(tf.nn.conv2d(features, box_head, 1, "SAME"), [1, -1, 4])
            logits = tf.nn.conv2d(features, class_head, 1, "SAME")
            logits = tf.reshape(logits, [1, -1, NUM_CLASSES])
            return postprocess(boxes, tf.sigmoid(logits), tf.constant(anchors))

    toy = Toy()
    with tempfile.TemporaryDirectory() as directory:
        tf.saved_model.save(toy, directory, signatures={"serving_default": toy.serve})
        converter = tf.lite.TFLiteConverter.from_saved_model(directory)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: (
            [rng.uniform(0, 255, (1, IMAGE_SIZE, IMAGE_SIZE, 3)).astype(np.float32)]
            for _ in range(8)
        )
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
            tf.lite.OpsSet.TFLITE_BUILTINS,
        ]
        converter.inference_input_type = tf.uint8
        return converter.convert()


def test_fully_mappable_toy_detector_is_ready():
    readiness = check_edgetpu_readiness(_toy_detector(upsample_with_tile=False))
    assert readiness.postprocess_is_last
    assert readiness.ops[-1].op_type == POSTPROCESS_OP_NAME
    assert readiness.blocking_issues == ()
    assert readiness.dynamic_tensors == ()
    assert readiness.high_rank_tensors == ()
    assert readiness.cpu_tail[-1] == POSTPROCESS_OP_NAME
    assert set(readiness.cpu_tail[:-1]) <= {"DEQUANTIZE"}
    assert readiness.ready
    report = readiness.report()
    assert f"all {readiness.num_ops_to_map} ops before the post-process op map" in report
    # Every op but the CPU tail is on the supported list.
    body = [op for op in readiness.ops if op.op_type not in ("DEQUANTIZE", POSTPROCESS_OP_NAME)]
    assert len(body) == readiness.num_ops_to_map
    assert all(op.op_type in EDGETPU_SUPPORTED_OPS for op in body)


def test_tile_and_five_dimensional_tensors_block_the_edgetpu():
    readiness = check_edgetpu_readiness(_toy_detector(upsample_with_tile=True))
    assert not readiness.ready
    blocking_types = {issue.op_type for issue in readiness.blocking_issues}
    assert "TILE" in blocking_types
    assert any("TILE" == issue.op_type for issue in readiness.unsupported_ops)
    assert any("[1, 2, 2, 2, 2, 8]" in name for name in readiness.high_rank_tensors)
    report = readiness.report()
    assert "would not map" in report
    assert "ops before the post-process op map" not in report


def test_float_model_is_not_int8():
    path, _ = tiny_export("float32")
    readiness = check_edgetpu_readiness(path)
    assert not readiness.ready
    assert len(readiness.non_int8_ops) >= readiness.num_ops - 1
    assert any("float32" in issue.reasons[0] for issue in readiness.blocking_issues)


def test_exported_int8_retinanet():
    path, _ = tiny_export("int8")
    readiness = check_edgetpu_readiness(path)
    report = readiness.report()
    # Every op is listed with its dtypes, the post-process op is last and fed by the
    # two DEQUANTIZE ops of its CPU tail; the body is int8 with static shapes.
    assert f"{readiness.num_ops} ops:" in report
    assert report.count(" -> out ") == readiness.num_ops
    assert readiness.postprocess_is_last
    assert readiness.cpu_tail == ("DEQUANTIZE", "DEQUANTIZE", POSTPROCESS_OP_NAME)
    assert readiness.dynamic_tensors == ()
    tail_types = {"DEQUANTIZE", POSTPROCESS_OP_NAME}
    assert {issue.op_type for issue in readiness.non_int8_ops} <= tail_types
    # Keras 3's UpSampling2D (the FPN's top-down path) lowers to 5-D reshape + TILE,
    # which the Edge TPU cannot map; nothing else blocks.
    blocking_types = {issue.op_type for issue in readiness.blocking_issues}
    assert blocking_types <= {"TILE", "RESHAPE"}
    if readiness.blocking_issues:
        assert "TILE" in blocking_types
        assert not readiness.ready
        assert "would not map" in report
    else:
        assert f"all {readiness.num_ops_to_map} ops before the post-process op map" in report


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        check_edgetpu_readiness(os.path.join(tempfile.gettempdir(), "no_such_model.tflite"))


def test_feature_pyramid_on_odd_sizes_stays_mappable():
    # A side that is no multiple of 32: C3 13, C4 7, C5 4 rows. The top-down path
    # upsamples 2x (RESIZE_NEAREST_NEIGHBOR) and crops (STRIDED_SLICE): both on the list.
    import keras

    from keras_retinanet.layers import FeaturePyramid

    size = 100
    images = keras.Input((size, size, 3), batch_size=1)
    c3 = keras.layers.Conv2D(8, 3, strides=8, padding="same")(images)
    c4 = keras.layers.Conv2D(8, 3, strides=2, padding="same")(c3)
    c5 = keras.layers.Conv2D(8, 3, strides=2, padding="same")(c4)
    pyramid = keras.Model(images, FeaturePyramid(channels=8, max_level=5)([c3, c4, c5]))
    converter = tf.lite.TFLiteConverter.from_keras_model(pyramid)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    converter.representative_dataset = lambda: (
        [rng.uniform(0, 255, (1, size, size, 3)).astype(np.float32)] for _ in range(4)
    )
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.int8
    readiness = check_edgetpu_readiness(converter.convert(), run_compiler=False)
    op_types = [op.op_type for op in readiness.ops]
    assert op_types.count("RESIZE_NEAREST_NEIGHBOR") == 2
    assert op_types.count("STRIDED_SLICE") == 2
    assert "TILE" not in op_types
    assert readiness.non_int8_ops == () and readiness.dynamic_tensors == ()
    assert readiness.unsupported_ops == () and readiness.high_rank_tensors == ()
