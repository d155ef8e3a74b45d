"""Shared pieces of the benchmark scripts in `benchmarks/`.

One module per concept: `machine` (what the run ran on), `timing` (interleaved medians),
`flops` (forward FLOPs from the TF profiler), `ceiling` (matmul/conv throughput of this
machine), `contenders` (the settings every model shares), `ours`, `keras_hub_peer` and
`model_garden_peer` (one adapter per implementation), `report` (tables, JSON, CLI flags).
"""
