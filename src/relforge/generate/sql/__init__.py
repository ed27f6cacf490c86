"""Schemas from SQL ``CREATE TABLE`` statements, parsed and never executed (generator.md §6, §8.3).

PluRel (v1/v1.1) executes a user's SQL file in SQLite and reflects the result, so any statement in
the file runs (``ATTACH``, ``DROP`` ...), ``;``-splitting breaks on literals, the CHECK parser matches
substrings (``paid in`` matches ``id in``), text and date columns are rejected and a self-reference
makes a cycle. Here the file is parsed by sqlglot into an AST and only read. By room:

- :mod:`~relforge.generate.sql.ddl`: the DDL parser (statements, types, constraints, CHECK) and the
  dialect detection;
- :mod:`~relforge.generate.sql.mapping`: table records -> :class:`~relforge.generate.schema.Schema`
  (keys, roles, time columns, column specs);
- :mod:`~relforge.generate.sql.constrained`: generation from a schema, and the constraint check.

The ``--schema``/``--like`` command-line glue lives in :mod:`relforge.generate.sources`.
"""
from relforge.generate.sql.constrained import (JUNCTION_OVERSAMPLE, constraint_violations, enforce_schema,
                                               generate_from_schema, generate_from_sql)
from relforge.generate.sql.ddl import DIALECTS, MAX_SCHEMA_BYTES
from relforge.generate.sql.mapping import DEFAULT_ROWS, read_schema_file, schema_from_sql

__all__ = ["DIALECTS", "DEFAULT_ROWS", "MAX_SCHEMA_BYTES", "JUNCTION_OVERSAMPLE", "schema_from_sql", "read_schema_file",
           "enforce_schema", "generate_from_schema", "generate_from_sql", "constraint_violations"]
