"""Stage-3 building blocks (generator.md §4.2-4.5): activations, inits, MLPs, sources, aggregation."""
import math

import numpy as np
import pytest

from relforge.generate import scm
from relforge.generate.config import ACTIVATIONS, AGGREGATIONS, SOURCES, WEIGHT_INITS, GeneratorConfig
from relforge.metrics import lag1_autocorr

CFG = GeneratorConfig().scm
WIDE = np.concatenate([np.linspace(-1e6, 1e6, 2001), np.linspace(-50, 50, 1001), [0.0, -1e-30, 1e-30]]).astype(np.float32)


def test_29_activations():
    assert len(ACTIVATIONS) == 29


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_finite_float32(name):
    f = scm.make_activation(name, rng=np.random.default_rng(0))
    with np.errstate(over="raise", invalid="raise", divide="raise", under="ignore"):
        y = f(WIDE.copy())
    assert y.dtype == np.float32 and y.shape == WIDE.shape
    assert np.isfinite(y).all()


def test_activation_values():
    x = np.array([-2.0, -0.3, 0.0, 0.3, 2.0], dtype=np.float32)
    act = lambda n: scm.make_activation(n, rng=np.random.default_rng(0))(x)  # noqa: E731
    np.testing.assert_allclose(act("relu"), [0, 0, 0, 0.3, 2])
    np.testing.assert_allclose(act("hardshrink"), [-2, 0, 0, 0, 2])
    np.testing.assert_allclose(act("softshrink"), [-1.5, 0, 0, 0, 1.5])
    np.testing.assert_allclose(act("sigmoid"), 1 / (1 + np.exp(-x)), rtol=1e-6)
    np.testing.assert_allclose(act("elu"), np.where(x > 0, x, np.expm1(x)), rtol=1e-6)
    np.testing.assert_allclose(act("smooth_bent"), (np.sqrt(x * x + 1) - 1) / 2 + x, rtol=1e-6)
    np.testing.assert_allclose(act("logsigmoid"), -np.log1p(np.exp(-x)), rtol=1e-5)


def test_sine_sum_draws_per_instance():
    a = scm.make_activation("sine_sum", rng=np.random.default_rng(1))
    b = scm.make_activation("sine_sum", rng=np.random.default_rng(2))
    x = np.linspace(-3, 3, 50, dtype=np.float32)
    assert not np.allclose(a(x), b(x))
    assert 3 <= len(a.a) <= 7 and np.all((a.f >= 0.1 - 1e-6) & (a.f <= 10 + 1e-5))


