"""SQL table records -> :class:`~relforge.generate.schema.Schema` (generator.md §6, §8.3).

The DDL is parsed by :mod:`relforge.generate.sql.ddl`; here keys, table roles, time columns and
column specs are decided:

- Unsupported, each a one-line error naming table and column: composite primary keys except on
  junction tables (all columns foreign keys: the table gets no primary key and its key pairs are made
  distinct), composite or non-primary-key foreign keys, a primary key that is also a foreign key,
  UNIQUE foreign keys, NOT NULL self-references, foreign-key cycles between tables.
- Table roles: a table no other table references is an *activity* table, others *entity* tables.
- Time columns: an activity table's first NOT NULL date/time column with a creation- or event-like
  name (the name rule of :mod:`relforge.db.timecols`; creation names such as ``created*`` first),
  else its first NOT NULL date/time column, else its first date/time column; an entity table gets a
  time column only from a NOT NULL creation- or event-like column (``Invoice.InvoiceDate``, not
  ``BirthDate``). ``time_cols`` overrides both. The remaining date/time columns are datetime features.
"""
from __future__ import annotations

from pathlib import Path

from relforge.db.table import Stype
from relforge.db.timecols import name_kind
from relforge.errors import RelforgeError
from relforge.generate.render import default_text_classes, text_style
from relforge.generate.schema import ColumnSpec, ForeignKey, Schema, TableSpec
from relforge.generate.sql.ddl import MAX_SCHEMA_BYTES, Col, Tab, parse_ddl

__all__ = ["DEFAULT_ROWS", "schema_from_sql", "read_schema_file"]

DEFAULT_ROWS = (500, 2000)  # (entity, activity) rows when a schema file gives none (generator.md §1 scale)


def _err(msg: str):
    raise RelforgeError(msg)


def read_schema_file(path, dialect: str | None = None, **kw) -> Schema:
    """Read a ``.sql`` schema file and return :func:`schema_from_sql` of its text.

    Raises RelforgeError for a missing, unreadable, oversized or non-UTF-8 file.
    """
    p = Path(path)
    if not p.is_file():
        _err(f"schema file not found: {str(p)!r}")
    if p.stat().st_size > MAX_SCHEMA_BYTES:
        _err(f"schema file {str(p)!r} is larger than {MAX_SCHEMA_BYTES // 1_000_000} MB")
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        _err(f"schema file {str(p)!r} is not UTF-8 text")
    except OSError as e:
        _err(f"cannot read schema file {str(p)!r}: {e.strerror}")
    schema = schema_from_sql(text, dialect, **kw)
    schema.meta["schema_file"] = str(p)
    return schema


def schema_from_sql(text: str, dialect: str | None = None, *, default_rows: tuple[int, int] = DEFAULT_ROWS,
                    n_rows: int | dict[str, int] | None = None, fk_null_prob: float = 0.05,
                    self_ref_roots: float = 0.2, time_cols: dict[str, str | None] | None = None) -> Schema:
    """A :class:`Schema` from SQL DDL text (generator.md §6; see the module docstring for the rules).

    Parameters
    ----------
    text : the SQL (``CREATE TABLE`` statements).
    dialect : one of ``sqlite``, ``postgres``, ``mysql``, ``duckdb``; None: detected (sqlglot's generic
        SQL first, then each dialect in turn; ``meta["dialect"]`` records the one that read it).
    default_rows : (entity, activity) row counts of tables not set by ``n_rows``.
    n_rows : one row count for every table, or ``{table: rows}`` for some tables.
    fk_null_prob : share of nulls drawn in a nullable foreign key to another table.
    self_ref_roots : share of rows whose nullable self-reference is null (tree roots).
    time_cols : ``{table: column or None}`` overriding the time-column choice.

    Returns
    -------
    Schema with tables in topological order (parents first); ``meta`` holds ``source="sql"``,
    ``dialect``, ``sql_types`` (declared type per column), ``unique_together`` (junction-table key
    sets made distinct after generation) and ``notes`` (ignored statements).
    """
    tabs, notes, dialect = parse_ddl(text, dialect)
    return _build_schema(tabs, notes, dialect, default_rows=default_rows, n_rows=n_rows,
                         fk_null_prob=fk_null_prob, self_ref_roots=self_ref_roots, time_cols=time_cols)


