"""Issue 14 relational prior: presets, homophily, time-varying parent state, fan-out, aggregates."""
import numpy as np
import pandas as pd
import pytest

from relforge.errors import RelforgeError
from relforge.generate.config import GeneratorConfig, load_config, preset
from relforge.generate.links import sample_links
from relforge.generate.pipeline import database_schema, generate_database
from relforge.generate.timeline import sample_times
from relforge.generate.values import entity_latents
from relforge.report.metrics import adjusted_eta2, as_float

SMALL = {"schema": {"n_tables": (4, 6), "entity_rows": (150, 300), "activity_rows": (600, 1200)}}
# Structure (tables, keys, time columns, row counts, columns and dtypes) of generate_database(seed,
# SMALL) under the default of main at 6ae1f03, before issue 14. The cell values are not pinned: they
# depend on the CPU's BLAS kernels and numpy's SIMD paths (session 17 found the same seed giving
# other values on an AMD EPYC than on the Intel machines the full content hashes were taken on; with
# OPENBLAS_CORETYPE=SkylakeX this machine reproduces them: 181007b8... for seed 0, e233fd0a... for 1).
V1_STRUCTURE = {0: "09ed838f13719682ef7ae62f5c291de1d73c864c59e62df31b62480e8cb5212c",
                1: "cb1154bde6f8a35970f38fd9bdd6e275d332c59380749eb3f6e42126412efe17"}


def test_v1_preset_reproduces_the_old_default():
    """v1 is the generator before issue 14: the same structure as then on any machine, and on one
    machine the same cells as the default config; v2 is another generator."""
    v1 = preset("v1").replace(**SMALL)
    for seed, h in V1_STRUCTURE.items():
        db = generate_database(seed, v1)
        assert db.structure_hash() == h
        assert db.content_hash() == generate_database(seed, GeneratorConfig().replace(**SMALL)).content_hash()
    assert generate_database(0, preset("v2").replace(**SMALL)).content_hash() != generate_database(0, v1).content_hash()


def test_preset_names():
    assert load_config("v1") == preset("v1") == preset("prior_v1")
    assert load_config("v1") == GeneratorConfig() != preset("v2") == load_config("v2")  # v1 is the default
    assert preset("v2").relational.latent_dim > 0 and preset("v2").relational.structured_names
    assert preset("v1").relational.latent_dim == 0 and preset("v1").relational.aggregate_prob == 0
    with pytest.raises(RelforgeError, match="preset"):
        preset("v9")
    with pytest.raises(RelforgeError, match="not found"):
        load_config("no_such_file.toml")


def _parent_effect(db) -> float:
    """Median adjusted eta^2 of a child's numeric / boolean columns grouped by parent row."""
    vals = []
    for ch, t in db.tables.items():
        for fk, p in t.fkey_col_to_pkey_table.items():
            if p == ch:
                continue
            g = t.df[fk].to_numpy(dtype="float64", na_value=np.nan)
            g = np.where(np.isfinite(g), g, -1).astype(np.int64)
            for c in t.feature_cols:
                if t.stypes[c].value in ("numerical", "boolean"):
                    e = adjusted_eta2(g, as_float(t.df[c]))
                    if e == e:
                        vals.append(e)
    return float(np.median(vals))


def test_entity_latents_make_siblings_alike():
    # foreign-key reads at their v1 strength and every node reading the latent, so the latent's own
    # effect is measured; off = the same config with latent_dim 0
    on = preset("v2").replace(**SMALL, scm={"fk_gain": (0.1, 1.5), "fk_reader_share": (0.25, 0.8)},
                              relational={"latent_share": (1.0, 1.0), "latent_visible": 1.0,
                                          "latent_inherit": (0.9, 0.95), "latent_dim": 2, "latent_reads": (2, 2)})
    off = on.replace(relational={"latent_dim": 0})
    pe_on = [_parent_effect(generate_database(s, on)) for s in range(5)]
    pe_off = [_parent_effect(generate_database(s, off)) for s in range(5)]
    assert np.median(pe_on) > np.median(pe_off) + 0.05, (pe_on, pe_off)
    assert np.median(pe_off) < 0.2  # foreign-key reads alone (v1 strength)


def _latents(cfg, seed):
    schema = database_schema(seed, cfg)
    times = sample_times(schema, cfg.post, seed=seed)
    links = sample_links(schema, cfg.links, seed=seed, times=times)
    return schema, times, links, entity_latents(schema, links, times, cfg, seed=seed)


