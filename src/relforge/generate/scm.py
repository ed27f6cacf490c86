"""Stage-3 building blocks: activations, weight inits, frozen random MLPs, source generators,
node noise and input aggregation (generator.md §4.2-4.5).

Everything is vectorized numpy in float32 and draws only from the explicit ``rng`` it is given.
Only numpy is imported (no torch, no scipy): the AR(1) recursion of the ``ts`` source is solved
block-wise with cumulative sums (:func:`ar1`), so no Python loop runs over rows.

Differences from the reference, on purpose (generator.md §8):

- fan-in / fan-out follow the weight's real shape ``(fan_in, fan_out)`` (the reference swaps them);
- ``sparse`` init keeps at least one non-zero entry per output unit and scales the survivors to
  unit fan-in variance (the reference zeroes a 1xH encoder weight completely and uses std 0.01);
- a density mask never empties a whole matrix;
- ``product`` / ``logsumexp`` aggregation stay finite for any clamped input.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

F32 = np.float32
CLAMP = 1e6  # hidden activations are clamped to +-CLAMP (§4.3)
AGG_CLAMP = 1e4  # aggregation inputs are clamped to +-AGG_CLAMP (§4.2)

# ---------------------------------------------------------------- activations (§4.3)


def _sigmoid(x):
    return F32(0.5) + F32(0.5) * np.tanh(F32(0.5) * x)


def _softplus(x):
    return np.maximum(x, F32(0)) + np.log1p(np.exp(-np.abs(x)))


def _elu(x, alpha=1.0):
    return np.where(x > 0, x, F32(alpha) * np.expm1(np.minimum(x, F32(0))))


def _gelu(x):
    xc = np.clip(x, F32(-10), F32(10))
    return F32(0.5) * x * (F32(1) + np.tanh(F32(0.7978845608) * (xc + F32(0.044715) * xc * xc * xc)))


_SELU_A, _SELU_S = 1.6732632423543772, 1.0507009873554805
_RRELU_SLOPE = (1.0 / 8.0 + 1.0 / 3.0) / 2.0  # eval-mode rrelu: mean of the default slope range

_ACTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, F32(0)),
    "elu": _elu,
    "selu": lambda x: F32(_SELU_S) * _elu(x, _SELU_A),
    "silu": lambda x: x * _sigmoid(x),
    "softsign": lambda x: x / (F32(1) + np.abs(x)),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "hardswish": lambda x: x * np.clip(x + F32(3), F32(0), F32(6)) / F32(6),
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "leaky_relu": lambda x: np.where(x > 0, x, F32(0.01) * x),
    "gelu": _gelu,
    "softplus": _softplus,
    "hardsigmoid": lambda x: np.clip(x / F32(6) + F32(0.5), F32(0), F32(1)),
    "hardtanh": lambda x: np.clip(x, F32(-1), F32(1)),
    "celu": _elu,  # alpha = 1
    "tanhshrink": lambda x: x - np.tanh(x),
    "rrelu": lambda x: np.where(x > 0, x, F32(_RRELU_SLOPE) * x),
    "logsigmoid": lambda x: -_softplus(-x),
    "softshrink": lambda x: np.sign(x) * np.maximum(np.abs(x) - F32(0.5), F32(0)),
    "hardshrink": lambda x: np.where(np.abs(x) > F32(0.5), x, F32(0)),
    "identity": lambda x: x,
    "abs": np.abs,
    "sin": np.sin,
    "cos": np.cos,
    "sign": np.sign,
    "clamp": lambda x: np.clip(x, F32(-1), F32(1)),
    "signed_log1p": lambda x: np.sign(x) * np.log1p(np.abs(x)),
    "smooth_bent": lambda x: (np.hypot(x, F32(1)) - F32(1)) / F32(2) + x,
}
# activations whose output is bounded for any input: no clamp needed after them
BOUNDED = frozenset({"softsign", "tanh", "sigmoid", "hardsigmoid", "hardtanh", "sin", "cos", "sign", "clamp",
                     "sine_sum"})


@dataclass(frozen=True)
class SineSum:
    """Random sine sum ``sum_k a_k sin(f_k x + phi_k)`` (§4.3); parameters drawn per instance."""

    a: np.ndarray
    f: np.ndarray
    phi: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = np.zeros_like(x)
        for a, f, p in zip(self.a, self.f, self.phi):  # 3..7 terms, vectorized over x
            out += a * np.sin(f * x + p)
        return out


def make_activation(name: str, *, rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """The activation ``name`` (one of ``config.ACTIVATIONS``) as a float32 array function.

    ``sine_sum`` draws its own n~U{3..7}, a~N(0,1), f~LogU(0.1,10), phi~U(0,2pi) from ``rng``.
    """
    if name == "sine_sum":
        n = int(rng.integers(3, 8))
        return SineSum(rng.standard_normal(n).astype(F32),
                       np.exp(rng.uniform(math.log(0.1), math.log(10.0), n)).astype(F32),
                       rng.uniform(0, 2 * math.pi, n).astype(F32))
    try:
        return _ACTS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}") from None


# ---------------------------------------------------------------- weight inits (§1, §4.3)


def _weight(name: str, fan_in: int, fan_out: int, z: np.ndarray, u: np.ndarray, rng) -> np.ndarray:
    """Init ``name`` from pre-drawn standard normals ``z`` and uniforms ``u`` (fan_in*fan_out each)."""
    shape = (fan_in, fan_out)
    z = z.reshape(shape)
    if name == "kaiming_normal":
        return z * F32(math.sqrt(2.0 / fan_in))
    if name == "kaiming_uniform":
        b = math.sqrt(6.0 / fan_in)
        return u.reshape(shape) * F32(2 * b) - F32(b)
    if name == "xavier_normal":
        return z * F32(math.sqrt(2.0 / (fan_in + fan_out)))
    if name == "xavier_uniform":
        b = math.sqrt(6.0 / (fan_in + fan_out))
        return u.reshape(shape) * F32(2 * b) - F32(b)
    if name == "trunc_normal":
        w = z.copy()
        bad = np.abs(w) > 2
        while bad.any():  # redraw outside +-2 (~5% of entries, a few rounds)
            w[bad] = rng.standard_normal(int(bad.sum()), dtype=F32)
            bad = np.abs(w) > 2
        return w
    if name == "sparse":
        n_zero = min(fan_in - 1, math.ceil(0.5 * fan_in)) if fan_in > 1 else 0
        w = z * F32(1.0 / math.sqrt(fan_in - n_zero))
        if n_zero:  # per column, the rows holding its n_zero smallest uniforms (a random set)
            uu = u.reshape(shape)
            kth = np.partition(uu, n_zero - 1, axis=0)[n_zero - 1]
            w = w * (uu > kth)
        return w
    raise ValueError(f"unknown weight init {name!r}")


def init_weight(name: str, fan_in: int, fan_out: int, *, rng: np.random.Generator) -> np.ndarray:
    """A ``(fan_in, fan_out)`` float32 weight matrix (used as ``x @ W``) from init ``name``.

    kaiming_normal N(0, sqrt(2/fan_in)); kaiming_uniform U(+-sqrt(6/fan_in)); xavier_normal
    N(0, sqrt(2/(fan_in+fan_out))); xavier_uniform U(+-sqrt(6/(fan_in+fan_out))); trunc_normal
    N(0,1) truncated to +-2; sparse: half of each output unit's inputs zeroed (at least one kept),
    survivors N(0, 1/sqrt(kept)).
    """
    k = fan_in * fan_out
    return _weight(name, fan_in, fan_out, rng.standard_normal(k, dtype=F32), rng.random(k, dtype=F32), rng)


def _mask(w: np.ndarray, density: float, m: np.ndarray, rng) -> np.ndarray:
    if density >= 1.0:
        return w
    keep = m.reshape(w.shape) < F32(density)
    if not np.count_nonzero(keep):
        keep.flat[int(rng.integers(keep.size))] = True
    w = w * keep
    w *= F32(1.0 / density)
    return w


def density_mask(w: np.ndarray, density: float, *, rng: np.random.Generator) -> np.ndarray:
    """``w`` times a Bernoulli(density) mask divided by density (§4.3); never empties ``w``."""
    if density >= 1.0:
        return w
    return _mask(w, density, rng.random(w.size, dtype=F32), rng)


# ---------------------------------------------------------------- random MLP (§4.3)


class RandomMLP:
    """A frozen random MLP ``in -> hid x (L-1) -> out`` with no biases (§4.3).

    Hidden layers: ``h = s * act(h @ W)`` with ``s = exp(U(-1,1))`` (folded into the next weight);
    the last layer is linear and its output is clamped to +-1e6. ``L ~ U{layers}``; every weight
    gets a random init (:func:`init_weight`) and a density mask (:func:`density_mask`). Hidden
    values are not clamped per layer: callers feed standardized inputs and every activation grows
    at most linearly, so they stay many orders of magnitude inside float32 range (the per-layer
    clamp of §4.3 only guarded that). All of an MLP's random numbers come from a few bulk draws.
    """

    def __init__(self, d_in: int, d_hid: int, d_out: int, *, rng: np.random.Generator,
                 layers: tuple[int, int] = (2, 4), activations=None, inits=None,
                 density: tuple[float, float] = (0.3, 1.0)):
        from relforge.generate.config import ACTIVATIONS, WEIGHT_INITS

        activations = activations or ACTIVATIONS
        inits = inits or WEIGHT_INITS
        prm = rng.random(2 + 3 * 8)
        lo, hi = layers
        n_layers = min(hi, lo + int(prm[0] * (hi - lo + 1)))
        dens = density[0] + (density[1] - density[0]) * float(prm[1])
        init_names = [inits[int(prm[2 + i] * len(inits))] for i in range(n_layers)]
        act_ids = (prm[10:18] * len(activations)).astype(np.int64)
        scales = np.exp(prm[18:26] * 2.0 - 1.0)
        dims = [d_in] + [d_hid] * (n_layers - 1) + [d_out]
        sizes = np.array([dims[i] * dims[i + 1] for i in range(n_layers)])
        total = int(sizes.sum())
        z = rng.standard_normal(total, dtype=F32)
        u = rng.random(2 * total, dtype=F32)
        # every layer's init as one elementwise affine map of z (normal inits) or u (uniform inits),
        # times the density mask and the previous layer's activation scale: a few bulk operations
        a = np.empty(n_layers, np.float32)  # multiplier of z or of (2u - 1)
        unif = np.zeros(n_layers, bool)
        for i, name in enumerate(init_names):
            fi, fo = dims[i], dims[i + 1]
            if name == "kaiming_normal":
                a[i] = math.sqrt(2.0 / fi)
            elif name == "kaiming_uniform":
                a[i], unif[i] = math.sqrt(6.0 / fi), True
            elif name == "xavier_normal":
                a[i] = math.sqrt(2.0 / (fi + fo))
            elif name == "xavier_uniform":
                a[i], unif[i] = math.sqrt(6.0 / (fi + fo)), True
            else:  # trunc_normal / sparse: fixed up per layer below
                a[i] = 1.0
        keep = u[total:] < F32(dens) if dens < 1.0 else None
        mult = a * np.concatenate([[1.0], scales[: n_layers - 1]]).astype(F32)
        if dens < 1.0:
            mult = mult / F32(dens)
        w_all = np.where(np.repeat(unif, sizes), u[:total] * F32(2) - F32(1), z)
        w_all *= np.repeat(mult.astype(F32), sizes)
        if keep is not None:
            w_all *= keep
        self.weights: list[np.ndarray] = []
        self.acts: list[Callable] = []
        off = 0
        for i in range(n_layers):
            k = int(sizes[i])
            w = w_all[off:off + k].reshape(dims[i], dims[i + 1])
            if init_names[i] in ("trunc_normal", "sparse"):
                w = _weight(init_names[i], dims[i], dims[i + 1], z[off:off + k], u[off:off + k], rng)
                w = w * (F32(mult[i]) * keep[off:off + k].reshape(w.shape) if keep is not None else F32(mult[i]))
            if keep is not None and not np.count_nonzero(w):  # never an all-zero matrix
                base = _weight(init_names[i], dims[i], dims[i + 1], z[off:off + k], u[off:off + k], rng)
                j = int(rng.integers(k))
                w = np.zeros_like(base)
                w.flat[j] = base.flat[j] * mult[i] if base.flat[j] != 0 else mult[i]
            off += k
            self.weights.append(w)
            if i < n_layers - 1:
                self.acts.append(make_activation(activations[act_ids[i]], rng=rng))
        self.d_in, self.d_out = d_in, d_out

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``x`` (n, d_in) or (n,) when d_in == 1 -> (n, d_out) float32."""
        h = np.asarray(x, dtype=F32)
        for i, w in enumerate(self.weights):
            if h.ndim == 1:  # (n,) x (1, d) -> (n, d): an outer product, cheaper than matmul
                h = h[:, None] * w[0]
            else:
                h = h @ w
            if i < len(self.acts):
                h = self.acts[i](h)
        np.minimum(h, F32(CLAMP), out=h)
        return np.maximum(h, F32(-CLAMP), out=h)


