"""rel-f1 driver tasks: sizes and label balance must equal RelBench's (data/f1/README.md)."""
import numpy as np
import pandas as pd
import pytest

from relforge import realdata
from relforge.realdata.tasks import split_timestamps, task_def

# (rows, label mean, decimals) from the README's replication table
EXPECTED = {
    "driver-dnf": {"train": (11411, 0.880, 3), "val": (566, 0.779, 3), "test": (702, 0.705, 3)},
    "driver-top3": {"train": (1353, 0.171, 3), "val": (588, 0.202, 3), "test": (726, 0.176, 3)},
    "driver-position": {"train": (7453, 13.90, 2), "val": (499, 11.08, 2), "test": (760, 11.93, 2)},
}
N_TS = {("driver-dnf", "train"): 420, ("driver-dnf", "val"): 26, ("driver-dnf", "test"): 29,
        ("driver-top3", "train"): 59, ("driver-top3", "val"): 27, ("driver-top3", "test"): 30,
        ("driver-position", "train"): 254, ("driver-position", "val"): 23, ("driver-position", "test"): 33}


@pytest.mark.parametrize("name", list(EXPECTED))
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_sizes_and_label_means_match_relbench(f1_tasks, name, split):
    task = f1_tasks[name]
    df = task.splits[split]
    n, mean, dec = EXPECTED[name][split]
    assert len(df) == n
    assert round(float(df[task.target_col].mean()), dec) == pytest.approx(mean, abs=1e-9)
    assert df["timestamp"].nunique() == N_TS[(name, split)]
    assert not df.duplicated(["timestamp", "driverId"]).any()


def test_timestamp_ranges(f1_tasks):
    dnf = f1_tasks["driver-dnf"].splits
    assert dnf["train"]["timestamp"].min() == pd.Timestamp("1950-05-20")
    assert dnf["train"]["timestamp"].max() == pd.Timestamp("2004-10-03")
    assert dnf["val"]["timestamp"].min() == pd.Timestamp("2005-03-02")
    assert dnf["test"]["timestamp"].max() == pd.Timestamp("2013-03-16")
    pos = f1_tasks["driver-position"].splits
    assert pos["val"]["timestamp"].max() == pd.Timestamp("2009-10-07")
    assert pos["test"]["timestamp"].max() == pd.Timestamp("2016-05-29")
    assert f1_tasks["driver-top3"].splits["train"]["timestamp"].min() == pd.Timestamp("1994-02-28")


def test_split_timestamps_rule(f1_db):
    d = pd.Timedelta(days=30)
    tr = split_timestamps(f1_db, d, "train")
    assert tr[0] == f1_db.val_timestamp - d and (np.diff(tr.asi8) == -d.value).all()
    assert tr[-1] >= pd.Timestamp("1950-05-13") > tr[-1] - d
    va = split_timestamps(f1_db, d, "val")
    assert va[0] == f1_db.val_timestamp and len(va) == 40
    te = split_timestamps(f1_db, pd.Timedelta(days=60), "test")
    assert te[0] == f1_db.test_timestamp and len(te) == 40


def test_labels_agree_with_pandas(f1_db, f1_tasks):
    """Recompute the three labels with pandas (no SQL) on a few cut-offs of each split."""
    res, qual = f1_db["results"].df, f1_db["qualifying"].df
    for name, task in f1_tasks.items():
        h = task.horizon
        for split, df in task.splits.items():
            for t in df["timestamp"].drop_duplicates().iloc[[0, -1]]:
                src = qual if name == "driver-top3" else res
                w = src[(src["date"] > t) & (src["date"] <= t + h)]
                if name == "driver-dnf":
                    ref = (w["statusId"] != 1).groupby(w["driverId"]).max().astype(int)
                elif name == "driver-top3":
                    ref = (w.groupby("driverId")["position"].min() <= 3).astype(int)
                else:
                    ref = w.groupby("driverId")["positionOrder"].mean()
                got = df[df["timestamp"] == t].set_index("driverId")[task.target_col].sort_index()
                pd.testing.assert_series_equal(got, ref.sort_index(), check_names=False, check_dtype=False)


def test_task_container(f1_tasks):
    for task in f1_tasks.values():
        task.validate()
        assert task.kind == "forecast" and task.entity_table == "drivers" and task.entity_col == "driverId"
        assert task.time_col == "timestamp"
        for df in task.splits.values():
            assert list(df.columns) == ["timestamp", "driverId", task.target_col]
    assert f1_tasks["driver-dnf"].horizon == pd.Timedelta(days=30)
    assert f1_tasks["driver-position"].task_type == "regression"


def test_autocomplete_results_position(f1_db):
    task = realdata.get_task("f1", "results-position", db=f1_db)
    assert task.kind == "autocomplete" and task.table == "results" and task.target_col == "position"
    assert "positionOrder" in task.drop_cols
    n = sum(len(df) for df in task.splits.values())
    assert n == f1_db["results"].df["position"].notna().sum()
    assert task.splits["train"]["timestamp"].max() <= f1_db.val_timestamp < task.splits["val"]["timestamp"].min()


def test_unknown_task():
    from relforge.errors import RelforgeError

    with pytest.raises(RelforgeError, match="unknown task"):
        task_def("f1", "driver-nope")
    assert realdata.list_tasks("f1")[:3] == ["driver-dnf", "driver-top3", "driver-position"]
