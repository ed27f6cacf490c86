"""Databases as SQL files: DuckDB and SQLite, with declared primary and foreign keys.

Writing (:func:`to_duckdb`, :func:`to_sqlite`) creates every table with its ``PRIMARY KEY`` and
``FOREIGN KEY ... REFERENCES`` constraints (self-references included) in the ``CREATE TABLE``
statements, parents first, and bulk-loads the rows (DuckDB from an Arrow table, SQLite with one
``executemany`` over typed tuples). Files are written to a temporary sibling and renamed into
place only when complete, so a crash never leaves a half database under the final name.

A small ``_relforge_meta`` table (one JSON row) records what SQL cannot: column semantic types,
table kinds, the time column, split timestamps, pandas dtypes and provenance. Keys are never read
from it: :func:`read_duckdb` / :func:`read_sqlite` take primary and foreign keys from the catalog
(``duckdb_constraints()``; ``PRAGMA table_info`` / ``foreign_key_list``), so files written by other
tools load too. Without the metadata row, datetimes are parsed from declared
``DATE``/``DATETIME``/``TIMESTAMP`` columns, semantic types are inferred, a table is an ``entity``
if a foreign key of another table references it and an ``activity`` otherwise, and every table,
entity tables included, gets the time column :mod:`relforge.db.timecols` detects (an activity
table's only date/time column, else a creation- or event-like name: ``CreationDate``, not
``BirthDate``). ``relforge.load(path, time_cols=...)`` overrides it.

DuckDB checks a foreign key against the rows already in the table, so a table with a
self-referencing key is loaded in rounds by depth of its reference forest (roots first); such a
table is read back in primary-key order when its primary key was increasing (always so for
generated databases). Self-references whose rows form cycles (a question's ``AcceptedAnswerId`` and
its answer's ``ParentId``), like keys that close a cycle between tables, are not declared in a
DuckDB file; the metadata row keeps them, so they read back as keys.
"""
from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from relforge.db.database import Database
from relforge.db.meta import database_meta, parse_ts
from relforge.db.table import Stype, Table
from relforge.db.timecols import detect_time_cols
from relforge.errors import RelforgeError
from relforge.fileio import atomic_file

META_TABLE = "_relforge_meta"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_DUCKDB_MAGIC = b"DUCK"  # at byte offset 8 of a DuckDB file

# logical type -> (duckdb, sqlite) declared type
_SQL_TYPES = {
    "int": ("BIGINT", "INTEGER"),
    "float": ("DOUBLE", "REAL"),
    "bool": ("BOOLEAN", "BOOLEAN"),
    "datetime": ("TIMESTAMP", "TIMESTAMP"),
    "string": ("VARCHAR", "TEXT"),
}


def _q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + str(name).replace('"', '""') + '"'


# ------------------------------------------------------------------------------------ writing


