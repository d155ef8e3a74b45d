"""Figure 4 helpers on synthetic losses: normalised CDFs, hardest shares, the PNG."""

import math
import sys

import numpy as np
import pytest

from keras_retinanet.ablation.loss_distribution import (
    NEGATIVE,
    POSITIVE,
    cdf_summary,
    focal_losses,
    hardest_share,
    loss_cdfs,
    normalized_loss_cdf,
    plot_loss_cdfs,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_normalized_cdf_by_hand():
    # Sorted [1, 2, 3, 4], total 10 -> cumulative 0.1, 0.3, 0.6, 1.0.
    fractions, cumulative = normalized_loss_cdf(np.array([3.0, 1.0, 4.0, 2.0]))
    np.testing.assert_allclose(fractions, [0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(cumulative, [0.1, 0.3, 0.6, 1.0])
    # The hardest 25% (one sample, loss 4) hold 40%; the hardest half (3 and 4) hold 70%.
    assert hardest_share(cumulative, 0.25) == pytest.approx(0.4)
    assert hardest_share(cumulative, 0.5) == pytest.approx(0.7)
    assert hardest_share(cumulative, 0.01) == pytest.approx(0.4)  # at least one sample
    assert hardest_share(cumulative, 1.0) == 1.0


@pytest.mark.parametrize("bad", [np.array([]), np.array([0.0, 0.0]), np.array([1.0, -1.0])])
def test_normalized_cdf_rejects_degenerate_losses(bad):
    with pytest.raises(ValueError):
        normalized_loss_cdf(bad)


def test_focal_losses_match_the_formula_without_alpha():
    # Target 0 at logit 0: p_t = 0.5 -> 0.5^gamma * ln 2; target 1 at logit ln 3: p_t = 0.75.
    np.testing.assert_allclose(focal_losses(np.array([0.0]), 0.0, 2.0), [0.25 * math.log(2)])
    np.testing.assert_allclose(
        focal_losses(np.array([math.log(3.0)]), 1.0, 1.0), [0.25 * -math.log(0.75)], rtol=1e-6
    )


def synthetic_samples(seed=0):
    rng = np.random.default_rng(seed)
    # Mostly easy negatives (very negative logits) plus a few hard ones; positives spread.
    negatives = np.concatenate([rng.normal(-6.0, 1.5, 5000), rng.normal(1.0, 1.0, 50)])
    positives = rng.normal(1.0, 2.0, 300)
    return {POSITIVE: positives.astype("float32"), NEGATIVE: negatives.astype("float32")}


def test_cdfs_are_monotone_end_at_one_and_gamma_concentrates_negative_loss():
    gammas = (0.0, 0.5, 1.0, 2.0)
    cdfs = loss_cdfs(synthetic_samples(), gammas)
    assert set(cdfs) == {POSITIVE, NEGATIVE}
    for per_gamma in cdfs.values():
        assert sorted(per_gamma) == list(gammas)
        for fractions, cumulative in per_gamma.values():
            assert np.all(np.diff(cumulative) >= 0) and np.all(np.diff(fractions) > 0)
            assert cumulative[-1] == 1.0 and fractions[-1] == 1.0
    summary = cdf_summary(cdfs)
    negative_shares = [summary[NEGATIVE][f"gamma={g:g}"]["hardest 1%"] for g in gammas]
    # Larger gamma -> the hardest 1% of negatives hold more of the loss (the paper's point).
    assert negative_shares == sorted(negative_shares)
    assert negative_shares[-1] > 0.9 > negative_shares[0]
    assert summary[NEGATIVE]["gamma=2"]["samples"] == 5050


def test_plot_writes_a_png(tmp_path):
    cdfs = loss_cdfs(synthetic_samples(), (0.0, 2.0))
    path = plot_loss_cdfs(cdfs, str(tmp_path / "cdf.png"), title="synthetic")
    with open(path, "rb") as file:
        head = file.read(8)
    assert head == PNG_SIGNATURE
    assert (tmp_path / "cdf.png").stat().st_size > 10_000


def test_plot_without_matplotlib_says_how_to_install(tmp_path, monkeypatch):
    for name in list(sys.modules):
        if name == "matplotlib" or name.startswith("matplotlib."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    cdfs = loss_cdfs(synthetic_samples(), (2.0,))
    with pytest.raises(ImportError, match=r"keras-retinanet\[plot\]"):
        plot_loss_cdfs(cdfs, str(tmp_path / "cdf.png"))
