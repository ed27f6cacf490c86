"""Fuzzing: random and malformed SQL schemas and configs end in a valid database or a clean RelforgeError.

Any other exception (KeyError, ValueError, IndexError ...) fails the test. Each case is small (a few
tables, at most ~30 rows) so the suite stays fast.
"""
import dataclasses

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relforge.errors import RelforgeError
from relforge.generate.config import GeneratorConfig
from relforge.generate.sql import DIALECTS, constraint_violations, generate_from_schema, schema_from_sql

TABLES = ["a", "b", "c", "orders", '"odd name"', "t1"]
COLS = ["x", "y", "z", "price", "status", "created_at", "email", "id", "paid", "note", "x"]
TYPES = ["INT", "INTEGER", "BIGINT", "SMALLINT", "TINYINT", "TINYINT(1)", "REAL", "DOUBLE", "FLOAT",
         "DECIMAL(5,2)", "DECIMAL(3,0)", "NUMERIC(2,3)", "NUMERIC", "BOOLEAN", "BIT", "DATE", "TIMESTAMP",
         "DATETIME", "TIME", "VARCHAR(1)", "VARCHAR(8)", "CHAR(3)", "TEXT", "NVARCHAR(0)", "ENUM('p','q')",
         "BLOB", "JSON", "UUID", "INT[]", "FOO", "MONEY", "SERIAL"]
EXTRA = ["INSERT INTO a VALUES (1)", "DROP TABLE a", "PRAGMA x", "SELECT 1", "CREATE INDEX i ON a (x)",
         "CREATE UNIQUE INDEX u ON a (x)", "BEGIN", "COMMIT", "ATTACH 'f' AS g", "-- comment", "/* c */"]


@st.composite
def sql_texts(draw):
    n = draw(st.integers(1, 4))
    names = draw(st.lists(st.sampled_from(TABLES), min_size=n, max_size=n))
    stmts = []
    for i, t in enumerate(names):
        parts = []
        pk = draw(st.sampled_from(["inline", "table", "none", "composite"]))
        parts.append(f"id {draw(st.sampled_from(['INTEGER', 'BIGINT', 'TEXT', 'REAL', 'INT']))}"
                     + (" PRIMARY KEY" if pk == "inline" else ""))
        cols = draw(st.lists(st.sampled_from(COLS), max_size=5))
        for c in cols:
            typ = draw(st.sampled_from(TYPES))
            cons = []
            for _ in range(draw(st.integers(0, 2))):
                kind = draw(st.integers(0, 9))
                other = draw(st.sampled_from(names))
                cons.append([
                    "NOT NULL", "UNIQUE", f"CHECK ({c} IN ('p', 'q', 'r'))", f"CHECK ({c} IN (1, 2, 3))",
                    f"CHECK ({c} > {draw(st.integers(-5, 5))})",
                    f"CHECK ({c} BETWEEN {draw(st.integers(-3, 3))} AND {draw(st.integers(-3, 9))})",
                    f"REFERENCES {other}(id)", f"REFERENCES {other}({draw(st.sampled_from(COLS))})",
                    "DEFAULT 1", f"CHECK (length({c}) <= {draw(st.integers(0, 6))})",
                ][kind])
            parts.append(f"{c} {typ} {' '.join(cons)}".strip())
        if pk == "table":
            parts.append("PRIMARY KEY (id)")
        if pk == "composite" and cols:
            parts.append(f"PRIMARY KEY (id, {cols[0]})")
        if cols and draw(st.booleans()):
            parts.append(f"FOREIGN KEY ({cols[-1]}) REFERENCES {draw(st.sampled_from(names))}(id)")
        if len(cols) > 1 and draw(st.integers(0, 4)) == 0:
            parts.append(f"UNIQUE ({cols[0]}, {cols[1]})")
        stmts.append(f"CREATE TABLE {t} ({', '.join(parts)})")
        if draw(st.integers(0, 5)) == 0:
            stmts.append(draw(st.sampled_from(EXTRA)))
    text = ";\n".join(stmts) + ";"
    corrupt = draw(st.integers(0, 9))
    if corrupt == 0:
        text = text[: draw(st.integers(0, len(text)))]
    elif corrupt == 1:
        pos = draw(st.integers(0, len(text)))
        text = text[:pos] + draw(st.sampled_from(["(", ")", "'", '"', ";", ",", "\x00", "\ufffd", "`", "--"])) + text[pos:]
    elif corrupt == 2:
        text = draw(st.text(max_size=60))
    return text


VALID_TYPES = {  # type -> constraints that fit it
    "INTEGER": ["NOT NULL", "UNIQUE", "CHECK ({c} > -3)", "CHECK ({c} BETWEEN 0 AND 1000)", "CHECK ({c} IN (1, 2, 3))"],
    "SMALLINT": ["NOT NULL", "CHECK ({c} >= 0)"],
    "DECIMAL(6,2)": ["NOT NULL", "CHECK ({c} >= 0)", "UNIQUE"],
    "REAL": ["NOT NULL", "CHECK ({c} < 5)"],
    "BOOLEAN": ["NOT NULL"],
    "DATE": ["NOT NULL", "CHECK ({c} >= '2001-01-01')", "UNIQUE"],
    "TIMESTAMP": ["NOT NULL"],
    "TIME": ["NOT NULL"],
    "VARCHAR(6)": ["NOT NULL", "UNIQUE", "CHECK ({c} IN ('p', 'q'))"],
    "TEXT": ["NOT NULL", "CHECK (length({c}) <= 12)", "UNIQUE"],
    "ENUM('lo','mid','hi')": ["NOT NULL"],
}


