"""Database on disk: a folder of Parquet files plus ``metadata.json`` (:mod:`relforge.db.folder`), or a
SQLite/DuckDB file (:mod:`relforge.db.sql_io`); :func:`load_database` reads any of them.

Layout (relbench-compatible)::

    DIR/metadata.json          name, split timestamps, per-table kind/keys/time/stypes, provenance
    DIR/db/<table>.parquet     one file per table; its schema metadata also carries relbench's
                               ``pkey_col``, ``fkey_col_to_pkey_table`` and ``time_col`` keys

:func:`load_database` also reads plain relbench folders (``db/*.parquet`` with key metadata, with or
without a ``manifest.yaml`` as plurel writes it). Writes go to a temporary sibling folder that is
renamed into place only when complete, so a crash never leaves a half database under the final name.
"""
from __future__ import annotations

from pathlib import Path

from relforge.db.database import Database
from relforge.db.folder import load_folder, save_database, write_database, write_table_parquet  # noqa: F401 (re-exported)
from relforge.db.meta import FORMAT_VERSION, database_meta, parse_ts, table_meta  # noqa: F401 (re-exported)
from relforge.db.sql_io import check_target, read_duckdb, read_sqlite, to_duckdb, to_sqlite
from relforge.db.timecols import apply_time_cols
from relforge.errors import RelforgeError
from relforge.fileio import atomic_dir, atomic_file, check_output_dir  # noqa: F401 (old home; use relforge.fileio)


def load_database(path: str | Path, time_cols=None) -> Database:
    """Load a relforge folder, a relbench folder (``db/*.parquet``), or a SQLite/DuckDB file.

    ``time_cols`` (``{table: column or None}``, or ``--time-col`` strings ``"TABLE=COLUMN"``) overrides
    the time column of those tables; the others keep the recorded one (relforge/relbench metadata)
    or the detected one (SQL files and bare Parquet folders; :mod:`relforge.db.timecols`).
    """
    path = Path(path)
    if not path.exists():
        raise RelforgeError(f"no such database: {str(path)!r}")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in {".sqlite", ".sqlite3", ".db"}:
            return apply_time_cols(read_sqlite(path), time_cols)
        if suffix in {".duckdb", ".ddb"}:
            return apply_time_cols(read_duckdb(path), time_cols)
        raise RelforgeError(f"{str(path)!r} is not a database folder, .sqlite or .duckdb file")
    return apply_time_cols(load_folder(path, Database), time_cols)


def export_database(src: str | Path, *, duckdb: str | Path | None = None, sqlite: str | Path | None = None,
                    overwrite: bool = False) -> list[Path]:
    """Load the database at ``src`` (any format :func:`relforge.db.io.load_database` reads) and
    write it to a DuckDB and/or SQLite file; both targets are checked before anything is written."""
    if duckdb is None and sqlite is None:
        raise RelforgeError("nothing to export to: give a DuckDB and/or a SQLite file (--duckdb FILE, --sqlite FILE)")
    if duckdb is not None and sqlite is not None and Path(duckdb).resolve() == Path(sqlite).resolve():
        raise RelforgeError(f"the DuckDB and SQLite outputs are the same file {str(duckdb)!r}")
    for target in (duckdb, sqlite):
        if target is not None:
            check_target(target, overwrite)
    db = load_database(src)
    out = []
    if duckdb is not None:
        out.append(to_duckdb(db, duckdb, overwrite=overwrite))
    if sqlite is not None:
        out.append(to_sqlite(db, sqlite, overwrite=overwrite))
    return out
