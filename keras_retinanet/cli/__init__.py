"""Console commands: retinanet-train, retinanet-evaluate, retinanet-predict, retinanet-debug.

One module per command, each with a `main(argv=None) -> int`.
"""
