"""Every ablation table in the tiny smoke mode (2 eager steps per run), and the CLI."""

import csv
import dataclasses
import json
import math
import os

import pytest

from keras_retinanet.ablation import TABLE_NAMES, run_ablations, smoke_ablation_config
from keras_retinanet.ablation.ablation_report import FINAL_LOSS, FINITE, RUN, table_columns
from keras_retinanet.ablation.ablation_table import build_table
from keras_retinanet.ablation.ablation_variant import AblationVariant
from keras_retinanet.ablation.variant_run import METRIC_NAMES, VariantResult
from recipes import ablate

ROWS = {"gamma": 7, "alpha": 7, "ohem": 3, "losses": 4, "anchors": 6, "prior": 2}
SETTINGS = {
    "losses": ("method", "ratio", "batch size"),
    "gamma": ("gamma", "alpha"),
    "alpha": ("alpha",),
    "ohem": ("method", "ratio", "batch size"),
    "anchors": ("#sc", "#ar", "A"),
    "prior": ("prior pi", "initial bias"),
}
DIAGNOSTICS = {
    "anchors": ("pos/img", "boxes w/o anchor >= fg IoU (%)"),
    "prior": ("cls loss step 1", "max cls loss, first steps"),
}


@pytest.fixture(scope="module")
def smoke_report(tmp_path_factory):
    """The whole smoke grid, once: 21 distinct runs of 2 steps, tables, Figure 4."""
    output_dir = str(tmp_path_factory.mktemp("ablations"))
    config = smoke_ablation_config(output_dir)
    return config, run_ablations(config)


@pytest.mark.parametrize("name", TABLE_NAMES)
def test_table_shape_and_values(smoke_report, name):
    _, report = smoke_report
    rows = report.tables[name]
    columns = (*SETTINGS[name], *METRIC_NAMES, *DIAGNOSTICS.get(name, ()), FINAL_LOSS, FINITE)
    assert table_columns(build_table(name, AblationVariant(name="r"))) == columns
    assert len(rows) == ROWS[name]
    for row in rows:
        assert set(row) == {*columns, RUN}
        assert row[FINITE] is True
        for column in (*METRIC_NAMES, *DIAGNOSTICS.get(name, ()), FINAL_LOSS):
            assert isinstance(row[column], float) and math.isfinite(row[column]), (column, row)
        for metric in METRIC_NAMES:
            assert 0.0 <= row[metric] <= 100.0
    paths = report.table_paths[name]
    with open(paths["csv"], newline="") as file:
        records = list(csv.DictReader(file))
    assert len(records) == ROWS[name] and tuple(records[0]) == (*columns, RUN)
    with open(paths["json"]) as file:
        payload = json.load(file)
    assert payload["columns"] == [*columns, RUN] and len(payload["rows"]) == ROWS[name]
    with open(paths["md"]) as file:
        markdown = file.read().splitlines()
    table_lines = [line for line in markdown if line.startswith("|")]
    assert len(table_lines) == ROWS[name] + 2  # header, separator, rows
    assert table_lines[0].count("|") == len(columns) + 1


def test_runs_are_shared_and_record_their_first_steps(smoke_report):
    config, report = smoke_report
    assert len(report.results) == 21
    for result in report.results.values():
        assert result.steps == config.base.schedule.total_steps
        assert len(result.initial_losses["classification_loss"]) == config.recorded_steps
        assert len(result.loss_curve) == config.base.schedule.total_steps
    # Prior table: a zero bias (p = 0.5 on every anchor) starts with a far larger
    # classification loss than the prior 0.01.
    prior = report.tables["prior"]
    assert prior[1]["cls loss step 1"] > 5 * prior[0]["cls loss step 1"]
    # The stored results reload equal.
    key = prior[0][RUN]
    stored = VariantResult.load(os.path.join(config.output_dir, "runs", key, "result.json"))
    assert stored == report.results[key]


def test_figure_written(smoke_report):
    config, report = smoke_report
    with open(report.figure_path, "rb") as file:
        assert file.read(4) == b"\x89PNG"
    gammas = {f"gamma={g:g}" for g in config.figure_gammas}
    assert set(report.figure_summary["negative"]) == gammas
    assert set(report.figure_summary["positive"]) == gammas


def test_cli_reuses_finished_runs_and_prints_config(smoke_report, capsys):
    config, report = smoke_report
    assert ablate.main(["--smoke", "--output_dir", config.output_dir, "--tables", "prior"]) == 0
    out = capsys.readouterr().out
    assert "prior.md" in out and "Figure 4" in out
    # Rows reused: the same results file content for the reference run.
    key = report.tables["prior"][0][RUN]
    stored = VariantResult.load(os.path.join(config.output_dir, "runs", key, "result.json"))
    assert stored.train_seconds == report.results[key].train_seconds
    assert ablate.main(["--smoke", "--steps", "4", "--print-config"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["base"]["schedule"]["total_steps"] == 4
    assert printed["run_eagerly"] is True and printed["output_dir"] == ablate.SMOKE_OUTPUT_DIR


def test_with_steps_keeps_the_config_valid():
    config = smoke_ablation_config("unused")
    longer = ablate.with_steps(config, 250)
    assert longer.base.schedule.total_steps == 250
    assert longer.base.checkpoint.every_n_steps in (2, 250)  # divides 250
    assert 250 % longer.base.checkpoint.every_n_steps == 0
    default = ablate.build_config(["--steps", "300"])[0].base
    assert (default.schedule.total_steps, default.checkpoint.every_n_steps) == (300, 100)
    short = ablate.build_config(["--steps", "20"])[0].base
    assert short.schedule.warmup_steps == 10 and short.checkpoint.every_n_steps == 20
    assert dataclasses.replace(short).evaluation.at_end
