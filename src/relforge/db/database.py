"""``Database``: named tables plus the validation and test cut-off timestamps."""
from __future__ import annotations

import hashlib
from pathlib import Path
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from relforge.db import folder
from relforge.db.table import Table
from relforge.errors import RelforgeError


@dataclass
class Database:
    """A relational database: ``tables[name] -> Table`` plus split timestamps and metadata.

    ``meta`` holds provenance (generator seed, config, source path); it is saved with the data.
    """

    tables: dict[str, Table]
    val_timestamp: pd.Timestamp | None = None
    test_timestamp: pd.Timestamp | None = None
    name: str = "db"
    meta: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> Table:
        try:
            return self.tables[name]
        except KeyError:
            raise RelforgeError(f"database {self.name!r} has no table {name!r}") from None

    def __iter__(self):
        return iter(self.tables)

    def __len__(self) -> int:
        return len(self.tables)

    @property
    def n_rows(self) -> int:
        return sum(len(t) for t in self.tables.values())

    @property
    def n_cells(self) -> int:
        """Non-null cells over all columns, keys included."""
        return int(sum(t.df.notna().to_numpy().sum() for t in self.tables.values()))

    def edges(self) -> list[tuple[str, str, str]]:
        """Schema edges as (parent table, child table, fk column)."""
        return [(p, child, c) for child, t in self.tables.items() for c, p in t.fkey_col_to_pkey_table.items()]

    def validate(self) -> None:
        """Check every table and every foreign key; raise RelforgeError naming the first problem."""
        for name, t in self.tables.items():
            t.validate(name)
            for c, parent in t.fkey_col_to_pkey_table.items():
                if parent not in self.tables:
                    raise RelforgeError(f"table {name!r}: foreign key {c!r} references unknown table {parent!r}")
                p = self.tables[parent]
                if p.pkey_col is None:
                    raise RelforgeError(f"table {name!r}: foreign key {c!r} references {parent!r}, which has no primary key")
                fk = t.df[c].dropna()
                if len(fk) and not np.isin(fk.to_numpy(), p.df[p.pkey_col].to_numpy()).all():
                    bad = fk[~np.isin(fk.to_numpy(), p.df[p.pkey_col].to_numpy())].iloc[0]
                    raise RelforgeError(f"table {name!r}: foreign key {c!r} value {bad!r} has no row in {parent!r}")
        if self.val_timestamp is not None and self.test_timestamp is not None:
            if not self.val_timestamp <= self.test_timestamp:
                raise RelforgeError(f"database {self.name!r}: val_timestamp is after test_timestamp")

    def upto(self, ts) -> "Database":
        """Rows with time <= ts; static tables unchanged (relbench semantics)."""
        return self._with_tables({n: t.upto(ts) for n, t in self.tables.items()})

    def from_(self, ts) -> "Database":
        return self._with_tables({n: t.from_(ts) for n, t in self.tables.items()})

    def _with_tables(self, tables: dict[str, Table]) -> "Database":
        return Database(tables, self.val_timestamp, self.test_timestamp, self.name, dict(self.meta))

    def content_hash(self) -> str:
        """SHA-256 over table names, column names, dtypes and every cell; stable across processes on
        one kind of CPU (generated cell values depend on its BLAS kernels: :meth:`structure_hash`
        is the part that does not)."""
        return self._hash(cells=True)

    def structure_hash(self) -> str:
        """SHA-256 over what the database is made of without its cells: table names, keys, time
        columns, row counts, column names and dtypes. A generated database's structure is the same
        on every CPU, its cell values are not (:meth:`content_hash`)."""
        return self._hash(cells=False)

    def _hash(self, cells: bool) -> str:
        h = hashlib.sha256()
        for name in sorted(self.tables):
            t = self.tables[name]
            h.update(f"{name}|{t.pkey_col}|{sorted(t.fkey_col_to_pkey_table.items())}|{t.time_col}".encode())
            if not cells:
                h.update(f"|rows={len(t.df)}".encode())
            for c in t.df.columns:
                s = t.df[c]
                h.update(f"|{c}:{s.dtype}".encode())
                if cells:
                    h.update(pd.util.hash_pandas_object(s, index=False).to_numpy().tobytes())
        if cells:
            for ts in (self.val_timestamp, self.test_timestamp):
                h.update(str(ts).encode())
        return h.hexdigest()

    # I/O lives in relforge.db.io; these are conveniences.
    def save(self, path, overwrite: bool = False) -> None:
        """Write a relforge folder atomically (:func:`relforge.db.folder.save_database`)."""
        folder.save_database(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path) -> "Database":
        """Read a relforge or relbench folder (``relforge.load`` also reads SQLite/DuckDB files)."""
        return folder.load_folder(Path(path), cls)

    def summary(self) -> pd.DataFrame:
        """One row per table: kind, rows, columns, keys, time column."""
        rows = []
        for n, t in self.tables.items():
            rows.append(
                dict(
                    table=n,
                    kind=t.kind,
                    rows=len(t),
                    features=len(t.feature_cols),
                    pkey=t.pkey_col,
                    fkeys=", ".join(f"{c}->{p}" for c, p in t.fkey_col_to_pkey_table.items()),
                    time=t.time_col or "",
                )
            )
        return pd.DataFrame(rows)