@st.composite
def valid_sql_texts(draw):
    """Mostly valid schemas: distinct tables, references to earlier tables, fitting constraints."""
    n = draw(st.integers(1, 4))
    stmts = []
    for i in range(n):
        parts = ["id INTEGER PRIMARY KEY"]
        cols = draw(st.lists(st.sampled_from(["x", "y", "z", "price", "status", "created_at", "email", "note"]),
                             max_size=5, unique=True))
        for c in cols:
            typ = draw(st.sampled_from(sorted(VALID_TYPES)))
            cons = draw(st.lists(st.sampled_from(VALID_TYPES[typ]), max_size=2, unique=True))
            parts.append(" ".join([c, typ] + [k.format(c=c) for k in cons]))
        for j in draw(st.lists(st.integers(0, max(i - 1, 0)), max_size=2, unique=True)) if i else []:
            parts.append(f"t{j}_id INTEGER {draw(st.sampled_from(['NOT NULL', '']))} REFERENCES t{j}(id)")
        if draw(st.integers(0, 3)) == 0:
            parts.append(f"parent_id INTEGER REFERENCES t{i}(id)")
        stmts.append(f"CREATE TABLE t{i} ({', '.join(parts)})")
    return ";\n".join(stmts) + ";"


_rows = st.one_of(st.none(), st.integers(0, 30), st.dictionaries(st.sampled_from(TABLES), st.integers(0, 30), max_size=2),
                  st.sampled_from([-1, "ten", 2.5]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=st.one_of(valid_sql_texts(), sql_texts()), dialect=st.sampled_from((None,) + DIALECTS), rows=_rows, seed=st.integers(0, 1000))
def test_random_sql_schemas_end_valid_or_in_a_clean_error(text, dialect, rows, seed):
    try:
        schema = schema_from_sql(text, dialect, n_rows=rows if rows is not None else 12)
        db = generate_from_schema(schema, seed, {"post": {"nan_frac": (0.0, 0.3)}})
    except RelforgeError as e:
        assert "\n" not in str(e) and str(e)
        return
    db.validate()
    assert constraint_violations(db, schema) == []


# ------------------------------------------------------------------------------------ configs

BASE = {"schema": {"n_tables": (1, 3), "entity_rows": (5, 20), "activity_rows": (10, 30), "n_features": (1, 6),
                   "self_ref_prob": 0.3, "datetime_prob": 0.2, "text_prob": 0.2}}
_garbage = st.one_of(st.none(), st.text(max_size=5), st.integers(-5, 5), st.floats(allow_nan=True, width=32),
                     st.booleans(), st.lists(st.integers(-3, 12), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=1))


@st.composite
def configs(draw):
    cfg = {k: dict(v) for k, v in BASE.items()}
    fields = {sec.name: [f.name for f in dataclasses.fields(getattr(GeneratorConfig(), sec.name))]
              for sec in dataclasses.fields(GeneratorConfig)}
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.integers(0, 4))
        sec = draw(st.sampled_from(sorted(fields)))
        key = draw(st.sampled_from(fields[sec]))
        if not isinstance(cfg.setdefault(sec, {}), dict):
            continue  # this section was already replaced by garbage
        if kind == 0:  # wrong type / value
            cfg[sec][key] = draw(_garbage)
        elif kind == 1:  # unknown key or section
            cfg.setdefault(draw(st.sampled_from([sec, "bogus"])), {})["no_such_knob"] = 1
        elif kind == 2:  # a range with min > max
            cfg[sec][key] = [draw(st.integers(3, 9)), draw(st.integers(0, 2))]
        elif kind == 3:  # a valid default back (keeps some cases valid)
            v = getattr(getattr(GeneratorConfig(), sec), key)
            cfg[sec][key] = list(v) if isinstance(v, tuple) else v
        else:
            cfg[sec] = draw(st.sampled_from([[], "x", 3]))
    # keep row counts small whatever was drawn
    if isinstance(cfg.get("schema"), dict):
        for k in ("entity_rows", "activity_rows"):
            v = cfg["schema"].get(k)
            if isinstance(v, (list, tuple)) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
                cfg["schema"][k] = [min(int(x), 30) for x in v]
        if isinstance(cfg["schema"].get("n_tables"), (list, tuple)):
            cfg["schema"]["n_tables"] = [min(x, 4) if isinstance(x, int) and not isinstance(x, bool) else x
                                         for x in cfg["schema"]["n_tables"]]
        if isinstance(cfg["schema"].get("n_features"), (list, tuple)):
            cfg["schema"]["n_features"] = [min(x, 8) if isinstance(x, int) and not isinstance(x, bool) else x
                                           for x in cfg["schema"]["n_features"]]
    return cfg


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=configs(), seed=st.integers(0, 10_000))
def test_random_configs_end_valid_or_in_a_clean_error(cfg, seed):
    from relforge.generate.pipeline import generate_database

    try:
        db = generate_database(seed, cfg)
    except RelforgeError as e:
        assert "\n" not in str(e) and str(e)
        return
    db.validate()
    for t in db.tables.values():
        for c, p in t.fkey_col_to_pkey_table.items():
            if p in db.tables and p == [n for n, x in db.tables.items() if x is t][0]:
                v = t.df[c].to_numpy(dtype=float, na_value=np.nan)
                own = t.df[t.pkey_col].to_numpy(dtype=float)
                assert np.all(np.isnan(v) | (v < own))  # self-references point to earlier rows
