"""SQL DDL -> table records: ``CREATE TABLE`` statements parsed by sqlglot into an AST, never executed.

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
- Dialects: without one, sqlglot's generic SQL is tried first, then sqlite, postgres, mysql and
  duckdb (a SQLite dump quotes names with ``[brackets]`` or backticks); when none reads the file,
  one line names the statement, its line and column, and suggests ``--dialect``.
"""
from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass, field

import pandas as pd
import sqlglot
from sqlglot import exp

from relforge.errors import RelforgeError

__all__ = ["DIALECTS", "MAX_SCHEMA_BYTES", "Col", "Tab", "parse_ddl"]

DIALECTS = ("sqlite", "postgres", "mysql", "duckdb")
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


@dataclass
class Col:
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
class Tab:
    name: str
    cols: dict[str, Col] = field(default_factory=dict)
    pk: list[str] = field(default_factory=list)
    fks: list[tuple[str, str, str | None]] = field(default_factory=list)  # (column, parent, parent column)
    unique_sets: list[tuple[str, ...]] = field(default_factory=list)


def _err(msg: str):
    raise RelforgeError(msg)


# ----------------------------------------------------------------------------------- parsing


def parse_ddl(text, dialect: str | None = None) -> tuple[dict[str, Tab], list[str], str | None]:
    """(tables, notes, dialect) of SQL DDL text. ``dialect`` None: sqlglot's generic SQL, then each of
    :data:`DIALECTS` in turn; the first that reads the file wins. When none does, the syntax error
    that got furthest names the statement, line and column and suggests ``--dialect``."""
    text = _check_text(text, dialect)
    if dialect is not None:
        try:
            tabs, notes = _parse_as(text, dialect)
        except _SyntaxError as e:
            _err(e.message(text, None))
        return tabs, notes, dialect
    refused, syntax = None, []
    for d in (None,) + DIALECTS:
        try:
            tabs, notes = _parse_as(text, d)
            return tabs, notes, d
        except _SyntaxError as e:
            syntax.append(e)
        except RelforgeError as e:  # read, but refused (e.g. a CREATE this dialect parses differently)
            refused = refused or e
    if refused is not None:
        raise refused
    _err(max(syntax, key=lambda e: (e.line, e.col)).message(text, ("generic SQL",) + DIALECTS))


def _check_text(text, dialect) -> str:
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
    return _SQLITE_TABLE_OPTIONS.sub(")", text)


class _SyntaxError(Exception):
    """sqlglot could not read the text in one dialect: where and why."""

    def __init__(self, dialect, description: str, line: int = 0, col: int = 0):
        super().__init__(description)
        self.dialect, self.description, self.line, self.col = dialect, description, line, col

    def message(self, text: str, tried) -> str:
        where = ""
        if self.line > 0:
            k, head = _statement_at(text, self.line, self.col)
            where = f"statement #{k} ({head}) at line {self.line}, column {self.col}: "
        if tried is None:
            return f"cannot parse SQL schema as {self.dialect}: {where}{self.description}"
        return (f"cannot parse SQL schema: {where}{self.description} (no dialect reads it: tried "
                f"{', '.join(tried)}; pass --dialect to name the file's dialect)")


_TOKEN = re.compile(r"<Token token_type: TokenType\.\w+, text: (.*?), line: \d+, col: \d+.*?>")


def _statement_at(text: str, line: int, col: int) -> tuple[int, str]:
    """(1-based statement number, its first words) of the statement around ``line``/``col`` (semicolons
    outside ``--`` comments and quotes separate statements)."""
    lines = text.splitlines(keepends=True)
    pos = sum(len(x) for x in lines[: max(line - 1, 0)]) + max(col - 1, 0)
    body = re.sub(r"--[^\n]*", lambda m: " " * len(m.group()), text)
    body = re.sub(r"'(?:[^']|'')*'", lambda m: " " * len(m.group()), body)
    cut = body.rfind(";", 0, pos) + 1
    k = body.count(";", 0, cut) + 1
    head = " ".join(body[cut:cut + 200].split())
    head = head if len(head) <= 60 else head[:60].rsplit(" ", 1)[0] + " ..."
    return k, repr(head)


