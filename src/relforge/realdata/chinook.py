"""Chinook music-store database (data/chinook): 11 tables, invoices over 2021-01-01 .. 2025-12-22.

Choices (documented in the README section "Real databases and tasks"):

- Source: ``Chinook_Sqlite.sqlite`` (opened read-only) when present, else the 11 CSV exports;
  both give identical databases. Column names and table names are Chinook's own.
- Time: ``Invoice.InvoiceDate``; ``InvoiceLine`` gets its invoice's date as ``InvoiceDate``.
  Every other table is static (Employee.BirthDate/HireDate stay datetime feature columns).
- Keys: timed tables stably sorted by date; every primary key re-indexed to ``0..n-1`` and the
  foreign keys remapped (Employee.ReportsTo is a self reference, null for the top manager, so it
  is a float column). PlaylistTrack has a composite key in the source and no primary key here.
- Cut-offs: ``val_timestamp = 2024-01-01``, ``test_timestamp = 2025-01-01`` (train on 2021-2023,
  validate on 2024, test on 2025).
- The sales are synthetic (random invoices), so forecasting tasks on Chinook carry little signal.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd

from relforge.db.database import Database
from relforge.db.table import Stype
from relforge.errors import RelforgeError
from relforge.realdata._common import build_database, read_csv, require_cols, source_dir, to_ns

NAME = "chinook"
SUBDIR = "chinook"
SQLITE_FILE = "Chinook_Sqlite.sqlite"
VAL_TIMESTAMP = pd.Timestamp("2024-01-01")
TEST_TIMESTAMP = pd.Timestamp("2025-01-01")

#: table -> (pkey or None, fkeys)
TABLES: dict[str, tuple[str | None, dict[str, str]]] = {
    "Artist": ("ArtistId", {}),
    "Album": ("AlbumId", {"ArtistId": "Artist"}),
    "Genre": ("GenreId", {}),
    "MediaType": ("MediaTypeId", {}),
    "Track": ("TrackId", {"AlbumId": "Album", "MediaTypeId": "MediaType", "GenreId": "Genre"}),
    "Playlist": ("PlaylistId", {}),
    "PlaylistTrack": (None, {"PlaylistId": "Playlist", "TrackId": "Track"}),
    "Employee": ("EmployeeId", {"ReportsTo": "Employee"}),
    "Customer": ("CustomerId", {"SupportRepId": "Employee"}),
    "Invoice": ("InvoiceId", {"CustomerId": "Customer"}),
    "InvoiceLine": ("InvoiceLineId", {"InvoiceId": "Invoice", "TrackId": "Track"}),
}
TIME_COL = "InvoiceDate"
DATE_COLS = {"Employee": ("BirthDate", "HireDate"), "Invoice": ("InvoiceDate",)}
STRING_COLS = ("PostalCode", "BillingPostalCode")  # leading zeros matter

_CAT, _TXT = Stype.categorical, Stype.text
STYPES = {
    "Employee": {"Title": _CAT, "City": _CAT, "State": _CAT, "Country": _CAT, "Phone": _TXT, "Fax": _TXT},
    "Customer": {"City": _CAT, "State": _CAT, "Country": _CAT, "Phone": _TXT, "Fax": _TXT},
    "Invoice": {"BillingCity": _CAT, "BillingState": _CAT, "BillingCountry": _CAT},
    "Genre": {"Name": _CAT},
    "MediaType": {"Name": _CAT},
}


def _read_sqlite(path: Path) -> dict[str, pd.DataFrame]:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as e:
        raise RelforgeError(f"cannot open {str(path)!r}: {e}") from None
    try:
        return {t: pd.read_sql_query(f'SELECT * FROM "{t}"', con) for t in TABLES}
    except (sqlite3.Error, pd.errors.DatabaseError) as e:
        raise RelforgeError(f"cannot read {str(path)!r}: {str(e).splitlines()[0]}") from None
    finally:
        con.close()


def _read_csvs(src: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for t in TABLES:
        df = read_csv(src / f"{t}.csv", keep_default_na=False, na_values=[""],
                      dtype={c: str for c in STRING_COLS})
        out[t] = df
    return out


def load_chinook(data_dir: str | Path | None = None, source: str = "auto") -> Database:
    """Load Chinook (11 tables) with invoice dates as time and re-indexed keys.

    Parameters
    ----------
    data_dir : folder holding ``chinook/``; default ``relforge.settings.data_dir()``.
    source : ``"sqlite"``, ``"csv"`` or ``"auto"`` (the SQLite file when present, else the CSVs).

    Returns
    -------
    Database named ``"chinook"``, ``val_timestamp=2024-01-01``, ``test_timestamp=2025-01-01``.
    """
    src = source_dir(SUBDIR, data_dir)
    if source == "auto":
        source = "sqlite" if (src / SQLITE_FILE).is_file() else "csv"
    if source == "sqlite":
        if not (src / SQLITE_FILE).is_file():
            raise RelforgeError(f"missing data file: {str(src / SQLITE_FILE)!r}")
        raw = _read_sqlite(src / SQLITE_FILE)
    elif source == "csv":
        raw = _read_csvs(src)
    else:
        raise RelforgeError(f"unknown chinook source {source!r} (use sqlite, csv or auto)")

    for t, (pk, fks) in TABLES.items():
        require_cols(raw[t], [c for c in [pk, *fks] if c], f"chinook table {t!r}")
        for c in DATE_COLS.get(t, ()):
            require_cols(raw[t], [c], f"chinook table {t!r}")
            raw[t][c] = to_ns(pd.to_datetime(raw[t][c], format="%Y-%m-%d %H:%M:%S"))
        for c in STRING_COLS:
            if c in raw[t].columns:
                raw[t][c] = raw[t][c].astype("str").where(raw[t][c].notna())
    inv = raw["Invoice"]
    date_of = pd.Series(inv[TIME_COL].to_numpy(), index=inv["InvoiceId"].to_numpy())
    raw["InvoiceLine"][TIME_COL] = date_of.reindex(raw["InvoiceLine"]["InvoiceId"].to_numpy()).to_numpy()

    specs = {
        t: dict(df=raw[t], pkey=pk, fkeys=fks, time=TIME_COL if t in ("Invoice", "InvoiceLine") else None)
        for t, (pk, fks) in TABLES.items()
    }
    return build_database(
        NAME, specs, val_timestamp=VAL_TIMESTAMP, test_timestamp=TEST_TIMESTAMP, stypes=STYPES,
        meta={"source": str(src), "origin": f"Chinook sample database ({source})", "licence": "MIT (Luis Rocha)"},
    )
