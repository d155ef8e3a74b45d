"""Ablation tables as Markdown, CSV and JSON."""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Mapping

from keras_retinanet.ablation.ablation_table import TABLE_ANCHORS, TABLE_PRIOR, AblationTable
from keras_retinanet.ablation.anchor_statistics import (
    BOXES_BELOW_THRESHOLD,
    POSITIVES_PER_IMAGE,
)
from keras_retinanet.ablation.variant_run import METRIC_NAMES, VariantResult, json_safe

# COCO metrics are reported in percent, like the paper.
PERCENT = 100.0
FINAL_LOSS = "final loss"
FINITE = "finite"
RUN = "run"
POSITIVES_COLUMN = "pos/img"
UNCOVERED_COLUMN = "boxes w/o anchor >= fg IoU (%)"
FIRST_CLASSIFICATION_LOSS = "cls loss step 1"
MAX_EARLY_CLASSIFICATION_LOSS = "max cls loss, first steps"
_METRIC_DECIMALS = 2
_LOSS_DIGITS = 4


def table_columns(table: AblationTable) -> tuple[str, ...]:
    """Setting columns, then AP / AP50 / AP75 (%), then the table's diagnostics."""
    extra: tuple[str, ...] = (FINAL_LOSS, FINITE)
    if table.name == TABLE_ANCHORS:
        extra = (POSITIVES_COLUMN, UNCOVERED_COLUMN, *extra)
    if table.name == TABLE_PRIOR:
        extra = (FIRST_CLASSIFICATION_LOSS, MAX_EARLY_CLASSIFICATION_LOSS, *extra)
    return (*table.setting_columns, *METRIC_NAMES, *extra)


def table_rows(
    table: AblationTable,
    results: Mapping[str, VariantResult],
    anchor_stats: Mapping[str, Mapping[str, float]] | None = None,
) -> list[dict[str, str | float | bool | None]]:
    """One dict per row: setting texts, metrics in percent (None if diverged), diagnostics.

    Args:
        table: the table.
        results: run key -> result; must hold every row's run.
        anchor_stats: the anchors table only: run key -> `anchor_statistics` output.

    Returns:
        Dicts keyed by `table_columns(table)` plus `"run"` (the run key).
    """
    rows = []
    for row in table.rows:
        result = results[row.variant.run_key]
        values: dict[str, str | float | bool | None] = dict(row.settings)
        for name in METRIC_NAMES:
            values[name] = None if result.metrics is None else result.metrics[name] * PERCENT
        if table.name == TABLE_ANCHORS:
            stats = (anchor_stats or {}).get(row.variant.run_key)
            values[POSITIVES_COLUMN] = None if stats is None else stats[POSITIVES_PER_IMAGE]
            values[UNCOVERED_COLUMN] = (
                None if stats is None else stats[BOXES_BELOW_THRESHOLD] * PERCENT
            )
        if table.name == TABLE_PRIOR:
            early = result.initial_losses.get("classification_loss", [])
            values[FIRST_CLASSIFICATION_LOSS] = early[0] if early else None
            values[MAX_EARLY_CLASSIFICATION_LOSS] = max(early) if early else None
        values[FINAL_LOSS] = result.final_loss if result.finite else None
        values[FINITE] = result.finite
        values[RUN] = result.run_key
        rows.append(values)
    return rows


def _markdown_cell(column: str, value) -> str:
    if value is None:
        return "diverged" if column in METRIC_NAMES or column == FINAL_LOSS else "n/a"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        if column in METRIC_NAMES:
            return f"{value:.{_METRIC_DECIMALS}f}"
        if column in (POSITIVES_COLUMN, UNCOVERED_COLUMN):
            return f"{value:.1f}"
        if not math.isfinite(value):
            return str(value)
        return f"{value:.{_LOSS_DIGITS}g}"
    return str(value)


def markdown_table(table: AblationTable, rows: list[dict]) -> str:
    """The rows as a Markdown table (metrics in percent with two decimals)."""
    columns = table_columns(table)
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_markdown_cell(c, row[c]) for c in columns) + " |")
    return "\n".join(lines)


def write_table(table: AblationTable, rows: list[dict], output_dir: str) -> dict[str, str]:
    """Writes `<name>.md`, `<name>.csv` and `<name>.json` into `output_dir`.

    Returns:
        Format ("md", "csv", "json") -> path.
    """
    os.makedirs(output_dir, exist_ok=True)
    columns = (*table_columns(table), RUN)
    paths = {
        kind: os.path.join(output_dir, f"{table.name}.{kind}") for kind in ("md", "csv", "json")
    }
    with open(paths["md"], "w", encoding="utf-8") as file:
        file.write(f"### {table.title} (paper {table.paper_table})\n\n")
        file.write("AP, AP50, AP75: COCO box AP in %.\n\n")
        file.write(markdown_table(table, rows) + "\n")
    with open(paths["csv"], "w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: "" if row[c] is None else row[c] for c in columns})
    with open(paths["json"], "w", encoding="utf-8") as file:
        json.dump(
            {
                "table": table.name,
                "title": table.title,
                "paper_table": table.paper_table,
                "columns": list(columns),
                "rows": json_safe(rows),
            },
            file,
            indent=1,
        )
    return paths
