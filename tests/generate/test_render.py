"""render_column: latent -> typed cells obeying the column's declared constraints."""
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relforge.db.table import Stype, Table
from relforge.errors import RelforgeError
from relforge.generate.render import SENTIMENT, phrases, render_column
from relforge.generate.schema import ColumnSpec


def _lat(n=200, seed=0, nan=0.1):
    x = np.random.default_rng(seed).normal(size=n)
    x[np.random.default_rng(seed + 1).random(n) < nan] = np.nan
    return x


def _r(spec, x, seed=0, **kw):
    return render_column(spec, x, rng=np.random.default_rng(seed), **kw)


def test_numerical_monotone_and_types():
    x = _lat()
    s = _r(ColumnSpec("v", Stype.numerical), x)
    assert s.dtype == "float64"
    ok = ~np.isnan(x)
    assert np.array_equal(np.argsort(x[ok], kind="stable"), np.argsort(s.to_numpy()[ok], kind="stable"))
    i = _r(ColumnSpec("v", Stype.numerical, integer=True, nullable=False), x)
    assert i.dtype == "int64" and i.nunique() > 3  # a narrow latent is stretched, not collapsed
    d = _r(ColumnSpec("v", Stype.numerical, scale=2), x * 123.456)
    v = d.dropna().to_numpy()
    assert np.allclose(v, np.round(v, 2))


def test_not_null_unique_bounds():
    x = _lat(nan=0.3)
    for spec in [ColumnSpec("a", Stype.numerical, nullable=False, unique=True, integer=True),
                 ColumnSpec("b", Stype.numerical, nullable=False, unique=True, scale=1),
                 ColumnSpec("c", Stype.text, nullable=False, unique=True),
                 ColumnSpec("d", Stype.datetime, nullable=False, unique=True, role="date")]:
        s = _r(spec, x)
        assert not s.isna().any(), spec.name
        assert s.is_unique, spec.name
    b = _r(ColumnSpec("p", Stype.numerical, lo=0.0, hi=5.0, scale=2), x * 100)
    assert b.min() >= 0 and b.max() <= 5
    lo_only = _r(ColumnSpec("q", Stype.numerical, lo=10.0, integer=True), x)
    assert lo_only.min() >= 10


def test_roles():
    x = _lat(nan=0)
    cnt = _r(ColumnSpec("n_items", Stype.numerical, role="count"), x)
    assert cnt.dtype == "int64" and cnt.min() >= 0
    amt = _r(ColumnSpec("price", Stype.numerical, role="amount"), x)
    assert (amt > 0).all() and np.allclose(amt, amt.round(2))
    rate = _r(ColumnSpec("rate", Stype.numerical, role="rate"), x)
    assert rate.between(0, 1).all()


def test_labels_enum_and_integer_labels():
    x = _lat(nan=0.2)
    s = _r(ColumnSpec("st", Stype.categorical, labels=("new", "paid", "shipped"), nullable=False), x)
    assert set(s) <= {"new", "paid", "shipped"} and not s.isna().any()
    r = _r(ColumnSpec("rating", Stype.categorical, labels=("1", "2", "3", "4", "5"), integer=True), x)
    assert r.dtype == "Int64" and set(r.dropna()) <= {1, 2, 3, 4, 5}
    with pytest.raises(RelforgeError, match="st"):
        _r(ColumnSpec("st", Stype.categorical, labels=("a", "b"), unique=True), x)


def test_text_carries_signal_and_is_deterministic():
    x = np.linspace(-3, 3, 500)
    spec = ColumnSpec("review", Stype.text, n_categories=11)
    s = _r(spec, x)
    assert s.equals(_r(spec, x))
    # sentiment grows with the latent: the first row's word is more negative than the last row's
    def rank(t):
        return next(i for i, w in enumerate(SENTIMENT) if f" {w} " in t)
    assert rank(s.iloc[0]) < rank(s.iloc[-1])
    assert s.nunique() == 11
    cls = np.arange(40) % 7
    lab = _r(ColumnSpec("status", Stype.text), cls)
    assert lab.nunique() == 7  # int codes of a label-like column -> one phrase per class
    names = _r(ColumnSpec("title", Stype.text), cls)
    assert names.nunique() > 7  # name-like columns spread a class over several distinct strings ...
    assert (pd.Series(cls).groupby(names.to_numpy()).nunique() == 1).all()  # ... that still identify it
    short = _r(ColumnSpec("name", Stype.text, max_len=3, unique=True), _lat(nan=0))
    assert short.str.len().max() <= 3 and short.is_unique


def test_phrases_distinct():
    for style in ("name", "sentence", "label", "code", "person", "first_name", "last_name", "city", "country",
                  "company", "email", "phone", "address", "clock"):
        for k in (1, 5, 60, 3000):
            p = phrases(style, k, rng=np.random.default_rng(k))
            assert len(p) == k and len(set(p)) == k, (style, k)


