"""Row timestamps and split cut-offs (generator.md §5, §7.4, §7.5)."""
import numpy as np
import pandas as pd
import pytest

from relforge.db.table import Stype
from relforge.errors import RelforgeError
from relforge.generate.config import GeneratorConfig, PostConfig, validate
from relforge.generate.schema import ColumnSpec, ForeignKey, Schema, TableSpec, sample_schema
from relforge.generate.timeline import MIN_WINDOW_DAYS, _calendar_times, sample_times, split_timestamps

POST = PostConfig()


def _schema(rows=(300, 4000, 2500), entity_time=False):
    cols = [ColumnSpec("feature_0", Stype.numerical)]
    return Schema({
        "a": TableSpec("a", rows[0], "entity", "row_idx", [], cols, time_col="date" if entity_time else None),
        "b": TableSpec("b", rows[1], "activity", "row_idx", [ForeignKey("foreign_row_0", "a")], cols, "date"),
        "c": TableSpec("c", rows[2], "activity", "row_idx", [ForeignKey("foreign_row_0", "a")], cols, "date"),
    })


@pytest.mark.parametrize("seed", range(15))
def test_monotone_in_window_second_resolution(seed):
    times = sample_times(_schema(), POST, seed=seed)
    assert set(times) == {"b", "c"}
    lo, hi = pd.Timestamp(POST.start), pd.Timestamp(POST.end)
    allt = np.concatenate(list(times.values()))
    span = allt.max() - allt.min()
    assert span >= np.timedelta64(MIN_WINDOW_DAYS - 60, "D")  # one shared window of >= ~2 years
    for name, t in times.items():
        assert t.dtype == np.dtype("datetime64[ns]") and len(t) == _schema().tables[name].n_rows
        assert (np.diff(t.astype(np.int64)) >= 0).all()
        assert t.min() >= lo.to_datetime64() and t.max() <= hi.to_datetime64()
        assert (t.astype(np.int64) % 1_000_000_000 == 0).all()
    val, test = split_timestamps(times, POST)
    assert val < test


def test_deterministic_and_seed_dependent():
    a = sample_times(_schema(), POST, seed=1)
    b = sample_times(_schema(), POST, seed=1)
    c = sample_times(_schema(), POST, seed=2)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert any((a[k] != c[k]).any() for k in a)


def test_calendar_weighting():
    first = int(np.datetime64("2000-01-03", "D").astype(np.int64))  # a Monday
    s = _calendar_times(200_000, first, 1400, rng=np.random.default_rng(0), calendar="default")
    t = pd.DatetimeIndex(s.astype("datetime64[s]"))
    office = np.mean((t.hour >= 9) & (t.hour <= 17))
    assert abs(office - 9 / 12.55) < 0.02  # §7.4 default hours: 9-17 weight 1 of total 12.55
    assert np.mean(t.hour <= 6) < 0.05
    s = _calendar_times(200_000, first, 1400, rng=np.random.default_rng(0), calendar="work_week")
    weekend = np.mean(pd.DatetimeIndex(s.astype("datetime64[s]")).day_of_week >= 5)
    assert 0.06 < weekend < 0.16  # weekend weight 0.3 vs 1 (±20% jitter); flat would be 2/7
    s = _calendar_times(100_000, first, 1400, rng=np.random.default_rng(0), calendar="always_on")
    assert abs(np.mean(pd.DatetimeIndex(s.astype("datetime64[s]")).hour <= 5) - 0.25) < 0.02
    assert (s >= first * 86400).all() and (s < (first + 1400) * 86400).all()


def test_child_times_not_before_parent_start():
    s = _schema(entity_time=True)
    for seed in range(10):
        times = sample_times(s, POST, seed=seed)
        assert times["b"][0] >= times["a"][0] and times["c"][0] >= times["a"][0]


def test_narrow_range_and_split_edge_cases():
    post = PostConfig(start="2020-01-01", end="2020-03-01")
    times = sample_times(_schema(), post, seed=0)
    allt = np.concatenate(list(times.values()))
    assert allt.min() >= np.datetime64("2020-01-01") and allt.max() <= np.datetime64("2020-03-01")
    assert split_timestamps({}, POST) == (None, None)
    one = {"x": np.array(["2021-05-05T10:00:00"] * 5, dtype="datetime64[ns]")}
    val, test = split_timestamps(one, POST)
    assert val < test == pd.Timestamp("2021-05-05T10:00:00")
    two = {"x": np.array(["2021-05-05"] * 99 + ["2021-05-06"], dtype="datetime64[ns]")}
    val, test = split_timestamps(two, POST)
    assert val < test
    nat = {"x": np.array(["NaT", "2021-01-01", "2022-01-01"], dtype="datetime64[ns]")}
    val, test = split_timestamps(nat, POST)
    assert val < test


def test_split_quantiles_and_table_subset():
    t = {"x": np.arange(1000).astype("datetime64[s]").astype("datetime64[ns]"),
         "y": np.arange(5000, 6000).astype("datetime64[s]").astype("datetime64[ns]")}
    val, test = split_timestamps(t, PostConfig(val_frac=0.5, test_frac=0.75))
    assert val.value // 10**9 in (999, 1000, 5000) and test.value // 10**9 in range(5490, 5510)
    val, test = split_timestamps(t, POST, tables=["x"])
    assert val.value // 10**9 == 799 and test.value // 10**9 == 899


def test_default_schemas():
    cfg = GeneratorConfig()
    for seed in range(5):
        s = sample_schema(cfg, rng=np.random.default_rng(seed))
        times = sample_times(s, cfg.post, seed=seed)
        assert set(times) == {n for n, t in s.tables.items() if t.time_col}
        val, test = split_timestamps(times, cfg.post)
        assert val < test


@pytest.mark.parametrize("start,end,where", [("", "2025-01-01", "post.start"), ("1990-01-01", "NaT", "post.end")])
def test_an_empty_or_nat_window_bound_is_a_config_error(start, end, where):
    """Found by tests/generate/test_fuzz.py: ``start = ""`` parsed to NaT, passed validation (NaT
    compares False) and crashed the timeline with an AttributeError."""
    with pytest.raises(RelforgeError, match=f"invalid config: {where}: not a date"):
        validate(GeneratorConfig(post=PostConfig(start=start, end=end)))
