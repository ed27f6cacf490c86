"""A plain-text description of a database (what ``relforge inspect`` prints)."""
from __future__ import annotations

import pandas as pd

from relforge.db.database import Database
from relforge.db.timecols import time_col_reasons


def _ts(x) -> str:
    return "-" if x is None or pd.isna(x) else str(pd.Timestamp(x))


def describe_database(db: Database, columns: bool = True) -> str:
    """One header line, then per table: kind, rows, columns, keys, time column and why it was chosen
    (recorded, detected by which rule, or given by the user) and (if ``columns``) one line per
    column with its dtype and role (pkey, fkey -> parent, time, or semantic type)."""
    why = time_col_reasons(db)
    lines = [f"database {db.name!r}: {len(db.tables)} tables, {db.n_rows:,} rows, {db.n_cells:,} cells; "
             f"val {_ts(db.val_timestamp)}, test {_ts(db.test_timestamp)}"]
    for name, t in db.tables.items():
        fk = ", ".join(f"{c}->{p}" for c, p in t.fkey_col_to_pkey_table.items()) or "-"
        if columns:
            lines.append("")
        lines.append(f"{name} ({t.kind}): {len(t):,} rows, {t.df.shape[1]} columns; pkey {t.pkey_col or '-'}; "
                     f"fkeys {fk}; time {t.time_col or '-'} ({why[name]})")
        if not columns:
            continue
        width = max((len(str(c)) for c in t.df.columns), default=0)
        dwidth = max((len(str(t.df[c].dtype)) for c in t.df.columns), default=0)
        for c in t.df.columns:
            if c == t.pkey_col:
                role = "primary key"
            elif c in t.fkey_col_to_pkey_table:
                role = f"foreign key -> {t.fkey_col_to_pkey_table[c]}"
            elif c == t.time_col:
                role = "time"
            else:
                role = t.stypes[c].value if c in t.stypes else "?"
            nulls = int(t.df[c].isna().sum())
            extra = f"  ({nulls:,} null)" if nulls else ""
            lines.append(f"  {str(c):<{width}}  {str(t.df[c].dtype):<{dwidth}}  {role}{extra}")
    return "\n".join(lines)
