"""Semantic names: coherent per-seed vocabularies, unique names, types matching roles."""
import numpy as np
import pytest

from relforge.db.table import Stype
from relforge.generate.config import GeneratorConfig, load_config
from relforge.generate.names import DOMAINS, apply_names
from relforge.generate.pipeline import generate_database
from relforge.generate.schema import ColumnSpec, ForeignKey, Schema, TableSpec, sample_schema
from relforge.rng import child

SMALL = {"schema": {"n_tables": (3, 8), "entity_rows": (40, 60), "activity_rows": (80, 120), "n_features": (3, 12),
                    "self_ref_prob": 0.5, "datetime_prob": 0.15, "text_prob": 0.15}}


def _schema(seed):
    cfg = load_config(SMALL)
    return apply_names(sample_schema(cfg, rng=child(seed, "schema")), rng=child(seed, "names"))


def test_names_unique_reproducible_and_varied():
    domains, firsts = set(), set()
    for seed in range(12):
        s = _schema(seed)
        assert s.meta["names"]["domain"] in DOMAINS
        domains.add(s.meta["names"]["domain"])
        firsts.add(next(iter(s.tables)))
        assert len(set(s.tables)) == len(s.tables)
        for t in s.tables.values():
            cols = [c.name for c in t.columns] + [fk.column for fk in t.fkeys] + [t.pkey, t.time_col]
            cols = [c for c in cols if c]
            assert len(cols) == len(set(cols)), cols
            assert not any(c.startswith("feature_") or c.startswith("foreign_row") for c in cols)
        again = _schema(seed)
        assert [(t.name, [c.name for c in t.columns]) for t in again.tables.values()] == \
               [(t.name, [c.name for c in t.columns]) for t in s.tables.values()]
    assert len(domains) >= 3 and len(firsts) >= 4  # names vary across seeds


def test_roles_fit_types_and_keys_follow_parents():
    for seed in range(8):
        s = _schema(seed)
        for t in s.tables.values():
            assert t.pkey.endswith("_id")
            for fk in t.fkeys:
                assert fk.column.endswith("_id")
                if fk.parent != t.name:
                    assert fk.column.startswith(s.tables[fk.parent].pkey[:-3])
            for c in t.columns:
                if c.stype == Stype.numerical:
                    assert c.role in ("amount", "count", "rate", "score", "feature")
                if c.stype == Stype.categorical and c.n_categories > 2:
                    assert c.labels is not None and len(c.labels) == c.n_categories
                    assert len(set(c.labels)) == len(c.labels)
                if c.stype == Stype.datetime:
                    assert c.name.endswith("_date") == (c.role == "date")


def test_sql_and_like_schemas_keep_their_names():
    t = TableSpec("Customer", 5, pkey="CustomerId", columns=[ColumnSpec("Email", Stype.text)])
    s = Schema({"Customer": t}, meta={"source": "sql"})
    assert apply_names(s, rng=np.random.default_rng(0)) is s


def test_generated_database_has_semantic_names_and_valid_values():
    db = generate_database(3, SMALL)
    db.validate()
    vocab = {p for v in DOMAINS.values() for p, _ in v["entities"] + v["events"]}
    for name in db.tables:  # every table is a domain word, maybe qualified ("regional_orders")
        assert name in vocab or name.split("_", 1)[-1] in vocab, name
    for name, t in db.tables.items():
        for c in t.feature_cols:
            s = t.df[c].dropna()
            if c.startswith(("is_", "has_")) and t.stypes[c] == Stype.boolean:
                assert s.isin([True, False]).all()
    off = generate_database(3, {**SMALL, "schema": {**SMALL["schema"], "semantic_names": False}})
    assert all(n.startswith("table_") for n in off.tables)


def test_semantic_names_knob_defaults_on():
    assert GeneratorConfig().schema.semantic_names is True
    with pytest.raises(Exception):
        load_config({"schema": {"semantic_names": "yes"}})


def _v2(overrides: dict) -> dict:
    """The v2 preset's knobs (structured names live there; v1 is the default) plus ``overrides``."""
    import tomllib
    from importlib.resources import files

    v2 = tomllib.loads((files("relforge") / "configs" / "prior_v2.toml").read_text())
    return {**v2, **overrides}


def test_structured_names_put_broader_group_words_above_narrower_ones():
    from relforge.generate.names import GROUPS

    checked = 0
    for seed in range(12):
        db = generate_database(seed, _v2({"schema": {"entity_rows": (100, 200), "activity_rows": (300, 600)}}))
        groups = next((g for g in GROUPS.values() if any(n in g for n in db.tables)), None)
        if groups is None:
            continue
        rank = {w: i for i, w in enumerate(groups)}
        for child_t, t in db.tables.items():
            for parent in t.fkey_col_to_pkey_table.values():
                if parent != child_t and parent in rank and child_t in rank:
                    assert rank[parent] < rank[child_t], (seed, parent, child_t)
                    checked += 1
    assert checked >= 3


def test_structured_counts_are_skewed_non_negative_integers():
    n_cols = 0
    for seed in range(6):
        db = generate_database(seed, _v2({"schema": {"entity_rows": (300, 400), "activity_rows": (600, 900)}}))
        for t in db.tables.values():
            for c in t.feature_cols:
                s = t.df[c].dropna()
                if t.stypes[c] != Stype.numerical or not pd_is_int(s) or c.startswith(("num_", "total_", "days_")):
                    continue
                if any(w in c for w in ("count", "num_", "quantity", "goals", "points")) and len(s) > 50:
                    v = s.to_numpy(dtype=float)
                    assert v.min() >= 0 and (v == np.round(v)).all()
                    if v.std() > 0:  # right-skewed: positive third standardized moment
                        assert (((v - v.mean()) / v.std()) ** 3).mean() > 0, (seed, c)
                    n_cols += 1
    assert n_cols >= 3


def pd_is_int(s) -> bool:
    import pandas as pd

    return pd.api.types.is_integer_dtype(s.dtype)


def test_unstructured_names_are_the_old_names():
    schema = sample_schema(GeneratorConfig(), rng=child(4, "schema"))
    a = apply_names(schema, rng=child(4, "names"))
    b = apply_names(schema, rng=child(4, "names"), structured=False)
    assert list(a.tables) == list(b.tables)
    assert [c.role for t in a.tables.values() for c in t.columns] == [c.role for t in b.tables.values() for c in t.columns]
    assert "tally" not in {c.role for t in a.tables.values() for c in t.columns}
