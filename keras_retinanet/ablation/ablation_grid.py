"""Runs an `AblationConfig`: every table's runs (shared where equal), tables, Figure 4."""

from __future__ import annotations

import dataclasses
import json
import logging
import os

import keras
import tensorflow as tf

from keras_retinanet.ablation.ablation_config import AblationConfig
from keras_retinanet.ablation.ablation_report import (
    markdown_table,
    table_rows,
    write_table,
)
from keras_retinanet.ablation.ablation_table import TABLE_ANCHORS, AblationTable, build_table
from keras_retinanet.ablation.ablation_variant import AblationVariant
from keras_retinanet.ablation.anchor_statistics import anchor_statistics
from keras_retinanet.ablation.in_memory_dataset import InMemoryDataset
from keras_retinanet.ablation.loss_distribution import (
    cdf_summary,
    collect_samples,
    loss_cdfs,
    plot_loss_cdfs,
)
from keras_retinanet.ablation.variant_run import (
    MODEL_FILE,
    RESULT_FILE,
    VariantResult,
    config_fingerprint,
    json_safe,
    run_variant,
)
from keras_retinanet.data import DetectionDataset
from keras_retinanet.training.loader_factory import build_loader
from keras_retinanet.training.train_config import config_to_dict

logger = logging.getLogger(__name__)

RUNS_DIR = "runs"
SUMMARY_FILE = "ablations.md"
RESULTS_FILE = "results.json"
FIGURE_FILE = "loss_cdf.png"
FIGURE_SUMMARY_FILE = "loss_cdf.json"
REFERENCE_NAME = "reference"


@dataclasses.dataclass(frozen=True)
class AblationReport:
    """What `run_ablations` wrote.

    Attributes:
        tables: table name -> rows (see `table_rows`).
        results: run key -> `VariantResult` of every run.
        table_paths: table name -> {"md", "csv", "json"} -> path.
        summary_path: `ablations.md` with every table.
        figure_path: the Figure 4 PNG, or None when not drawn.
        figure_summary: set -> gamma -> share of the loss held by the hardest samples,
            or None.
    """

    tables: dict[str, list[dict]]
    results: dict[str, VariantResult]
    table_paths: dict[str, dict[str, str]]
    summary_path: str
    figure_path: str | None
    figure_summary: dict | None


def reference_variant(config: AblationConfig) -> AblationVariant:
    """The base run: the focal loss with the base config's alpha and gamma, paper anchors."""
    model = config.base.model
    return AblationVariant(
        name=REFERENCE_NAME, focal_alpha=model.focal_alpha, focal_gamma=model.focal_gamma
    )


def ablation_tables(config: AblationConfig) -> list[AblationTable]:
    """The configured tables, each built on `reference_variant(config)`."""
    reference = reference_variant(config)
    return [build_table(name, reference) for name in config.tables]


@dataclasses.dataclass
class _Loaders:
    """The grid's loaders, built on first use and shared by its runs."""

    config: AblationConfig
    _train: DetectionDataset | None = None
    _eval: DetectionDataset | None = None

    @property
    def train(self) -> DetectionDataset:
        if self._train is None:
            self._train = build_loader(self.config.base.data.train)
            if self.config.cache_train_images:
                self._train = InMemoryDataset(self._train)
        return self._train

    @property
    def eval(self) -> DetectionDataset:
        if self._eval is None:
            self._eval = build_loader(self.config.base.data.eval)
        return self._eval


def _result_for(
    config: AblationConfig,
    variant: AblationVariant,
    strategy: tf.distribute.Strategy | None,
    loaders: _Loaders,
) -> VariantResult:
    """The stored result of the variant's run when it matches the base config, else a new run."""
    run_dir = os.path.join(config.output_dir, RUNS_DIR, variant.run_key)
    path = os.path.join(run_dir, RESULT_FILE)
    if os.path.exists(path) and not config.rerun:
        stored = VariantResult.load(path)
        if stored.base_fingerprint == config_fingerprint(config.base):
            logger.info("Reusing %s", path)
            return stored
        logger.info("%s was trained with another base config: training again.", path)
    keras.backend.clear_session()
    return run_variant(
        config.base,
        variant,
        run_dir,
        strategy,
        recorded_steps=config.recorded_steps,
        save_model=config.save_models or variant.run_key == reference_variant(config).run_key,
        run_eagerly=config.run_eagerly,
        train_loader=loaders.train,
        eval_loader=loaders.eval,
    )


