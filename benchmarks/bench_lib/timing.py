"""Interleaved timing: every contender runs a few steps per round, rounds alternate order.

On a shared, noisy machine the load drifts over minutes; timing contenders one after the
other would hand one of them a quiet period. Interleaving rounds (A B C, C B A, A B C, ...)
spreads the drift over all of them, and the median of the steps after warm-up ignores
outliers.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable, Mapping


@dataclasses.dataclass
class TimingResult:
    """Step times of one contender (seconds), warm-up excluded."""

    name: str
    times_s: list[float]
    warmup_s: list[float]

    @property
    def median_s(self) -> float:
        return statistics.median(self.times_s) if self.times_s else float("nan")

    @property
    def spread(self) -> tuple[float, float]:
        """(min, max) of the timed steps."""
        return (min(self.times_s), max(self.times_s)) if self.times_s else (float("nan"),) * 2

    def as_dict(self) -> dict:
        low, high = self.spread
        return {
            "median_s": self.median_s,
            "min_s": low,
            "max_s": high,
            "times_s": self.times_s,
            "warmup_s": self.warmup_s,
        }


def time_call(function: Callable[[], object]) -> float:
    """Seconds one call of `function` takes (it must block until its work is done)."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def interleaved(
    steps: Mapping[str, Callable[[], object]],
    rounds: int,
    steps_per_round: int = 1,
    warmup: int = 1,
    on_round: Callable[[int], None] | None = None,
    block_warmup: int = 0,
) -> dict[str, TimingResult]:
    """Times each callable in interleaved rounds.

    Args:
        steps: name -> a callable running one step and blocking until it is done.
        rounds: number of rounds; each runs every contender `steps_per_round` times.
        steps_per_round: consecutive timed calls of one contender within a round.
        warmup: untimed calls of each contender first (tracing, oneDNN primitive caches).
        block_warmup: untimed calls at the start of each contender's block in every round:
            after other models ran, the first step of a model re-creates evicted oneDNN
            primitives and refills caches, which is not what a training loop sees.
        on_round: called with the round index after each round (progress output).

    Returns:
        name -> `TimingResult`.
    """
    results = {name: TimingResult(name, [], []) for name in steps}
    for name, step in steps.items():
        for _ in range(warmup):
            results[name].warmup_s.append(time_call(step))
    names = list(steps)
    for round_index in range(rounds):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            for _ in range(block_warmup):
                steps[name]()
            for _ in range(steps_per_round):
                results[name].times_s.append(time_call(steps[name]))
        if on_round is not None:
            on_round(round_index)
    return results
