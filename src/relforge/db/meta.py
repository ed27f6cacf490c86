"""The metadata record of a database (``metadata.json`` of a folder, ``_relforge_meta`` of a SQL
file): name, split timestamps, per-table kind, keys, time column and semantic types, provenance."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from relforge.db.table import Table

if TYPE_CHECKING:  # annotations only
    from relforge.db.database import Database

FORMAT_VERSION = 1


def iso_ts(x) -> str | None:
    """A timestamp as ISO text (None for a missing one)."""
    return None if x is None or pd.isna(x) else pd.Timestamp(x).isoformat()


def parse_ts(x):
    """A stored timestamp (ISO text, or None / "" / "null") as a pandas Timestamp or None."""
    return None if x in (None, "", "null") else pd.Timestamp(x)


def table_meta(t: Table) -> dict:
    return dict(
        kind=t.kind,
        pkey_col=t.pkey_col,
        fkey_col_to_pkey_table=dict(t.fkey_col_to_pkey_table),
        time_col=t.time_col,
        stypes={c: s.value for c, s in t.stypes.items()},
    )


def database_meta(db: Database) -> dict:
    return dict(
        format="relforge",
        format_version=FORMAT_VERSION,
        name=db.name,
        val_timestamp=iso_ts(db.val_timestamp),
        test_timestamp=iso_ts(db.test_timestamp),
        tables={n: table_meta(t) for n, t in db.tables.items()},
        meta=db.meta,
    )
