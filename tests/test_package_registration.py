"""`import keras_retinanet` alone registers everything a saved model refers to.

A model saved by the trainer is compiled with our schedules and optimizer; without their
registration `keras.models.load_model` fails with "Could not locate class". Checked in a
fresh interpreter, since this test session has imported every module already.
"""

import subprocess
import sys

REGISTERED_NAMES = (
    "keras_retinanet>WarmupStepDecay",
    "keras_retinanet>WarmupCosineDecay",
    "keras_retinanet>CoupledWeightDecaySGD",
    "keras_retinanet>RetinaNet",
    "keras_retinanet>FocalLoss",
    "keras_retinanet>SmoothL1Loss",
)


def test_plain_import_registers_the_trainers_objects():
    script = (
        "import keras, keras_retinanet\n"
        f"for name in {REGISTERED_NAMES!r}:\n"
        "    assert keras.saving.get_registered_object(name) is not None, name\n"
        "print('ok')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")
