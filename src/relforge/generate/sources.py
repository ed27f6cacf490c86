"""Where the schema of ``relforge generate`` comes from: ``--schema FILE`` (SQL DDL), ``--like PATH``
(an existing database) or, without either, the random schemas of the PluRel pipeline; plus the
``--rows`` parser. The one module that sees both :mod:`relforge.generate.sql` and
:mod:`relforge.generate.like`, so neither imports the other's caller.
"""
from __future__ import annotations

import functools
from pathlib import Path

from relforge.db.io import load_database
from relforge.db.database import Database
from relforge.db.timecols import apply_time_cols, parse_time_cols
from relforge.errors import RelforgeError
from relforge.generate.like import LIKE_MODES, _constraint_schema, _fitted_generator, fit_like, resolve_source, schema_like
from relforge.generate.schema import Schema
from relforge.generate.sql import generate_from_schema, read_schema_file

__all__ = ["parse_rows", "schema_generator"]


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


def schema_generator(schema_file=None, like=None, *, dialect: str | None = None, rows=None, time_cols=None):
    """A picklable ``(seed, config) -> Database`` for ``relforge generate --schema/--like``, or None.

    Parses the schema once (errors surface before any output is written); ``rows`` is
    :func:`parse_rows` input or its result; ``time_cols`` (``{table: column or None}`` or ``--time-col``
    strings) overrides the time column the schema's rules pick.
    """
    if schema_file is not None and like is not None:
        raise RelforgeError("give either --schema or --like, not both")
    if dialect is not None and schema_file is None:
        raise RelforgeError("--dialect applies only to --schema")
    n_rows = rows if isinstance(rows, (dict, int)) and not isinstance(rows, bool) else parse_rows(rows)
    tc = parse_time_cols(time_cols)
    if schema_file is None and like is None:
        if n_rows:
            raise RelforgeError("--rows applies only to --schema or --like")
        if tc:
            raise RelforgeError("--time-col applies to `generate` only with --schema or --like")
        return None
    if schema_file is not None:
        schema = read_schema_file(schema_file, dialect, n_rows=n_rows, time_cols=tc or None)
    elif tc and Path(like).is_dir():  # a folder's time columns come from its loader
        schema = schema_like(load_database(like, tc), n_rows)
    else:
        schema = schema_like(like, n_rows, time_cols=tc or None)
    return functools.partial(_schema_generator, schema)


def like_generator(like, *, rows=None, mode: str = "fitted", min_count: int | None = None, time_cols=None):
    """A picklable ``(seed, config) -> Database`` for ``relforge generate --like``: the source is
    read (and, in fitted mode, fitted) once, before any output is written. ``time_cols`` as in
    :func:`schema_generator`."""
    if mode not in LIKE_MODES:
        raise RelforgeError(f"--like-mode must be one of {', '.join(LIKE_MODES)}, got {mode!r}")
    is_path = not isinstance(like, Database) and Path(str(like)).exists() and not str(like).startswith("real:")
    if mode == "schema":
        if min_count is not None:
            raise RelforgeError("--like-min-count applies to --like-mode fitted only")
        return schema_generator(None, like if (is_path or isinstance(like, Database)) else resolve_source(like),
                                rows=rows, time_cols=time_cols)
    n_rows = rows if isinstance(rows, (dict, int)) and not isinstance(rows, bool) else parse_rows(rows)
    tc = parse_time_cols(time_cols)
    src = resolve_source(like)
    if tc:
        src = apply_time_cols(src, tc)
    if tc and is_path and Path(str(like)).is_file():  # declared constraints from the SQL text, user time columns
        schema = schema_like(like, n_rows or None, time_cols=tc)
    elif tc:
        schema = schema_like(src, n_rows or None)
    else:
        schema = _constraint_schema(like, n_rows or None)
    model = fit_like(src, min_count=min_count)
    if not isinstance(like, Database):
        model.meta["like"] = str(like)
    return functools.partial(_fitted_generator, model, schema)

