"""Where each class sits among the score columns of a class-wise NMS `.tflite`.

LiteRT's class-wise ("regular") NMS kernel (`NonMaxSuppressionMultiClassRegularHelper` in
`tflite/kernels/detection_postprocess.cc`, TensorFlow issue 56058) splits the classes over
the interpreter's T threads: worker i first takes class i (i < T), then the workers take
further classes from a shared counter that starts at T but is incremented *before* its
first use, so the first extra class handed out is T + 1. With `num_classes > T`, **score
column T is never processed** and that class never appears in the output. One thread is
correct, and so is fast (class-agnostic) NMS. Measured with the op alone (12 classes, one
box each): T = 2 loses column 2, T = 3 column 3, ..., T = 11 column 11; T = 1 and T >= 12
lose nothing. Upstream would fix it with `col = next_col++`; files exported today must run
on the LiteRT that phones ship.

The fix here works with every LiteRT: the exporter spreads the K classes over K + 7 score
columns so that the columns a 2-8 thread run skips (2, 3, ..., 8) hold no class: they are
placeholder columns of zeros (never above the score threshold), named `PLACEHOLDER_LABEL`
in the label map, as COCO label maps carry gaps. Real classes sit at columns 0, 1 and 9,
10, ...; `detection_classes` index the padded label map, so MediaPipe and Android
detectors report the right names with no code, and `TFLiteDetector` maps columns back to
class ids. Models with K <= 2 classes need no placeholder (no column >= T exists for T >= 2).
Thread counts above `MAX_SAFE_THREADS` may again skip a real class; `TFLiteDetector`
refuses them for class-wise files.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

# The label of a score column that holds no class (the COCO label-map convention for gaps).
PLACEHOLDER_LABEL = "???"
# Columns that must stay free so that 1..MAX_SAFE_THREADS threads skip no class: a run on
# T threads skips column T, for T = FIRST_SKIPPED_COLUMN..MAX_SAFE_THREADS.
FIRST_SKIPPED_COLUMN = 2
MAX_SAFE_THREADS = 8
NUM_PLACEHOLDERS = MAX_SAFE_THREADS - FIRST_SKIPPED_COLUMN + 1
# Column value of a detection row past num_detections, or of a placeholder column.
NO_CLASS = -1


@dataclasses.dataclass(frozen=True)
class ClassColumnLayout:
    """The score columns of a detector file and the class each one holds.

    Attributes:
        column_classes: `[C]` int, for each score column the class id it holds
            (`NO_CLASS` for a placeholder column). Identity for fast-NMS files.
    """

    column_classes: tuple[int, ...]

    @classmethod
    def identity(cls, num_classes: int) -> ClassColumnLayout:
        """Class k in column k (fast NMS, or class-wise NMS run on one thread)."""
        return cls(tuple(range(num_classes)))

    @classmethod
    def thread_safe(cls, num_classes: int) -> ClassColumnLayout:
        """The class-wise layout correct on 1..`MAX_SAFE_THREADS` threads (see module doc).

        Args:
            num_classes: K real classes.

        Returns:
            Identity for K <= `FIRST_SKIPPED_COLUMN`; else classes 0, 1 in columns 0, 1,
            `NUM_PLACEHOLDERS` placeholders, then classes 2..K-1.
        """
        if num_classes <= FIRST_SKIPPED_COLUMN:
            return cls.identity(num_classes)
        head = tuple(range(FIRST_SKIPPED_COLUMN))
        tail = tuple(range(FIRST_SKIPPED_COLUMN, num_classes))
        return cls(head + (NO_CLASS,) * NUM_PLACEHOLDERS + tail)

    @classmethod
    def from_labels(cls, labels: Sequence[str]) -> ClassColumnLayout:
        """The layout a padded label map describes (placeholders are `PLACEHOLDER_LABEL`)."""
        classes, next_class = [], 0
        for label in labels:
            if label == PLACEHOLDER_LABEL:
                classes.append(NO_CLASS)
            else:
                classes.append(next_class)
                next_class += 1
        return cls(tuple(classes))

    @property
    def num_columns(self) -> int:
        """C, score columns of the file (the post-process op's `num_classes`)."""
        return len(self.column_classes)

    @property
    def num_classes(self) -> int:
        """K, real classes."""
        return sum(1 for c in self.column_classes if c != NO_CLASS)

    @property
    def class_columns(self) -> tuple[int, ...]:
        """`[K]` the column of each class, in class order."""
        return tuple(i for i, c in enumerate(self.column_classes) if c != NO_CLASS)

    @property
    def is_identity(self) -> bool:
        return self.column_classes == tuple(range(self.num_columns))

    def safe_on(self, num_threads: int) -> bool:
        """True when a class-wise run on `num_threads` threads processes every class."""
        skipped = num_threads if num_threads < self.num_columns else None
        return num_threads == 1 or skipped is None or self.column_classes[skipped] == NO_CLASS

    def labels(self, class_names: Sequence[str]) -> list[str]:
        """The label map of the file: `class_names` (K) with placeholders in their columns."""
        if len(class_names) != self.num_classes:
            raise ValueError(f"{len(class_names)} names for {self.num_classes} classes.")
        if PLACEHOLDER_LABEL in class_names:
            raise ValueError(f"{PLACEHOLDER_LABEL!r} is reserved for placeholder columns.")
        return [PLACEHOLDER_LABEL if c == NO_CLASS else class_names[c] for c in self.column_classes]

    def to_classes(self, columns: np.ndarray) -> np.ndarray:
        """Maps the file's `detection_classes` (column indices) to class ids.

        Args:
            columns: int array of column indices (`NO_CLASS` allowed, kept).

        Returns:
            Class ids, same shape; `NO_CLASS` for placeholder or out-of-range columns.
        """
        lookup = np.asarray((*self.column_classes, NO_CLASS), np.int32)
        columns = np.asarray(columns, np.int64)
        index = np.where((columns < 0) | (columns >= self.num_columns), self.num_columns, columns)
        return lookup[index]
