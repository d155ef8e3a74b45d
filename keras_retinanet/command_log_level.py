"""TensorFlow's C++ log level for the package's console commands, set before TF loads.

On a machine without a GPU, TensorFlow logs `E0000 ... failed call to cuInit: ...
UNKNOWN ERROR (303)` at level ERROR and a CPU-instructions notice at level INFO, which
read like failures. The console commands (`retinanet-train`, ...) therefore start with
`TF_CPP_MIN_LOG_LEVEL=3` unless the user set it; real failures still raise Python
exceptions. `keras_retinanet/__init__.py` calls `quiet_tensorflow_for_commands` before
anything imports TensorFlow; used as a library, the package leaves the variable alone.
A few informational lines TensorFlow writes before its logging is initialised are not
governed by the variable and still appear.
"""

from __future__ import annotations

import os
import sys
from collections.abc import MutableMapping

TF_LOG_LEVEL_ENV = "TF_CPP_MIN_LOG_LEVEL"
# 3: FATAL only (0 all, 1 no INFO, 2 no WARNING, 3 no ERROR): 2 still shows the cuInit line.
COMMAND_LOG_LEVEL = "3"
COMMAND_NAMES = ("retinanet-train", "retinanet-evaluate", "retinanet-predict", "retinanet-debug")


def quiet_tensorflow_for_commands(
    program: str | None = None, environ: MutableMapping[str, str] | None = None
) -> bool:
    """Sets `TF_CPP_MIN_LOG_LEVEL` to `COMMAND_LOG_LEVEL` when running a console command.

    Args:
        program: the program path (default `sys.argv[0]`).
        environ: the environment to change (default `os.environ`).

    Returns:
        Whether the variable was set: only for a command of `COMMAND_NAMES` and only when
        the user had not set it.
    """
    environ = os.environ if environ is None else environ
    if program is None:
        program = (getattr(sys, "argv", None) or [""])[0]
    name = os.path.basename(program)
    name = name[: -len(".exe")] if name.endswith(".exe") else name
    if name not in COMMAND_NAMES or TF_LOG_LEVEL_ENV in environ:
        return False
    environ[TF_LOG_LEVEL_ENV] = COMMAND_LOG_LEVEL
    return True