def test_time_varying_parent_state_makes_recent_siblings_closer():
    """With the state on, consecutive children of a parent differ less than random pairs of its
    children; without it (fixed parent latent + own noise) the two are the same."""
    base = {"schema": {"n_tables": (4, 6), "entity_rows": (100, 200), "activity_rows": (3000, 4000)},
            "relational": {"latent_inherit": (0.95, 0.95), "latent_concentration": 100.0,
                           "latent_smooth": (0.0, 0.0)}}  # own part white noise: the state alone is measured
    ratios = {}
    for state in (0.0, 1.0):
        cfg = preset("v2").replace(**base).replace(relational={"state_prob": state, "state_gain": (1.5, 1.5)})
        r = []
        for seed in range(3):
            schema, times, links, lat = _latents(cfg, seed)
            rng = np.random.default_rng(seed)
            for name, t in schema.tables.items():
                fks = [fk for fk in t.fkeys if fk.parent != name]
                if name not in times or len(fks) != 1:
                    continue
                pos = links[(name, fks[0].column)]
                x = lat[name][:, 0].astype(np.float64)
                order = np.lexsort((np.arange(len(pos)), pos))  # by parent, then time (rows are time-sorted)
                ps, xs = pos[order], x[order]
                same = (ps[1:] == ps[:-1]) & (ps[1:] >= 0)
                d_next = np.mean((xs[1:] - xs[:-1])[same] ** 2)
                # random pairs inside the same parent: children of a parent in random order
                shuf = np.lexsort((rng.random(len(pos)), pos))
                xr, pr = x[shuf], pos[shuf]
                same_r = (pr[1:] == pr[:-1]) & (pr[1:] >= 0)
                d_rand = np.mean((xr[1:] - xr[:-1])[same_r] ** 2)
                r.append(d_next / d_rand)
        assert r, "no timed single-key child table in these seeds"
        ratios[state] = float(np.median(r))
    assert ratios[1.0] < 0.85, ratios
    assert 0.9 < ratios[0.0] < 1.1, ratios


def test_fanout_shrinks_parents_and_off_keeps_rows():
    cfg = preset("v2").replace(relational={"fanout": (4.0, 4.0), "fanout_min_rows": 20})
    off = cfg.replace(relational={"fanout": (1.0, 1.0)})
    for seed in range(4):
        s_on, s_off = database_schema(seed, cfg), database_schema(seed, off)
        for name, t in s_off.tables.items():
            kids = s_off.children(name)
            n_on = s_on.tables[name].n_rows
            if not kids:
                assert n_on == t.n_rows
            else:
                assert min(20, t.n_rows) <= n_on <= t.n_rows
                assert n_on <= max(20, round(t.n_rows / 4))


def test_aggregates_count_only_children_up_to_the_cutoff():
    cfg = preset("v2").replace(**SMALL, relational={"aggregate_prob": 1.0, "aggregate_max": 4})
    checked = timed = 0
    for seed in range(4):
        db = generate_database(seed, cfg)
        for a in db.meta.get("aggregates", []):
            p, ch = db[a["table"]], db[a["child"]]
            assert p.time_col is None
            pos = ch.df[a["key"]].to_numpy(dtype="float64", na_value=np.nan)
            keep = np.isfinite(pos)
            if ch.time_col is not None:
                assert a["asof"] == str(db.val_timestamp)
                tt = ch.df[ch.time_col]
                keep &= (tt <= db.val_timestamp).to_numpy()
                timed += 1
            g = pos[keep].astype(np.int64)
            got = p.df[a["column"]].to_numpy(dtype="float64", na_value=np.nan)
            if a["how"] == "count":
                want = np.bincount(g, minlength=len(p))
                assert (got == want).all()
                if ch.time_col is not None:  # later children exist and are not counted
                    allc = np.bincount(pos[np.isfinite(pos)].astype(np.int64), minlength=len(p))
                    assert (allc >= want).all() and allc.sum() > want.sum()
            elif a["how"] in ("sum", "mean"):
                v = ch.df[a["of"]].to_numpy(dtype="float64", na_value=np.nan)[keep]
                ok = np.isfinite(v)
                s = pd.Series(v[ok]).groupby(g[ok]).agg(a["how"])
                want = np.full(len(p), 0.0 if a["how"] == "sum" else np.nan)
                want[s.index.to_numpy()] = s.to_numpy()
                np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
            else:
                last = pd.Series(ch.df[ch.time_col].to_numpy()[keep]).groupby(g).max()
                want = np.full(len(p), np.nan)
                want[last.index.to_numpy()] = (db.val_timestamp - pd.DatetimeIndex(last.to_numpy())).total_seconds() / 86400
                np.testing.assert_allclose(got, want, atol=1e-3)
                assert np.nanmin(got) >= 0
            assert p.stypes[a["column"]].value == "numerical"
            checked += 1
    assert checked >= 5 and timed >= 1


def test_v2_is_deterministic():
    cfg = preset("v2").replace(**SMALL)
    assert generate_database(5, cfg).content_hash() == generate_database(5, cfg).content_hash()


