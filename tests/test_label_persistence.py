"""scripts/label_persistence.py: the p1 / pm rankings on hand-made tasks whose answer is known."""
from types import SimpleNamespace

import numpy as np
import pandas as pd

from relforge.db.task import TaskType


def _task(labels: np.ndarray, task_type: str = TaskType.binary_classification) -> SimpleNamespace:
    """Entities x cut-offs label matrix -> a task with the last cut-off as the test split."""
    n_e, n_t = labels.shape
    t = pd.date_range("2020-01-01", periods=n_t, freq="30D")
    fr = pd.DataFrame({"ts": np.tile(t, n_e), "eid": np.repeat(np.arange(n_e), n_t), "y": labels.ravel()})
    last = fr["ts"] == t[-1]
    return SimpleNamespace(splits={"train": fr[~last], "test": fr[last]}, time_col="ts", entity_col="eid", target_col="y",
                           task_type=task_type)


def test_persistent_and_alternating_labels(script):
    mod = script("label_persistence")
    rng = np.random.default_rng(0)
    kind = rng.random(200) < 0.5
    persist = np.repeat(kind[:, None], 6, axis=1).astype(int)  # each entity keeps its label
    alt = (np.arange(6)[None, :] + kind[:, None]) % 2  # each entity alternates
    p, a = mod.persistence(_task(persist)), mod.persistence(_task(alt))
    assert p["rows"] == 200 and p["p1"] == 100.0 and p["pm"] == 100.0
    assert a["p1"] == 0.0 and a["pm"] < 50
    assert mod.persistence(_task(persist[:10])) is None  # too few rows to rank


def test_regression_history_and_drift(script):
    """Regression labels: an entity level plus noise is predicted by its history (R2 > 0, no
    drift); the same labels shifted up at the test cut-off show the drift."""
    mod = script("label_persistence")
    rng = np.random.default_rng(1)
    level = rng.normal(0, 1, 300)[:, None]
    y = level + 0.3 * rng.normal(0, 1, (300, 6))
    steady = mod.persistence(_task(y, TaskType.regression))
    assert steady["r2_pm"] > 50 and abs(steady["drift"]) < 0.1
    shifted = y.copy()
    shifted[:, -1] += 1.0
    assert mod.persistence(_task(shifted, TaskType.regression))["drift"] > 0.8


def test_a_regression_task_is_scored_as_regression_whatever_its_test_labels(script):
    """A count task whose test rows happen to hold two distinct values is still a regression task
    (R2 of the history mean), as its type says; the script once guessed the kind from the labels."""
    mod = script("label_persistence")
    rng = np.random.default_rng(2)
    y = rng.integers(0, 6, (200, 6)).astype(float)
    y[:, -1] = rng.integers(0, 2, 200)
    r = mod.persistence(_task(y, TaskType.regression))
    assert "r2_pm" in r and "pm" not in r
