"""train(): refuses a mismatched dtype policy and evaluation data of other classes."""

import dataclasses
import json

import pytest
from conftest_training import tiny_config

from keras_retinanet.data import ShapesDataset
from keras_retinanet.training.train_config import DatasetSpec, EvaluationConfig, RuntimeConfig
from keras_retinanet.training.trainer import train


def test_refuses_a_dtype_policy_other_than_the_configs(tmp_path):
    config = tiny_config(
        str(tmp_path), runtime=RuntimeConfig(precision="mixed_bfloat16", verbose=0)
    )
    with pytest.raises(ValueError, match="resolves to 'mixed_bfloat16' but the global Keras"):
        train(config)
    assert not (tmp_path / "config.json").exists()  # nothing was written


def test_refuses_evaluation_data_with_other_classes(tmp_path):
    annotations, images = ShapesDataset(2, image_size=64, seed=4).write_coco(str(tmp_path / "c"))
    with open(annotations) as file:
        coco = json.load(file)
    coco["categories"][0]["name"] = "square"
    with open(annotations, "w") as file:
        json.dump(coco, file)
    config = tiny_config(str(tmp_path / "run"))
    config = dataclasses.replace(
        config,
        data=dataclasses.replace(
            config.data,
            eval=DatasetSpec(format="coco_json", path=annotations, image_dir=images),
        ),
        evaluation=EvaluationConfig(at_end=True),
    )
    with pytest.raises(ValueError, match="evaluation classes \\['square'"):
        train(config)
