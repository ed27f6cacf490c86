"""rel-f1 loader: the cleaning steps of data/f1/README.md, checked against the raw CSVs."""
import numpy as np
import pandas as pd
import pytest

from relforge import realdata
from relforge.errors import RelforgeError
from relforge.realdata.f1 import TABLES

F1_TABLES = {"races", "circuits", "drivers", "results", "standings", "constructors",
             "constructor_results", "constructor_standings", "qualifying"}


def test_tables_and_columns(f1_db):
    assert set(f1_db.tables) == F1_TABLES
    assert sum(len(t.df.columns) for t in f1_db.tables.values()) == 67  # rel-f1 has 67 columns
    assert f1_db.val_timestamp == pd.Timestamp("2005-01-01")
    assert f1_db.test_timestamp == pd.Timestamp("2010-01-01")
    for dropped in ("url", "fp1_date", "sprint_time"):
        assert dropped not in f1_db["races"].df.columns
    assert not {"positionText", "time", "fastestLapTime", "fastestLapSpeed"} & set(f1_db["results"].df.columns)
    assert not {"q1", "q2", "q3"} & set(f1_db["qualifying"].df.columns)
    assert "number" not in f1_db["drivers"].df.columns
    assert "status" not in f1_db["constructor_results"].df.columns
    # statusId is a plain column, not a foreign key
    assert "statusId" in f1_db["results"].df.columns
    assert "statusId" not in f1_db["results"].fkey_col_to_pkey_table


def test_row_counts_match_files(f1_db, real_data_dir):
    for t, (fname, *_rest) in TABLES.items():
        n = sum(1 for _ in open(real_data_dir / "f1" / fname, encoding="utf-8")) - 1
        assert len(f1_db[t]) == n, t


def test_keys_reindexed_and_valid(f1_db):
    f1_db.validate()
    for name, t in f1_db.tables.items():
        assert np.array_equal(t.df[t.pkey_col].to_numpy(), np.arange(len(t))), name
        for c, parent in t.fkey_col_to_pkey_table.items():
            fk = t.df[c].to_numpy()
            assert fk.dtype.kind == "i", (name, c)
            assert fk.min() >= 0 and fk.max() < len(f1_db[parent]), (name, c)
        if t.time_col:
            assert t.df[t.time_col].is_monotonic_increasing, name
            assert t.kind in ("entity", "activity")
    assert {n for n, t in f1_db.tables.items() if t.time_col is None} == {"circuits", "drivers", "constructors"}


def test_static_tables_keep_file_order(f1_db, real_data_dir):
    raw = pd.read_csv(real_data_dir / "f1" / "drivers.csv")
    assert f1_db["drivers"].df["driverRef"].tolist() == raw["driverRef"].tolist()


def test_foreign_keys_point_to_the_same_entities(f1_db, real_data_dir):
    """A remapped results row still names the same driver and race as in the CSV."""
    raw_res = pd.read_csv(real_data_dir / "f1" / "results.csv", na_values=[r"\N"])
    raw_drv = pd.read_csv(real_data_dir / "f1" / "drivers.csv")
    raw_races = pd.read_csv(real_data_dir / "f1" / "races.csv")
    ref = raw_res.merge(raw_drv[["driverId", "driverRef"]], on="driverId").merge(raw_races[["raceId", "name", "year"]], on="raceId")
    res = f1_db["results"].df
    got = res.assign(driverRef=f1_db["drivers"].df["driverRef"].to_numpy()[res["driverId"]],
                     race=f1_db["races"].df["name"].to_numpy()[res["raceId"]],
                     year=f1_db["races"].df["year"].to_numpy()[res["raceId"]])
    key = ["driverRef", "year", "positionOrder"]
    a = ref[key + ["name", "points", "laps", "statusId"]].rename(columns={"name": "race"}).sort_values(key + ["race"]).reset_index(drop=True)
    b = got[key + ["race", "points", "laps", "statusId"]].sort_values(key + ["race"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_dates_and_missing_values(f1_db):
    races = f1_db["races"].df
    assert (races["time"] != r"\N").all() and races["time"].notna().all()
    assert races["date"].min() == pd.Timestamp("1950-05-13")
    assert races["date"].max().date() == pd.Timestamp("2024-12-08").date()
    # a race with a known start time: date carries it
    hm = races[(races["year"] == 2009) & (races["round"] == 1)].iloc[0]
    assert hm["date"] == pd.Timestamp("2009-03-29 06:00:00")
    # event tables inherit the race datetime; qualifying is one day earlier
    for t in ("results", "standings", "constructor_results", "constructor_standings"):
        df = f1_db[t].df
        assert (df["date"].to_numpy() == races["date"].to_numpy()[df["raceId"]]).all(), t
    q = f1_db["qualifying"].df
    assert (q["date"].to_numpy() == races["date"].to_numpy()[q["raceId"]] - np.timedelta64(1, "D")).all()
    res = f1_db["results"].df
    for c in ("rank", "number", "grid", "position", "points", "laps", "milliseconds", "fastestLap"):
        assert pd.api.types.is_numeric_dtype(res[c]), c
    assert res["position"].isna().sum() > 0 and not (res["position"].astype(str) == r"\N").any()
    assert f1_db["circuits"].df["alt"].dtype == np.float64
    assert pd.api.types.is_datetime64_any_dtype(f1_db["drivers"].df["dob"])
    assert (f1_db["drivers"].df["code"] == r"\N").sum() > 0  # kept literally, as rel-f1 does


def test_missing_folder_is_one_line_error(tmp_path):
    with pytest.raises(RelforgeError, match="f1"):
        realdata.load("f1", tmp_path)
    with pytest.raises(RelforgeError, match="unknown real database"):
        realdata.load("nope", tmp_path)


def test_missing_file_names_it(tmp_path, real_data_dir):
    (tmp_path / "f1").mkdir()
    for f in (real_data_dir / "f1").glob("*.csv"):
        if f.name != "qualifying.csv":
            (tmp_path / "f1" / f.name).symlink_to(f)
    with pytest.raises(RelforgeError, match="qualifying.csv"):
        realdata.load("f1", tmp_path)