def _normalize(s: pd.Series) -> tuple[str, pd.Series]:
    """(logical type, series in a dtype that maps onto it) for one column."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.astype(s.cat.categories.dtype) if not s.isna().any() else s.astype(object)
    dt = s.dtype
    if pd.api.types.is_bool_dtype(dt):
        return "bool", s
    if pd.api.types.is_integer_dtype(dt):
        return "int", s
    if pd.api.types.is_float_dtype(dt):
        return "float", s
    if pd.api.types.is_datetime64_any_dtype(dt):
        if getattr(dt, "tz", None) is not None:
            s = s.dt.tz_convert("UTC").dt.tz_localize(None)
        return "datetime", s
    if pd.api.types.is_string_dtype(dt) and not pd.api.types.is_object_dtype(dt):
        return "string", s
    kind = pd.api.types.infer_dtype(s, skipna=True)
    if kind == "boolean":
        return "bool", s.astype("boolean")
    if kind == "integer":
        return "int", s.astype("Int64")
    if kind in ("floating", "mixed-integer-float", "decimal"):
        return "float", s.astype("float64")
    if kind in ("datetime", "datetime64", "date"):
        return "datetime", pd.to_datetime(s)
    if kind == "empty":
        return "string", s.astype("string")
    return "string", s.astype("string")


def _fk_as_int(s: pd.Series) -> pd.Series:
    """A float foreign-key column holding whole numbers (NaN = no parent) as nullable Int64."""
    v = s.to_numpy(dtype=np.float64, na_value=np.nan)
    ok = np.isfinite(v)
    if not np.all(v[ok] == np.round(v[ok])):
        return s
    return s.astype("Int64")


def _prepared(db: Database) -> dict[str, tuple[pd.DataFrame, dict[str, str]]]:
    """Per table: the frame with SQL-friendly dtypes and each column's logical type."""
    out = {}
    for name, t in db.tables.items():
        cols, types = {}, {}
        for c in t.df.columns:
            types[c], cols[c] = _normalize(t.df[c])
        out[name] = (cols, types)
    # a foreign key takes the type of the primary key it references
    for name, t in db.tables.items():
        cols, types = out[name]
        for c, parent in t.fkey_col_to_pkey_table.items():
            ptypes = out[parent][1]
            ptype = ptypes[db.tables[parent].pkey_col]
            if types[c] != ptype:
                if ptype == "int" and types[c] == "float":
                    cols[c] = _fk_as_int(cols[c])
                    if pd.api.types.is_integer_dtype(cols[c].dtype):
                        types[c] = "int"
                        continue
                raise RelforgeError(f"table {name!r}: foreign key {c!r} ({types[c]}) does not match the type "
                                    f"of {parent!r}.{db.tables[parent].pkey_col} ({ptype})")
    return {n: (pd.DataFrame({c: s.reset_index(drop=True) for c, s in cols.items()}), types)
            for n, (cols, types) in out.items()}


def _table_order(db: Database) -> list[str]:
    """Tables parents first (self-references ignored); tables on a cycle keep their input order at the end."""
    parents = {n: {p for p in t.fkey_col_to_pkey_table.values() if p != n} for n, t in db.tables.items()}
    order, done = [], set()
    progress = True
    while progress:
        progress = False
        for n in db.tables:
            if n not in done and parents[n] <= done:
                order.append(n)
                done.add(n)
                progress = True
    return order + [n for n in db.tables if n not in done]


def _create_sql(name: str, t: Table, types: dict[str, str], dialect: int, created: set[str],
                pkeys: dict[str, str | None], undeclared: frozenset = frozenset()) -> str:
    """``CREATE TABLE`` with primary and foreign keys; FKs to tables not yet created, and the
    ``undeclared`` ones, are left out."""
    lines = []
    for c in t.df.columns:
        decl = f"{_q(c)} {_SQL_TYPES[types[c]][dialect]}"
        if c == t.pkey_col:
            decl += " NOT NULL"
        lines.append(decl)
    if t.pkey_col is not None:
        lines.append(f"PRIMARY KEY ({_q(t.pkey_col)})")
    for c, parent in t.fkey_col_to_pkey_table.items():
        if (dialect == 1 or parent == name or parent in created) and c not in undeclared:
            lines.append(f"FOREIGN KEY ({_q(c)}) REFERENCES {_q(parent)} ({_q(pkeys[parent])})")
    return f"CREATE TABLE {_q(name)} (\n  " + ",\n  ".join(lines) + "\n)"


def _self_ref_codes(t: Table, c: str) -> np.ndarray:
    """Row position of each row's parent through the self-referencing key ``c`` (-1 = none)."""
    pk = pd.Index(t.df[t.pkey_col])
    fk = t.df[c]
    codes = np.full(len(pk), -1, dtype=np.int64)
    valid = fk.notna().to_numpy()
    if valid.any():
        codes[valid] = pk.get_indexer(fk[valid])
    return codes


