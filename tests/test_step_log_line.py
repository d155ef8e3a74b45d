"""`StepLogLine`: a line of metrics every N optimizer steps, continuing after a resume."""

import io

import keras
import numpy as np
import pytest

from keras_retinanet.callbacks import StepLogLine


def _fit(callback, steps, model=None):
    if model is None:
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((steps, 2), "float32"), np.zeros((steps, 1), "float32")
    model.fit(x, y, batch_size=1, epochs=1, verbose=0, callbacks=[callback])
    return model


def test_prints_every_n_steps_with_the_metrics():
    stream = io.StringIO()
    model = _fit(StepLogLine(3, total_steps=14, stream=stream), steps=7)
    lines = stream.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["step 3/14", "step 6/14"]
    assert all(" loss " in f" {line} " for line in lines)
    # A second fit (a resumed run) counts on from the optimizer's step.
    stream.seek(0), stream.truncate()
    _fit(StepLogLine(3, total_steps=14, stream=stream), steps=7, model=model)
    assert [line.split(":")[0] for line in stream.getvalue().splitlines()] == [
        "step 9/14",
        "step 12/14",
    ]


def test_bad_interval():
    with pytest.raises(ValueError, match="every_n_steps"):
        StepLogLine(0)
