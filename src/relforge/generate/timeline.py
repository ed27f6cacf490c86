"""Row timestamps and split cut-offs (generator.md §5 time, §7.4 calendars, §7.5 quantile splits).

One database-level window of at least two years is drawn inside ``[cfg.start, cfg.end]``. Each
timed table then draws its row timestamps from a calendar: a per-table weekday profile, an hour
profile (one of the §7.4 calendars), and a smooth growth or decline of activity over the window
(real databases are not stationary). Draws are vectorized (categorical day and hour picks, uniform
seconds); timestamps are sorted, so row order is time order, at second resolution. A timed child
table never starts before the earliest row of a timed parent, so "children never predate their
parent" (links.py) always has an allowed parent.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from relforge.errors import RelforgeError
from relforge.generate.config import PostConfig
from relforge.generate.schema import Schema
from relforge.rng import child

__all__ = ["sample_times", "split_timestamps", "CALENDARS", "MIN_WINDOW_DAYS"]

MIN_WINDOW_DAYS = 730  # ~2 years, so val < test and every split has data
_NS_PER_S = 1_000_000_000
_DAY_S = 86_400


def _hours(spec: dict[tuple[int, int], float]) -> np.ndarray:
    h = np.zeros(24)
    for (a, b), v in spec.items():
        h[a:b + 1] = v
    return h


_OFFICE_HOURS = _hours({(0, 6): 0.05, (7, 8): 0.5, (9, 17): 1.0, (18, 21): 0.5, (22, 23): 0.1})
# Monday..Sunday weights and hour-of-day weights (generator.md §7.4)
CALENDARS: dict[str, tuple[np.ndarray, np.ndarray]] = {
    "default": (np.ones(7), _OFFICE_HOURS),
    "work_week": (np.array([1, 1, 1, 1, 1, 0.3, 0.3]), _OFFICE_HOURS),
    "leisure": (np.array([0.6, 0.6, 0.6, 0.6, 0.8, 1.0, 1.0]),
                _hours({(0, 1): 0.3, (2, 6): 0.05, (7, 11): 0.3, (12, 16): 0.6, (17, 22): 1.0, (23, 23): 0.6})),
    "always_on": (np.ones(7), np.ones(24)),
}


def _window(cfg: PostConfig, rng: np.random.Generator) -> tuple[int, int]:
    """(first day, n_days) of the database window, in days since the epoch."""
    start = pd.Timestamp(cfg.start).normalize()
    end = pd.Timestamp(cfg.end).normalize()
    d0 = int(start.value // (_DAY_S * _NS_PER_S))
    total = int((end - start).days)
    if total < 1:
        raise RelforgeError(f"post.start {cfg.start!r} must be at least one day before post.end {cfg.end!r}")
    lo = min(MIN_WINDOW_DAYS, total)
    # log-uniform length between ~2 years and the whole range, uniform placement
    n_days = int(round(np.exp(rng.uniform(np.log(lo), np.log(total))))) if total > lo else total
    n_days = int(np.clip(n_days, lo, total))
    first = d0 + int(rng.integers(0, total - n_days + 1))
    return first, n_days


def _calendar_times(n: int, first_day: int, n_days: int, *, rng: np.random.Generator,
                    min_s: int | None = None, calendar: str | None = None) -> np.ndarray:
    """``n`` sorted epoch seconds in the window, weighted by a calendar (random if None) and a growth trend."""
    name = list(CALENDARS)[int(rng.integers(len(CALENDARS)))]
    name = calendar or name
    wd, hr = CALENDARS[name]
    wd = wd * rng.uniform(0.8, 1.2, size=7)  # per-table jitter of the weekday profile
    growth = rng.uniform(-1.0, 3.0)  # log-rate change over the window
    days = np.arange(n_days)
    dow = (first_day + days + 3) % 7  # 1970-01-01 was a Thursday (Mon = 0)
    p_day = wd[dow] * np.exp(growth * days / max(n_days - 1, 1))
    if min_s is not None:  # not before the given second (earliest parent row)
        p_day = np.where((first_day + days + 1) * _DAY_S > min_s, p_day, 0.0)
        if p_day.sum() <= 0:
            p_day = np.zeros(n_days)
            p_day[-1] = 1.0
    day = rng.choice(n_days, size=n, p=p_day / p_day.sum())
    hour = rng.choice(24, size=n, p=hr / hr.sum())
    sec = rng.integers(0, 3600, size=n)
    s = (first_day + day) * _DAY_S + hour * 3600 + sec
    if min_s is not None:
        s = np.maximum(s, min_s)
    return np.sort(s)


def sample_times(schema: Schema, cfg: PostConfig, *, seed: int) -> dict[str, np.ndarray]:
    """Row timestamps of every table with a ``time_col`` (generator.md §5, §7.4).

    Parameters
    ----------
    schema : tables in topological order.
    cfg : ``start``/``end`` bound the database window (at least ~2 years long when possible).
    seed : the window comes from ``child(seed, "time", "window")``, each table's times from
        ``child(seed, "time", table)``.

    Returns
    -------
    ``{table: datetime64[ns] array}`` of length ``n_rows``, non-decreasing, second resolution,
    inside the window; a timed child's rows are never before its timed parents' earliest row.
    """
    first_day, n_days = _window(cfg, child(seed, "time", "window"))
    out: dict[str, np.ndarray] = {}
    earliest: dict[str, int] = {}
    for name, t in schema.tables.items():
        if t.time_col is None:
            continue
        mins = [earliest[p] for p in t.parents if p in earliest]
        min_s = max(mins) if mins else None
        s = _calendar_times(t.n_rows, first_day, n_days, rng=child(seed, "time", name), min_s=min_s)
        if len(s):
            earliest[name] = int(s[0])
        out[name] = (s.astype(np.int64) * _NS_PER_S).astype("datetime64[ns]")
    return out


def split_timestamps(times: dict[str, np.ndarray], cfg: PostConfig,
                     tables=None) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """Validation and test cut-offs: quantiles ``val_frac`` / ``test_frac`` of pooled timestamps.

    Parameters
    ----------
    times : ``{table: timestamps}`` (e.g. from :func:`sample_times`); NaT values are ignored.
    cfg : ``val_frac`` and ``test_frac``.
    tables : optional subset of table names to pool (e.g. the activity tables); default all.

    Returns
    -------
    ``(val_ts, test_ts)``, with ``val_ts < test_ts`` whenever there is any timestamp, else
    ``(None, None)`` (generator.md §7.5).
    """
    keys = list(times) if tables is None else [k for k in tables if k in times]
    arrs = [np.asarray(times[k], dtype="datetime64[ns]").astype(np.int64) for k in keys]
    nat = np.iinfo(np.int64).min
    pooled = np.concatenate(arrs) if arrs else np.zeros(0, dtype=np.int64)
    pooled = np.sort(pooled[pooled != nat])
    if len(pooled) == 0:
        return None, None
    val = int(np.quantile(pooled, cfg.val_frac, method="lower"))
    test = int(np.quantile(pooled, cfg.test_frac, method="lower"))
    if test <= val:
        later = pooled[pooled > val]
        if len(later):
            test = int(later[0])
        else:  # a single distinct timestamp: cut one second before it
            val, test = val - _NS_PER_S, val
    return pd.Timestamp(val), pd.Timestamp(test)