def test_mechanism_families_do_what_they_say():
    from relforge.generate import values as V

    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((500, 16)).astype(np.float32), rng.standard_normal((500, 16)).astype(np.float32)
    lin = V._Linear(16, rng)
    np.testing.assert_allclose(lin(2 * x - 3 * y), 2 * lin(x) - 3 * lin(y), rtol=1e-4, atol=1e-4)
    tr = V._Trees(16, rng)
    levels = (2 ** tr.dims.shape[1]) ** len(tr.dims)  # leaf combinations of the trees
    out = tr(np.concatenate([x, y]))
    assert len(np.unique(out)) <= levels and out.shape == (1000, 1)
    per = V._Periodic(16, rng)
    assert np.abs(per(x * 100)).max() <= np.abs(per.a).sum() + 1e-4


def test_mechanisms_are_mixed_per_column_and_off_in_v1():
    from relforge.generate import values as V
    from relforge.generate.schema import ColumnSpec, Schema, TableSpec
    from relforge.db import Stype

    cols = [ColumnSpec(f"x{i}", Stype.numerical) for i in range(30)]
    schema = Schema({"t": TableSpec("t", 300, "entity", columns=cols)})
    seen = {}
    mix = preset("v2").replace(relational={"mechanisms": ("mlp", "tree", "linear", "periodic")})
    for name, cfg in (("v1", preset("v1")), ("v2", preset("v2")), ("mix", mix)):
        fams = set()
        for seed in range(4):
            tr = {}
            V.table_values(schema.tables["t"], cfg, rng=np.random.default_rng(seed), temporal=False, trace=tr,
                           entity_rng=np.random.default_rng(100 + seed))
            fams |= {d["mechanism"] for d in tr.values() if d["mechanism"]}
        seen[name] = fams
    assert seen["v1"] == seen["v2"] == {"randommlp"}  # off by default
    assert {"randommlp", "trees", "linear", "periodic"} <= seen["mix"], seen


def test_direct_cells_are_linear_in_their_parent_cells():
    """A ``direct`` cell whose causes are all columns of its row is, up to its drawn noise share
    (at most 0.6), a linear function of those columns: the signal a model can fit from peer rows."""
    from relforge.generate import values as V
    from relforge.generate.schema import ColumnSpec, Schema, TableSpec
    from relforge.db import Stype

    cols = [ColumnSpec(f"x{i}", Stype.numerical) for i in range(30)]
    schema = Schema({"t": TableSpec("t", 400, "entity", columns=cols)})
    cfg = preset("v1").replace(relational={"mechanisms": ("direct",), "mechanism_weights": (1.0,)})
    checked = 0
    for seed in range(6):
        tr = {}
        vals = V.table_values(schema.tables["t"], cfg, rng=np.random.default_rng(seed), temporal=False, trace=tr,
                              entity_rng=np.random.default_rng(100 + seed))
        col_of = {d["node"]: c for c, d in tr.items()}
        for c, d in tr.items():
            if d["mechanism"] != "direct" or d["fk_reads"] or d["temporal_inputs"]:
                continue
            if not d["parents"] or any(u not in col_of or tr[col_of[u]]["cat"] for u in d["parents"]):
                continue
            X = np.column_stack([vals[col_of[u]] for u in d["parents"]] + [np.ones(400)]).astype(np.float64)
            y = vals[c].astype(np.float64)
            resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
            assert 1 - resid.var() / y.var() > 0.3, (seed, c)
            checked += 1
    assert checked >= 5


def test_keys_only_entities_are_known_through_their_children():
    """``schema.keys_only_prob``: entity tables with nothing but keys (MovieLens ``users``), whose
    rows the tokenizer gives one ``row`` cell; their hidden latent still makes their children alike."""
    cfg = preset("v2").replace(schema={**SMALL["schema"], "keys_only_prob": 1.0},
                               relational={"latent_share": (1.0, 1.0), "latent_dim": 2, "aggregate_prob": 0.0})
    dbs = [generate_database(s, cfg) for s in range(4)]
    referenced = [{p for n, t in db.tables.items() for p in t.fkey_col_to_pkey_table.values() if p != n} for db in dbs]
    for db, refs in zip(dbs, referenced):
        assert refs
        for name in refs:
            t = db.tables[name]
            assert t.feature_cols == [] and t.time_col is None, (name, list(t.df.columns))
    assert generate_database(0, cfg).content_hash() == dbs[0].content_hash()
    off = cfg.replace(relational={"latent_dim": 0})
    pe_on = [_parent_effect(db) for db in dbs]
    pe_off = [_parent_effect(generate_database(s, off)) for s in range(4)]
    assert np.median(pe_on) > np.median(pe_off) + 0.05, (pe_on, pe_off)
    from relforge.tokenize import build_cells
    from relforge.tokenize.cells import ROW_CELL

    st = build_cells(dbs[0])
    roles = {}
    for c in st.columns:
        roles.setdefault(st.tables[c["table"]]["name"], []).append((c["name"], c["role"]))
    assert all(roles[name] == [(ROW_CELL, "key")] for name in referenced[0])