# --------------------------------------------------------------------------- schema building


def _is_event(name: str) -> bool:
    """A creation- or event-like date/time name (the rule of :mod:`relforge.db.timecols`)."""
    return name_kind(name) in ("creation", "event")


def _pick_time_col(t: Tab, referenced: bool, feature_cols: list[str]) -> str | None:
    cands = [c for c in feature_cols if t.cols[c].cat in ("date", "datetime")]
    if not cands:
        return None
    cands.sort(key=lambda c: name_kind(c) != "creation")  # creation names first, else declared order
    nn = [c for c in cands if t.cols[c].not_null]
    event_nn = [c for c in nn if _is_event(c)]
    if referenced:
        return event_nn[0] if event_nn else None
    for group in (event_nn, nn, [c for c in cands if _is_event(c)], cands):
        if group:
            return group[0]
    return None


def _build_schema(tabs: dict[str, Tab], notes, dialect, *, default_rows, n_rows, fk_null_prob,
                  self_ref_roots, time_cols) -> Schema:
    if not (0.0 <= fk_null_prob <= 1.0) or not (0.0 <= self_ref_roots <= 1.0):
        _err("fk_null_prob and self_ref_roots must be in [0, 1]")
    rows = _row_counts(tabs, default_rows, n_rows)
    time_cols = dict(time_cols or {})
    for tn in time_cols:
        if tn not in tabs:
            _err(f"time column override names unknown table {tn!r}")
    referenced = {p for t in tabs.values() for _, p, _ in t.fks if p != t.name}
    unique_together: dict[str, list[list[str]]] = {}
    sql_types = {tn: {c.name: c.sql_type for c in t.cols.values()} for tn, t in tabs.items()}
    specs: dict[str, TableSpec] = {}
    # primary keys first (FK checks need the parent's key)
    pkeys: dict[str, str | None] = {}
    for tn, t in tabs.items():
        for c in t.pk:
            if c not in t.cols:
                _err(f"table {tn!r}: PRIMARY KEY names unknown column {c!r}")
        fk_cols = {c for c, _, _ in t.fks}
        if len(t.pk) > 1:
            if all(c in fk_cols for c in t.pk):
                unique_together.setdefault(tn, []).append(list(t.pk))
                notes.append(f"table {tn!r}: composite primary key ({', '.join(t.pk)}) of foreign keys kept as distinct key pairs, no primary key")
                pkeys[tn] = None
            else:
                _err(f"table {tn!r}: composite primary key ({', '.join(t.pk)}) is not supported "
                     "(only junction tables whose key columns are all foreign keys)")
        else:
            pkeys[tn] = t.pk[0] if t.pk else None
        if pkeys[tn] is not None:
            pc = t.cols[pkeys[tn]]
            if pc.cat not in ("int", "decimal", "text", "enum") or pc.cat == "decimal" and pc.scale not in (None, 0):
                _err(f"table {tn!r} column {pc.name!r}: primary key of type {pc.sql_type} is not supported (use an integer)")
            if pc.cat in ("text", "enum"):
                notes.append(f"table {tn!r}: text primary key {pc.name!r} is generated as integers 0..n-1")
            if pc.has_check or pc.labels:
                _err(f"table {tn!r} column {pc.name!r}: CHECK or ENUM on a primary key is not supported")
        for cols in t.unique_sets:
            for c in cols:
                if c not in t.cols:
                    _err(f"table {tn!r}: UNIQUE names unknown column {c!r}")
            if all(c in fk_cols for c in cols):
                if tn in referenced:
                    _err(f"table {tn!r}: multi-column UNIQUE ({', '.join(cols)}) on a table other tables "
                         "reference is not supported")
                unique_together.setdefault(tn, []).append(list(cols))
            else:
                _err(f"table {tn!r}: multi-column UNIQUE ({', '.join(cols)}) is not supported "
                     "(only over foreign-key columns)")
    for tn, t in tabs.items():
        fkeys = []
        seen_fk = set()
        for c, parent, pcol in t.fks:
            where = f"table {tn!r} column {c!r}"
            if c not in t.cols:
                _err(f"table {tn!r}: FOREIGN KEY names unknown column {c!r}")
            if c in seen_fk:
                _err(f"{where}: more than one FOREIGN KEY on the same column")
            seen_fk.add(c)
            if parent not in tabs:
                _err(f"{where}: references unknown table {parent!r}")
            ppk = pkeys[parent]
            if ppk is None:
                _err(f"{where}: references table {parent!r}, which has no single-column primary key")
            if pcol is not None and pcol != ppk:
                _err(f"{where}: references {parent}.{pcol}, which is not the primary key of {parent!r} "
                     "(only primary-key references are supported)")
            col = t.cols[c]
            if c == pkeys[tn]:
                _err(f"{where}: a primary key that is also a foreign key is not supported")
            if col.unique:
                _err(f"{where}: a UNIQUE foreign key (one-to-one link) is not supported")
            if col.has_check or col.labels is not None:
                _err(f"{where}: CHECK or ENUM on a foreign key is not supported")
            if col.cat not in ("int", "decimal", "text", "enum") or col.cat == "decimal" and col.scale not in (None, 0):
                _err(f"{where}: foreign key of type {col.sql_type} is not supported (use an integer)")
            nullable = not col.not_null and c not in t.pk
            if parent == tn and not nullable:
                _err(f"{where}: a NOT NULL self-reference cannot be acyclic (the first row has no earlier row); make it nullable")
            if parent != tn and rows[parent] == 0 and not nullable and rows[tn] > 0:
                _err(f"{where}: NOT NULL reference to {parent!r}, which has 0 rows")
            null_prob = (self_ref_roots if parent == tn else fk_null_prob) if nullable else 0.0
            fkeys.append(ForeignKey(c, parent, nullable=nullable, null_prob=float(null_prob)))
        key_cols = set(seen_fk) | ({pkeys[tn]} if pkeys[tn] else set())
        feats = [c for c in t.cols if c not in key_cols]
        if tn in time_cols:
            tc = time_cols[tn]
            if tc is not None and (tc not in feats or t.cols[tc].cat not in ("date", "datetime")):
                _err(f"table {tn!r}: time column override {tc!r} is not a date/time column of the table")
        else:
            tc = _pick_time_col(t, tn in referenced, feats)
        columns = [_column_spec(tn, t.cols[c], rows[tn]) for c in feats if c != tc]
        specs[tn] = TableSpec(name=tn, n_rows=rows[tn], kind="entity" if tn in referenced else "activity",
                              pkey=pkeys[tn], fkeys=fkeys, columns=columns, time_col=tc)
    schema = Schema(tables=specs, layout="sql",
                    meta={"source": "sql", "dialect": dialect, "sql_types": sql_types,
                          "unique_together": unique_together, "notes": list(notes)})
    order = schema.topo_order()
    schema.tables = {n: specs[n] for n in order}
    schema.validate()
    return schema