def run_ablations(
    config: AblationConfig, strategy: tf.distribute.Strategy | None = None
) -> AblationReport:
    """Trains every run of the configured tables and writes the tables and Figure 4.

    Runs with equal settings in several tables are trained once. A run whose result exists
    in `output_dir/runs/<run key>/` for the same base config is reused (`rerun` to
    retrain), so an interrupted grid continues where it stopped.

    Args:
        config: the `AblationConfig`.
        strategy: the distribution strategy (None: TensorFlow's current one).

    Returns:
        The `AblationReport`.
    """
    os.makedirs(config.output_dir, exist_ok=True)
    with open(os.path.join(config.output_dir, "config.json"), "w", encoding="utf-8") as file:
        json.dump(config_to_dict(config), file, indent=1)
    loaders = _Loaders(config)
    results: dict[str, VariantResult] = {}
    tables: dict[str, list[dict]] = {}
    table_paths: dict[str, dict[str, str]] = {}
    markdown = []
    for table in ablation_tables(config):
        for row in table.rows:
            key = row.variant.run_key
            if key not in results:
                results[key] = _result_for(config, row.variant, strategy, loaders)
        stats = None
        if table.name == TABLE_ANCHORS:
            stats = {
                row.variant.run_key: anchor_statistics(config.base, row.variant, loaders.train)
                for row in table.rows
            }
        rows = table_rows(table, results, stats)
        tables[table.name] = rows
        table_paths[table.name] = write_table(table, rows, config.output_dir)
        markdown.append(
            f"### {table.title} (paper {table.paper_table})\n\n{markdown_table(table, rows)}\n"
        )
    figure_path = None
    figure_summary = None
    if config.figure:
        reference = reference_variant(config)
        if reference.run_key not in results:
            results[reference.run_key] = _result_for(config, reference, strategy, loaders)
        figure_path, figure_summary = draw_loss_distribution(
            config, results[reference.run_key], reference, loaders.eval
        )
        markdown.append(f"![Figure 4: loss CDFs]({FIGURE_FILE})\n")
    summary_path = os.path.join(config.output_dir, SUMMARY_FILE)
    with open(summary_path, "w", encoding="utf-8") as file:
        file.write("AP, AP50, AP75: COCO box AP in %.\n\n" + "\n".join(markdown))
    with open(os.path.join(config.output_dir, RESULTS_FILE), "w", encoding="utf-8") as file:
        json.dump(
            json_safe({key: dataclasses.asdict(value) for key, value in results.items()}),
            file,
            indent=1,
        )
    return AblationReport(tables, results, table_paths, summary_path, figure_path, figure_summary)


def draw_loss_distribution(
    config: AblationConfig,
    result: VariantResult,
    variant: AblationVariant,
    eval_loader: DetectionDataset | None = None,
) -> tuple[str | None, dict | None]:
    """Figure 4 for the reference run's model on the evaluation images.

    Args:
        config: the grid.
        result: the reference run's result.
        variant: the reference variant.
        eval_loader: the held-out images; None: built from `config.base.data.eval`.

    Returns:
        `(PNG path, summary)`, or `(None, None)` when that run diverged (no model).
    """
    model_path = os.path.join(config.output_dir, RUNS_DIR, result.run_key, MODEL_FILE)
    if not result.finite or not os.path.exists(model_path):
        logger.warning("No trained model at %s: Figure 4 skipped.", model_path)
        return None, None
    model = keras.models.load_model(model_path, compile=False)
    samples = collect_samples(
        model,
        eval_loader or build_loader(config.base.data.eval),
        config.base.data,
        max_images=config.figure_max_images,
        seed=config.base.runtime.seed,
    )
    cdfs = loss_cdfs(samples, config.figure_gammas)
    summary = cdf_summary(cdfs)
    path = plot_loss_cdfs(
        cdfs,
        os.path.join(config.output_dir, FIGURE_FILE),
        title=f"Focal loss on the predictions of the {variant.name} model ("
        f"gamma={variant.focal_gamma:g}, {result.steps} steps)",
    )
    with open(os.path.join(config.output_dir, FIGURE_SUMMARY_FILE), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1)
    return path, summary
