"""Per-column normalisation statistics, fitted once on the training period (rt_pipeline.md §1).

Statistics are computed only from rows timestamped strictly before the database's
``val_timestamp`` (rows of static tables and untimed rows always count), so validation and test
values never shape the normalisation (no temporal leakage; spec §6.3). Numbers and booleans use the
mean and the sample std (ddof=1) per column; datetimes use one global mean and population std over
every training-period datetime cell of the database. Degenerate cases are guarded (see
:func:`fit_number_stats`, :func:`fit_boolean_stats`, :func:`fit_datetime_stats`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Fallback datetime scale (seconds) when all training datetimes coincide.
DAY_S = 86400.0


@dataclass(frozen=True)
class ColumnStats:
    """Fitted statistics of one column: ``(x - mean) / std`` is the normalised value.

    ``n`` counts training values; ``n_distinct``/``majority`` (share of the most frequent value)
    and ``raw_std`` (ddof=1, unguarded, NaN when undefined) feed the task filters (tasks.py).
    """

    mean: float = 0.0
    std: float = 1.0
    n: int = 0
    n_distinct: int = 0
    majority: float = 1.0
    raw_std: float = float("nan")

    def to_dict(self) -> dict:
        f = lambda v: None if v != v or v in (float("inf"), float("-inf")) else float(v)  # noqa: E731
        return dict(mean=f(self.mean), std=f(self.std), n=int(self.n), n_distinct=int(self.n_distinct),
                    majority=f(self.majority), raw_std=f(self.raw_std))

    @staticmethod
    def from_dict(d: dict) -> "ColumnStats":
        return ColumnStats(**{k: (float("nan") if v is None else v) for k, v in d.items()})


def _distinct(x: np.ndarray) -> tuple[int, float]:
    if len(x) == 0:
        return 0, 1.0
    _, counts = np.unique(x, return_counts=True)
    return int(len(counts)), float(counts.max() / len(x))


def fit_number_stats(x: np.ndarray) -> ColumnStats:
    """Mean and sample std (ddof=1) of finite training values ``x`` (float64).

    Guards (spec §1): an empty column gets mean 0, std 1; a zero or undefined std (one value, or
    all values equal) becomes 1.
    """
    x = np.asarray(x, dtype=np.float64)
    n = len(x)
    if n == 0:
        return ColumnStats(0.0, 1.0, 0, 0, 1.0, float("nan"))
    mean = float(x.mean())
    raw = float(x.std(ddof=1)) if n > 1 else float("nan")
    std = raw if np.isfinite(raw) and raw > 0 else 1.0
    nd, maj = _distinct(x)
    return ColumnStats(mean, std, n, nd, maj, raw)


def fit_boolean_stats(b: np.ndarray) -> ColumnStats:
    """Mean and sample std (ddof=1) of 0/1 training values, guarded so the sign survives.

    RT leaves a zero std unguarded (NaN/inf values, spec §1). Here, when the mean is not strictly
    inside (0, 1) or the std is not positive, mean 0.5 and std 0.5 are used, so ``True`` -> +1 and
    ``False`` -> -1; otherwise ``(b - mean)/std`` is positive exactly for ``True``, which keeps the
    label rule ``target > 0``.
    """
    b = np.asarray(b, dtype=np.float64)
    n = len(b)
    raw = float(b.std(ddof=1)) if n > 1 else float("nan")
    mean = float(b.mean()) if n else 0.5
    nd, maj = _distinct(b)
    if not (0.0 < mean < 1.0) or not (np.isfinite(raw) and raw > 0):
        return ColumnStats(0.5, 0.5, n, nd, maj, raw)
    return ColumnStats(mean, raw, n, nd, maj, raw)


def fit_datetime_stats(seconds: np.ndarray) -> ColumnStats:
    """Global datetime statistics: mean and population std (ddof=0) of every training-period
    datetime cell, in seconds since the epoch (spec §1, §6.3). Empty -> (0, 1 day); zero std -> 1 day."""
    s = np.asarray(seconds, dtype=np.float64)
    if len(s) == 0:
        return ColumnStats(0.0, DAY_S, 0, 0, 1.0, float("nan"))
    mean = float(s.mean())
    raw = float(s.std(ddof=0))
    std = raw if np.isfinite(raw) and raw > 0 else DAY_S
    return ColumnStats(mean, std, len(s), 0, 1.0, raw)