def test_datetime_window_and_row_times():
    x = _lat(nan=0)
    s = _r(ColumnSpec("opened", Stype.datetime, role="date"), x, window=("2000-01-01", "2001-01-01"))
    assert str(s.dtype) == "datetime64[ns]"
    assert s.min() >= pd.Timestamp("2000-01-01") and s.max() <= pd.Timestamp("2001-01-01")
    assert (s.dt.normalize() == s).all()  # day resolution
    ok = np.argsort(x, kind="stable")
    assert s.to_numpy()[ok].tolist() == sorted(s.to_numpy().tolist())  # monotone in the latent
    times = pd.date_range("2015-01-01", periods=len(x), freq="h").to_numpy()
    t = _r(ColumnSpec("due", Stype.datetime), x, times=times)
    gap = (t - pd.Series(times)).abs()
    assert gap.max() <= pd.Timedelta(days=1825)
    born = _r(ColumnSpec("birth_date", Stype.datetime, role="date"), x, times=times)
    age_years = (pd.Series(times) - born).dt.days / 365.25
    assert age_years.between(17.9, 80.1).all()  # birth dates 18..80 years before the row time
    late = _r(ColumnSpec("d", Stype.datetime, lo=float(pd.Timestamp("2031-01-01").value // 10**9)), x)
    assert late.min() >= pd.Timestamp("2031-01-01")  # a lower bound past the default window is obeyed
    lo = pd.Timestamp("2010-01-01").value // 10**9
    b = _r(ColumnSpec("w", Stype.datetime, lo=float(lo), hi=float(lo + 86400)), x)
    assert b.min() >= pd.Timestamp("2010-01-01") and b.max() <= pd.Timestamp("2010-01-02")


def test_boolean():
    x = _lat(nan=0.2)
    b = _r(ColumnSpec("is_active", Stype.boolean), x)
    assert b.dtype == "boolean" and b.isna().any()
    assert _r(ColumnSpec("is_active", Stype.boolean, nullable=False), x).dtype == "bool"
    assert _r(ColumnSpec("f", Stype.boolean), np.array([0, 1, 2, 0])).tolist() == [False, True, True, False]


_specs = st.builds(
    ColumnSpec,
    name=st.sampled_from(["v", "status", "review", "title", "code", "created_at"]),
    stype=st.sampled_from(list(Stype)),
    n_categories=st.integers(0, 12),
    labels=st.one_of(st.none(), st.lists(st.sampled_from(["a", "b", "c", "1", "2"]), min_size=1, max_size=4, unique=True).map(tuple)),
    nullable=st.booleans(),
    unique=st.booleans(),
    integer=st.booleans(),
    role=st.sampled_from(["feature", "count", "amount", "rate", "score", "date", "name", "sentence", "label", "code"]),
    lo=st.one_of(st.none(), st.floats(-1e6, 1e6)),
    hi=st.one_of(st.none(), st.floats(-1e6, 1e6)),
    scale=st.one_of(st.none(), st.integers(0, 4)),
    max_len=st.one_of(st.none(), st.integers(1, 30)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=_specs, n=st.integers(0, 60), seed=st.integers(0, 2**16), kind=st.sampled_from(["float", "int", "const", "inf"]))
def test_render_property(spec, n, seed, kind):
    rng = np.random.default_rng(seed)
    if spec.lo is not None and spec.hi is not None and spec.lo > spec.hi:
        spec = ColumnSpec(**{**spec.__dict__, "lo": spec.hi, "hi": spec.lo})
    x = {"float": rng.normal(size=n) * 10.0 ** rng.integers(-3, 4), "int": rng.integers(0, 5, n),
         "const": np.full(n, 1.5), "inf": np.where(rng.random(n) < 0.2, np.inf, rng.normal(size=n))}[kind]
    if kind == "float" and n:
        x[rng.random(n) < 0.2] = np.nan
    try:
        s = render_column(spec, x, rng=rng)
    except RelforgeError:
        return
    assert len(s) == n
    if not spec.nullable:
        assert not s.isna().any()
    if spec.unique:
        assert s.dropna().is_unique
    if spec.labels and spec.stype in (Stype.categorical, Stype.text) and not spec.integer:
        assert set(s.dropna()) <= set(spec.labels)
    if spec.stype == Stype.text and spec.max_len is not None and not spec.labels:
        assert s.dropna().str.len().max(skipna=True) <= spec.max_len if len(s.dropna()) else True
    if spec.stype == Stype.numerical and not spec.labels:
        v = s.dropna().to_numpy(dtype=float)
        assert np.isfinite(v).all()
        if len(v) and spec.lo is not None and spec.role not in ("count", "amount", "rate", "score"):
            assert v.min() >= spec.lo - 1e-6 * max(1, abs(spec.lo))
        if len(v) and spec.hi is not None and spec.role not in ("count", "amount", "rate", "score"):
            assert v.max() <= spec.hi + 1e-6 * max(1, abs(spec.hi))
    # the column passes Table validation with its declared type
    Table(pd.DataFrame({spec.name: s}), stypes={spec.name: spec.stype}).validate("t")