def _parse_as(text: str, dialect) -> tuple[dict[str, Tab], list[str]]:
    try:
        with _quiet_sqlglot():
            stmts = sqlglot.parse(text, read=dialect)
    except sqlglot.errors.ParseError as e:
        info = e.errors[0] if e.errors else {}
        desc = _TOKEN.sub(lambda m: repr(m.group(1)), str(info.get("description") or _first_line(e)))
        raise _SyntaxError(dialect, desc, int(info.get("line") or 0), int(info.get("col") or 0)) from None
    except sqlglot.errors.SqlglotError as e:
        raise _SyntaxError(dialect, _first_line(e)) from None
    except (RecursionError, ValueError, TypeError, IndexError, KeyError, AttributeError) as e:
        raise _SyntaxError(dialect, f"{type(e).__name__}: {_first_line(e)}") from None
    tabs: dict[str, Tab] = {}
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


def _column_type(dt, tname: str, cname: str, enums: dict, dialect) -> Col:
    where = f"table {tname!r} column {cname!r}"
    if dt is None:
        _err(f"{where}: no type declared")
    tn = dt.this.name if isinstance(dt.this, exp.DataType.Type) else str(dt.this)
    try:
        sql_type = dt.sql(dialect=dialect)
    except Exception:  # noqa: BLE001 - rendering a type back to SQL is cosmetic
        sql_type = tn
    params = _type_params(dt)
    col = Col(cname, "", sql_type)
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


def _parse_table(create, enums, dialect) -> Tab:
    tname = create.this.this.name
    if not tname:
        _err("CREATE TABLE without a table name")
    t = Tab(tname)
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


def _column_constraint(t: Tab, col: Col, kind) -> None:
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
    out = []
    for x in e.expressions if e is not None else []:
        if isinstance(x, (exp.Identifier, exp.Column)):
            out.append(x.name)
        elif isinstance(x, exp.Ordered) and isinstance(x.this, (exp.Identifier, exp.Column)):
            out.append(x.this.name)
        else:
            out.append(x.sql())
    return out


def _table_constraint(t: Tab, e) -> None:
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


def _check(t: Tab, e, default_col: str | None) -> None:
    """Apply one CHECK expression (AND of supported atoms) to the table's columns."""
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
                n = _bound_value(Col("", "int", ""), b)
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
    c = next(iter(e.find_all(exp.Column)), None) if hasattr(e, "find_all") else None
    name = c.name if c is not None else default_col
    return f" column {name!r}" if name else ""


def _check_col(t: Tab, e, bad) -> Col:
    if not isinstance(e, exp.Column):
        bad()
    if e.name not in t.cols:
        _err(f"table {t.name!r}: CHECK names unknown column {e.name!r}")
    return t.cols[e.name]


def _literal(e):
    """A literal's text ('a', 3, -2.5 -> '-2.5'; TRUE -> 'true'), else None."""
    if isinstance(e, exp.Literal):
        return str(e.this)
    if isinstance(e, exp.Neg) and isinstance(e.this, exp.Literal) and not e.this.is_string:
        return "-" + str(e.this.this)
    if isinstance(e, exp.Boolean):
        return "true" if e.this else "false"
    return None


def _bound_value(col: Col, e) -> float | None:
    """A numeric bound (datetimes: seconds since 1970), else None."""
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


def _set_bounds(t: Tab, col: Col, lo, hi) -> None:
    if lo is not None:
        col.lo = lo if col.lo is None else max(col.lo, lo)
    if hi is not None:
        col.hi = hi if col.hi is None else min(col.hi, hi)
    col.has_check = True
    if col.cat == "int":
        if col.lo is not None:
            col.lo = float(math.ceil(col.lo))
        if col.hi is not None:
            col.hi = float(math.floor(col.hi))
    if col.lo is not None and col.hi is not None and col.lo > col.hi:
        _err(f"table {t.name!r} column {col.name!r}: CHECK bounds leave no value ({col.lo} > {col.hi})")
