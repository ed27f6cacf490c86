"""Schemas from SQL ``CREATE TABLE`` statements, parsed and never executed (generator.md §6, §8.3).

PluRel (v1/v1.1) executes a user's SQL file in SQLite and reflects the result, so any statement in
the file runs (``ATTACH``, ``DROP`` ...), ``;``-splitting breaks on literals, the CHECK parser matches
substrings (``paid in`` matches ``id in``), text and date columns are rejected and a self-reference
makes a cycle. Here the file is parsed by sqlglot into an AST and only read:

- Accepted statements: ``CREATE TABLE`` (with a column list), ``CREATE INDEX`` (a one-column
  ``UNIQUE INDEX`` marks the column unique; others are ignored with a note), ``CREATE TYPE ... AS
  ENUM`` (postgres), ``BEGIN``/``COMMIT`` and comments (ignored). Every other statement (INSERT,
  UPDATE, DELETE, DROP, ALTER, ATTACH, PRAGMA, COPY, SELECT, ``CREATE TABLE AS`` ...) is refused with
  a :class:`RelforgeError` naming its kind and position; nothing is ever executed.
- Constraints read from the AST: column and table ``PRIMARY KEY``, ``FOREIGN KEY ... REFERENCES`` /
  inline ``REFERENCES`` (self-references included), ``NOT NULL``, ``UNIQUE`` (column, one-column
  table constraint or unique index), ``CHECK`` made of ``col IN (...)``, comparisons with literals,
  ``BETWEEN``, ``IS NOT NULL`` and ``length(col) <= n`` joined by ``AND``; ``ENUM('a', 'b')`` types.
  ``DEFAULT``, ``AUTOINCREMENT``, ``COLLATE``, identity and comments are ignored.
- Types: integers (``INT``, ``BIGINT``, ``SMALLINT`` ... with their ranges), floats (``REAL``,
  ``FLOAT``, ``DOUBLE``), decimals (``DECIMAL(p, s)`` / ``NUMERIC``: rounded to ``s`` places, below
  ``10**(p-s)``), booleans (``BOOLEAN``, ``BIT``, ``TINYINT(1)``), datetimes (``DATE`` day resolution,
  ``DATETIME``/``TIMESTAMP``), ``TIME`` (``"HH:MM:SS"`` text) and strings (``CHAR``/``VARCHAR``/``TEXT``
  ... with their length); ``CHECK IN`` / ``ENUM`` make a categorical column with those labels.
- Unsupported, each a one-line error naming table and column: other types (BLOB, JSON, arrays,
  UUID ...), composite primary keys except on junction tables (all columns foreign keys: the table
  gets no primary key and its key pairs are made distinct), composite or non-primary-key foreign
  keys, a primary key that is also a foreign key, UNIQUE foreign keys, NOT NULL self-references,
  other CHECK expressions, computed columns, foreign-key cycles between tables.

Table roles: a table no other table references is an *activity* table, others *entity* tables.
The time column of an activity table is its first NOT NULL date/time column (event-like names such
as ``*date``, ``*_at``, ``created*`` first), else its first date/time column; an entity table gets a
time column only from a NOT NULL event-like column (``Invoice.InvoiceDate``, not ``BirthDate``).
``time_cols`` overrides both. The remaining date/time columns are datetime features.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from relforge.db.table import Stype
from relforge.errors import RelforgeError
from relforge.generate.schema import ColumnSpec, ForeignKey, Schema, TableSpec

__all__ = ["DIALECTS", "schema_from_sql", "read_schema_file", "enforce_schema", "generate_from_schema",
           "generate_from_sql", "constraint_violations", "parse_rows", "schema_generator"]

DIALECTS = ("sqlite", "postgres", "mysql", "duckdb")
DEFAULT_ROWS = (500, 2000)  # (entity, activity) rows when a schema file gives none (generator.md §1 scale)
MAX_SCHEMA_BYTES = 10_000_000

_INT_RANGES = {
    "TINYINT": (-128, 127), "UTINYINT": (0, 255), "SMALLINT": (-32768, 32767), "USMALLINT": (0, 65535),
    "MEDIUMINT": (-8388608, 8388607), "UMEDIUMINT": (0, 16777215), "INT": (-2**31, 2**31 - 1),
    "UINT": (0, 2**32 - 1), "BIGINT": (-2**63 + 1024, 2**63 - 1024), "UBIGINT": (0, 2**63 - 1024),
    "SERIAL": (1, 2**31 - 1), "SMALLSERIAL": (1, 32767), "BIGSERIAL": (1, 2**63 - 1024),
    "INT128": (-2**63 + 1024, 2**63 - 1024), "UINT128": (0, 2**63 - 1024), "HUGEINT": (-2**63 + 1024, 2**63 - 1024),
    "UHUGEINT": (0, 2**63 - 1024), "INT256": (-2**63 + 1024, 2**63 - 1024), "UINT256": (0, 2**63 - 1024),
}
_FLOAT = {"FLOAT", "DOUBLE", "REAL"}
_DECIMAL = {"DECIMAL", "NUMERIC", "BIGDECIMAL", "DECIMAL32", "DECIMAL64", "DECIMAL128", "DECIMAL256",
            "MONEY", "SMALLMONEY", "UDECIMAL"}
_BOOL = {"BOOLEAN", "BIT"}
_DATE = {"DATE", "DATE32"}
_DATETIME = {"DATETIME", "DATETIME2", "DATETIME64", "SMALLDATETIME", "TIMESTAMP", "TIMESTAMPTZ",
             "TIMESTAMPLTZ", "TIMESTAMPNTZ", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS", "DATETIMEOFFSET"}
_TIME = {"TIME", "TIMETZ"}
_TEXT = {"CHAR", "NCHAR", "VARCHAR", "NVARCHAR", "TEXT", "TINYTEXT", "MEDIUMTEXT", "LONGTEXT", "NAME",
         "BPCHAR", "STRING", "CITEXT"}
_IGNORED_CONSTRAINTS = {
    "DefaultColumnConstraint", "AutoIncrementColumnConstraint", "CollateColumnConstraint",
    "CommentColumnConstraint", "CharacterSetColumnConstraint", "OnUpdateColumnConstraint",
    "CaseSpecificColumnConstraint", "TitleColumnConstraint", "UppercaseColumnConstraint",
    "InlineLengthColumnConstraint", "NotForReplicationColumnConstraint", "ClusteredColumnConstraint",
    "NonClusteredColumnConstraint", "IndexColumnConstraint", "InvisibleColumnConstraint",
    "ZeroFillColumnConstraint", "BinaryColumnConstraint", "CompressColumnConstraint",
    "EncodeColumnConstraint", "DateFormatColumnConstraint",
}
_EVENT_WORDS = ("date", "time", "_at", "created", "timestamp", "when", "day", "occurred", "posted",
                "ordered", "placed", "paid", "sent", "started")
_STATIC_WORDS = ("birth", "dob", "born", "expir", "due", "end", "deadline", "valid", "until")


@dataclass
class _Col:
    name: str
    cat: str  # int | float | decimal | bool | date | datetime | time | text | enum
    sql_type: str
    not_null: bool = False
    unique: bool = False
    pk: bool = False
    labels: tuple[str, ...] | None = None
    lo: float | None = None
    hi: float | None = None
    scale: int | None = None
    max_len: int | None = None
    has_check: bool = False


@dataclass
class _Tab:
    name: str
    cols: dict[str, _Col] = field(default_factory=dict)
    pk: list[str] = field(default_factory=list)
    fks: list[tuple[str, str, str | None]] = field(default_factory=list)  # (column, parent, parent column)
    unique_sets: list[tuple[str, ...]] = field(default_factory=list)


def _err(msg: str):
    raise RelforgeError(msg)


# ------------------------------------------------------------------------------ entry points


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
    dialect : one of ``sqlite``, ``postgres``, ``mysql``, ``duckdb``; None = sqlglot's generic SQL.
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
    tabs, notes = _parse(text, dialect)
    return _build_schema(tabs, notes, dialect, default_rows=default_rows, n_rows=n_rows,
                         fk_null_prob=fk_null_prob, self_ref_roots=self_ref_roots, time_cols=time_cols)


# ----------------------------------------------------------------------------------- parsing


def _parse(text, dialect):
    import sqlglot
    from sqlglot import exp

    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            _err("schema is not UTF-8 text")
    if not isinstance(text, str):
        _err(f"schema must be SQL text, got {type(text).__name__}")
    if dialect is not None and dialect not in DIALECTS:
        _err(f"unknown SQL dialect {dialect!r} (choose from {', '.join(DIALECTS)})")
    if "\x00" in text:
        _err("schema contains NUL bytes; it is not an SQL text file")
    if not text.strip():
        _err("schema is empty: expected CREATE TABLE statements")
    # SQLite table options sqlglot does not know; harmless for generation (the text is never run)
    text = _SQLITE_TABLE_OPTIONS.sub(")", text)
    try:
        with _quiet_sqlglot():
            stmts = sqlglot.parse(text, read=dialect)
    except sqlglot.errors.SqlglotError as e:
        _err(f"cannot parse SQL schema: {_first_line(e)}")
    except (RecursionError, ValueError, TypeError, IndexError, KeyError, AttributeError) as e:
        _err(f"cannot parse SQL schema: {type(e).__name__}: {_first_line(e)}")
    tabs: dict[str, _Tab] = {}
    enums: dict[str, tuple[str, ...]] = {}
    notes: list[str] = []
    unique_idx: list[tuple[str, list[str], int]] = []
    k = n_index = 0
    for s in stmts:
        if s is None or isinstance(s, exp.Semicolon):
            continue
        k += 1
        if isinstance(s, (exp.Transaction, exp.Commit)):
            notes.append(f"statement #{k} ({type(s).__name__.upper()}) ignored")
            continue
        if isinstance(s, exp.Create):
            kind = str(s.args.get("kind") or "").upper()
            if kind == "TABLE" and isinstance(s.this, exp.Schema) and s.args.get("expression") is None:
                t = _parse_table(s, enums, dialect)
                if t.name in tabs:
                    _err(f"table {t.name!r} is defined twice (statement #{k})")
                tabs[t.name] = t
                continue
            if kind == "INDEX":
                idx = s.this
                cols = [c.name for c in idx.find_all(exp.Column)] if isinstance(idx, exp.Index) else []
                tname = idx.args.get("table").name if isinstance(idx, exp.Index) and idx.args.get("table") else ""
                if s.args.get("unique") and tname:
                    unique_idx.append((tname, cols, k))
                else:
                    n_index += 1
                continue
            if kind == "TYPE" and isinstance(s.args.get("expression"), exp.DataType):
                dt = s.args["expression"]
                if dt.this == exp.DataType.Type.ENUM:
                    enums[s.this.name.lower()] = _enum_labels(dt, f"type {s.this.name!r}")
                    continue
            what = f"CREATE {kind or 'statement'}" + (" AS SELECT" if s.args.get("expression") is not None and kind == "TABLE" else "")
            _err(f"refusing to run {what} statement #{k}: schema files may only contain CREATE TABLE")
        if isinstance(s, exp.Command) and str(s.this).upper() == "CREATE":
            _err(f"cannot parse statement #{k}: unsupported CREATE syntax: {_short_sql(s)}")
        what = s.this.upper() if isinstance(s, exp.Command) and isinstance(s.this, str) else type(s).__name__.upper()
        what = what.split()[0] if what else "unknown"
        _err(f"refusing to run {what} statement #{k}: schema files may only contain CREATE TABLE")
    if not tabs:
        _err("schema contains no CREATE TABLE statement")
    if n_index:
        notes.append(f"{n_index} CREATE INDEX statement(s) ignored (indexes do not change the data)")
    for tname, cols, k in unique_idx:
        t = tabs.get(tname)
        if t is None:
            _err(f"statement #{k}: unique index on unknown table {tname!r}")
        for c in cols:
            if c not in t.cols:
                _err(f"table {tname!r}: unique index on unknown column {c!r}")
        if len(cols) == 1:
            t.cols[cols[0]].unique = True
        else:
            t.unique_sets.append(tuple(cols))
    return tabs, notes


_SQLITE_TABLE_OPTIONS = re.compile(r"\)\s*(?:(?:WITHOUT\s+ROWID|STRICT)\s*,?\s*)+(?=;|$)", re.IGNORECASE | re.MULTILINE)


class _quiet_sqlglot:
    """Silence sqlglot's "falling back to Command" log lines; such statements are refused anyway."""

    def __enter__(self):
        import logging

        self._log = logging.getLogger("sqlglot")
        self._level = self._log.level
        self._log.setLevel(logging.ERROR)

    def __exit__(self, *exc):
        self._log.setLevel(self._level)
        return False


