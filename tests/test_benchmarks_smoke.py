"""Every benchmark script in its smoke mode (tiny sizes, 1-2 steps), so none of them rots.

The scripts run in this process (one TensorFlow import) with our smallest backbone, which
rules the peers out (they are ResNet50 only): their adapters are exercised by the scripts'
real runs in the `.venv-peers` environment (benchmarks/README.md). What is checked here is
the plumbing: flags, building, interleaved timing, tables, the targets and the JSON.
"""

import json

import pytest

SMOKE_FLAGS = ("--smoke", "--backbone", "mobilenetv2_035")
# Scripts that compare with a peer (and so must report it skipped here).
WITH_PEERS = ("compare_train", "compare_predict", "compare_tflite", "compare_accuracy")
# Script -> (extra flags, keys its JSON must hold).
SCRIPTS = {
    # The bf16 section alone: the ceilings, one model, the convergence check, the targets
    # (the float32 sections differ only in their list of contenders and cost 3 models more).
    "compare_train": (
        ("--sections", "bf16"),
        ("sections", "convergence", "targets", "forward_gflop_per_image"),
    ),
    "compare_predict": (("--precisions", "float32"), ("sections", "targets", "regimes")),
    "compare_tflite": ((), ("exports", "targets", "load")),
    "pipeline": ((), ("rows", "model_train_images_per_s", "targets")),
    "compare_accuracy": ((), ("rows", "targets", "settings")),
}


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_script_smoke(benchmark_module, script, tmp_path, capsys):
    extra_flags, keys = SCRIPTS[script]
    out = tmp_path / f"{script}.json"
    module = benchmark_module(script)

    assert module.main([*SMOKE_FLAGS, *extra_flags, "--out", str(out)]) == 0

    printed = capsys.readouterr().out
    document = json.loads(out.read_text())
    if script in WITH_PEERS:  # ruled out by the small backbone, installed or not
        assert "SKIPPED" in printed
        assert document["skipped"] and all(document["skipped"].values())
    assert document["smoke"] is True
    for key in keys:
        assert key in document, key
    assert document["machine"]["logical_cpus"] >= 1
    assert len(document["machine"]["load_average"]) == 3
    for check in document["targets"]:
        assert set(check) >= {"target", "value", "threshold", "met"}