# ---------------------------------------------------------------- aggregation (§4.2)


def aggregate(inputs: list[np.ndarray], how: str) -> np.ndarray:
    """Reduce same-shaped inputs elementwise: sum, max, product or logsumexp; always finite.

    Inputs are finite (MLP outputs are clamped to +-1e6, edge weights to +-1e4), so sum, max and
    logsumexp (computed around the running max) cannot overflow float32. ``product`` clamps its
    inputs to +-1e4 (§4.2) and its running product to +-1e6 in float64. The result may be
    modified in place by the caller.
    """
    if len(inputs) == 1:
        return inputs[0]
    if how == "sum":
        out = inputs[0] + inputs[1]
        for x in inputs[2:]:
            out += x
        return out
    if how == "max":
        out = np.maximum(inputs[0], inputs[1])
        for x in inputs[2:]:
            np.maximum(out, x, out=out)
        return out
    if how == "product":
        out = np.clip(inputs[0], -AGG_CLAMP, AGG_CLAMP).astype(np.float64)
        for x in inputs[1:]:
            out *= np.clip(x, -AGG_CLAMP, AGG_CLAMP)
            np.clip(out, -CLAMP, CLAMP, out=out)  # <= 1e6 * 1e4: never overflows float64
        return out.astype(F32)
    if how == "logsumexp":
        m = np.maximum(inputs[0], inputs[1])
        for x in inputs[2:]:
            np.maximum(m, x, out=m)
        s = np.zeros_like(m)
        for x in inputs:
            s += np.exp(x - m)
        return m + np.log(s)
    raise ValueError(f"unknown aggregation {how!r}")


