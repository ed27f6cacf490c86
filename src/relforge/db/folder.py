"""The relforge database folder: ``DIR/metadata.json`` + ``DIR/db/<table>.parquet``.

Also reads plain relbench folders (``db/*.parquet`` with key metadata, with or without a
``manifest.yaml`` as plurel writes it). Writes go to a temporary sibling folder that is renamed into
place only when complete. The container (:class:`relforge.db.database.Database`) calls this module
for ``save``/``load``; this module does not import the container (the class to build is passed in),
so the dependency runs one way.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from relforge.db.meta import database_meta, parse_ts
from relforge.db.table import Stype, Table
from relforge.db.timecols import detect_time_cols
from relforge.errors import RelforgeError
from relforge.fileio import atomic_dir

if TYPE_CHECKING:  # annotations only
    from relforge.db.database import Database


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


def load_folder(path: Path, make) -> Database:
    """Read a relforge or relbench folder; ``make`` builds the database (``Database``)."""
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
    untimed_unknown = []  # tables whose files record no time column at all: detected below
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
            if time_col is None and "time_col" not in mt and "time_col" not in md:
                untimed_unknown.append(name)
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
    db = make(tables, parse_ts(val), parse_ts(test), name, extra)
    return detect_time_cols(db, untimed_unknown) if untimed_unknown else db


def _read_manifest(path: Path) -> dict | None:
    """plurel 1.1 / relbench 3 ``manifest.yaml``: name, timestamps, per-table pkey/time_col/fkeys."""
    if not path.is_file():
        return None
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