@pytest.mark.parametrize("name", WEIGHT_INITS)
def test_init_scale(name):
    rng = np.random.default_rng(0)
    fan_in, fan_out = 64, 256
    w = scm.init_weight(name, fan_in, fan_out, rng=rng)
    assert w.shape == (fan_in, fan_out) and w.dtype == np.float32
    expected = {
        "kaiming_normal": math.sqrt(2 / fan_in),
        "kaiming_uniform": math.sqrt(2 / fan_in),  # U(+-sqrt(6/fan_in)) has std sqrt(2/fan_in)
        "xavier_normal": math.sqrt(2 / (fan_in + fan_out)),
        "xavier_uniform": math.sqrt(2 / (fan_in + fan_out)),
        "trunc_normal": 0.8796,  # std of N(0,1) truncated to +-2
        "sparse": math.sqrt(1 / fan_in),  # half zero, survivors N(0, 1/sqrt(fan_in/2))
    }[name]
    assert abs(w.std() / expected - 1) < 0.05
    if name == "trunc_normal":
        assert np.abs(w).max() <= 2
    if name == "sparse":
        assert ((w == 0).sum(0) == fan_in // 2).all()


def test_fans_not_swapped():
    # kaiming uses fan_in = rows of the (fan_in, fan_out) matrix used as x @ W
    w = scm.init_weight("kaiming_normal", 4, 400, rng=np.random.default_rng(0))
    assert abs(w.std() - math.sqrt(2 / 4)) < 0.05


@pytest.mark.parametrize("name", WEIGHT_INITS)
def test_no_dead_1xh_encoder(name):
    for s in range(20):
        w = scm.init_weight(name, 1, 16, rng=np.random.default_rng(s))
        w = scm.density_mask(w, 0.3, rng=np.random.default_rng(s + 100))
        assert np.count_nonzero(w) >= 1


def test_mlp_deterministic_and_shapes():
    x = np.random.default_rng(5).standard_normal((300, 16)).astype(np.float32)
    a = scm.RandomMLP(16, 16, 1, rng=np.random.default_rng(3))
    b = scm.RandomMLP(16, 16, 1, rng=np.random.default_rng(3))
    c = scm.RandomMLP(16, 16, 1, rng=np.random.default_rng(4))
    ya, yb, yc = a(x), b(x), c(x)
    assert ya.shape == (300, 1) and ya.dtype == np.float32
    np.testing.assert_array_equal(ya, yb)
    assert not np.array_equal(ya, yc)
    assert 2 <= len(a.weights) <= 4
    enc = scm.RandomMLP(1, 16, 16, rng=np.random.default_rng(3))
    assert enc(x[:, 0]).shape == (300, 16)


def test_mlp_row_independent():
    x = np.random.default_rng(5).standard_normal((1000, 8)).astype(np.float32)
    m = scm.RandomMLP(8, 8, 3, rng=np.random.default_rng(9))
    np.testing.assert_allclose(m(x)[100:200], m(x[100:200]), rtol=1e-5, atol=1e-6)


def test_mlp_finite_on_extreme_inputs():
    x = np.array([[1e6] * 16, [-1e6] * 16, [0] * 16], dtype=np.float32)
    for s in range(30):
        y = scm.RandomMLP(16, 16, 1, rng=np.random.default_rng(s))(x)
        assert np.isfinite(y).all() and np.abs(y).max() <= scm.CLAMP


@pytest.mark.parametrize("how", AGGREGATIONS)
def test_aggregate_finite(how):
    big = [np.full((4, 3), v, np.float32) for v in (1e4, 3e4, -1e4, 5e3, 1e4, 1e4, 1e4, 1e4)]
    out = scm.aggregate([b.copy() for b in big], how)
    assert out.shape == (4, 3) and np.isfinite(out).all()
    small = [np.array([[1.0, -2.0]], np.float32), np.array([[3.0, 0.5]], np.float32)]
    ref = {"sum": [4, -1.5], "max": [3, 0.5], "product": [3, -1],
           "logsumexp": np.log(np.exp([1, -2]) + np.exp([3, 0.5]))}[how]
    np.testing.assert_allclose(scm.aggregate([s.copy() for s in small], how)[0], ref, rtol=1e-5)


def test_ar1_matches_recursion():
    rng = np.random.default_rng(0)
    eps = rng.standard_normal(20000)
    for rho in (0.0, 0.3, 0.9, 0.99, 0.9999):
        z = scm.ar1(eps, rho)
        ref = np.empty_like(eps)
        acc = 0.0
        for i in range(200):  # reference loop on a prefix only
            acc = rho * acc + eps[i]
            ref[i] = acc
        np.testing.assert_allclose(z[:200], ref[:200], rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(z[1:] - rho * z[:-1], eps[1:], atol=1e-8)


def test_ts_source_temporal_structure():
    acs = [lag1_autocorr(scm.ts_source(3000, rng=np.random.default_rng(s), temporal=True, cfg=CFG)) for s in range(40)]
    assert np.median(acs) > 0.6
    flat = [lag1_autocorr(scm.ts_source(3000, rng=np.random.default_rng(s), temporal=False, cfg=CFG)) for s in range(40)]
    assert abs(np.median(flat)) < 0.05  # entity tables: i.i.d., row order means nothing


@pytest.mark.parametrize("kind", SOURCES)
def test_sources_shapes_ranges(kind):
    for s in range(5):
        rng = np.random.default_rng(s)
        x = scm.ts_source(500, rng=rng, temporal=True, cfg=CFG) if kind == "ts" else scm.iid_source(kind, 500, rng=rng, cfg=CFG)
        assert x.shape == (500,) and x.dtype == np.float32 and np.isfinite(x).all()
        if kind in ("uniform", "gaussian", "beta"):
            assert x.min() >= 0 and x.max() <= 100 + 1e-3
        if kind in ("exponential", "pareto", "poisson", "lognormal"):
            assert x.min() >= 0


def test_categorical_sources():
    for temporal, kind in ((True, "ts"), (False, "uniform")):
        codes = scm.categorical_source(kind, 4000, 5, rng=np.random.default_rng(0), temporal=temporal, cfg=CFG)
        assert codes.dtype == np.int64 and codes.min() >= 0 and codes.max() <= 4
    ts_codes = [scm.categorical_source("ts", 4000, 3, rng=np.random.default_rng(s), temporal=True, cfg=CFG) for s in range(10)]
    assert np.median([lag1_autocorr(c) for c in ts_codes]) > 0.2


def test_beta_noise_scale():
    x = scm.beta_noise(20000, 2.0, 5.0, 0.3, rng=np.random.default_rng(0))
    assert abs(x.mean()) < 0.01 and abs(x.std() - 0.3) < 0.01


def test_sources_of_an_empty_table_are_empty_and_quiet():
    """A SQL schema's empty table (the fuzz tests draw them) gets empty sources without numpy's
    "mean of empty slice" warnings (fails before the n == 0 guard of ``ts_source``)."""
    import warnings

    for temporal in (True, False):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            a, b = np.random.default_rng(3), np.random.default_rng(3)
            assert scm.ts_source(0, rng=a, temporal=temporal, cfg=CFG).shape == (0,)
            assert scm.categorical_source("ts", 0, 4, rng=b, temporal=temporal, cfg=CFG).shape == (0,)