# ---------------------------------------------------------------- node noise (§4.2)


def beta_noise(n: int, a: float, b: float, scale: float, *, rng: np.random.Generator) -> np.ndarray:
    """``n`` centred Beta(a, b) draws rescaled to standard deviation ``scale`` (float32)."""
    x = rng.beta(a, b, n)
    mean = a / (a + b)
    std = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    return ((x - mean) * (scale / std)).astype(F32)


# ---------------------------------------------------------------- sources (§4.5)


def ar1(eps: np.ndarray, rho: float) -> np.ndarray:
    """The AR(1) state ``z_i = rho z_{i-1} + eps_i`` (z_{-1} = 0), vectorized.

    Within blocks of B rows, ``z_j = rho^j * cumsum(eps_k rho^-k)`` (B is chosen so ``rho^-B``
    stays < 1e120 in float64); blocks are chained with the carried state, so the only Python loop
    runs over n / B blocks, never over rows.
    """
    eps = np.asarray(eps, dtype=np.float64)
    n = len(eps)
    if rho == 0.0 or n == 0:
        return eps.copy()
    B = n if abs(rho) >= 1 else max(1, min(n, int(120.0 / -math.log10(abs(rho)))))
    B = min(B, 8192)
    j = np.arange(B, dtype=np.float64)
    pw = rho ** j  # rho^j
    inv = rho ** -j
    out = np.empty(n)
    carry = 0.0
    for start in range(0, n, B):
        e = eps[start:start + B]
        m = len(e)
        z = pw[:m] * np.cumsum(e * inv[:m]) + carry * rho * pw[:m]
        out[start:start + m] = z
        carry = z[-1]
    return out