def _has_row_cycle(parents: list[np.ndarray]) -> bool:
    """Whether the rows' parent pointers (one array per key) contain a cycle (a self-loop included)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(parents[0])
    src = np.concatenate([np.flatnonzero(p >= 0) for p in parents])
    dst = np.concatenate([p[p >= 0] for p in parents])
    if np.any(src == dst):
        return True
    if len(src) == 0:
        return False
    g = coo_matrix((np.ones(len(src), dtype=np.int8), (src, dst)), shape=(n, n)).tocsr()
    k, labels = connected_components(g, directed=True, connection="strong")
    return k < n  # a strongly connected component with two or more rows is a cycle


def _self_ref_plan(t: Table, name: str) -> tuple[list[str], np.ndarray | None]:
    """(self-referencing keys DuckDB can check, depth of each row in their reference forest).

    DuckDB checks a key against rows already inserted, so rows are loaded in rounds by depth. Keys
    are taken in order while their rows stay acyclic; a key that would close a cycle between rows
    (a question's ``AcceptedAnswerId`` and the answer's ``ParentId``) is not declared in the file
    (the metadata row keeps it). Depth is None when no key is declared."""
    keys, parents = [], []
    for c, p in t.fkey_col_to_pkey_table.items():
        if p != name:
            continue
        codes = _self_ref_codes(t, c)
        if not _has_row_cycle(parents + [codes]):
            keys.append(c)
            parents.append(codes)
    if not keys:
        return keys, None
    n = len(parents[0])
    if len(parents) == 1:  # pointer jumping: O(n log depth)
        nxt = parents[0].copy()
        depth = (nxt >= 0).astype(np.int64)
        while (nxt >= 0).any():
            live = nxt >= 0
            j = nxt[live]
            depth[live] = depth[live] + depth[j]
            nxt[live] = nxt[j]
        return keys, depth
    depth = np.zeros(n, dtype=np.int64)  # several keys, acyclic: relax until stable (depth + 1 rounds)
    while True:
        new = depth.copy()
        for p in parents:
            has = p >= 0
            new[has] = np.maximum(new[has], depth[p[has]] + 1)
        if np.array_equal(new, depth):
            return keys, depth
        depth = new


def check_target(path: str | Path, overwrite: bool, db: Database | None = None) -> Path:
    """Check that ``path`` may receive a SQL file (not a folder; an existing file only with ``overwrite``)."""
    if db is not None and META_TABLE in db.tables:
        raise RelforgeError(f"table name {META_TABLE!r} is reserved for relforge's metadata row")
    path = Path(path)
    if path.is_dir():
        raise RelforgeError(f"output path {str(path)!r} is a folder, expected a file name")
    if path.exists() and not overwrite:
        raise RelforgeError(f"output file {str(path)!r} exists (pass --overwrite to replace it)")
    return path


def _meta_json(db: Database, frames: dict, order_by_pkey: dict[str, bool]) -> str:
    m = database_meta(db)
    for n, t in db.tables.items():
        m["tables"][n]["dtypes"] = {c: str(t.df[c].dtype) for c in t.df.columns}
        m["tables"][n]["order_by_pkey"] = bool(order_by_pkey.get(n, False))
    return json.dumps(m, default=str)


def to_duckdb(db: Database, path: str | Path, *, overwrite: bool = False, metadata: bool = True) -> Path:
    """Write ``db`` to a DuckDB file with declared primary and foreign keys.

    Parameters
    ----------
    db : the database (validated first).
    path : the ``.duckdb`` file to create.
    overwrite : replace an existing file (otherwise an existing file is an error).
    metadata : also store the ``_relforge_meta`` row (semantic types, kinds, time columns, splits).

    Returns
    -------
    The path written. Raises :class:`RelforgeError` on bad input; nothing is left behind on failure.
    """
    import duckdb

    path = check_target(path, overwrite, db)
    db.validate()
    frames = _prepared(db)
    order_by_pkey = {}
    with atomic_file(path) as tmp:
        os.remove(tmp)  # duckdb wants to create the file itself
        con = None
        try:
            con = duckdb.connect(str(tmp), config={"autoinstall_known_extensions": False})
            pkeys = {n: t.pkey_col for n, t in db.tables.items()}
            con.execute("BEGIN TRANSACTION")  # one commit for all tables and self-reference rounds
            created: set[str] = set()
            for name in _table_order(db):
                t = db.tables[name]
                df, types = frames[name]
                self_keys, levels = _self_ref_plan(t, name)
                cyclic = frozenset(c for c, p in t.fkey_col_to_pkey_table.items() if p == name and c not in self_keys)
                con.execute(_create_sql(name, t, types, 0, created, pkeys, cyclic))
                created.add(name)
                at = pa.Table.from_pandas(df, preserve_index=False)
                cols = ", ".join(_q(c) for c in df.columns)
                if levels is None or levels.max(initial=0) == 0:
                    con.register("_relforge_src", at)
                    con.execute(f"INSERT INTO {_q(name)} ({cols}) SELECT {cols} FROM _relforge_src")
                else:
                    lvl = "_relforge_level"
                    while lvl in df.columns:
                        lvl += "_"
                    con.register("_relforge_src", at.append_column(lvl, pa.array(levels)))
                    ins = f"INSERT INTO {_q(name)} ({cols}) SELECT {cols} FROM _relforge_src WHERE {_q(lvl)} = ?"
                    for k in range(int(levels.max()) + 1):
                        con.execute(ins, [k])
                    pk = t.df[t.pkey_col]
                    order_by_pkey[name] = bool(pk.is_monotonic_increasing)
                con.unregister("_relforge_src")
            if metadata:
                con.execute(f"CREATE TABLE {_q(META_TABLE)} (json VARCHAR)")
                con.execute(f"INSERT INTO {_q(META_TABLE)} VALUES (?)", [_meta_json(db, frames, order_by_pkey)])
            con.execute("COMMIT")
            con.close()
            con = None
        except BaseException as e:
            if con is not None:
                con.close()
            Path(str(tmp) + ".wal").unlink(missing_ok=True)
            if isinstance(e, duckdb.Error):
                raise RelforgeError(f"cannot write DuckDB file {str(path)!r}: {e}") from None
            raise
    return path


def _to_py(s: pd.Series, typ: str) -> list:
    """Column values as Python objects for sqlite3 (None for nulls; datetimes as ISO text)."""
    if typ == "datetime":
        a = pa.array(s, from_pandas=True)
        if a.type.unit != "s":
            whole = pc.all(pc.equal(pc.cast(pc.cast(a, pa.timestamp("s"), safe=False), a.type), a)).as_py()
            if whole in (True, None):
                a = pc.cast(a, pa.timestamp("s"), safe=False)
        return pc.strftime(a, format="%Y-%m-%d %H:%M:%S").to_pylist()
    return pa.array(s, from_pandas=True).to_pylist()


def to_sqlite(db: Database, path: str | Path, *, overwrite: bool = False, metadata: bool = True) -> Path:
    """Write ``db`` to a SQLite file with declared primary and foreign keys.

    Datetimes are stored as text ``YYYY-MM-DD HH:MM:SS[.ffffff]`` in ``TIMESTAMP`` columns and
    booleans as 0/1 in ``BOOLEAN`` columns (SQLite has no native types for either). Parameters as
    for :func:`to_duckdb`. ``PRAGMA foreign_keys=ON`` enforces the keys on later writes.
    """
    path = check_target(path, overwrite, db)
    db.validate()
    frames = _prepared(db)
    with atomic_file(path) as tmp:
        con = sqlite3.connect(str(tmp))
        try:
            con.execute("PRAGMA journal_mode=OFF")
            con.execute("PRAGMA synchronous=OFF")
            pkeys = {n: t.pkey_col for n, t in db.tables.items()}
            for name in _table_order(db):
                t = db.tables[name]
                df, types = frames[name]
                con.execute(_create_sql(name, t, types, 1, set(), pkeys))
                cols = [_to_py(df[c], types[c]) for c in df.columns]
                sql = f"INSERT INTO {_q(name)} VALUES ({', '.join('?' * len(cols))})"
                con.executemany(sql, zip(*cols))
            if metadata:
                con.execute(f"CREATE TABLE {_q(META_TABLE)} (json TEXT)")
                con.execute(f"INSERT INTO {_q(META_TABLE)} VALUES (?)", [_meta_json(db, frames, {})])
            con.commit()
        except sqlite3.Error as e:
            raise RelforgeError(f"cannot write SQLite file {str(path)!r}: {e}") from None
        finally:
            con.close()
    return path


# ------------------------------------------------------------------------------------ reading


def _check_file(path: str | Path, what: str, magic: bytes, offset: int) -> Path:
    path = Path(path)
    if not path.exists():
        raise RelforgeError(f"no such {what} file: {str(path)!r}")
    if not path.is_file():
        raise RelforgeError(f"{str(path)!r} is not a {what} file")
    with open(path, "rb") as f:
        head = f.read(64)
    if head[offset:offset + len(magic)] != magic:
        other = " (it is a SQLite file)" if head.startswith(_SQLITE_MAGIC) else (
            " (it is a DuckDB file)" if head[8:12] == _DUCKDB_MAGIC else "")
        raise RelforgeError(f"{str(path)!r} is not a {what} database{other}")
    return path


def _decl_kind(decl: str) -> str:
    """Logical type of an SQL declared type (SQLite affinity rules plus booleans and datetimes)."""
    d = (decl or "").upper()
    if "[" in d or d.startswith(("STRUCT", "MAP", "UNION", "BLOB", "BYTEA", "BIT")):
        return "other"  # nested or binary: kept as text
    if "BOOL" in d:
        return "bool"
    if "DATE" in d or "TIMESTAMP" in d or d == "TIME":
        return "datetime"
    if "INT" in d and "INTERVAL" not in d:
        return "int"
    if "CHAR" in d or "CLOB" in d or "TEXT" in d or "STRING" in d or "UUID" in d:
        return "string"
    if any(k in d for k in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")):
        return "float"
    return "other"


def _convert(s: pd.Series, kind: str) -> pd.Series:
    """Parse a column read from SQL into the dtype its declared type implies (unchanged if it does not fit)."""
    n_null = int(s.isna().sum())
    try:
        if kind == "datetime":
            out = s if pd.api.types.is_datetime64_any_dtype(s.dtype) else pd.to_datetime(s, format="ISO8601", errors="coerce")
        elif kind == "int":
            out = pd.to_numeric(s, errors="coerce")
            if int(out.isna().sum()) == n_null and not pd.api.types.is_integer_dtype(out.dtype):
                v = out.to_numpy(dtype=np.float64, na_value=np.nan)
                fin = np.isfinite(v)
                if np.all(v[fin] == np.round(v[fin])):
                    out = out.astype("Int64")
            if pd.api.types.is_integer_dtype(out.dtype):
                out = out.astype("int64") if n_null == 0 else out.astype("Int64")
        elif kind == "float":
            out = pd.to_numeric(s, errors="coerce").astype("float64")
        elif kind == "bool":
            out = pd.to_numeric(s, errors="coerce")
            if int(out.isna().sum()) == n_null and out.dropna().isin([0, 1]).all():
                out = out.astype("boolean") if n_null else out.astype(bool)
        elif kind == "string":
            out = s.astype("string") if pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty") else s
        elif pd.api.types.is_object_dtype(s.dtype) and pd.api.types.infer_dtype(s, skipna=True) not in (
                "string", "empty", "integer", "floating", "boolean", "mixed-integer-float"):
            out = s.astype("string")  # lists, structs, bytes, mixed values: their text form
        else:
            return s
    except (ValueError, TypeError, OverflowError):
        return s
    return out if int(out.isna().sum()) == n_null else s


def _restore_dtype(s: pd.Series, dtype: str) -> pd.Series:
    if str(s.dtype) == dtype:
        return s
    try:
        if dtype.startswith("datetime64"):
            return pd.to_datetime(s).astype(dtype)
        return s.astype(dtype)
    except (ValueError, TypeError, OverflowError):
        return s


def _assemble(src: str, raw: dict[str, pd.DataFrame], decl: dict[str, dict[str, str]],
              pkeys: dict[str, str | None], fkeys: dict[str, dict[str, str]], meta: dict | None) -> Database:
    """Build a Database from catalog facts (keys) and, when present, the relforge metadata row."""
    referenced = {p for c, fk in fkeys.items() for p in fk.values() if p != c}  # self-references do not count
    mt = (meta or {}).get("tables", {})
    tables = {}
    for name, df in raw.items():
        tm = mt.get(name)
        if tm is not None:
            for c, dt in (tm.get("dtypes") or {}).items():
                if c in df.columns:
                    df[c] = _restore_dtype(df[c], dt)
            if tm.get("order_by_pkey") and pkeys.get(name):
                df = df.sort_values(pkeys[name], kind="stable").reset_index(drop=True)
            time_col = tm.get("time_col") if tm.get("time_col") in df.columns else None
            stypes = {c: Stype(s) for c, s in (tm.get("stypes") or {}).items() if c in df.columns}
            kind = tm.get("kind") or ("entity" if name in referenced else "activity")
        else:
            for c in df.columns:
                df[c] = _convert(df[c], _decl_kind(decl[name].get(c, "")))
            kind = "entity" if name in referenced else "activity"
            time_col = None  # detected below, once keys and kinds are known
            stypes = {}
        fk = dict(fkeys.get(name, {}))
        if tm is not None:  # keys DuckDB could not declare (a cycle between tables) live in the metadata row
            for c, parent in (tm.get("fkey_col_to_pkey_table") or {}).items():
                if c in df.columns and c not in fk and parent in raw and pkeys.get(parent):
                    fk[c] = parent
        fk = {c: fk[c] for c in df.columns if c in fk}  # declaration order = column order
        key_cols = {pkeys.get(name)} | set(fk)
        stypes = {c: s for c, s in stypes.items() if c not in key_cols}
        tables[name] = Table(df, pkeys.get(name), fk, time_col, stypes, kind)
    if mt:  # the original table order
        tables = {n: tables[n] for n in sorted(tables, key=lambda n: (list(mt).index(n) if n in mt else len(mt)))}
    if meta:
        val, test, name, extra = (parse_ts(meta.get("val_timestamp")), parse_ts(meta.get("test_timestamp")),
                                  meta.get("name", Path(src).stem), meta.get("meta", {}))
    else:
        val, test, name, extra = None, None, Path(src).stem, {"source": str(src)}
    db = Database(tables, val, test, name, extra)
    detected = [n for n in tables if mt.get(n) is None]
    return detect_time_cols(db, detected) if detected else db


def _parse_meta(text: str | None, path: Path) -> dict | None:
    if text is None:
        return None
    try:
        m = json.loads(text)
    except json.JSONDecodeError as e:
        raise RelforgeError(f"corrupt {META_TABLE} row in {str(path)!r}: {e}") from None
    return m if isinstance(m, dict) else None


def read_sqlite(path: str | Path) -> Database:
    """Read a SQLite file: every table, keys from the catalog, datetimes parsed.

    Composite primary keys (e.g. a link table keyed by two foreign keys) become ``pkey_col=None``;
    composite foreign keys, and foreign keys that reference a column other than the parent's
    primary key, are not represented and are skipped.
    """
    path = _check_file(path, "SQLite", _SQLITE_MAGIC, 0)
    try:
        con = sqlite3.connect(path.resolve().as_uri() + "?mode=ro", uri=True)
    except sqlite3.Error as e:
        raise RelforgeError(f"cannot open SQLite file {str(path)!r}: {e}") from None
    try:
        names = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
        meta_text = None
        if META_TABLE in names:
            names.remove(META_TABLE)
            row = con.execute(f"SELECT json FROM {_q(META_TABLE)} LIMIT 1").fetchone()
            meta_text = row[0] if row else None
        decl, pkeys, fk_raw, raw = {}, {}, {}, {}
        for n in names:
            info = con.execute(f"PRAGMA table_info({_q(n)})").fetchall()  # cid, name, type, notnull, dflt, pk
            decl[n] = {r[1]: r[2] for r in info}
            pk = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5] > 0]
            pkeys[n] = pk[0] if len(pk) == 1 else None
            fks: dict[int, list] = {}
            for r in con.execute(f"PRAGMA foreign_key_list({_q(n)})").fetchall():  # id, seq, table, from, to, ...
                fks.setdefault(r[0], []).append(r)
            fk_raw[n] = [rows[0] for rows in fks.values() if len(rows) == 1]
            raw[n] = pd.read_sql_query(f"SELECT * FROM {_q(n)}", con)
    except (sqlite3.Error, pd.errors.DatabaseError) as e:
        raise RelforgeError(f"cannot read SQLite file {str(path)!r}: {e}") from None
    finally:
        con.close()
    fkeys = {}
    for n in names:
        fkeys[n] = {}
        for r in fk_raw[n]:
            parent, col, to = r[2], r[3], r[4]
            if parent in pkeys and pkeys[parent] is not None and (to is None or to == pkeys[parent]):
                fkeys[n][col] = parent
    return _assemble(str(path), raw, decl, pkeys, fkeys, _parse_meta(meta_text, path))


def read_duckdb(path: str | Path) -> Database:
    """Read a DuckDB file (schema ``main``): every table, keys from ``duckdb_constraints()``.

    Composite keys are handled as in :func:`read_sqlite`.
    """
    import duckdb

    path = _check_file(path, "DuckDB", _DUCKDB_MAGIC, 8)
    try:
        con = duckdb.connect(str(path), read_only=True,
                             config={"autoinstall_known_extensions": False, "autoload_known_extensions": False})
    except duckdb.Error as e:
        raise RelforgeError(f"cannot open DuckDB file {str(path)!r}: {e}") from None
    try:
        dbname = con.execute("SELECT current_database()").fetchone()[0]
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main' "
            "AND NOT internal ORDER BY table_oid", [dbname]).fetchall()]
        meta_text = None
        if META_TABLE in names:
            names.remove(META_TABLE)
            row = con.execute(f"SELECT json FROM {_q(META_TABLE)} LIMIT 1").fetchone()
            meta_text = row[0] if row else None
        cols = con.execute(
            "SELECT table_name, column_name, data_type FROM duckdb_columns() WHERE database_name = ? "
            "AND schema_name = 'main'", [dbname]).fetchall()
        decl = {n: {} for n in names}
        for t, c, typ in cols:
            if t in decl:
                decl[t][c] = typ
        cons = con.execute(
            "SELECT table_name, constraint_type, constraint_column_names, referenced_table, referenced_column_names "
            "FROM duckdb_constraints() WHERE database_name = ? AND schema_name = 'main' "
            "AND constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')", [dbname]).fetchall()
        raw = {n: con.execute(f"SELECT * FROM {_q(n)}").df() for n in names}
    except duckdb.Error as e:
        raise RelforgeError(f"cannot read DuckDB file {str(path)!r}: {e}") from None
    finally:
        con.close()
    pkeys = {n: None for n in names}
    for t, typ, cnames, _, _ in cons:
        if typ == "PRIMARY KEY" and t in pkeys and len(cnames) == 1:
            pkeys[t] = cnames[0]
    fkeys = {n: {} for n in names}
    for t, typ, cnames, rtab, rcols in cons:
        if typ == "FOREIGN KEY" and t in fkeys and len(cnames) == 1 and rtab in pkeys:
            if pkeys[rtab] is not None and list(rcols) == [pkeys[rtab]]:
                fkeys[t][cnames[0]] = rtab
    return _assemble(str(path), raw, decl, pkeys, fkeys, _parse_meta(meta_text, path))
