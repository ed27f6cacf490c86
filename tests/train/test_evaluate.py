import math

import numpy as np
import pytest

from relforge.train.evaluate import primary, score_predictions


def test_score_predictions_and_primary():
    r = score_predictions("regression", np.array([0.0, 1.0]), np.array([0.0, 2.0]))
    assert r["baseline_r2"] < 0 and r["r2"] < 1 and r["baseline_loss"] > 0
    # Pearson r2 ignores level and scale: an offset, rescaled copy of the truth scores 1, its R2 does not
    t = np.array([0.0, 1.0, 3.0, 2.0])
    r = score_predictions("regression", 0.5 * t + 3.0, t)
    assert r["pearson_r2"] == pytest.approx(1.0) and r["r2"] < 0
    assert np.isnan(score_predictions("regression", np.zeros(4), t)["pearson_r2"])
    c = score_predictions("binary_classification", np.array([-1.0, 2.0, 0.5]), np.array([-1.0, 1.0, 1.0]))
    assert c["roc_auc"] == 1.0 and math.isclose(c["pos_rate"], 2 / 3)
    assert primary({"loss": 0.3, "roc_auc": 0.7}) == ("roc_auc", 0.7, True)
    assert primary({"loss": 0.3, "roc_auc": float("nan")}) == ("loss", 0.3, False)


def test_training_rate_constant_is_never_better_than_the_oracle_rate():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = np.where(rng.random(50) < rng.uniform(0.05, 0.95), 1.0, -1.0)
        rate = float(rng.uniform(0.01, 0.99))
        c = score_predictions("binary_classification", rng.normal(size=50), y, train_rate=rate)
        p = (y > 0).mean()
        want = -np.mean(np.where(y > 0, np.log(rate), np.log(1 - rate)))
        assert math.isclose(c["prior_loss"], want, rel_tol=1e-9)
        assert c["prior_loss"] >= c["baseline_loss"] - 1e-12 and math.isclose(c["pos_rate"], p)
    assert "prior_loss" not in score_predictions("binary_classification", np.zeros(2), np.array([1.0, -1.0]))