def _first_line(e) -> str:
    s = str(e).strip().splitlines()
    return re.sub(r"\x1b\[[0-9;]*m", "", s[0]) if s else type(e).__name__


def _enum_labels(dt, where: str) -> tuple[str, ...]:
    from sqlglot import exp

    labels = []
    for e in dt.expressions:
        if isinstance(e, exp.Literal):
            labels.append(str(e.this))
        elif isinstance(e, exp.DataTypeParam) and isinstance(e.this, exp.Literal):
            labels.append(str(e.this.this))
        else:
            _err(f"{where}: ENUM values must be literals")
    if not labels:
        _err(f"{where}: ENUM has no values")
    if len(set(labels)) != len(labels):
        _err(f"{where}: ENUM has duplicate values")
    return tuple(labels)


def _type_params(dt) -> list[int]:
    from sqlglot import exp

    out = []
    for p in dt.expressions:
        v = p.this if isinstance(p, exp.DataTypeParam) else p
        if isinstance(v, exp.Literal) and not v.is_string:
            try:
                out.append(int(str(v.this)))
            except ValueError:
                pass
    return out


def _kind_name(k) -> str | None:
    """Lower-case name of a user-defined type reference (an Identifier or a plain string)."""
    if k is None:
        return None
    return str(getattr(k, "name", k)).lower()


