"""PreciseBatchNorm: population statistics from training batches, nothing else changed."""

import warnings

import keras
import numpy as np
import pytest
from conftest import assert_config_round_trip

import keras_retinanet as kr
from keras_retinanet.callbacks import (
    PreciseBatchNorm,
    recompute_batch_norm_statistics,
    trainable_batch_norm_layers,
)

CHANNELS = 3
SIDE = 4
EMA_MOMENTUM = 0.999


def _tiny_bn_model() -> keras.Model:
    """conv -> BN (trainable) -> relu -> frozen BN -> conv -> BN inside a nested model."""
    inputs = keras.Input((SIDE, SIDE, 2))
    x = keras.layers.Conv2D(CHANNELS, 1, name="conv_a")(inputs)
    x = keras.layers.BatchNormalization(momentum=EMA_MOMENTUM, name="bn_a")(x)
    x = keras.layers.ReLU()(x)
    frozen = keras.layers.BatchNormalization(name="bn_frozen")
    frozen.trainable = False
    x = frozen(x)
    inner_in = keras.Input((SIDE, SIDE, CHANNELS))
    inner = keras.Model(
        inner_in,
        keras.layers.BatchNormalization(momentum=EMA_MOMENTUM, name="bn_b")(
            keras.layers.Conv2D(CHANNELS, 1, name="conv_b")(inner_in)
        ),
        name="inner",
    )
    return keras.Model(inputs, inner(x))


def _batches(num_batches: int, batch_size: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        (rng.normal(size=(batch_size, SIDE, SIDE, 2)) * 3.0 + 5.0).astype("float32")
        for _ in range(num_batches)
    ]


def _numpy_bn_a_statistics(model: keras.Model, batches, num_images: int):
    """Expected bn_a statistics: image-weighted mean of per-batch mean / biased variance."""
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in model.get_layer("conv_a").weights)
    means, variances, weights = [], [], []
    seen = 0
    for batch in batches:
        batch = batch[: num_images - seen]
        if not len(batch):
            break
        conv = batch.astype(np.float64) @ kernel[0, 0] + bias  # 1x1 conv: [B, H, W, C]
        means.append(conv.mean(axis=(0, 1, 2)))
        variances.append(conv.var(axis=(0, 1, 2)))  # biased, as Keras' moments
        weights.append(len(batch))
        seen += len(batch)
    weights = np.asarray(weights, np.float64)[:, None]
    return (
        (np.asarray(means) * weights).sum(0) / weights.sum(),
        (np.asarray(variances) * weights).sum(0) / weights.sum(),
    )


def test_statistics_are_the_image_weighted_average_of_batch_statistics():
    model = _tiny_bn_model()
    batches = _batches(3, batch_size=2)
    # 5 images: batches of 2, 2 and the first image of the third.
    expected_mean, expected_variance = _numpy_bn_a_statistics(model, batches, num_images=5)

    updated = recompute_batch_norm_statistics(model, iter(batches), num_images=5)

    assert updated == 2  # bn_a and the nested bn_b; bn_frozen is not trainable
    layer = model.get_layer("bn_a")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer.moving_mean), expected_mean, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer.moving_variance), expected_variance, rtol=1e-4
    )
    # The EMA (momentum 0.999) alone would have moved the mean ~0.1% of the way.
    assert np.abs(expected_mean).max() > 0.1


def test_every_other_variable_and_the_momentum_are_restored_bit_identically():
    model = _tiny_bn_model()
    statistics = {
        id(v)
        for layer in trainable_batch_norm_layers(model)
        for v in (layer.moving_mean, layer.moving_variance)
    }
    before = {
        v.path: keras.ops.convert_to_numpy(v).copy()
        for v in model.weights
        if id(v) not in statistics
    }
    frozen = model.get_layer("bn_frozen")
    assert frozen not in trainable_batch_norm_layers(model)

    recompute_batch_norm_statistics(model, _batches(4, batch_size=2), num_images=8)

    for v in model.weights:
        if id(v) not in statistics:
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(v), before[v.path], v.path)
    assert all(layer.momentum == EMA_MOMENTUM for layer in trainable_batch_norm_layers(model))
    # The trainable statistics did change (not a no-op).
    bn_b = model.get_layer("inner").get_layer("bn_b")
    assert not np.allclose(keras.ops.convert_to_numpy(bn_b.moving_variance), 1.0)


