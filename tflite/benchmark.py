"""LiteRT latency and file size of .tflite detectors, per thread count.

Example:
    python tflite/benchmark.py m_fp32.tflite m_int8.tflite --threads 1 2 --json bench.json

Each (model, threads) pair runs `--warmup` untimed invocations, then `--runs` timed ones
on one fixed random image; the table gives the median and 90th percentile in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

from keras_retinanet.export import TFLiteDetector

DEFAULT_RUNS = 30
DEFAULT_WARMUP = 3
P90 = 90
SEED = 0
MS_PER_S = 1e3
PIXEL_MAX = 255


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help=".tflite files")
    parser.add_argument("--threads", type=int, nargs="+", default=[1], help="thread counts")
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, help="timed invocations")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="untimed first runs")
    parser.add_argument("--json", default="benchmark.json", help="where to write the results")
    return parser


def benchmark(model: str, threads: int, runs: int, warmup: int) -> dict:
    """Times `TFLiteDetector.predict` on one network-size image (no resizing)."""
    # Timing only: a class-wise-NMS file is timed on several threads too, although its
    # detections are only correct on one (see TFLiteDetector).
    detector = TFLiteDetector(model, num_threads=threads, allow_regular_nms_threads=True)
    rng = np.random.default_rng(SEED)
    image = rng.integers(0, PIXEL_MAX + 1, size=(*detector.input_size, 3)).astype(np.uint8)
    for _ in range(warmup):
        detector.predict(image)
    times_ms = []
    for _ in range(runs):
        start = time.perf_counter()
        detector.predict(image)
        times_ms.append((time.perf_counter() - start) * MS_PER_S)
    return {
        "model": model,
        "size_bytes": os.path.getsize(model),
        "input": f"{detector.input_size[0]}x{detector.input_size[1]} {detector.input_dtype.name}",
        "threads": threads,
        "runs": runs,
        "median_ms": float(np.median(times_ms)),
        "p90_ms": float(np.percentile(times_ms, P90)),
        "edgetpu": detector.uses_edgetpu,
    }


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.runs < 1 or args.warmup < 0 or min(args.threads) < 1:
        print("--runs >= 1, --warmup >= 0 and --threads >= 1 are required", file=sys.stderr)
        return 2
    rows = [
        benchmark(model, threads, args.runs, args.warmup)
        for model in args.models
        for threads in args.threads
    ]
    width = max(len(os.path.basename(r["model"])) for r in rows)
    header = ("model", "MB", "input", "threads", "median ms", "p90 ms")
    print(
        f"{header[0]:{width}s} {header[1]:>7s} {header[2]:>14s} "
        + " ".join(f"{h:>10s}" for h in header[3:])
    )
    for r in rows:
        name = os.path.basename(r["model"])
        print(
            f"{name:{width}s} {r['size_bytes'] / 1e6:7.2f} {r['input']:>14s} "
            f"{r['threads']:10d} {r['median_ms']:10.2f} {r['p90_ms']:10.2f}"
        )
    with open(args.json, "w", encoding="utf-8") as file:
        json.dump(rows, file, indent=2)
    print(f"written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
