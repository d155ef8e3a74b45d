"""The ablation grids (paper Table 1), variants, anchors, step-loss recording, reports."""

import dataclasses
import math

import pytest

from keras_retinanet.ablation import AblationVariant, build_table, octave_scales
from keras_retinanet.ablation.ablation_config import shapes_ablation_config
from keras_retinanet.ablation.ablation_grid import ablation_tables, reference_variant
from keras_retinanet.ablation.ablation_table import TABLE_NAMES
from keras_retinanet.ablation.step_loss_recorder import StepLossRecorder
from keras_retinanet.ablation.variant_model import variant_anchor_generator
from keras_retinanet.ablation.variant_run import config_fingerprint

REFERENCE = AblationVariant(name="reference")


def test_octave_scales():
    assert octave_scales(1) == (1.0,)
    assert octave_scales(2) == pytest.approx((1.0, math.sqrt(2.0)))
    assert octave_scales(3) == pytest.approx((1.0, 2 ** (1 / 3), 2 ** (2 / 3)))
    with pytest.raises(ValueError):
        octave_scales(0)


def test_gamma_table_pairs_alpha_like_the_paper():
    table = build_table("gamma", REFERENCE)
    pairs = [(row.variant.focal_gamma, row.variant.focal_alpha) for row in table.rows]
    assert pairs == [(0, 0.75), (0.1, 0.75), (0.2, 0.75), (0.5, 0.5), (1, 0.25), (2, 0.25),
                     (5, 0.25)]  # fmt: skip
    assert table.setting_columns == ("gamma", "alpha")


def test_alpha_table_is_cross_entropy():
    table = build_table("alpha", REFERENCE)
    assert [row.variant.focal_alpha for row in table.rows] == [
        0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 0.999
    ]  # fmt: skip
    assert {row.variant.focal_gamma for row in table.rows} == {0.0}


def test_ohem_table_rows():
    table = build_table("ohem", REFERENCE)
    variants = [row.variant for row in table.rows]
    assert [v.loss for v in variants] == ["focal", "ohem", "ohem"]
    assert variants[0].run_key == REFERENCE.run_key
    assert [v.ohem_negatives_per_positive for v in variants[1:]] == [3.0, None]
    assert {v.ohem_batch_size_per_image for v in variants[1:]} == {128}
    assert [row.settings["ratio"] for row in table.rows] == ["n/a", "1:3", "none"]


def test_anchor_table_scales_and_ratios():
    table = build_table("anchors", REFERENCE)
    shapes = [(v.scales_per_octave, len(v.aspect_ratios)) for v in (r.variant for r in table.rows)]
    assert shapes == [(1, 1), (2, 1), (3, 1), (1, 3), (2, 3), (3, 3)]
    assert [row.settings["A"] for row in table.rows] == ["1", "2", "3", "3", "6", "9"]
    assert table.rows[-1].variant.run_key == REFERENCE.run_key


def test_losses_table_reuses_the_gamma_and_ohem_runs():
    losses = build_table("losses", REFERENCE)
    keys = [row.variant.run_key for row in losses.rows]
    gamma_keys = {row.variant.run_key for row in build_table("gamma", REFERENCE).rows}
    ohem_keys = {row.variant.run_key for row in build_table("ohem", REFERENCE).rows}
    assert keys[0] == REFERENCE.run_key
    assert keys[1] in gamma_keys and set(keys[2:]) <= ohem_keys
    assert (losses.rows[1].variant.focal_gamma, losses.rows[1].variant.focal_alpha) == (0, 0.75)


def test_prior_table_bias():
    table = build_table("prior", REFERENCE)
    assert [row.settings["initial bias"] for row in table.rows] == ["-4.60", "0.00"]
    assert [row.variant.prior_probability for row in table.rows] == [0.01, 0.5]


def test_full_grid_shares_runs_between_tables():
    config = shapes_ablation_config()
    tables = ablation_tables(config)
    assert [t.name for t in tables] == list(TABLE_NAMES)
    rows = [row for table in tables for row in table.rows]
    assert len(rows) == 7 + 3 + 4 + 2 + 6 + 7
    # Shared: gamma 0 / alpha .75 (gamma, alpha and losses tables), OHEM (OHEM and losses
    # tables) and the reference run (gamma 2, FL rows, 3x3 anchors, prior 0.01): 29 rows,
    # 21 runs.
    assert len({row.variant.run_key for row in rows}) == 21
    assert reference_variant(config).run_key == REFERENCE.run_key


@pytest.mark.parametrize(
    "kwargs",
    [
        {"loss": "softmax"},
        {"loss": "ohem", "focal_gamma": 0.0},  # a focal option on the OHEM loss
        {"ohem_batch_size_per_image": 64},  # an OHEM option on the focal loss
        {"prior_probability": 1.0},
        {"aspect_ratios": ()},
        {"scales_per_octave": 0},
    ],
)
def test_variant_rejects_options_that_do_not_apply(kwargs):
    with pytest.raises(ValueError):
        AblationVariant(name="bad", **kwargs)


def test_variant_anchor_generator_uses_the_base_sizes():
    model = shapes_ablation_config().base.model
    variant = dataclasses.replace(REFERENCE, scales_per_octave=2, aspect_ratios=(1.0,))
    generator = variant_anchor_generator(model, variant)
    assert generator.sizes == model.anchor_sizes
    assert generator.num_anchors_per_location == 2
    assert generator.scales == pytest.approx((1.0, math.sqrt(2.0)))
    # The shapes preset has P3-P6: 128 px, strides 8..64 -> 16^2 + 8^2 + 4^2 + 2^2 = 340
    # cells, 2 anchors each.
    assert tuple(generator.strides) == (8, 16, 32, 64)
    assert generator(128, 128).shape == (680, 4)


def test_step_loss_recorder_undoes_the_running_mean():
    # Steps with losses 4, 2, 6 | 1, 3 (two epochs): Keras logs running means 4, 3, 4 | 1, 2.
    recorder = StepLossRecorder()
    for epoch, means in enumerate(([4.0, 3.0, 4.0], [1.0, 2.0])):
        recorder.on_epoch_begin(epoch)
        for batch, mean in enumerate(means):
            recorder.on_train_batch_end(batch, {"loss": mean, "box_loss": 0.5})
    assert recorder.losses["loss"] == pytest.approx([4.0, 2.0, 6.0, 1.0, 3.0])
    assert recorder.losses["box_loss"] == pytest.approx([0.5] * 5)


def test_fingerprint_ignores_output_folder_and_verbosity_only():
    base = shapes_ablation_config().base
    moved = dataclasses.replace(
        base,
        checkpoint=dataclasses.replace(base.checkpoint, model_dir="elsewhere"),
        runtime=dataclasses.replace(base.runtime, verbose=0),
    )
    assert config_fingerprint(moved) == config_fingerprint(base)
    longer = dataclasses.replace(base, schedule=dataclasses.replace(base.schedule, total_steps=800))
    assert config_fingerprint(longer) != config_fingerprint(base)
