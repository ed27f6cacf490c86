"""scripts/zero_shot_calibration.py: slope, offset and spread of predictions whose errors are known."""
import numpy as np
import pytest


def test_flat_shifted_predictions_show_their_slope_offset_and_lost_r2(script):
    """Predictions at half the labels' spread, 0.2 sd too high: they rank perfectly (Pearson r2
    100 %) yet lose R2 to the flattening (0.25) and the level (0.04)."""
    y = np.random.default_rng(0).normal(0, 1, 5000)
    y = (y - y.mean()) / y.std()
    c = script("zero_shot_calibration").calibration(0.5 * y + 0.2, y)
    assert c["pearson_r2"] == pytest.approx(100.0)
    assert c["slope"] == pytest.approx(2.0, abs=1e-3) and c["sd_ratio"] == pytest.approx(0.5, abs=1e-3)
    assert c["offset"] == pytest.approx(0.2, abs=1e-3)
    assert c["r2"] == pytest.approx(71.0, abs=0.1)


def test_a_constant_prediction_has_no_slope(script):
    c = script("zero_shot_calibration").calibration(np.full(10, 0.3), np.arange(10.0))
    assert c["slope"] is None and c["pearson_r2"] is None and c["sd_ratio"] == 0.0
