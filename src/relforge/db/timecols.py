"""Which column gives a table's rows their time: stored, detected, or said by the user.

A row's time decides which rows a context may show (no row created after the seed's time). A
relforge or relbench database records its time columns; a SQLite/DuckDB file or a bare Parquet
folder does not, so they are detected, for entity tables too (a users table with a
``CreationDate``), from the column type and name:

1. candidates are the table's non-key date/time columns (declared ``DATE``/``DATETIME``/``TIMESTAMP``
   or read as datetimes);
2. an activity table with exactly one candidate takes it ("its only datetime column");
3. otherwise the name decides: a creation name (``created``, ``creation``, ``registered``, ``signup``,
   ``joined``, ``opened``, ``posted``, ``start`` ...) before an event name (``date``, ``time``,
   ``timestamp``, ``*_at``, ``when``, ``day`` ...); names of other dates (``birth``, ``due``, ``end``,
   ``expires``, ``closed``, ``updated``, ``modified``, ``last``, ``deleted`` ...) are never taken, so
   ``Employee.BirthDate`` does not time a table but ``Users.CreationDate`` does. Ties go to a
   column without nulls, then to the first column.

The user overrides any choice with ``{table: column}`` (``None``: untimed): ``relforge.load(path,
time_cols=...)`` and ``--time-col TABLE=COLUMN`` on the commands that load a database. What was
chosen and why (for detected and user-given columns) is kept in ``Database.meta["time_col_why"]``
and shown by ``relforge inspect``.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING

import pandas as pd

from relforge.db.table import Stype, Table
from relforge.errors import RelforgeError

if TYPE_CHECKING:  # annotations only: the container does not depend on its readers
    from relforge.db.database import Database

WHY_KEY = "time_col_why"  # Database.meta key: {table: reason}

_OTHER = ("birth", "dob", "born", "death", "died", "deceas", "expir", "due", "deadline", "until", "updat", "modif",
          "edit", "delet", "cancel", "resolv", "finish", "clos", "terminat", "retir", "valid")
_OTHER_WORDS = {"end", "ended", "ends", "last", "left", "lastseen"}
_CREATION = ("creat", "regist", "signup", "join", "open", "insert", "added", "posted", "submit", "placed", "issu",
             "start", "since", "first", "enrol", "onboard")
_EVENT_WORDS = {"date", "time", "timestamp", "datetime", "ts", "at", "on", "when", "day", "dt", "occurred", "ordered",
                "paid", "sent", "event", "happened"}
_EVENT_SUFFIX = ("date", "time", "timestamp", "datetime")


def name_tokens(name: str) -> list[str]:
    """Lower-case words of a column name: ``CreationDate`` -> creation, date; ``created_at`` -> created, at."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(name))
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", s)
    return [w for w in re.split(r"[^A-Za-z0-9]+", s.lower()) if w]


def name_kind(name: str) -> str:
    """``"creation"``, ``"event"``, ``"other"`` (birth, due, end, update ... dates) or ``"plain"``."""
    words = name_tokens(name)
    if any(w in _OTHER_WORDS or w.startswith(_OTHER) for w in words):
        return "other"
    if any(w.startswith(_CREATION) for w in words):
        return "creation"
    if any(w in _EVENT_WORDS or w.endswith(_EVENT_SUFFIX) for w in words):
        return "event"
    return "plain"


def _is_datetime(s: pd.Series) -> bool:
    return pd.api.types.is_datetime64_any_dtype(s.dtype)


def detect_time_col(t: Table) -> tuple[str | None, str]:
    """(time column or None, why) for a table read without recorded time columns (module doc)."""
    keys = t.key_cols
    cands = [c for c in t.df.columns if c not in keys and _is_datetime(t.df[c])]
    if not cands:
        return None, "no date/time column"
    if t.kind == "activity" and len(cands) == 1:
        return cands[0], "its only date/time column"
    rank = {"creation": 2, "event": 1}
    scored = [(rank[k], bool(t.df[c].notna().all()), -i, c) for i, c in enumerate(cands)
              if (k := name_kind(c)) in rank]
    if not scored:
        return None, f"no creation or event name among its date/time columns ({', '.join(map(str, cands))})"
    r, full, _, c = max(scored)
    return c, f"name rule: {'creation' if r == 2 else 'event'}-like name" + ("" if full else ", has nulls")