def _column_type(dt, tname: str, cname: str, enums: dict, dialect) -> _Col:
    from sqlglot import exp

    where = f"table {tname!r} column {cname!r}"
    if dt is None:
        _err(f"{where}: no type declared")
    tn = dt.this.name if isinstance(dt.this, exp.DataType.Type) else str(dt.this)
    try:
        sql_type = dt.sql(dialect=dialect)
    except Exception:  # noqa: BLE001 - rendering a type back to SQL is cosmetic
        sql_type = tn
    params = _type_params(dt)
    col = _Col(cname, "", sql_type)
    if tn == "TINYINT" and params == [1]:
        col.cat = "bool"
    elif tn in _INT_RANGES:
        col.cat = "int"
        col.lo, col.hi = (float(v) for v in _INT_RANGES[tn])
    elif tn in _FLOAT:
        col.cat = "float"
    elif tn in _DECIMAL:
        col.cat = "decimal"
        if tn in ("MONEY", "SMALLMONEY"):
            col.scale = 2
        elif params:
            p, s = params[0], (params[1] if len(params) > 1 else 0)
            if p < 1 or s < 0 or s > p:
                _err(f"{where}: invalid precision/scale in {sql_type}")
            col.scale = s
            bound = 10.0 ** (p - s) - 10.0 ** (-s)
            col.lo, col.hi = -bound, bound
    elif tn in _BOOL:
        col.cat = "bool"
    elif tn in _DATE:
        col.cat = "date"
    elif tn in _DATETIME:
        col.cat = "datetime"
    elif tn in _TIME:
        col.cat = "time"
    elif tn in _TEXT:
        col.cat = "text"
        if params and tn not in ("TEXT", "TINYTEXT", "MEDIUMTEXT", "LONGTEXT"):
            if params[0] < 1:
                _err(f"{where}: invalid length in {sql_type}")
            col.max_len = params[0]
    elif tn == "ENUM":
        col.cat = "enum"
        col.labels = _enum_labels(dt, where)
    elif tn == "USERDEFINED" and _kind_name(dt.args.get("kind")) in enums:
        col.cat = "enum"
        col.labels = enums[_kind_name(dt.args.get("kind"))]
    else:
        _err(f"{where}: unsupported type {sql_type}")
    return col


