"""scripts/zero_shot_calibration.py: slope, offset and spread of predictions whose errors are known."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("zero_shot_calibration", ROOT / "scripts" / "zero_shot_calibration.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_flat_shifted_predictions_show_their_slope_offset_and_lost_r2():
    """Predictions at half the labels' spread, 0.2 sd too high: they rank perfectly (Pearson r2
    100 %) yet lose R2 to the flattening (0.25) and the level (0.04)."""
    y = np.random.default_rng(0).normal(0, 1, 5000)
    y = (y - y.mean()) / y.std()
    c = _module().calibration(0.5 * y + 0.2, y)
    assert c["pearson_r2"] == pytest.approx(100.0)
    assert c["slope"] == pytest.approx(2.0, abs=1e-3) and c["sd_ratio"] == pytest.approx(0.5, abs=1e-3)
    assert c["offset"] == pytest.approx(0.2, abs=1e-3)
    assert c["r2"] == pytest.approx(71.0, abs=0.1)


def test_a_constant_prediction_has_no_slope():
    c = _module().calibration(np.full(10, 0.3), np.arange(10.0))
    assert c["slope"] is None and c["pearson_r2"] is None and c["sd_ratio"] == 0.0