def detect_time_cols(db: Database, tables=None) -> Database:
    """Give every table in ``tables`` (default: all) its detected time column, in place; the reasons go
    to ``db.meta["time_col_why"]``. Returns ``db``."""
    why = dict(db.meta.get(WHY_KEY) or {})
    for n in (db.tables if tables is None else tables):
        t = db.tables[n]
        c, reason = detect_time_col(t)
        db.tables[n] = _with_time_col(t, c)
        why[n] = reason
    db.meta = dict(db.meta, **{WHY_KEY: why})
    return db


def _with_time_col(t: Table, c: str | None) -> Table:
    stypes = dict(t.stypes)
    if c is not None:
        stypes[c] = Stype.datetime
    return replace(t, time_col=c, stypes=stypes)


def parse_time_cols(values) -> dict[str, str | None]:
    """``--time-col`` values (``["posts=CreationDate", "tags="]``, commas allowed) or a dict -> ``{table: column
    or None}``; one-line RelforgeError on bad syntax or a table given twice."""
    if values is None:
        return {}
    if isinstance(values, dict):
        out = {}
        for k, v in values.items():
            if not isinstance(k, str) or not k or not (v is None or isinstance(v, str)):
                raise RelforgeError(f"time_cols: expected {{table: column or None}}, got {k!r}: {v!r}")
            out[k] = v or None
        return out
    if isinstance(values, str):
        values = [values]
    out: dict[str, str | None] = {}
    for v in values:
        for part in str(v).split(","):
            part = part.strip()
            if not part:
                continue
            table, sep, col = part.partition("=")
            table, col = table.strip(), col.strip()
            if not sep or not table:
                raise RelforgeError(f"--time-col: expected TABLE=COLUMN (or TABLE= for none), got {part!r}")
            if table in out:
                raise RelforgeError(f"--time-col: table {table!r} is given twice")
            out[table] = col or None
    return out


def apply_time_cols(db: Database, time_cols) -> Database:
    """``db`` with the user's time columns (``{table: column or None}`` or ``--time-col`` strings); every
    other table keeps its own. A new Database; one-line RelforgeError naming a bad table or column."""
    spec = parse_time_cols(time_cols)
    if not spec:
        return db
    tables = dict(db.tables)
    why = dict(db.meta.get(WHY_KEY) or {})
    for tn, c in spec.items():
        if tn not in tables:
            raise RelforgeError(f"time column for unknown table {tn!r} (tables: {', '.join(map(str, tables))})")
        t = tables[tn]
        if c is not None:
            dts = [x for x in t.df.columns if x not in t.key_cols and _is_datetime(t.df[x])]
            if c not in t.df.columns:
                raise RelforgeError(f"table {tn!r} has no column {c!r} for a time column "
                                    f"(its date/time columns: {', '.join(map(str, dts)) or 'none'})")
            if c in t.key_cols:
                raise RelforgeError(f"column {c!r} of table {tn!r} is a key column, not a time column")
            s = t.df[c]
            if not _is_datetime(s):
                s = _as_datetime(s)
                if s is None:
                    raise RelforgeError(f"column {c!r} of table {tn!r} is not a date/time column (dtype "
                                        f"{t.df[c].dtype}; its date/time columns: {', '.join(map(str, dts)) or 'none'})")
                t = t._with_df(t.df.assign(**{c: s}))
        tables[tn] = _with_time_col(t, c)
        why[tn] = "user (--time-col / time_cols)" if c else "user: none (--time-col / time_cols)"
    return replace(db, tables=tables, meta=dict(db.meta, **{WHY_KEY: why}))


def _as_datetime(s: pd.Series) -> pd.Series | None:
    """A text column of ISO dates as datetimes (None if any non-null value does not parse; numbers never)."""
    if pd.api.types.is_numeric_dtype(s.dtype) or pd.api.types.is_bool_dtype(s.dtype):
        return None
    if pd.api.types.infer_dtype(s, skipna=True) not in ("string", "date", "datetime", "empty"):
        return None
    try:
        out = pd.to_datetime(s, format="ISO8601", errors="coerce")
    except (ValueError, TypeError, OverflowError):
        return None
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out if int(out.isna().sum()) == int(s.isna().sum()) else None


def time_col_reasons(db: Database) -> dict[str, str]:
    """``{table: why}`` for every table: the detection rule or the user's choice, else "recorded"
    (the database's own metadata, or a Database built in memory)."""
    why = db.meta.get(WHY_KEY) or {}
    return {n: why.get(n, "recorded") for n in db.tables}
