"""Database on disk: a folder of Parquet files plus ``metadata.json``.

Layout (relbench-compatible)::

    DIR/metadata.json          name, split timestamps, per-table kind/keys/time/stypes, provenance
    DIR/db/<table>.parquet     one file per table; its schema metadata also carries relbench's
                               ``pkey_col``, ``fkey_col_to_pkey_table`` and ``time_col`` keys

:func:`load_database` also reads plain relbench folders (``db/*.parquet`` with key metadata, with or
without a ``manifest.yaml`` as plurel writes it). Writes go to a temporary sibling folder that is
renamed into place only when complete, so a crash never leaves a half database under the final name.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from relforge.db.database import Database
from relforge.db.table import Stype, Table
from relforge.errors import RelforgeError

FORMAT_VERSION = 1


def check_output_dir(path: str | Path, overwrite: bool) -> Path:
    """Refuse an existing non-empty output folder unless ``overwrite``; return the resolved path."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RelforgeError(f"output path {str(path)!r} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise RelforgeError(f"output folder {str(path)!r} is not empty (pass --overwrite to replace it)")
    return path


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask is set-and-get)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_dir(path: str | Path, overwrite: bool = False):
    """Yield a temporary folder next to ``path``; on success it replaces ``path`` atomically."""
    path = check_output_dir(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; publish with the usual mode
        if path.exists():
            old = path.parent / f".{path.name}.old-{os.getpid()}"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(path: str | Path):
    """Yield a temporary file path next to ``path``; renamed onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        if os.path.exists(tmp):
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; publish with the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _ts(x) -> str | None:
    return None if x is None or pd.isna(x) else pd.Timestamp(x).isoformat()


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
        val_timestamp=_ts(db.val_timestamp),
        test_timestamp=_ts(db.test_timestamp),
        tables={n: table_meta(t) for n, t in db.tables.items()},
        meta=db.meta,
    )


def write_table_parquet(t: Table, path: Path) -> None:
    at = pa.Table.from_pandas(t.df, preserve_index=False)
    md = dict(at.schema.metadata or {})
    md.update(
        {
            b"fkey_col_to_pkey_table": json.dumps(t.fkey_col_to_pkey_table).encode(),
            b"pkey_col": json.dumps(t.pkey_col).encode(),
            b"time_col": json.dumps(t.time_col).encode(),
        }
    )
    pq.write_table(at.replace_schema_metadata(md), path)


def write_database(db: Database, folder: Path) -> None:
    """Write ``db`` into an existing (empty) folder, non-atomically; see :func:`save_database`."""
    (folder / "db").mkdir(parents=True, exist_ok=True)
    for name, t in db.tables.items():
        write_table_parquet(t, folder / "db" / f"{name}.parquet")
    (folder / "metadata.json").write_text(json.dumps(database_meta(db), indent=2, default=str))


def save_database(db: Database, path: str | Path, overwrite: bool = False) -> Path:
    """Save atomically to ``path`` (a folder). Refuses a non-empty folder unless ``overwrite``."""
    with atomic_dir(path, overwrite=overwrite) as tmp:
        write_database(db, tmp)
    return Path(path)


def _read_parquet(path: Path) -> tuple[pd.DataFrame, dict]:
    try:
        pf = pq.read_table(path)
    except Exception as e:  # pyarrow raises many types for corrupt files
        raise RelforgeError(f"cannot read {str(path)!r}: {type(e).__name__}: {e}") from None
    md = {k.decode(): v.decode() for k, v in (pf.schema.metadata or {}).items()}
    return pf.to_pandas(), md


def _json_or_none(md: dict, key: str):
    v = md.get(key)
    if v is None:
        return None
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v


def load_database(path: str | Path) -> Database:
    """Load a relforge folder, a relbench folder (``db/*.parquet``), or a SQLite/DuckDB file."""
    path = Path(path)
    if not path.exists():
        raise RelforgeError(f"no such database: {str(path)!r}")
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in {".sqlite", ".sqlite3", ".db"}:
            from relforge.db.sql_io import read_sqlite

            return read_sqlite(path)
        if suffix in {".duckdb", ".ddb"}:
            from relforge.db.sql_io import read_duckdb

            return read_duckdb(path)
        raise RelforgeError(f"{str(path)!r} is not a database folder, .sqlite or .duckdb file")
    dbdir = path / "db" if (path / "db").is_dir() else path
    files = sorted(dbdir.glob("*.parquet"))
    if not files:
        raise RelforgeError(f"{str(path)!r} holds no Parquet tables (expected {str(dbdir)}/<table>.parquet)")
    meta = None
    if (path / "metadata.json").is_file():
        try:
            meta = json.loads((path / "metadata.json").read_text())
        except json.JSONDecodeError as e:
            raise RelforgeError(f"corrupt metadata file {str(path / 'metadata.json')!r}: {e}") from None
    manifest = _read_manifest(path / "manifest.yaml")
    tables = {}
    for f in files:
        name = f.stem
        df, md = _read_parquet(f)
        if meta is not None:
            if name not in meta.get("tables", {}):
                raise RelforgeError(f"table {name!r} in {str(dbdir)!r} is missing from metadata.json")
            tm = meta["tables"][name]
            t = Table(df, tm["pkey_col"], tm["fkey_col_to_pkey_table"], tm["time_col"],
                      {c: Stype(s) for c, s in tm["stypes"].items()}, tm.get("kind", "entity"))
        else:
            mt = manifest.get("tables", {}).get(name, {}) if manifest else {}
            pkey = mt.get("pkey", _json_or_none(md, "pkey_col"))
            fkeys = mt.get("fkeys", _json_or_none(md, "fkey_col_to_pkey_table")) or {}
            time_col = mt.get("time_col", _json_or_none(md, "time_col"))
            t = Table(df, pkey, dict(fkeys), time_col)
        tables[name] = t
    if meta is None:
        referenced = {p for c, t in tables.items() for p in t.fkey_col_to_pkey_table.values() if p != c}
        for n, t in tables.items():
            t.kind = "entity" if n in referenced else "activity"
    if meta is not None:
        missing = set(meta.get("tables", {})) - set(tables)
        if missing:
            raise RelforgeError(f"database {str(path)!r} is missing table file(s): {', '.join(sorted(missing))}")
        tables = {n: tables[n] for n in meta["tables"]}  # the saved table order
        val, test = meta.get("val_timestamp"), meta.get("test_timestamp")
        name, extra = meta.get("name", path.name), meta.get("meta", {})
    else:
        val = manifest.get("val_timestamp") if manifest else None
        test = manifest.get("test_timestamp") if manifest else None
        name, extra = (manifest or {}).get("name", path.name), {"source": str(path)}
    return Database(tables, _parse_ts(val), _parse_ts(test), name, extra)


def _parse_ts(x):
    return None if x in (None, "", "null") else pd.Timestamp(x)


def _read_manifest(path: Path) -> dict | None:
    """plurel 1.1 / relbench 3 ``manifest.yaml``: name, timestamps, per-table pkey/time_col/fkeys."""
    if not path.is_file():
        return None
    import yaml

    try:
        m = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise RelforgeError(f"corrupt manifest {str(path)!r}: {e}") from None
    out = {k: m.get(k) for k in ("name", "val_timestamp", "test_timestamp")}
    tables = {}
    for n, tm in (m.get("tables") or {}).items():
        tm = tm or {}
        fk = tm.get("fkeys") or tm.get("fkey_col_to_pkey_table") or {}
        if isinstance(fk, list):  # [{column: c, table: t}, ...]
            fk = {d.get("column") or d.get("col"): d.get("table") or d.get("pkey_table") for d in fk}
        tables[n] = dict(pkey=tm.get("pkey") or tm.get("pkey_col"), time_col=tm.get("time_col"), fkeys=fk)
    out["tables"] = tables
    return out