def _parse_table(create, enums, dialect) -> _Tab:
    from sqlglot import exp

    tname = create.this.this.name
    if not tname:
        _err("CREATE TABLE without a table name")
    t = _Tab(tname)
    table_level = []
    for e in create.this.expressions:
        if isinstance(e, exp.ColumnDef):
            cname = e.name
            if not cname:
                _err(f"table {tname!r}: column without a name")
            if cname in t.cols:
                _err(f"table {tname!r}: duplicate column {cname!r}")
            col = _column_type(e.args.get("kind"), tname, cname, enums, dialect)
            t.cols[cname] = col
            for cc in e.args.get("constraints") or []:
                kind = cc.args.get("kind") if isinstance(cc, exp.ColumnConstraint) else cc
                _column_constraint(t, col, kind)
        elif isinstance(e, exp.Constraint):
            table_level.extend(e.expressions)
        else:
            table_level.append(e)
    for e in table_level:
        _table_constraint(t, e)
    if not t.cols:
        _err(f"table {tname!r} has no columns")
    return t


def _column_constraint(t: _Tab, col: _Col, kind) -> None:
    from sqlglot import exp

    name = type(kind).__name__
    where = f"table {t.name!r} column {col.name!r}"
    if isinstance(kind, exp.NotNullColumnConstraint):
        if not kind.args.get("allow_null"):
            col.not_null = True
    elif isinstance(kind, exp.PrimaryKeyColumnConstraint):
        if t.pk and t.pk != [col.name]:
            _err(f"table {t.name!r}: more than one PRIMARY KEY")
        t.pk = [col.name]
    elif isinstance(kind, exp.UniqueColumnConstraint):
        col.unique = True
    elif isinstance(kind, exp.Reference):
        parent, pcols = _reference(kind, where)
        if len(pcols) > 1:
            _err(f"{where}: composite foreign key references are not supported")
        t.fks.append((col.name, parent, pcols[0] if pcols else None))
    elif isinstance(kind, exp.CheckColumnConstraint):
        _check(t, kind.this, default_col=col.name)
    elif isinstance(kind, exp.GeneratedAsIdentityColumnConstraint):
        if kind.args.get("expression") is not None:
            _err(f"{where}: computed (generated) columns are not supported")
    elif name in _IGNORED_CONSTRAINTS:
        return
    else:
        _err(f"{where}: unsupported constraint {name.replace('ColumnConstraint', '') or name}")


def _reference(ref, where: str) -> tuple[str, list[str]]:
    from sqlglot import exp

    target = ref.this
    if isinstance(target, exp.Schema):
        parent = target.this.name if target.this is not None else ""
        pcols = [c.name for c in target.expressions]
    elif isinstance(target, exp.Table):
        parent, pcols = target.name, []
    else:
        _err(f"{where}: cannot read the REFERENCES clause")
    if not parent:
        _err(f"{where}: REFERENCES names no table")
    return parent, pcols


