"""Command-line flags every benchmark shares, the printed table and the JSON output."""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
from collections.abc import Sequence

from bench_lib import machine
from bench_lib.contenders import PAPER_BACKBONE


def add_common_flags(parser: argparse.ArgumentParser, default_out: str) -> None:
    """`--out` (JSON path) and `--smoke` (tiny sizes, 1-2 steps: seconds, for tests)."""
    parser.add_argument("--out", default=default_out, help="where to write the JSON results")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes and 1-2 steps (checks the script runs; the numbers mean nothing)",
    )
    parser.add_argument(
        "--skip-peers",
        action="store_true",
        help="benchmark ours only (peers are reported as skipped)",
    )
    parser.add_argument(
        "--backbone",
        default=PAPER_BACKBONE,
        help="our backbone; the peers are ResNet50 only and are skipped with any other "
        "(a small one, e.g. mobilenetv2_035, makes --smoke runs fast)",
    )


def forced_skip_reason(args: argparse.Namespace) -> str | None:
    """Why the flags rule the peers out (`--skip-peers`, a non-ResNet50 `--backbone`)."""
    if args.skip_peers:
        return "--skip-peers"
    if args.backbone != PAPER_BACKBONE:
        return f"--backbone {args.backbone} (the peers are {PAPER_BACKBONE} only)"
    return None


def format_value(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        magnitude = abs(value)
        if magnitude >= 100:
            return f"{value:.0f}"
        if magnitude >= 10:
            return f"{value:.1f}"
        if magnitude >= 0.1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    return str(value)


def table(rows: Sequence[dict], columns: Sequence[str], title: str = "") -> str:
    """A plain-text table of `rows` (dicts) with the given columns."""
    cells = [[format_value(row.get(column)) for column in columns] for row in rows]
    widths = [
        max(len(column), *(len(line[index]) for line in cells)) if cells else len(column)
        for index, column in enumerate(columns)
    ]
    lines = [title] if title else []
    lines.append("  ".join(column.ljust(width) for column, width in zip(columns, widths)))
    lines.append("  ".join("-" * width for width in widths))
    lines.extend(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths)) for line in cells
    )
    return "\n".join(lines)


def write_json(path: str, payload: dict) -> None:
    """Writes `payload` with the machine description and a UTC timestamp."""
    document = {
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine.describe(),
        **payload,
    }
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with open(path, "w", encoding="utf-8") as file:
        json.dump(document, file, indent=2, default=_jsonable)
        file.write("\n")
    print(f"wrote {path}")


def skip_line(name: str, reason: str) -> str:
    return f"SKIPPED {name}: {reason}"


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)
