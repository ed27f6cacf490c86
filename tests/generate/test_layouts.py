"""Stage-1/3 DAG catalogue (generator.md §2): invariants, determinism, degenerate sizes."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from relforge.errors import RelforgeError
from relforge.generate.config import EDGE_WEIGHTS, GRAPH_LAYOUTS
from relforge.generate.layouts import (LAYOUTS, barabasi_albert, edge_weights, ensure_connected, is_acyclic,
                                       layered, n_components, sample_dag, watts_strogatz)


def test_registry_matches_config_names():
    assert set(LAYOUTS) == set(GRAPH_LAYOUTS)


@pytest.mark.parametrize("name", GRAPH_LAYOUTS)
@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 25])
def test_acyclic_connected_in_range(name, n):
    for seed in range(8):
        e = sample_dag(name, n, rng=np.random.default_rng(seed))
        assert e.dtype == np.int64 and e.ndim == 2 and e.shape[1] == 2
        if n < 2:
            assert len(e) == 0
            continue
        assert e.min() >= 0 and e.max() < n
        assert (e[:, 0] != e[:, 1]).all()
        assert len(np.unique(e, axis=0)) == len(e)
        assert is_acyclic(n, e)
        assert n_components(n, e) == 1


@given(name=st.sampled_from(GRAPH_LAYOUTS), n=st.integers(0, 40), seed=st.integers(0, 2**32))
@settings(max_examples=60, deadline=None)
def test_property_acyclic_connected(name, n, seed):
    e = sample_dag(name, n, rng=np.random.default_rng(seed))
    assert is_acyclic(n, e)
    assert n == 0 or n_components(n, e) == 1


@pytest.mark.parametrize("name", GRAPH_LAYOUTS)
def test_deterministic_per_seed(name):
    a = sample_dag(name, 15, rng=np.random.default_rng(5))
    b = sample_dag(name, 15, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    others = [sample_dag(name, 15, rng=np.random.default_rng(s)) for s in range(6, 12)]
    assert any(o.shape != a.shape or (o != a).any() for o in others)


def test_trees_have_single_source_or_sink():
    for seed in range(10):
        n = 12
        e = sample_dag("random_tree", n, rng=np.random.default_rng(seed))
        assert len(e) == n - 1
        assert (np.bincount(e[:, 1], minlength=n) == 0).sum() == 1  # one root
        r = sample_dag("reverse_random_tree", n, rng=np.random.default_rng(seed))
        assert (np.bincount(r[:, 0], minlength=n) == 0).sum() == 1  # one fact table


def test_ba_sparsification_removes_edges():
    n, m = 30, 2
    full = [len(barabasi_albert(n, rng=np.random.default_rng(s), m=m, sink_dropout=0.0)) for s in range(20)]
    sparse = [len(barabasi_albert(n, rng=np.random.default_rng(s), m=m, sink_dropout=1.0)) for s in range(20)]
    assert all(f == m * (n - m - 1) + m for f in full)  # star on m+1 nodes, then m edges per node
    assert np.mean(sparse) < np.mean(full) - 1


def test_layered_edges_only_between_adjacent_layers_and_no_orphans():
    for seed in range(10):
        e = layered(20, rng=np.random.default_rng(seed), depth=4, dropout=0.5)
        n = 20
        indeg = np.bincount(e[:, 1], minlength=n)
        outdeg = np.bincount(e[:, 0], minlength=n)
        assert ((indeg + outdeg) > 0).all()
        assert (e[:, 0] < e[:, 1]).all()  # ids consecutive by layer


def test_watts_strogatz_k_capped_for_small_n():
    e = watts_strogatz(3, rng=np.random.default_rng(0), k=4, p=0.0)
    assert is_acyclic(3, e) and n_components(3, e) == 1
    ring = watts_strogatz(10, rng=np.random.default_rng(0), k=4, p=0.0)
    assert len(ring) == 20  # k/2 = 2 neighbours per node, no rewiring


def test_ensure_connected_joins_components():
    e = np.array([[0, 1], [2, 3], [4, 5]])
    out = ensure_connected(7, e, rng=np.random.default_rng(0))
    assert n_components(7, out) == 1 and is_acyclic(7, out)
    assert len(out) == len(e) + 3


def test_unknown_layout_and_bad_params():
    with pytest.raises(RelforgeError, match="unknown graph layout 'nope'"):
        sample_dag("nope", 4, rng=np.random.default_rng(0))
    with pytest.raises(RelforgeError, match="bad parameters"):
        sample_dag("random_tree", 4, rng=np.random.default_rng(0), params={"m": 3})


def test_params_override_defaults():
    dense = sample_dag("erdos_renyi", 20, rng=np.random.default_rng(0), params={"p": 1.0})
    assert len(dense) == 20 * 19 // 2
    assert len(sample_dag("layered", 10, rng=np.random.default_rng(0), params={"depth": 1})) == 9  # joined


def test_edge_weights_one_distribution_per_dag():
    seen = set()
    for seed in range(40):
        w = edge_weights(200, rng=np.random.default_rng(seed))
        assert w.shape == (200,) and w.dtype == np.float64 and np.isfinite(w).all()
        if (w > 0).all():
            seen.add("lognormal")
        elif np.abs(w).max() <= 2:
            seen.add("uniform")
    assert seen == {"lognormal", "uniform"}
    w = edge_weights(1000, rng=np.random.default_rng(0), dists=("uniform",))
    assert w.min() >= -2 and w.max() <= 2
    assert set(EDGE_WEIGHTS) == {"normal", "lognormal", "cauchy", "uniform"}
    assert edge_weights(0, rng=np.random.default_rng(0)).shape == (0,)


def test_ba_leaf_flip_keeps_dag_and_changes_edges():
    for seed in range(10):
        a = barabasi_albert(25, rng=np.random.default_rng(seed))
        b = barabasi_albert(25, rng=np.random.default_rng(seed), leaf_flip=1.0)
        assert is_acyclic(25, b) and n_components(25, b) == 1
        assert len(a) == len(b)
    sinks = lambda e: (np.bincount(e[:, 0], minlength=25) == 0).sum()
    assert np.mean([sinks(barabasi_albert(25, rng=np.random.default_rng(s), leaf_flip=1.0)) for s in range(10)]) < \
        np.mean([sinks(barabasi_albert(25, rng=np.random.default_rng(s))) for s in range(10)])
