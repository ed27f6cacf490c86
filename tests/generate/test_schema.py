"""Stage 1: sample_schema (generator.md §1-2)."""
import numpy as np
import pytest

from relforge.db.table import Stype
from relforge.generate.config import GRAPH_LAYOUTS, GeneratorConfig
from relforge.generate.layouts import is_acyclic, n_components
from relforge.generate.schema import _power_law_int, sample_schema


def _edges(schema):
    idx = {n: i for i, n in enumerate(schema.tables)}
    return np.array([(idx[fk.parent], idx[t.name]) for t in schema.tables.values() for fk in t.fkeys
                     if fk.parent != t.name], dtype=np.int64).reshape(-1, 2)


@pytest.mark.parametrize("seed", range(30))
def test_invariants(seed):
    cfg = GeneratorConfig()
    s = sample_schema(cfg, rng=np.random.default_rng(seed))
    s.validate()
    names = list(s.tables)
    assert all(names.index(fk.parent) < names.index(t.name)  # tables are in a topological order
               for t in s.tables.values() for fk in t.fkeys if fk.parent != t.name)
    for i, (name, t) in enumerate(s.tables.items()):
        assert name == f"table_{i}" and t.pkey == "row_idx"
        assert len(t.fkeys) <= cfg.schema.max_fkeys
        has_children = bool(s.children(name))
        assert t.kind == ("entity" if has_children else "activity")
        if t.kind == "activity":
            assert t.time_col == "date"
            lo, hi = cfg.schema.activity_rows
        else:
            assert t.time_col is None  # time_col_entity_prob defaults to 0
            lo, hi = cfg.schema.entity_rows
        assert lo <= t.n_rows <= hi
        lo, hi = cfg.schema.n_features
        assert lo <= len(t.columns) <= hi
        assert [c.name for c in t.columns] == [f"feature_{j}" for j in range(len(t.columns))]
        for fk in t.fkeys:
            if fk.parent == name:
                assert fk.column == "parent_row" and fk.nullable
            else:
                assert fk.column.startswith("foreign_row_")
    e = _edges(s)
    n = len(s.tables)
    assert cfg.schema.n_tables[0] <= n <= cfg.schema.n_tables[1]
    assert is_acyclic(n, e) and n_components(n, e) == 1
    assert s.layout in cfg.schema.layouts


def test_same_seed_identical_different_seeds_differ():
    cfg = GeneratorConfig()
    a = sample_schema(cfg, rng=np.random.default_rng(3))
    b = sample_schema(cfg, rng=np.random.default_rng(3))
    assert a.tables == b.tables and a.layout == b.layout
    sigs = {repr(sample_schema(cfg, rng=np.random.default_rng(s)).tables) for s in range(10)}
    assert len(sigs) == 10


@pytest.mark.parametrize("layout", GRAPH_LAYOUTS)
def test_every_layout_and_fkey_cap(layout):
    cfg = GeneratorConfig().replace(schema={"layouts": (layout,), "n_tables": (12, 12), "max_fkeys": 2,
                                            "self_ref_prob": 0.5})
    for seed in range(5):
        s = sample_schema(cfg, rng=np.random.default_rng(seed))
        assert s.layout == layout and len(s.tables) == 12
        assert all(len(t.fkeys) <= 2 for t in s.tables.values())
        assert n_components(12, _edges(s)) == 1


def test_one_table_db_is_activity():
    cfg = GeneratorConfig().replace(schema={"n_tables": (1, 1)})
    s = sample_schema(cfg, rng=np.random.default_rng(0))
    (t,) = s.tables.values()
    assert t.kind == "activity" and t.time_col == "date"
    assert all(fk.parent == t.name for fk in t.fkeys)


def test_power_law_feature_counts():
    k = _power_law_int(3, 40, 200_000, rng=np.random.default_rng(0))
    grid = np.arange(3, 41)
    p = (1 / grid) / (1 / grid).sum()
    assert abs(k.mean() - (grid * p).sum()) < 0.1  # spec §1: mean 13.7
    assert abs(k.mean() - 13.7) < 0.3
    assert np.median(k) == 10  # spec §1: median 10
    assert k.min() == 3 and k.max() == 40


def test_column_stypes_and_knobs():
    cfg = GeneratorConfig().replace(schema={"n_tables": (20, 20), "n_features": (30, 40), "datetime_prob": 0.2,
                                            "text_prob": 0.2, "categorical_prob": 0.5,
                                            "time_col_entity_prob": 1.0})
    s = sample_schema(cfg, rng=np.random.default_rng(1))
    cols = [c for t in s.tables.values() for c in t.columns]
    frac = {st: np.mean([c.stype == st for c in cols]) for st in Stype}
    assert 0.12 < frac[Stype.datetime] < 0.28 and 0.12 < frac[Stype.text] < 0.28
    assert 0.2 < frac[Stype.categorical] < 0.4 and 0.2 < frac[Stype.numerical] < 0.4
    for c in cols:
        if c.stype == Stype.categorical:
            assert 2 <= c.n_categories <= 10
        if c.stype == Stype.text:
            assert c.n_categories >= 2
    assert all(t.time_col == "date" for t in s.tables.values())


def test_no_self_refs_when_disabled():
    cfg = GeneratorConfig().replace(schema={"self_ref_prob": 0.0})
    for seed in range(10):
        s = sample_schema(cfg, rng=np.random.default_rng(seed))
        assert all(fk.parent != t.name for t in s.tables.values() for fk in t.fkeys)
