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


def test_context_label_mean_reads_only_the_target_columns_visible_values():
    """The no-model bar: per context, the mean of the target column's other cells (not padding, not
    another column, not the masked target), 0 when there is none; wrapped-around rows are left out."""
    from relforge.train.evaluate import context_label_mean

    col = np.array([[5, 5, 5, 7, 5, -1], [5, 7, 7, -1, -1, -1], [5, 5, -1, -1, -1, -1]])
    val = np.array([[0.0, 1.0, 3.0, 100.0, 50.0, 0.0], [0.0, 2.0, 2.0, 0.0, 0.0, 0.0], [0.0, 9.0, 0.0, 0.0, 0.0, 0.0]])
    pad = col < 0
    pad[0, 4] = True  # a padding cell that carries the column id is not a label
    is_t = np.zeros_like(pad)
    is_t[:, 0] = True
    tgt = np.zeros_like(val)
    tgt[:, 0] = [2.5, -1.0, 4.0]
    batch = dict(col_id=col, value=val, is_padding=pad, is_target=is_t, target=tgt, true_batch_size=2)
    pred, y = context_label_mean(batch)
    assert pred.tolist() == [2.0, 0.0] and y.tolist() == [2.5, -1.0]
