"""Learning-rate schedules: values by hand, config round trips, bad arguments."""

import math

import keras
import numpy as np
import pytest
from conftest import assert_config_round_trip

from keras_retinanet.training.lr_schedule import (
    WarmupCosineDecay,
    WarmupStepDecay,
    build_learning_rate_schedule,
)


def values(schedule, steps):
    return [float(schedule(step)) for step in steps]


def test_step_decay_by_hand():
    schedule = WarmupStepDecay(
        0.01, boundaries=(60, 80), decay_factor=0.1, warmup_steps=10, warmup_start_factor=1 / 3
    )
    # step 0: 0.01 / 3; step 5: warmup factor 1/3 + (2/3) * 5/10 = 2/3; from step 10: 0.01;
    # >= 60: 0.001; >= 80: 0.0001 (for ever).
    expected = [0.01 / 3, 0.01 * 2 / 3, 0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001]
    got = values(schedule, [0, 5, 10, 59, 60, 79, 80, 10_000])
    np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_paper_schedule_at_its_milestones():
    schedule = WarmupStepDecay(
        0.01, (60_000, 80_000), 0.1, warmup_steps=500, warmup_start_factor=1 / 3
    )
    got = values(schedule, [0, 250, 500, 59_999, 60_000, 80_000, 89_999])
    # warmup(250) = 1/3 + 2/3 * 0.5 = 2/3.
    np.testing.assert_allclose(
        got, [0.01 / 3, 0.02 / 3, 0.01, 0.01, 0.001, 0.0001, 0.0001], rtol=1e-5
    )


def test_no_warmup_starts_at_the_full_rate():
    schedule = WarmupStepDecay(0.02, boundaries=(3,), decay_factor=0.5, warmup_steps=0)
    np.testing.assert_allclose(values(schedule, [0, 2, 3]), [0.02, 0.02, 0.01], rtol=1e-6)


def test_cosine_decay_by_hand():
    schedule = WarmupCosineDecay(
        0.08, total_steps=1100, warmup_steps=100, warmup_start_factor=1 / 3, final_factor=0.0
    )
    # Decay over 1000 steps after warmup: p = 0.25 at step 350 -> (1 + cos(pi / 4)) / 2.
    quarter = (1 + math.cos(math.pi / 4)) / 2
    expected = [0.08 / 3, 0.08 * 2 / 3, 0.08, 0.08 * quarter, 0.04, 0.0, 0.0]
    got = values(schedule, [0, 50, 100, 350, 600, 1100, 5000])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9)


def test_cosine_final_factor():
    schedule = WarmupCosineDecay(0.1, total_steps=200, warmup_steps=0, final_factor=0.1)
    # Midpoint: 0.1 + 0.9 * 0.5 = 0.55 of the rate; the end: 0.1 of it.
    np.testing.assert_allclose(values(schedule, [0, 100, 200]), [0.1, 0.055, 0.01], rtol=1e-5)


def test_schedules_drive_an_optimizer():
    schedule = WarmupStepDecay(0.01, boundaries=(2,), warmup_steps=0)
    optimizer = keras.optimizers.SGD(learning_rate=schedule)
    variable = keras.Variable(1.0)
    rates = []
    for _ in range(3):
        rates.append(float(optimizer.learning_rate))
        optimizer.apply_gradients([(keras.ops.ones(()), variable)])
    np.testing.assert_allclose(rates, [0.01, 0.01, 0.001], rtol=1e-6)


def test_config_round_trips():
    step_args = {
        "learning_rate": 0.02,
        "boundaries": (10, 20),
        "decay_factor": 0.5,
        "warmup_steps": 3,
        "warmup_start_factor": 0.25,
    }
    assert_config_round_trip(WarmupStepDecay(**step_args), step_args)
    cosine_args = {
        "learning_rate": 0.08,
        "total_steps": 50,
        "warmup_steps": 5,
        "warmup_start_factor": 0.5,
        "final_factor": 0.1,
    }
    assert_config_round_trip(WarmupCosineDecay(**cosine_args), cosine_args)


def test_builder_picks_the_kind():
    step = build_learning_rate_schedule("step", 0.01, 100, 0, 1.0, step_boundaries=(50,))
    cosine = build_learning_rate_schedule("cosine", 0.01, 100, 0, 1.0, cosine_final_factor=0.5)
    assert isinstance(step, WarmupStepDecay) and step.boundaries == (50,)
    assert isinstance(cosine, WarmupCosineDecay) and cosine.final_factor == 0.5
    with pytest.raises(ValueError, match="do not apply to a cosine"):
        build_learning_rate_schedule("cosine", 0.01, 100, 0, 1.0, step_boundaries=(50,))
    with pytest.raises(ValueError, match="Unknown schedule kind"):
        build_learning_rate_schedule("linear", 0.01, 100, 0, 1.0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"learning_rate": 0.0, "boundaries": ()}, "learning_rate"),
        ({"learning_rate": 0.1, "boundaries": (5, 5)}, "strictly increasing"),
        ({"learning_rate": 0.1, "boundaries": (), "decay_factor": 1.5}, "decay_factor"),
        ({"learning_rate": 0.1, "boundaries": (), "warmup_steps": -1}, "warmup_steps"),
        ({"learning_rate": 0.1, "boundaries": (), "warmup_start_factor": 2.0}, "warmup_start"),
    ],
)
def test_step_decay_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WarmupStepDecay(**kwargs)


def test_cosine_rejects_warmup_longer_than_the_run():
    with pytest.raises(ValueError, match="must exceed"):
        WarmupCosineDecay(0.1, total_steps=10, warmup_steps=10)
    with pytest.raises(ValueError, match="final_factor"):
        WarmupCosineDecay(0.1, total_steps=10, final_factor=-0.1)