def _row_counts(tabs, default_rows, n_rows) -> dict[str, int]:
    referenced = {p for t in tabs.values() for _, p, _ in t.fks if p != t.name}
    try:
        ent, act = (int(default_rows), int(default_rows)) if isinstance(default_rows, int) else (
            int(default_rows[0]), int(default_rows[1]))
    except (TypeError, ValueError, IndexError):
        _err(f"default_rows must be an int or (entity, activity), got {default_rows!r}")
    rows = {tn: (ent if tn in referenced else act) for tn in tabs}
    if n_rows is not None:
        if isinstance(n_rows, dict):
            for tn, v in n_rows.items():
                if tn not in tabs:
                    _err(f"row count given for unknown table {tn!r}")
                rows[tn] = v
        else:
            rows = {tn: n_rows for tn in tabs}
    for tn, v in rows.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            _err(f"table {tn!r}: row count must be a non-negative integer, got {v!r}")
        if v > 100_000_000:
            _err(f"table {tn!r}: row count {v} is above the limit of 100,000,000")
    return rows


def _column_spec(tn: str, c: Col, n_rows: int) -> ColumnSpec:
    where = f"table {tn!r} column {c.name!r}"
    nullable = not c.not_null
    if c.cat == "bool":
        if c.labels is not None and not set(x.lower() for x in c.labels) <= {"0", "1", "true", "false"}:
            _err(f"{where}: CHECK IN on a boolean must list 0/1 or true/false")
        if c.unique and n_rows > 2:
            _err(f"{where}: a UNIQUE boolean cannot hold {n_rows} rows")
        return ColumnSpec(c.name, Stype.boolean, nullable=nullable, unique=c.unique, role="flag")
    if c.labels is not None:
        labels = c.labels
        integer = c.cat == "int" or (c.cat == "decimal" and c.scale == 0)
        if c.cat in ("int", "float", "decimal"):
            try:
                vals = [float(x) for x in labels]
            except ValueError:
                _err(f"{where}: CHECK IN on a numeric column lists a non-number")
            if integer and any(v != int(v) for v in vals):
                _err(f"{where}: CHECK IN on an integer column lists a non-integer")
            if integer:
                labels = tuple(str(int(v)) for v in vals)
            if c.lo is not None or c.hi is not None:
                labels = tuple(x for x, v in zip(labels, vals) if (c.lo is None or v >= c.lo) and (c.hi is None or v <= c.hi))
        elif c.cat in ("date", "datetime", "time"):
            _err(f"{where}: CHECK IN on a date/time column is not supported")
        if c.max_len is not None:
            labels = tuple(x for x in labels if len(x) <= c.max_len)
        if not labels:
            _err(f"{where}: no listed value satisfies the column's other constraints")
        if c.unique and n_rows > len(labels):
            _err(f"{where}: UNIQUE with {len(labels)} allowed values cannot hold {n_rows} rows")
        return ColumnSpec(c.name, Stype.categorical, n_categories=len(labels), labels=labels, nullable=nullable,
                          unique=c.unique, integer=integer, role="label")
    if c.cat in ("int", "float", "decimal"):
        integer = c.cat == "int" or (c.cat == "decimal" and c.scale == 0)
        if c.unique and integer and c.lo is not None and c.hi is not None and c.hi - c.lo + 1 < n_rows:
            _err(f"{where}: UNIQUE in [{c.lo:g}, {c.hi:g}] cannot hold {n_rows} rows")
        role = "feature" if c.has_check else _numeric_role(c.name)
        return ColumnSpec(c.name, Stype.numerical, nullable=nullable, unique=c.unique, integer=integer,
                          lo=c.lo, hi=c.hi, scale=None if integer else c.scale, role=role)
    if c.cat in ("date", "datetime"):
        if c.unique and c.lo is not None and c.hi is not None:
            step = 86400.0 if c.cat == "date" else 1.0
            if (c.hi - c.lo) / step + 1 < n_rows:
                _err(f"{where}: UNIQUE in its CHECK range cannot hold {n_rows} rows")
        return ColumnSpec(c.name, Stype.datetime, nullable=nullable, unique=c.unique,
                          role="date" if c.cat == "date" else "timestamp", lo=c.lo, hi=c.hi)
    if c.cat == "time":
        if c.unique and n_rows > 86400:
            _err(f"{where}: a UNIQUE TIME cannot hold {n_rows} rows")
        return ColumnSpec(c.name, Stype.text, nullable=nullable, unique=c.unique, role="clock", max_len=c.max_len,
                          n_categories=48)
    # text
    if c.unique and c.max_len is not None and 36 ** min(c.max_len, 12) < n_rows:
        _err(f"{where}: UNIQUE {c.sql_type} cannot hold {n_rows} distinct values")
    return ColumnSpec(c.name, Stype.text, nullable=nullable, unique=c.unique, role="text", max_len=c.max_len,
                      n_categories=_text_classes(c.name))


def _text_classes(name: str) -> int:
    return default_text_classes(text_style(ColumnSpec(name, Stype.text, role="text")))


_AMOUNT_WORDS = ("price", "amount", "total", "cost", "fee", "salary", "balance", "revenue", "payment",
                 "spend", "income", "bytes", "size", "milliseconds", "duration", "weight", "height",
                 "length", "distance", "area", "volume", "population")
_COUNT_WORDS = ("count", "quantity", "qty", "num_", "number_of", "n_", "laps", "wins", "stock")


def _numeric_role(name: str) -> str:
    """Rendering role from a numeric column's name: positive ``amount``s, non-negative ``count``s."""
    low = name.lower()
    if any(low.startswith(w) or w in low for w in _COUNT_WORDS if not w.endswith("_")) or any(
            low.startswith(w) for w in _COUNT_WORDS if w.endswith("_")):
        return "count"
    if any(w in low for w in _AMOUNT_WORDS):
        return "amount"
    return "feature"