def _idents(e) -> list[str]:
    from sqlglot import exp

    out = []
    for x in e.expressions if e is not None else []:
        if isinstance(x, (exp.Identifier, exp.Column)):
            out.append(x.name)
        elif isinstance(x, exp.Ordered) and isinstance(x.this, (exp.Identifier, exp.Column)):
            out.append(x.this.name)
        else:
            out.append(x.sql())
    return out


def _table_constraint(t: _Tab, e) -> None:
    from sqlglot import exp

    if isinstance(e, exp.PrimaryKey):
        cols = _idents(e)
        if t.pk and t.pk != cols:
            _err(f"table {t.name!r}: more than one PRIMARY KEY")
        t.pk = cols
    elif isinstance(e, exp.ForeignKey):
        cols = _idents(e)
        ref = e.args.get("reference")
        if ref is None:
            _err(f"table {t.name!r}: FOREIGN KEY ({', '.join(cols)}) has no REFERENCES clause")
        where = f"table {t.name!r} column {cols[0] if cols else '?'!r}"
        parent, pcols = _reference(ref, where)
        if len(cols) != 1 or len(pcols) > 1:
            _err(f"table {t.name!r}: composite foreign key ({', '.join(cols)}) is not supported")
        t.fks.append((cols[0], parent, pcols[0] if pcols else None))
    elif isinstance(e, exp.UniqueColumnConstraint):
        cols = _idents(e.this) if e.this is not None else []
        if len(cols) == 1:
            if cols[0] not in t.cols:
                _err(f"table {t.name!r}: UNIQUE names unknown column {cols[0]!r}")
            t.cols[cols[0]].unique = True
        elif cols:
            t.unique_sets.append(tuple(cols))
    elif isinstance(e, exp.CheckColumnConstraint):
        _check(t, e.this, default_col=None)
    elif isinstance(e, exp.IndexColumnConstraint):
        return
    else:
        _err(f"table {t.name!r}: unsupported table constraint {type(e).__name__}: {_short_sql(e)}")


def _short_sql(e) -> str:
    try:
        s = e.sql()
    except Exception:  # noqa: BLE001 - cosmetic
        s = type(e).__name__
    return s if len(s) <= 80 else s[:77] + "..."


# ------------------------------------------------------------------------------------ CHECK


def _check(t: _Tab, e, default_col: str | None) -> None:
    """Apply one CHECK expression (AND of supported atoms) to the table's columns."""
    from sqlglot import exp

    while isinstance(e, exp.Paren):
        e = e.this
    if isinstance(e, exp.And):
        _check(t, e.this, default_col)
        _check(t, e.expression, default_col)
        return
    bad = lambda: _err(f"table {t.name!r}{_col_where(e, default_col)}: unsupported CHECK ({_short_sql(e)})")  # noqa: E731
    if isinstance(e, exp.In):
        col = _check_col(t, e.this, bad)
        if e.args.get("query") is not None or not e.expressions:
            bad()
        labels = []
        for v in e.expressions:
            lit = _literal(v)
            if lit is None:
                bad()
            labels.append(lit)
        if len(set(labels)) != len(labels):
            _err(f"table {t.name!r} column {col.name!r}: CHECK IN lists a value twice")
        col.labels = tuple(labels) if col.labels is None else tuple(x for x in col.labels if x in labels)
        if not col.labels:
            _err(f"table {t.name!r} column {col.name!r}: no value satisfies its CHECK IN and ENUM together")
        col.has_check = True
        return
    if isinstance(e, exp.Between):
        col = _check_col(t, e.this, bad)
        lo, hi = _bound_value(col, e.args.get("low")), _bound_value(col, e.args.get("high"))
        if lo is None or hi is None:
            bad()
        _set_bounds(t, col, lo, hi)
        return
    if isinstance(e, exp.Not) and isinstance(e.this, exp.Is) and isinstance(e.this.expression, exp.Null):
        col = _check_col(t, e.this.this, bad)
        col.not_null = True
        return
    ops = {exp.GTE: ">=", exp.GT: ">", exp.LTE: "<=", exp.LT: "<"}
    for cls, op in ops.items():
        if isinstance(e, cls):
            a, b = e.this, e.expression
            if isinstance(b, (exp.Column, exp.Length)) and not isinstance(a, (exp.Column, exp.Length)):
                a, b = b, a
                op = {">=": "<=", ">": "<", "<=": ">=", "<": ">"}[op]
            if isinstance(a, exp.Length):
                col = _check_col(t, a.this, bad)
                n = _bound_value(_Col("", "int", ""), b)
                if n is None or col.cat not in ("text", "enum") or op not in ("<", "<="):
                    bad()
                n = int(n) - (1 if op == "<" else 0)
                if n < 1:
                    _err(f"table {t.name!r} column {col.name!r}: CHECK allows no non-empty text")
                col.max_len = n if col.max_len is None else min(col.max_len, n)
                col.has_check = True
                return
            col = _check_col(t, a, bad)
            v = _bound_value(col, b)
            if v is None or col.cat in ("text", "enum", "bool", "time"):
                bad()
            strict = op in (">", "<")
            if strict:
                step = 1.0 if col.cat in ("int", "date") or col.scale == 0 else (
                    10.0 ** -col.scale if col.scale else max(abs(v), 1.0) * 1e-9)
                if col.cat == "date":
                    step = 86400.0
                if col.cat == "datetime":
                    step = 1.0
                v = v + step if op == ">" else v - step
            if op in (">", ">="):
                _set_bounds(t, col, v, None)
            else:
                _set_bounds(t, col, None, v)
            return
    bad()


