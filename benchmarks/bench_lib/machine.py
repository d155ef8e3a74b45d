"""What a benchmark ran on: CPU model and flags, library versions, and the load of the machine.

The load matters here: the benchmark machines are shared, so every script records how much
CPU other processes used while it ran (`ForeignLoadMeter`) next to its timings.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import time

# CPU flags that decide which kernels TensorFlow / oneDNN / LiteRT can use.
RELEVANT_CPU_FLAGS = (
    "avx2",
    "fma",
    "avx512f",
    "avx512_vnni",
    "avx512_bf16",
    "avx512_fp16",
    "amx_bf16",
    "amx_int8",
    "amx_tile",
)
PACKAGES = (
    "tensorflow",
    "keras",
    "keras-hub",
    "tf-models-official",
    "tf-keras",
    "ai-edge-litert",
    "numpy",
    "pycocotools",
)
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# `uptime`'s 1/5/15-minute load averages when the benchmark started (imported) and, in
# `describe`, when it wrote its results.
LOAD_AVERAGE_AT_START = list(os.getloadavg())


def cpu_model() -> str:
    """The `Model name` line of `lscpu` (falls back to /proc/cpuinfo, then platform)."""
    try:
        output = subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False, timeout=10
        ).stdout
        for line in output.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.SubprocessError):
        pass
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def cpu_flags() -> list[str]:
    """The flags of `RELEVANT_CPU_FLAGS` that /proc/cpuinfo lists."""
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("flags"):
            present = set(line.split(":", 1)[1].split())
            return [flag for flag in RELEVANT_CPU_FLAGS if flag in present]
    return []


def versions() -> dict[str, str | None]:
    """Installed version of each of `PACKAGES` (None when absent) and of Python."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    return found


def describe() -> dict:
    """Machine and software description for the JSON outputs."""
    return {
        "cpu_model": cpu_model(),
        "logical_cpus": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        "versions": versions(),
        "load_average_at_start": LOAD_AVERAGE_AT_START,
        "load_average": list(os.getloadavg()),
    }


class ForeignLoadMeter:
    """Measures how many CPUs other processes kept busy between `start` and `stop`.

    foreign = (busy CPU time of the whole machine - CPU time of this process) / wall time,
    from /proc/stat and `os.times()`. 0 on an idle machine; 1.0 means another process used
    a whole core on average.
    """

    def __init__(self):
        self._start: tuple[float, float, float] | None = None

    def start(self) -> None:
        self._start = self._sample()

    def stop(self) -> dict[str, float]:
        """`{"wall_s", "foreign_cpus", "own_cpus"}` since `start` (NaN without /proc)."""
        if self._start is None:
            raise RuntimeError("ForeignLoadMeter.stop() called before start().")
        wall0, busy0, own0 = self._start
        wall1, busy1, own1 = self._sample()
        wall = max(wall1 - wall0, 1e-9)
        return {
            "wall_s": wall,
            "foreign_cpus": max(0.0, (busy1 - busy0) - (own1 - own0)) / wall,
            "own_cpus": (own1 - own0) / wall,
        }

    @staticmethod
    def _sample() -> tuple[float, float, float]:
        times = os.times()
        own = times.user + times.system
        busy = float("nan")
        first = _read("/proc/stat").splitlines()[:1]
        if first and first[0].startswith("cpu "):
            fields = [int(value) for value in first[0].split()[1:]]
            idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
            busy = (sum(fields[:8]) - idle) / _CLOCK_TICKS
        return time.perf_counter(), busy, own


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            return file.read()
    except OSError:
        return ""