def _bounds(rng, scales) -> tuple[float, float]:
    s = float(scales[int(rng.integers(len(scales)))])
    lo, hi = sorted(rng.random(2) * s)
    if hi - lo < 1e-6 * s:
        hi = lo + 1e-3 * s
    return float(lo), float(hi)


def ts_source(n: int, *, rng: np.random.Generator, temporal: bool, cfg) -> np.ndarray:
    """Temporal source (§4.5): ``(trend + cycle + noise) / 3`` mapped onto ``[lo, hi]``.

    trend = tau (i/n)^alpha, tau = +-1; cycle = kappa sin(2 pi i / P + phi) with period
    P = 2 n f rows; noise = AR(1) with rho ~ U(ar_rho) and innovation std ~ LogU(ar_sigma).
    Component weights are random, so some sources are smooth (lag-1 autocorrelation ~1) and some
    noise-dominated (~rho). In entity (non-temporal) tables only the i.i.d. noise remains (rho=0,
    sigma=1): row order carries no meaning there.
    """
    lo, hi = _bounds(rng, cfg.value_scales)
    i = np.arange(n, dtype=np.float64)
    if temporal:
        alpha = rng.uniform(*cfg.trend_alpha)
        tau = rng.choice((-1.0, 1.0)) * rng.uniform(0.0, 1.0)
        freq = float(cfg.cycle_freq[int(rng.integers(len(cfg.cycle_freq)))])
        kappa = rng.choice((-1.0, 1.0)) * rng.uniform(0.0, 1.0)
        period = max(2.0, 2.0 * n * freq)
        phase = rng.uniform(0, 2 * math.pi)
        rho = rng.uniform(*cfg.ar_rho)
        lo_s, hi_s = cfg.ar_sigma
        sigma = math.exp(rng.uniform(math.log(lo_s), math.log(hi_s))) if lo_s > 0 else rng.uniform(lo_s, hi_s)
        i32 = np.arange(n, dtype=F32)
        trend = F32(tau) * (i32 / F32(max(n - 1, 1))) ** F32(alpha)
        cycle = F32(kappa) * np.sin(i32 * F32(2 * math.pi / period) + F32(phase))
        noise = ar1(rng.standard_normal(n) * sigma, rho)
        x = (trend + cycle + noise) / 3.0
    else:
        x = rng.standard_normal(n)
    if n:  # an empty table (a SQL schema's) has nothing to scale; no draw depends on it
        x = (x - x.mean()) / (x.std() + 1e-12)  # unit scale, then onto [lo, hi]
    return (lo + (hi - lo) * (0.5 + x / 6.0)).astype(F32)


