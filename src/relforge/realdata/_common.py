"""Shared helpers for the real-database loaders: file reading, time sorting, key re-indexing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from relforge.db.database import Database
from relforge.db.table import Stype, Table
from relforge.errors import RelforgeError
from relforge.settings import data_dir


def source_dir(subdir: str, override: str | Path | None) -> Path:
    """``<data_dir>/<subdir>``; raise RelforgeError naming the path when it is missing."""
    root = data_dir(override)
    p = root / subdir
    if not p.is_dir():
        raise RelforgeError(f"real database folder not found: {str(p)!r} (set RELFORGE_DATA or pass --data-dir)")
    return p


def read_csv(path: Path, **kw) -> pd.DataFrame:
    """``pd.read_csv`` that turns a missing or unreadable file into one RelforgeError line."""
    if not path.is_file():
        raise RelforgeError(f"missing data file: {str(path)!r}")
    try:
        return pd.read_csv(path, **kw)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise RelforgeError(f"cannot read {str(path)!r}: {str(e).splitlines()[0]}") from None


def require_cols(df: pd.DataFrame, cols, what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise RelforgeError(f"{what}: missing column(s) {', '.join(map(repr, missing))}")


def to_ns(s: pd.Series) -> pd.Series:
    """Datetime series at nanosecond resolution (relbench's parquet files use ns)."""
    return s.astype("datetime64[ns]")


def build_database(
    name: str,
    specs: dict[str, dict],
    *,
    val_timestamp,
    test_timestamp,
    meta: dict | None = None,
    stypes: dict[str, dict[str, Stype]] | None = None,
) -> Database:
    """Sort timed tables by time, re-index primary keys to ``0..n-1``, remap foreign keys.

    Parameters
    ----------
    specs : ``table -> dict(df=, pkey=, fkeys={col: parent}, time=)`` with the source ids.
        Tables with a time column are stably sorted by it first (relbench's order); static
        tables keep file order. The primary key then becomes the row position and every
        foreign key is mapped to its parent's new position (nulls stay null, as float).

    Raises
    ------
    RelforgeError
        On a duplicate primary key or a foreign-key value with no parent row (names both).
    """
    stypes = stypes or {}
    dfs: dict[str, pd.DataFrame] = {}
    maps: dict[str, pd.Index] = {}
    for t, sp in specs.items():
        df = sp["df"]
        if sp.get("time"):
            df = df.sort_values(sp["time"], kind="stable")
        df = df.reset_index(drop=True)
        pk = sp.get("pkey")
        if pk is not None:
            old = pd.Index(df[pk].to_numpy())
            if not old.is_unique:
                dup = old[old.duplicated()][0]
                raise RelforgeError(f"table {t!r}: primary key {pk!r} has duplicate value {dup!r}")
            maps[t] = old
            df[pk] = np.arange(len(df), dtype=np.int64)
        dfs[t] = df
    for t, sp in specs.items():
        df = dfs[t]
        for c, parent in sp.get("fkeys", {}).items():
            vals = df[c]
            idx = maps[parent].get_indexer(vals.to_numpy())
            bad = (idx < 0) & vals.notna().to_numpy()
            if bad.any():
                raise RelforgeError(f"table {t!r}: foreign key {c!r} value {vals[bad].iloc[0]!r} has no row in {parent!r}")
            if (idx < 0).any():
                df[c] = np.where(idx < 0, np.nan, idx.astype(np.float64))
            else:
                df[c] = idx.astype(np.int64)
    referenced = {p for sp in specs.values() for p in sp.get("fkeys", {}).values()}
    tables = {
        t: Table(
            dfs[t],
            pkey_col=sp.get("pkey"),
            fkey_col_to_pkey_table=dict(sp.get("fkeys", {})),
            time_col=sp.get("time"),
            stypes=dict(stypes.get(t, {})),
            kind="entity" if t in referenced else "activity",
        )
        for t, sp in specs.items()
    }
    db = Database(
        tables,
        val_timestamp=pd.Timestamp(val_timestamp),
        test_timestamp=pd.Timestamp(test_timestamp),
        name=name,
        meta=dict(meta or {}),
    )
    db.validate()
    return db
