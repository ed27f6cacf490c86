"""``Table``: one DataFrame plus its keys, time column and column semantic types."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import pandas as pd

from relforge.errors import RelforgeError


class Stype(str, Enum):
    """Semantic type of a feature column (keys are described by the key metadata instead)."""

    numerical = "numerical"
    categorical = "categorical"
    boolean = "boolean"
    datetime = "datetime"
    text = "text"


def infer_stype(s: pd.Series) -> Stype:
    """Best-effort semantic type of a column from its dtype (used for real databases)."""
    if pd.api.types.is_bool_dtype(s.dtype):
        return Stype.boolean
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        return Stype.datetime
    if isinstance(s.dtype, pd.CategoricalDtype):
        return Stype.categorical
    if pd.api.types.is_numeric_dtype(s.dtype):
        return Stype.numerical
    # strings: few distinct values -> categorical, else free text
    nun = s.nunique(dropna=True)
    if nun <= max(20, int(0.05 * max(len(s), 1))) and nun < len(s):
        return Stype.categorical
    return Stype.text


@dataclass
class Table:
    """A table of a relational database.

    Parameters
    ----------
    df : the rows.
    pkey_col : primary-key column, or None.
    fkey_col_to_pkey_table : foreign-key column -> referenced table name (may be this table).
    time_col : the row timestamp column, or None for static (entity) tables.
    stypes : semantic type of every non-key column (the time column is ``datetime``).
    kind : ``"entity"`` (referenced by other tables) or ``"activity"`` (referenced by none).
    """

    df: pd.DataFrame
    pkey_col: str | None = None
    fkey_col_to_pkey_table: dict[str, str] = field(default_factory=dict)
    time_col: str | None = None
    stypes: dict[str, Stype] = field(default_factory=dict)
    kind: str = "entity"

    def __post_init__(self):
        self.stypes = {c: Stype(t) for c, t in self.stypes.items()}
        keys = self.key_cols
        for c in self.df.columns:
            if c not in keys and c not in self.stypes:
                self.stypes[c] = infer_stype(self.df[c])

    @property
    def key_cols(self) -> set[str]:
        return ({self.pkey_col} if self.pkey_col else set()) | set(self.fkey_col_to_pkey_table)

    @property
    def feature_cols(self) -> list[str]:
        """Non-key columns, time column excluded, in frame order."""
        keys = self.key_cols
        return [c for c in self.df.columns if c not in keys and c != self.time_col]

    def __len__(self) -> int:
        return len(self.df)

    def validate(self, name: str = "table") -> None:
        """Check internal consistency; raise RelforgeError naming the table and column at fault."""
        cols = set(self.df.columns)
        if self.pkey_col is not None:
            if self.pkey_col not in cols:
                raise RelforgeError(f"table {name!r}: primary key column {self.pkey_col!r} is missing")
            pk = self.df[self.pkey_col]
            if pk.isna().any():
                raise RelforgeError(f"table {name!r}: primary key {self.pkey_col!r} has null values")
            if not pk.is_unique:
                raise RelforgeError(f"table {name!r}: primary key {self.pkey_col!r} has duplicate values")
        for c in self.fkey_col_to_pkey_table:
            if c not in cols:
                raise RelforgeError(f"table {name!r}: foreign key column {c!r} is missing")
        if self.time_col is not None:
            if self.time_col not in cols:
                raise RelforgeError(f"table {name!r}: time column {self.time_col!r} is missing")
            if not pd.api.types.is_datetime64_any_dtype(self.df[self.time_col].dtype):
                raise RelforgeError(f"table {name!r}: time column {self.time_col!r} is not a datetime")
        for c, t in self.stypes.items():
            if c not in cols:
                raise RelforgeError(f"table {name!r}: column {c!r} has a type but no data")
            s = self.df[c]
            ok = {
                Stype.numerical: lambda: pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype),
                Stype.boolean: lambda: pd.api.types.is_bool_dtype(s.dtype) or _is_nullable_bool(s),
                Stype.datetime: lambda: pd.api.types.is_datetime64_any_dtype(s.dtype),
                Stype.categorical: lambda: True,
                Stype.text: lambda: not pd.api.types.is_numeric_dtype(s.dtype) or s.isna().all(),
            }[t]()
            if not ok:
                raise RelforgeError(f"table {name!r}: column {c!r} has dtype {s.dtype} but type {t.value}")

    def upto(self, ts) -> "Table":
        """Rows with time <= ts (static tables unchanged)."""
        if self.time_col is None:
            return self
        return self._with_df(self.df[self.df[self.time_col] <= ts])

    def from_(self, ts) -> "Table":
        """Rows with time >= ts (static tables unchanged)."""
        if self.time_col is None:
            return self
        return self._with_df(self.df[self.df[self.time_col] >= ts])

    def _with_df(self, df: pd.DataFrame) -> "Table":
        return Table(df, self.pkey_col, dict(self.fkey_col_to_pkey_table), self.time_col, dict(self.stypes), self.kind)


def _is_nullable_bool(s: pd.Series) -> bool:
    vals = s.dropna().unique()
    return len(vals) <= 2 and all(isinstance(v, (bool, np.bool_)) for v in vals)
