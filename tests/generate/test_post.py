"""Post-processing (generator.md §5): transforms, categorical -> boolean, NaN masks."""
import numpy as np
import pytest

from relforge.db.table import Stype
from relforge.generate import post
from relforge.generate.config import TRANSFORMS, GeneratorConfig, load_config
from relforge.generate.schema import ColumnSpec, Schema, TableSpec

X = np.random.default_rng(0).standard_normal(2000) * 5 + 1


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transforms_finite_and_defined(name):
    y = post.transform(X, name, rng=np.random.default_rng(0))
    assert y.shape == X.shape and np.isfinite(y).all()
    if name == "identity":
        np.testing.assert_array_equal(y, X)
    elif name == "rank_uniform":
        assert y.min() > 0 and y.max() < 1 and np.all(np.argsort(y) == np.argsort(X))
        np.testing.assert_allclose(np.sort(y), (np.arange(len(X)) + 1) / (len(X) + 1))
    elif name == "log":
        np.testing.assert_allclose(y, np.sign(X) * np.log1p(np.abs(X)))
    elif name == "sqrt":
        np.testing.assert_allclose(y, np.sign(X) * np.sqrt(np.abs(X)))
    elif name == "standardize":
        assert abs(y.mean()) < 1e-9 and abs(y.std() - 1) < 1e-9
    elif name == "threshold":
        assert y.min() == 0 and 0.04 < (y > 0).mean() < 0.61
    elif name in ("square", "expm1"):
        assert np.all(np.diff(y[np.argsort(X)]) >= 0)  # monotone


def test_transform_constant_and_extreme():
    c = np.full(50, 3.0)
    for name in TRANSFORMS:
        assert np.isfinite(post.transform(c, name, rng=np.random.default_rng(0))).all()
    big = np.array([1e30, -1e30, 0.0, 5.0])
    for name in TRANSFORMS:
        assert np.isfinite(post.transform(big, name, rng=np.random.default_rng(0))).all()


def _schema(n=4000):
    cols = [ColumnSpec("num", Stype.numerical), ColumnSpec("cat", Stype.categorical, n_categories=5),
            ColumnSpec("lab", Stype.categorical, labels=("a", "b")), ColumnSpec("req", Stype.numerical, nullable=False),
            ColumnSpec("const", Stype.categorical, n_categories=3)]
    return Schema({"t": TableSpec("t", n, "entity", columns=cols)})


def _values(n=4000):
    rng = np.random.default_rng(1)
    return {"t": {"num": rng.standard_normal(n).astype(np.float32), "cat": rng.integers(0, 5, n),
                  "lab": rng.integers(0, 2, n), "req": rng.standard_normal(n).astype(np.float32),
                  "const": np.zeros(n, dtype=np.int64)}}


def test_apply_transforms_only_numeric():
    s, v = _schema(), _values()
    out = post.apply_transforms(s, v, GeneratorConfig(), seed=0)
    np.testing.assert_array_equal(out["t"]["cat"], v["t"]["cat"])
    assert out["t"]["num"].shape == v["t"]["num"].shape


def test_categorical_to_bool():
    s, v = _schema(), _values()
    s2, v2 = post.categorical_to_bool(s, v, GeneratorConfig(), seed=0)
    specs = {c.name: c for c in s2.tables["t"].columns}
    assert specs["cat"].stype == Stype.boolean and set(np.unique(v2["t"]["cat"])) == {0, 1}
    assert specs["lab"].stype == Stype.categorical  # labelled columns stay
    assert "const" not in specs and "const" not in v2["t"]  # constant after conversion: dropped
    s3, v3 = post.categorical_to_bool(s, v, load_config({"post": {"categorical_to_bool": False}}), seed=0)
    assert s3 is s and v3 is v


def test_nan_masks_rates_vary_and_respect_nullable():
    s = _schema(20000)
    cfg = load_config({"post": {"nan_frac": (0.05, 0.1), "nan_col_share": (1.0, 1.0)}})
    rates = []
    for seed in range(5):
        m = post.nan_masks(s, cfg, seed=seed)["t"]
        assert "req" not in m  # nullable=False stays complete
        rates.append([m[c].mean() for c in ("num", "cat", "lab")])
    rates = np.array(rates)
    assert rates.min() > 0.005 and rates.max() < 0.35
    assert len(np.unique(np.round(rates, 4))) > 5  # per-column rates differ (not identical counts)
    zero = post.nan_masks(s, load_config({"post": {"nan_frac": (0.0, 0.0)}}), seed=0)["t"]
    assert zero == {}
    none = post.nan_masks(s, load_config({"post": {"nan_col_share": (0.0, 0.0)}}), seed=0)["t"]
    assert none == {}


def test_nan_masks_concentrate_in_some_columns():
    """Real databases have missing values in a few columns (F1: 13 %), not in every one (§8.6)."""
    s = _schema(2000)
    cfg = load_config({"post": {"nan_col_share": (0.3, 0.3)}})
    picked = [len(post.nan_masks(s, cfg, seed=seed)["t"]) for seed in range(60)]
    n_nullable = 3  # num, cat, lab
    share = np.sum(picked) / (60 * n_nullable)
    assert 0.15 < share < 0.45  # ~0.3 of nullable columns, never all of them by construction
