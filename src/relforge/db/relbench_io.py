"""Conversion to and from relbench's in-memory ``Database`` (optional dependency).

relforge's folder layout is already relbench-compatible on disk (``DIR/db/<table>.parquet`` with
``pkey_col`` / ``fkey_col_to_pkey_table`` / ``time_col`` in each file's schema metadata), so
``relbench.base.Database.load(DIR / "db")`` reads a saved relforge database directly. These
functions convert between the in-memory objects for code that wants relbench's API.
"""
from __future__ import annotations

import pandas as pd

from relforge.db.database import Database
from relforge.db.table import Table
from relforge.errors import RelforgeError

_MISSING = "relbench is not installed (pip install relforge[relbench])"


def _relbench_base():
    try:
        from relbench.base import Database as RBDatabase, Table as RBTable
    except ImportError:
        raise RelforgeError(_MISSING) from None
    return RBDatabase, RBTable


def to_relbench(db: Database):
    """A ``relbench.base.Database`` holding copies of ``db``'s tables and keys.

    Split timestamps are not part of relbench's ``Database`` (they live on its ``Dataset``); read
    them from ``db.val_timestamp`` / ``db.test_timestamp``.
    """
    RBDatabase, RBTable = _relbench_base()
    return RBDatabase({
        name: RBTable(df=t.df.copy(), fkey_col_to_pkey_table=dict(t.fkey_col_to_pkey_table),
                      pkey_col=t.pkey_col, time_col=t.time_col)
        for name, t in db.tables.items()
    })


def from_relbench(rb_db, val_ts=None, test_ts=None, name: str = "relbench") -> Database:
    """A relforge :class:`Database` from a relbench ``Database`` (anything with ``table_dict``).

    Semantic types are inferred from dtypes; a table is an ``entity`` if some foreign key references
    it from another table, else an ``activity``. ``val_ts`` / ``test_ts`` become the split timestamps.
    """
    table_dict = getattr(rb_db, "table_dict", None)
    if not isinstance(table_dict, dict):
        raise RelforgeError(f"expected a relbench Database with a table_dict, got {type(rb_db).__name__}")
    referenced = {p for c, t in table_dict.items() for p in (t.fkey_col_to_pkey_table or {}).values() if p != c}
    tables = {
        n: Table(t.df.reset_index(drop=True).copy(), t.pkey_col, dict(t.fkey_col_to_pkey_table or {}), t.time_col,
                 kind="entity" if n in referenced else "activity")
        for n, t in table_dict.items()
    }
    ts = lambda x: None if x is None else pd.Timestamp(x)  # noqa: E731
    db = Database(tables, ts(val_ts), ts(test_ts), name, {"source": "relbench"})
    db.validate()
    return db