def test_batches_as_tuples_and_dicts_and_an_endless_iterable():
    model = _tiny_bn_model()
    batches = _batches(2, batch_size=3)
    expected_mean, _ = _numpy_bn_a_statistics(model, batches, num_images=6)

    def endless():
        while True:
            yield batches[0], {"image_id": 0}
            yield {"images": batches[1]}

    recompute_batch_norm_statistics(model, endless(), num_images=6)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.get_layer("bn_a").moving_mean),
        expected_mean,
        rtol=1e-5,
        atol=1e-5,
    )


def test_bad_arguments_are_named():
    model = _tiny_bn_model()
    with pytest.raises(ValueError, match="num_images"):
        recompute_batch_norm_statistics(model, _batches(1, 2), num_images=0)
    with pytest.raises(ValueError, match="no images"):
        recompute_batch_norm_statistics(model, [], num_images=4)
    with pytest.raises(ValueError, match="every_n_epochs"):
        PreciseBatchNorm(every_n_epochs=0)
    with pytest.raises(ValueError, match="no dataset"):
        callback = PreciseBatchNorm()
        callback.set_model(model)
        callback.recompute()


def test_model_without_trainable_batch_norm_is_left_alone():
    inputs = keras.Input((SIDE, SIDE, 2))
    frozen = keras.layers.BatchNormalization()
    frozen.trainable = False
    model = keras.Model(inputs, frozen(keras.layers.Conv2D(2, 1)(inputs)))
    assert recompute_batch_norm_statistics(model, [], num_images=4) == 0


def test_get_config_round_trips():
    callback = PreciseBatchNorm(num_images=64, every_n_epochs=3, at_train_end=False)
    rebuilt = assert_config_round_trip(
        callback, {"num_images": 64, "every_n_epochs": 3, "at_train_end": False}
    )
    assert rebuilt.dataset is None
    batches = _batches(1, 2)
    assert PreciseBatchNorm.from_config(callback.get_config(), dataset=batches).dataset is batches
    assert kr.callbacks.PreciseBatchNorm is PreciseBatchNorm


class _StatisticsRecorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.means = []

    def on_epoch_end(self, epoch, logs=None):
        layer = self.model.get_layer("bn_a")
        self.means.append(keras.ops.convert_to_numpy(layer.moving_mean).copy())


def test_in_fit_the_pass_runs_before_later_callbacks_and_at_train_end():
    model = _tiny_bn_model()
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    x = np.concatenate(_batches(4, batch_size=2))
    y = np.zeros((len(x), SIDE, SIDE, CHANNELS), "float32")
    stats_batches = _batches(2, batch_size=4, seed=7)
    precise = PreciseBatchNorm(stats_batches, num_images=8, every_n_epochs=2)
    recorder = _StatisticsRecorder()
    model.fit(x, y, batch_size=2, epochs=3, verbose=0, callbacks=[precise, recorder])

    # After epoch 2 the recorder (listed after) saw the precise statistics of that epoch's
    # weights; epoch 3 is no multiple of 2, so on_train_end ran the pass once more.
    assert len(recorder.means) == 3
    final_mean, _ = _numpy_bn_a_statistics(model, stats_batches, num_images=8)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model.get_layer("bn_a").moving_mean),
        final_mean,
        rtol=1e-5,
        atol=1e-5,
    )
    assert not np.allclose(recorder.means[2], final_mean, atol=1e-3)  # EMA values at epoch 3


# --- a short fine-tuning whose moving averages are wrong --------------------------------

FINETUNE_SIZE = 64
FINETUNE_IMAGES = 16
FINETUNE_BATCH = 8
FINETUNE_STEPS = 30


