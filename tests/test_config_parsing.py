"""`config_parsing`: the one home of typed-config parsing (text, JSON, dicts)."""

import json

import pytest

from keras_retinanet.cli import config_flags
from keras_retinanet.training import config_parsing
from keras_retinanet.training.recipes import get_recipe
from keras_retinanet.training.train_config import TrainConfig


def test_the_command_line_parses_with_the_same_functions():
    for name in ("parse_value", "apply_flags", "config_fields", "load_overrides"):
        assert getattr(config_flags, name) is getattr(config_parsing, name)


def test_text_json_and_dict_agree(tmp_path):
    config = get_recipe("coco").build()
    as_dict = json.loads(json.dumps(config_parsing.config_to_dict(config)))
    assert config_parsing.config_from_dict(TrainConfig, as_dict) == config
    hint = dict((path, hint) for path, hint, _, _ in config_parsing.config_fields(TrainConfig))
    boundaries = config_parsing.parse_value(hint["schedule.step_boundaries"], "600,800")
    overrides = tmp_path / "o.json"
    overrides.write_text(json.dumps({"schedule": {"total_steps": 900, "warmup_steps": 10}}))
    values = config_parsing.load_overrides(str(overrides))
    values["schedule.step_boundaries"] = boundaries
    values["checkpoint.every_n_steps"] = 300
    changed = config_parsing.apply_flags(config, values)
    schedule = changed.schedule
    assert (schedule.total_steps, schedule.warmup_steps, schedule.step_boundaries) == (
        900,
        10,
        (600, 800),
    )
    with pytest.raises(ValueError, match="no field"):
        config_parsing.apply_flags(config, {"schedule.length": 3})