def iid_source(kind: str, n: int, *, rng: np.random.Generator, cfg) -> np.ndarray:
    """One of the i.i.d. sources of §4.5 (uniform, gaussian, beta, mixed, lognormal, exponential,
    pareto, poisson) as float32."""
    lo, hi = _bounds(rng, cfg.value_scales)
    s = hi if hi > 0 else 1.0
    if kind == "uniform":
        x = rng.uniform(lo, hi, n)
    elif kind == "gaussian":
        x = np.clip(rng.normal((lo + hi) / 2, max((hi - lo) / 4, 1e-6), n), lo, hi)
    elif kind == "beta":
        a, b = rng.uniform(0.5, 5.0, 2)
        x = lo + (hi - lo) * rng.beta(a, b, n)
    elif kind == "mixed":
        k = int(rng.integers(2, 4))
        parts = [iid_source(str(rng.choice(("uniform", "gaussian", "beta"))), n, rng=rng, cfg=cfg) for _ in range(k)]
        pick = rng.integers(0, k, n)
        x = np.choose(pick, parts)
    elif kind == "lognormal":
        x = rng.lognormal(rng.uniform(-1, 1), rng.uniform(0.5, 2.0), n) * s
    elif kind == "exponential":
        x = rng.exponential(s, n)
    elif kind == "pareto":
        x = s * rng.pareto(rng.uniform(1.5, 4.0), n)
    elif kind == "poisson":
        x = rng.poisson(rng.uniform(0.05, 5.0), n).astype(np.float64)
    elif kind == "ts":
        return ts_source(n, rng=rng, temporal=False, cfg=cfg)
    else:
        raise ValueError(f"unknown source {kind!r}")
    return np.asarray(x, dtype=F32)


def categorical_source(kind: str, n: int, k: int, *, rng: np.random.Generator, temporal: bool, cfg) -> np.ndarray:
    """Class codes 0..k-1 of a categorical source (§4.5), int64.

    ``ts``: k temporal series are standardized into logits (inverse temperature LogU(1, 10)) and each row
    draws from their softmax by inverse CDF; otherwise i.i.d. with Dirichlet(1_k) probabilities.
    """
    u = rng.random(n)
    if kind == "ts" and temporal:
        logits = np.stack([ts_source(n, rng=rng, temporal=True, cfg=cfg) for _ in range(k)], 1).astype(np.float64)
        if n:
            logits = (logits - logits.mean(0)) / (logits.std(0) + 1e-12)
        logits *= math.exp(rng.uniform(math.log(1.0), math.log(10.0)))
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        cdf = np.cumsum(p, 1)
        cdf /= cdf[:, -1:]
        return np.minimum((cdf < u[:, None]).sum(1), k - 1).astype(np.int64)
    p = rng.dirichlet(np.ones(k))
    return np.minimum(np.searchsorted(np.cumsum(p), u, side="right"), k - 1).astype(np.int64)