def test_short_run_with_a_slow_moving_average_detects_only_after_the_pass():
    """Momentum 0.999 for 30 steps: inference mode sees ~3% of the new statistics.

    Measured (64 px, 16 shapes images, 30 AdamW steps, evaluated on the training images):
    AP 0.000 without the pass, AP 0.022 / AP50 0.063 with it.
    """
    from keras_retinanet.data import ShapesDataset
    from keras_retinanet.data.input_pipeline import (
        AugmentationConfig,
        ResizeConfig,
        build_eval_pipeline,
        build_train_pipeline,
    )
    from keras_retinanet.evaluation import evaluate_detector
    from keras_retinanet.losses import FocalLoss
    from keras_retinanet.ops import AnchorGenerator, BoxMatcher
    from keras_retinanet.presets import build_model

    loader = ShapesDataset(FINETUNE_IMAGES, image_size=FINETUNE_SIZE, seed=0)
    resize = ResizeConfig(mode="letterbox", size=FINETUNE_SIZE)
    model = build_model(
        "retinanet_mobilenetv2_035_fpnlite_128",
        num_classes=loader.num_classes,
        backbone_weights=None,
        batch_norm_momentum=EMA_MOMENTUM,
        image_shape=(FINETUNE_SIZE, FINETUNE_SIZE, 3),
        anchor_generator=AnchorGenerator(
            strides=(8, 16, 32, 64),
            sizes=(16.0, 32.0, 64.0, 128.0),
            scales=(1.0, 2 ** (1 / 3), 2 ** (2 / 3)),
            aspect_ratios=(0.5, 1.0, 2.0),
        ),
        box_matcher=BoxMatcher(foreground_iou_threshold=0.4, background_iou_threshold=0.3),
    )
    model.compile(optimizer=keras.optimizers.Adam(0.004), classification_loss=FocalLoss(gamma=1.0))
    train = build_train_pipeline(
        loader.as_dataset().repeat(),
        FINETUNE_BATCH,
        resize=resize,
        augmentation=AugmentationConfig.disabled(),
        seed=0,
    )
    model.fit(train, steps_per_epoch=FINETUNE_STEPS, epochs=1, verbose=0)

    with pytest.warns(UserWarning, match="BatchNorm moving statistics") as record:
        before = evaluate_detector(model, loader, resize)
    assert before["AP"] == 0.0 and before["AR100"] == 0.0
    (message,) = [str(w.message) for w in record if "BatchNorm moving" in str(w.message)]
    assert "PreciseBatchNorm" in message and "backbone_frozen_batch_norm" in message

    batches = build_eval_pipeline(loader.as_dataset(), FINETUNE_BATCH, resize=resize)
    assert recompute_batch_norm_statistics(model, batches, num_images=FINETUNE_IMAGES) > 0
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*BatchNorm moving statistics.*")
        after = evaluate_detector(model, loader, resize)
    assert after["AP"] > 0.005 and after["AP50"] > 0.02


# --- the trainer ---------------------------------------------------------------------------


@pytest.mark.parametrize("precise_bn_images", [16, 0])
def test_trainer_adds_the_pass_where_batch_norm_trains(tmp_path, precise_bn_images):
    import dataclasses

    from conftest_training import TINY_MODEL, tiny_config

    from keras_retinanet.training import EvaluationConfig, train

    model_config = dataclasses.replace(
        TINY_MODEL, fpn_batch_norm=True, batch_norm_momentum=EMA_MOMENTUM
    )
    config = tiny_config(
        str(tmp_path),
        model=model_config,
        evaluation=EvaluationConfig(at_end=False, precise_bn_images=precise_bn_images),
    )
    result = train(config)
    saved = keras.models.load_model(result.last_model_path, compile=False)
    layers = trainable_batch_norm_layers(saved)
    assert layers and all("feature_pyramid" in v.path for lay in layers for v in lay.weights)
    variances = np.concatenate(
        [keras.ops.convert_to_numpy(layer.moving_variance) for layer in layers]
    )
    # 4 steps at momentum 0.999 keep the moving variances within ~0.5% of their initial 1;
    # the precise pass replaces them by the batch variances of the FPN outputs.
    if precise_bn_images:
        assert np.abs(variances - 1.0).max() > 0.1
    else:
        assert np.abs(variances - 1.0).max() < 0.05
