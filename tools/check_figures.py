"""Checks that every measured figure in the documents is found in a committed JSON it cites.

    python tools/check_figures.py            # the default documents; exit status 1 on a miss
    python tools/check_figures.py a.md b.md  # chosen documents (paths relative to --root)

How a document declares its evidence
------------------------------------
A document is cut into *regions* by HTML comments (invisible on GitHub):

* ``<!-- figures: benchmarks/results/a.json, docs/b.json -->`` starts a region whose
  figures must come from those files (paths relative to the repository root);
* ``<!-- end figures -->`` ends it; the next ``figures`` comment also starts a new one.

Inside a region **every number is a figure**: it must equal a numeric value of one of the
cited files (any depth; numbers written inside string values count too) at the precision
written. ``0.815`` matches 0.81503, ``7.44 ms`` matches 7.4412 (or 0.0074412 s),
``23.2`` AP matches 0.2321 (percent vs fraction), ``4.12 MB`` matches 4,120,000 bytes,
``10 min 14 s`` matches 614 s, ``2,135`` matches 2135.4; a leading ``-`` is ignored.
Outside every region, a number with a measurement unit (ms, s, min, MB, %, GFLOP/s, img/s,
s/step, ``0.84x``) or right after a metric name (AP, AP50, AR100, ...) fails: a figure
needs a region, so a new one cannot slip in unchecked.

What is not a figure
--------------------
* text in code spans and code blocks (commands, flags, names), link targets, HTML
  comments, identifiers that contain digits (``mobilenetv2_035``, ``P3``, ``int8``,
  ``512x512``), version strings with two dots, dates (2026-11-28) and times of day (21:07);
* bare one-digit integers (``2 threads``, ``5 classes``, ``Table 1a``);
* what a ``<!-- not-figures (why): 800 1,333 0.01 -->`` comment lists: configuration
  values, the paper's constants, versions. It exempts those exact numbers, written that
  way, in the region (or unmarked stretch) that holds the comment, and nowhere else. Say
  why in the parentheses (without a colon): the reason is for the reader; the checker ignores it.

Derived figures (a ratio of two measured values) must be written to the JSON by the command
that measures them, or left out. A value check cannot tell which run a number came from: a
figure of an uncommitted run can match some other number of the cited file by chance, so cite
the narrowest files (the tables' JSON, not a file of loss curves). The tables written next to
their JSON by a command (docs/ablations/*.md) are not checked. The checker imports nothing
outside the standard library.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import itertools
import json
import math
import os
import re
import sys

DEFAULT_DOCUMENTS = ("README.md", "benchmarks/README.md", "benchmarks/MOBILE.md", "docs/*.md")

FIGURES_COMMENT = re.compile(r"<!--\s*figures:\s*(?P<files>.*?)\s*-->", re.S)
END_COMMENT = re.compile(r"<!--\s*end figures\s*-->")
NOT_FIGURES_COMMENT = re.compile(r"<!--\s*not-figures\b[^:]*:\s*(?P<values>.*?)\s*-->", re.S)
ANY_COMMENT = re.compile(r"<!--.*?-->", re.S)
CODE_BLOCK = re.compile(r"^```.*?^```", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK_TARGET = re.compile(r"\]\([^)]*\)")
DATE_OR_TIME = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}:\d{2}(?::\d{2})?\b")
VERSION = re.compile(r"\b\d+\.\d+\.\d+\b")

# A number: thousands separators, decimals, an exponent; not part of a word or a version.
NUMBER = (
    r"(?<![\w.])(?P<number>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[-+]?\d+)?)"
    r"(?:(?P<unit>x)|\s?(?P<spaced>GFLOP/s|GFLOPs|GFLOP|img/s|s/step|ms|min|MB|MiB|GB|KB|%|s|M))?"
    r"(?![\w/]|\.\d)"
)
DURATION = re.compile(r"(?<![\w.])(?P<minutes>\d+)\s?min\s(?P<seconds>\d+(?:\.\d+)?)\s?s(?!\w)")
NUMBER_RE = re.compile(NUMBER)
METRIC_BEFORE = re.compile(r"\b(?:AP|AP50|AP75|APs|APm|APl|AR100|AR)\s*$")

# How a JSON value may be scaled to the unit a document writes it in.
UNIT_SCALES: dict[str | None, tuple[float, ...]] = {
    # A bare number (a table cell whose unit is in the header): any of the usual scales.
    None: (1.0, 100.0, 0.01, 1000.0, 0.001, 1e-6, 1 / 2**20, 1e-9),
    "%": (1.0, 100.0),
    "x": (1.0,),
    "ms": (1.0, 1000.0),
    "s": (1.0, 0.001),
    "min": (1.0, 1 / 60),
    "MB": (1.0, 1e-6, 1 / 2**20),
    "MiB": (1.0, 1 / 2**20),
    "KB": (1.0, 1e-3),
    "GB": (1.0, 1e-9, 1 / 2**30),
    "GFLOP": (1.0, 1e-9),
    "GFLOPs": (1.0, 1e-9),
    "GFLOP/s": (1.0, 1e-9),
    "img/s": (1.0,),
    "s/step": (1.0, 0.001),
    "M": (1.0, 1e-6),
}


@dataclasses.dataclass(frozen=True)
class Figure:
    """One number written in a document.

    Attributes:
        text: the number as written, with its unit (e.g. "7.44 ms", "10 min 14 s").
        value: its value in the written unit (seconds for "N min M s").
        tolerance: half a unit of the last written digit.
        unit: the unit as written, or None.
        line: 1-based line number in the document.
    """

    text: str
    value: float
    tolerance: float
    unit: str | None
    line: int


@dataclasses.dataclass(frozen=True)
class Miss:
    """A figure without evidence (or a broken declaration)."""

    document: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.document}:{self.line}: {self.message}"


def _blank(match: re.Match) -> str:
    """Replaces a match by spaces, keeping newlines so line numbers stay right."""
    return re.sub(r"[^\n]", " ", match.group(0))


def _mask_code(source: str) -> str:
    """Blanks code blocks and code spans: what they hold is neither a figure nor a marker."""
    return CODE_SPAN.sub(_blank, CODE_BLOCK.sub(_blank, source))


def _parse_number(text: str) -> tuple[float, float]:
    """`"2,135.4"` -> (2135.4, 0.05): the value and half a unit of its last digit."""
    plain = text.replace(",", "")
    mantissa, _, exponent = plain.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    scale = 10.0 ** int(exponent) if exponent else 1.0
    return float(plain), 0.5 * 10.0**-decimals * scale


def find_figures(text: str, checked: bool) -> list[Figure]:
    """Numbers of a stretch of Markdown that count as figures.

    Args:
        text: the stretch, with comments, code and links already blanked.
        checked: True inside a region (every number counts); False outside (only numbers
            with a unit or after a metric name count).

    Returns:
        The figures in order of appearance.
    """
    figures: list[Figure] = []
    for match in DURATION.finditer(text):
        seconds, tolerance = _parse_number(match.group("seconds"))
        value = 60 * int(match.group("minutes")) + seconds
        line = text.count("\n", 0, match.start()) + 1
        figures.append(Figure(match.group(0), value, tolerance, "s", line))
    text = DURATION.sub(_blank, text)
    for match in NUMBER_RE.finditer(text):
        number = match.group("number")
        unit = match.group("unit") or match.group("spaced")
        value, tolerance = _parse_number(number)
        bare_digit = unit is None and re.fullmatch(r"\d", number) is not None
        after_metric = METRIC_BEFORE.search(text, 0, match.start()) is not None
        if bare_digit and not after_metric:
            continue
        if not checked and unit is None and not after_metric:
            continue
        line = text.count("\n", 0, match.start()) + 1
        figures.append(Figure(match.group(0).strip(), value, tolerance, unit, line))
    return figures


def json_numbers(path: str) -> list[float]:
    """Every number in a JSON file: numeric values and numbers written inside strings."""
    with open(path) as handle:
        data = json.load(handle)
    numbers: list[float] = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, bool) or item is None:
            continue
        elif isinstance(item, (int, float)):
            if math.isfinite(item):
                numbers.append(float(item))
        elif isinstance(item, str):
            for found in re.findall(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?", item.replace(",", "")):
                numbers.append(float(found))
    return numbers


def matches(figure: Figure, numbers: list[float]) -> bool:
    """Whether some number, in a unit the figure may be written in, rounds to the figure."""
    target = abs(figure.value)
    slack = figure.tolerance * (1 + 1e-9) + 1e-12
    for scale in UNIT_SCALES.get(figure.unit, UNIT_SCALES[None]):
        for number in numbers:
            if abs(abs(number) * scale - target) <= slack:
                return True
    return False


def _exempt(figure: Figure, exempt: set[str]) -> bool:
    number = NUMBER_RE.match(figure.text)
    return figure.text in exempt or (number is not None and number.group("number") in exempt)


def check_document(path: str, root: str = ".") -> list[Miss]:
    """Checks one Markdown document.

    Args:
        path: the document, relative to `root` (used in the messages).
        root: the repository root; cited files are relative to it.

    Returns:
        One `Miss` per figure without evidence, per cited file that cannot be read, and per
        region that cites nothing.
    """
    with open(os.path.join(root, path)) as handle:
        source = _mask_code(handle.read())
    misses: list[Miss] = []
    # Region boundaries: (offset, cited files or None for an unmarked stretch).
    boundaries: list[tuple[int, list[str] | None]] = [(0, None)]
    markers = [(m.start(), m) for m in FIGURES_COMMENT.finditer(source)]
    markers += [(m.start(), None) for m in END_COMMENT.finditer(source)]
    for offset, marker in sorted(markers, key=lambda item: item[0]):
        if marker is None:
            boundaries.append((offset, None))
            continue
        files = [name.strip() for name in marker.group("files").split(",") if name.strip()]
        line = source.count("\n", 0, offset) + 1
        if not files:
            misses.append(Miss(path, line, "a figures comment that cites no file"))
        boundaries.append((offset, files))
    boundaries.append((len(source), None))

    cache: dict[str, list[float] | None] = {}
    for (start, files), (end, _) in itertools.pairwise(boundaries):
        stretch = source[start:end]
        first_line = source.count("\n", 0, start)
        exempt: set[str] = set()
        for comment in NOT_FIGURES_COMMENT.finditer(stretch):
            exempt.update(value.strip() for value in re.split(r"[\s;]+", comment["values"]))
        exempt.discard("")
        cleaned = stretch
        for pattern in (ANY_COMMENT, LINK_TARGET, DATE_OR_TIME, VERSION):
            cleaned = pattern.sub(_blank, cleaned)
        numbers: list[float] = []
        for name in files or ():
            if name not in cache:
                try:
                    cache[name] = json_numbers(os.path.join(root, name))
                except (OSError, ValueError) as error:
                    cache[name] = None
                    line = first_line + 1
                    misses.append(Miss(path, line, f"cannot read cited file {name}: {error}"))
            numbers.extend(cache[name] or ())
        for figure in find_figures(cleaned, checked=files is not None):
            if _exempt(figure, exempt):
                continue
            line = first_line + figure.line
            if files is None:
                misses.append(
                    Miss(
                        path,
                        line,
                        f"{figure.text!r} looks measured but no figures comment cites its source",
                    )
                )
            elif not matches(figure, numbers):
                misses.append(Miss(path, line, f"{figure.text!r} is not in {', '.join(files)}"))
    return misses


def cited_files(path: str, root: str = ".") -> list[str]:
    """The files a document's figures comments cite, in order, without repeats."""
    with open(os.path.join(root, path)) as handle:
        source = _mask_code(handle.read())
    names: list[str] = []
    for marker in FIGURES_COMMENT.finditer(source):
        for name in marker.group("files").split(","):
            if name.strip() and name.strip() not in names:
                names.append(name.strip())
    return names


def default_documents(root: str = ".") -> list[str]:
    """The documents checked by default, relative to `root`."""
    documents: list[str] = []
    for pattern in DEFAULT_DOCUMENTS:
        for path in sorted(glob.glob(os.path.join(root, pattern))):
            documents.append(os.path.relpath(path, root))
    return documents


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("documents", nargs="*", help="Markdown files (default: %(default)s)")
    parser.add_argument("--root", default=".", help="repository root (cited paths start here)")
    args = parser.parse_args(argv)
    documents = args.documents or default_documents(args.root)
    misses = [miss for document in documents for miss in check_document(document, args.root)]
    for miss in misses:
        print(miss)
    print(
        f"check_figures: {len(documents)} documents, "
        + (f"{len(misses)} figures without evidence" if misses else "every figure found")
    )
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
