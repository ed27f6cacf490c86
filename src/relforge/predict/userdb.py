"""A user's database in and predictions out: reading (with inferred time columns), writing frames."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from relforge.db.database import Database
from relforge.db.io import atomic_file, load_database
from relforge.db.table import Stype
from relforge.errors import RelforgeError


def write_frame(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write ``frame`` to ``.csv`` or ``.parquet`` (by extension), atomically."""
    out = Path(out)
    ext = out.suffix.lower()
    if ext not in (".csv", ".parquet"):
        raise RelforgeError(f"output {str(out)!r} must end in .csv or .parquet")
    if out.is_dir():
        raise RelforgeError(f"output {str(out)!r} is a directory")
    with atomic_file(out) as tmp:
        if ext == ".csv":
            frame.to_csv(tmp, index=False)
        else:
            frame.to_parquet(tmp, index=False)
    return out


def infer_time_cols(db):
    """Give each table without a time column the one datetime column it has, if exactly one.

    SQLite/DuckDB files carry no notion of a row's time; a table with a single datetime column
    (``Invoice.InvoiceDate``) is taken as timed by it, so contexts respect time. Tables with none or
    several (``Employee.BirthDate``/``HireDate``) stay untimed. Returns a new Database.
    """
    tables = {}
    for n, t in db.tables.items():
        if t.time_col is None:
            dts = [c for c in t.df.columns if c not in t.key_cols and (t.stypes.get(c) == Stype.datetime or
                   pd.api.types.is_datetime64_any_dtype(t.df[c].dtype))]
            if len(dts) == 1:
                t = replace(t, time_col=dts[0])
        tables[n] = t
    return Database(tables, db.val_timestamp, db.test_timestamp, db.name, dict(db.meta))


def load_user_db(path: str | Path):
    """``relforge.load`` with one-line errors for a missing or unreadable database."""
    p = Path(path)
    if not p.exists():
        raise RelforgeError(f"database {str(p)!r} does not exist")
    try:
        return infer_time_cols(load_database(p))
    except RelforgeError:
        raise
    except Exception as e:  # corrupt sqlite/duckdb/parquet files
        raise RelforgeError(f"cannot read database {str(p)!r}: {type(e).__name__}: {' '.join(str(e).split())[:200]}") from None