def _col_where(e, default_col):
    from sqlglot import exp

    c = next(iter(e.find_all(exp.Column)), None) if hasattr(e, "find_all") else None
    name = c.name if c is not None else default_col
    return f" column {name!r}" if name else ""


def _check_col(t: _Tab, e, bad) -> _Col:
    from sqlglot import exp

    if not isinstance(e, exp.Column):
        bad()
    if e.name not in t.cols:
        _err(f"table {t.name!r}: CHECK names unknown column {e.name!r}")
    return t.cols[e.name]


def _literal(e):
    """A literal's text ('a', 3, -2.5 -> '-2.5'; TRUE -> 'true'), else None."""
    from sqlglot import exp

    if isinstance(e, exp.Literal):
        return str(e.this)
    if isinstance(e, exp.Neg) and isinstance(e.this, exp.Literal) and not e.this.is_string:
        return "-" + str(e.this.this)
    if isinstance(e, exp.Boolean):
        return "true" if e.this else "false"
    return None


def _bound_value(col: _Col, e) -> float | None:
    """A numeric bound (datetimes: seconds since 1970), else None."""
    import pandas as pd

    lit = _literal(e) if e is not None else None
    if lit is None:
        return None
    if col.cat in ("date", "datetime"):
        try:
            return float(pd.Timestamp(lit).value // 1_000_000_000)
        except (ValueError, TypeError, OverflowError):
            return None
    try:
        v = float(lit)
    except ValueError:
        return None
    return v if v == v and abs(v) != float("inf") else None


def _set_bounds(t: _Tab, col: _Col, lo, hi) -> None:
    if lo is not None:
        col.lo = lo if col.lo is None else max(col.lo, lo)
    if hi is not None:
        col.hi = hi if col.hi is None else min(col.hi, hi)
    col.has_check = True
    if col.cat == "int":
        import math

        if col.lo is not None:
            col.lo = float(math.ceil(col.lo))
        if col.hi is not None:
            col.hi = float(math.floor(col.hi))
    if col.lo is not None and col.hi is not None and col.lo > col.hi:
        _err(f"table {t.name!r} column {col.name!r}: CHECK bounds leave no value ({col.lo} > {col.hi})")


# --------------------------------------------------------------------------- schema building


def _is_event(name: str) -> bool:
    low = name.lower()
    return any(w in low for w in _EVENT_WORDS) and not any(w in low for w in _STATIC_WORDS)


def _pick_time_col(t: _Tab, referenced: bool, feature_cols: list[str]) -> str | None:
    cands = [c for c in feature_cols if t.cols[c].cat in ("date", "datetime")]
    if not cands:
        return None
    nn = [c for c in cands if t.cols[c].not_null]
    event_nn = [c for c in nn if _is_event(c)]
    if referenced:
        return event_nn[0] if event_nn else None
    for group in (event_nn, nn, [c for c in cands if _is_event(c)], cands):
        if group:
            return group[0]
    return None


def _build_schema(tabs: dict[str, _Tab], notes, dialect, *, default_rows, n_rows, fk_null_prob,
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


def _column_spec(tn: str, c: _Col, n_rows: int) -> ColumnSpec:
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
    from relforge.generate.render import default_text_classes, text_style

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


# ----------------------------------------------------------------------- generation helpers


JUNCTION_OVERSAMPLE = 3  # junction tables are drawn this many times larger, then deduplicated and thinned


def enforce_schema(db, schema: Schema, n_rows: dict[str, int] | None = None):
    """Apply what stages 1-3 cannot: distinct key sets of junction tables (``unique_together``).

    Rows repeating an earlier row's key set are dropped (no table references a junction table, so
    no foreign key dangles); when more than ``n_rows[table]`` distinct rows remain, an evenly spaced
    subset of that size is kept (row order, hence time order, is preserved). Declared column order
    (``meta["sql_types"]``) is restored. Returns a new :class:`~relforge.db.Database`.
    """
    import numpy as np

    ut = schema.meta.get("unique_together") or {}
    order = schema.meta.get("sql_types") or {}
    tables = dict(db.tables)
    for tn, sets in ut.items():
        if tn not in tables:
            continue
        t = tables[tn]
        df = t.df
        keep = np.ones(len(df), dtype=bool)
        for cols in sets:
            sub = df[list(cols)]
            keep &= (~sub.duplicated(keep="first") | sub.isna().any(axis=1)).to_numpy()
        idx = np.flatnonzero(keep)
        target = (n_rows or {}).get(tn)
        if target is not None and len(idx) > target:
            idx = idx[np.round(np.linspace(0, len(idx) - 1, target)).astype(np.int64)] if target > 0 else idx[:0]
        if len(idx) != len(df):
            tables[tn] = t._with_df(df.iloc[idx].reset_index(drop=True))
    for tn, cols in order.items():
        if tn in tables:
            t = tables[tn]
            want = [c for c in cols if c in t.df.columns]
            rest = [c for c in t.df.columns if c not in want]
            if want + rest != list(t.df.columns):
                tables[tn] = t._with_df(t.df[want + rest])
    return db._with_tables(tables)


def generate_from_schema(schema: Schema, seed: int = 0, config=None):
    """Generate a database for a given schema (SQL or ``--like``) and enforce its table constraints.

    Junction tables (``meta["unique_together"]``) are drawn :data:`JUNCTION_OVERSAMPLE` times larger,
    then made distinct and thinned to their row count (fewer rows only when not enough distinct key
    sets were drawn).
    """
    from relforge.generate.pipeline import generate_database

    ut = schema.meta.get("unique_together") or {}
    target = {tn: schema.tables[tn].n_rows for tn in ut if tn in schema.tables}
    over = {tn: min(n * JUNCTION_OVERSAMPLE, n + 1_000_000) for tn, n in target.items()}
    db = generate_database(seed, config, schema=schema, n_rows=over or None)
    db = enforce_schema(db, schema, target)
    db.meta = dict(db.meta)
    db.meta.setdefault("schema_source", schema.meta.get("source"))
    if schema.meta.get("notes"):
        db.meta["schema_notes"] = list(schema.meta["notes"])
    return db


def generate_from_sql(path_or_text, seed: int = 0, config=None, *, dialect: str | None = None,
                      n_rows: int | dict[str, int] | None = None):
    """``relforge generate --schema FILE``: parse (never execute) the file, then generate."""
    if isinstance(path_or_text, Path) or (isinstance(path_or_text, str) and "\n" not in path_or_text
                                          and path_or_text.strip().lower().endswith(".sql")):
        schema = read_schema_file(path_or_text, dialect, n_rows=n_rows)
    else:
        schema = schema_from_sql(path_or_text, dialect, n_rows=n_rows)
    return generate_from_schema(schema, seed, config)




def constraint_violations(db, schema: Schema) -> list[str]:
    """Every way ``db`` breaks a constraint declared in ``schema`` (empty list = all hold).

    Checks row counts, primary keys (unique, non-null), foreign keys (in range, null only when
    nullable, self-references pointing to an earlier row), NOT NULL, UNIQUE, labels, bounds,
    decimal scale, integer values, text length, the time column and ``unique_together`` key sets.
    """
    import numpy as np
    import pandas as pd

    out: list[str] = []
    ut = schema.meta.get("unique_together") or {}
    for tn, spec in schema.tables.items():
        if tn not in db.tables:
            out.append(f"{tn}: table missing")
            continue
        t = db.tables[tn]
        df = t.df
        if tn in ut:
            if len(df) > spec.n_rows:
                out.append(f"{tn}: {len(df)} rows, more than {spec.n_rows}")
        elif len(df) != spec.n_rows:
            out.append(f"{tn}: {len(df)} rows, expected {spec.n_rows}")
        pos = None
        if spec.pkey:
            pk = df[spec.pkey]
            if pk.isna().any() or not pk.is_unique:
                out.append(f"{tn}.{spec.pkey}: primary key null or duplicated")
            pos = pd.Series(np.arange(len(df)), index=pk.to_numpy())
        for fk in spec.fkeys:
            v = df[fk.column]
            if v.isna().any() and not fk.nullable:
                out.append(f"{tn}.{fk.column}: NULL in a NOT NULL foreign key")
            parent = db.tables.get(fk.parent)
            if parent is None:
                continue
            pvals = parent.df[parent.pkey_col].to_numpy()
            nn = v.dropna().to_numpy()
            if len(nn) and not np.isin(nn, pvals).all():
                out.append(f"{tn}.{fk.column}: dangling reference to {fk.parent}")
            if fk.parent == tn and pos is not None and len(nn):
                mine = pos.loc[df[spec.pkey][v.notna()].to_numpy()].to_numpy()
                theirs = pos.reindex(nn).to_numpy()
                if np.any(~(theirs < mine)):
                    out.append(f"{tn}.{fk.column}: self-reference to a later (or the same) row")
        if spec.time_col:
            tc = df[spec.time_col]
            if tc.isna().any() or not pd.api.types.is_datetime64_any_dtype(tc.dtype):
                out.append(f"{tn}.{spec.time_col}: time column null or not a datetime")
        for c in spec.columns:
            if c.name not in df.columns:
                out.append(f"{tn}.{c.name}: column missing")
                continue
            s = df[c.name]
            nn = s.dropna()
            if not c.nullable and s.isna().any():
                out.append(f"{tn}.{c.name}: NULL in a NOT NULL column")
            if c.unique and not nn.is_unique:
                out.append(f"{tn}.{c.name}: duplicate values in a UNIQUE column")
            if c.labels is not None and c.stype != Stype.boolean:
                allowed = {int(x) for x in c.labels} if c.integer else set(c.labels)
                vals = set(nn.astype("int64").tolist()) if c.integer else set(nn.astype(str).tolist())
                if c.stype == Stype.numerical and not c.integer:
                    allowed, vals = {float(x) for x in c.labels}, set(nn.astype(float).tolist())
                if not vals <= allowed:
                    out.append(f"{tn}.{c.name}: values outside its allowed labels")
            if c.stype == Stype.numerical and len(nn):
                x = nn.to_numpy(dtype=float)
                if c.lo is not None and x.min() < c.lo - 1e-9 * max(1.0, abs(c.lo)):
                    out.append(f"{tn}.{c.name}: value {x.min()} below {c.lo}")
                if c.hi is not None and x.max() > c.hi + 1e-9 * max(1.0, abs(c.hi)):
                    out.append(f"{tn}.{c.name}: value {x.max()} above {c.hi}")
                if c.integer and (not pd.api.types.is_integer_dtype(s.dtype) or np.any(x != np.round(x))):
                    out.append(f"{tn}.{c.name}: integer column holds non-integers ({s.dtype})")
                if c.scale is not None and not np.allclose(x, np.round(x, c.scale), rtol=0, atol=10.0 ** -(c.scale + 6)):
                    out.append(f"{tn}.{c.name}: more than {c.scale} decimals")
            if c.stype == Stype.datetime and len(nn):
                secs = nn.astype("datetime64[ns]").astype("int64").to_numpy() / 1e9
                if c.lo is not None and secs.min() < c.lo:
                    out.append(f"{tn}.{c.name}: datetime before its lower bound")
                if c.hi is not None and secs.max() > c.hi:
                    out.append(f"{tn}.{c.name}: datetime after its upper bound")
            if c.stype == Stype.text and c.max_len is not None and len(nn):
                if nn.astype(str).str.len().max() > c.max_len:
                    out.append(f"{tn}.{c.name}: text longer than {c.max_len}")
        for cols in ut.get(tn, []):
            sub = df[list(cols)].dropna()
            if sub.duplicated().any():
                out.append(f"{tn}: duplicate ({', '.join(cols)}) key sets")
    return out


# ------------------------------------------------------------------------------ CLI helpers


def parse_rows(values) -> int | dict[str, int] | None:
    """``--rows`` values: ``["500"]`` -> 500 (every table); ``["Invoice=100", "Track=50"]`` -> per table."""
    if not values:
        return None
    if isinstance(values, (str, int)):
        values = [values]
    total, per = None, {}
    for v in values:
        for part in str(v).split(","):
            part = part.strip()
            if not part:
                continue
            name, sep, num = part.rpartition("=")
            try:
                n = int(num)
            except ValueError:
                raise RelforgeError(f"--rows: expected N or TABLE=N, got {part!r}") from None
            if n < 0:
                raise RelforgeError(f"--rows: negative row count in {part!r}")
            if sep:
                if not name:
                    raise RelforgeError(f"--rows: missing table name in {part!r}")
                per[name] = n
            else:
                total = n
    if total is not None and per:
        raise RelforgeError("--rows: give either one count N or TABLE=N pairs, not both")
    return total if total is not None else per


def _schema_generator(schema: Schema, seed: int, cfg):
    return generate_from_schema(schema, seed, cfg)


def schema_generator(schema_file=None, like=None, *, dialect: str | None = None, rows=None):
    """A picklable ``(seed, config) -> Database`` for ``relforge generate --schema/--like``, or None.

    Parses the schema once (errors surface before any output is written); ``rows`` is
    :func:`parse_rows` input or its result.
    """
    import functools

    if schema_file is not None and like is not None:
        raise RelforgeError("give either --schema or --like, not both")
    if dialect is not None and schema_file is None:
        raise RelforgeError("--dialect applies only to --schema")
    n_rows = rows if isinstance(rows, (dict, int)) and not isinstance(rows, bool) else parse_rows(rows)
    if schema_file is None and like is None:
        if n_rows:
            raise RelforgeError("--rows applies only to --schema or --like")
        return None
    if schema_file is not None:
        schema = read_schema_file(schema_file, dialect, n_rows=n_rows)
    else:
        from relforge.generate.like import schema_like

        schema = schema_like(like, n_rows)
    return functools.partial(_schema_generator, schema)
