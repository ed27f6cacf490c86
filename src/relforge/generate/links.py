"""Stage 2: foreign keys from a hierarchical stochastic block model (generator.md §3).

For one foreign key, parent and child rows are split into contiguous blocks (child rows are in
time order, so child clusters are time segments) at ``L`` hierarchy levels; a per-level block
matrix with a wrapped diagonal of ``within`` and ``between`` elsewhere makes matching clusters
link far more often. Within the blocks, parents get a heavy-tailed Lomax popularity and a share of
them stays inactive (v1.1/v2 improvements), so child counts are over-dispersed like real data
(Formula 1: variance-to-mean ratio ~102 for drivers -> results, ~671 for constructors -> results),
instead of nearly Poisson.

Sampling never builds a parents x children matrix. Because parent clusters are contiguous row
blocks, ``P(parent a | child cluster b) = M[c(a), b] * w_a / Z_b``: each child first picks a parent
cluster from a tiny (clusters x clusters) table, then a parent inside it by inverse CDF on the
global cumulative weights (``cumsum`` + ``searchsorted``). Cost is ``O((n_parent + n_child) log
n_parent)`` time and ``O(n_parent + n_child)`` memory; children are processed in slices bounded by
``LinkConfig.chunk_mb``. An exclusive upper bound per child (``max_parent``) restricts it to a
prefix of the parents (self-references point to earlier rows; children never predate parents).
"""
from __future__ import annotations

import numpy as np

from relforge.errors import RelforgeError
from relforge.generate.config import LinkConfig
from relforge.generate.schema import Schema
from relforge.rng import child

__all__ = ["sample_fk", "sample_links", "hsbm_structure"]


def _u_int(r, rng) -> int:
    return int(rng.integers(r[0], r[1] + 1))


def _block_labels(n: int, n_clusters: int, shares: np.ndarray | None = None) -> np.ndarray:
    """Base cluster of each of ``n`` rows: ``n_clusters`` contiguous blocks.

    Equal sizes by default; with ``shares``, block ``c`` gets a share ``shares[c] / sum`` of the rows
    and, when ``n >= n_clusters``, at least one row (generator.md §3 v2 clusters).
    """
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if shares is None:
        return (np.arange(n, dtype=np.int64) * n_clusters) // n
    if n >= n_clusters:
        ends = np.round(np.cumsum(shares) / shares.sum() * (n - n_clusters)).astype(np.int64) + np.arange(1, n_clusters + 1)
    else:
        ends = np.round(np.cumsum(shares) / shares.sum() * n).astype(np.int64)
    ends[-1] = n
    return np.searchsorted(ends, np.arange(n, dtype=np.int64), side="right").astype(np.int64)


def _digits(n_clusters: int, radices: np.ndarray) -> np.ndarray:
    """Mixed-radix digits ``(n_clusters, L)`` of every base cluster (level 0 most significant)."""
    c = np.arange(n_clusters, dtype=np.int64)
    out = np.empty((n_clusters, len(radices)), dtype=np.int64)
    for l in range(len(radices)):
        below = int(np.prod(radices[l + 1:])) if l + 1 < len(radices) else 1
        out[:, l] = (c // below) % radices[l]
    return out


def _log_lomax(alpha: float, size: int, rng: np.random.Generator) -> np.ndarray:
    """log of Lomax(alpha) draws, overflow-free: Lomax = expm1(E / alpha), E ~ Exp(1)."""
    x = rng.standard_exponential(size) / alpha
    # log(expm1(x)) = x + log(-expm1(-x)); x >= tiny, fine for x -> 0 via log(expm1)
    with np.errstate(divide="ignore"):
        return np.where(x > 1.0, x + np.log(-np.expm1(-x)), np.log(np.expm1(x)))


def hsbm_structure(n_parent: int, cfg: LinkConfig, *, rng: np.random.Generator) -> dict:
    """Random HSBM structure of one link: cluster radices, block log-matrix, parent log-weights.

    Returns a dict with ``parent_clusters``/``child_clusters`` (base cluster counts), ``log_m``
    (``(Ba, Bb)`` summed per-level log block probabilities), ``log_w`` (per-parent log popularity,
    ``-inf`` for inactive parents), optional uneven block ``parent_shares``/``child_shares``, and the
    drawn scalars (``levels``, ``alpha``, ``inactive``, ``uniform``) for inspection.
    """
    if rng.random() < cfg.uniform_prob:
        return dict(parent_clusters=1, child_clusters=1, log_m=np.zeros((1, 1)),
                    log_w=np.zeros(n_parent), levels=0, alpha=None, inactive=0.0, uniform=True,
                    parent_shares=None, child_shares=None)
    levels = _u_int(cfg.levels, rng)
    ha = rng.integers(cfg.clusters_per_level[0], cfg.clusters_per_level[1] + 1, size=levels)
    hb = rng.integers(cfg.clusters_per_level[0], cfg.clusters_per_level[1] + 1, size=levels)
    ba, bb = int(np.prod(ha)), int(np.prod(hb))
    da, db = _digits(ba, ha), _digits(bb, hb)
    log_m = np.zeros((ba, bb))
    for l in range(levels):
        p = rng.uniform(cfg.between[0], cfg.between[1], size=(ha[l], hb[l]))
        for i in range(max(ha[l], hb[l])):
            p[i % ha[l], i % hb[l]] = rng.uniform(cfg.within[0], cfg.within[1])
        with np.errstate(divide="ignore"):
            log_m += np.log(p)[da[:, l][:, None], db[:, l][None, :]]
    log_w = np.zeros(n_parent)
    alpha = None
    if rng.random() < cfg.popularity_prob:
        alpha = float(rng.uniform(*cfg.popularity_alpha))
        log_w = _log_lomax(alpha, n_parent, rng)
    inactive = 0.0
    if rng.random() < cfg.inactive_prob:
        inactive = float(rng.uniform(*cfg.inactive))
        k = min(int(round(inactive * n_parent)), n_parent - 1)
        if k > 0:
            log_w[rng.choice(n_parent, size=k, replace=False)] = -np.inf
    parent_shares = child_shares = None
    if rng.random() < cfg.cluster_weights_prob:
        parent_shares = 1e-3 + rng.pareto(1.5, size=ba)
        child_shares = 1e-3 + rng.pareto(1.5, size=bb)
    return dict(parent_clusters=ba, child_clusters=bb, log_m=log_m, log_w=log_w, levels=levels,
                alpha=alpha, inactive=inactive, uniform=False,
                parent_shares=parent_shares, child_shares=child_shares)


def sample_fk(n_parent: int, n_child: int, cfg: LinkConfig, *, rng: np.random.Generator,
              max_parent: np.ndarray | None = None, null_prob: float = 0.0) -> np.ndarray:
    """Parent row positions for ``n_child`` child rows of one foreign key (HSBM, generator.md §3).

    Parameters
    ----------
    n_parent, n_child : row counts.
    cfg : link knobs (levels, clusters, within/between, popularity, inactive share, chunk_mb).
    rng : random stream of this key.
    max_parent : optional int array (n_child,): exclusive upper bound on the parent position of
        each child (a self-reference uses ``arange(n)``; "never predate the parent" uses the
        number of parents with time <= the child's time). Default: all parents allowed.
    null_prob : probability that a child's key is null (-1), drawn independently per row.

    Returns
    -------
    int64 array (n_child,) of positions in ``0..n_parent-1``, -1 for null.

    Notes
    -----
    A child whose allowed prefix has zero total weight (e.g. only inactive parents) falls back to
    a uniform parent in the prefix, and to -1 if the prefix is empty. Memory is
    ``O(n_parent + n_child)``; no parents x children matrix is formed.
    """
    if n_parent < 0 or n_child < 0:
        raise RelforgeError(f"sample_fk: negative row count (parents {n_parent}, children {n_child})")
    out = np.full(n_child, -1, dtype=np.int64)
    st = hsbm_structure(n_parent, cfg, rng=rng)
    u = rng.random(n_child)
    is_null = rng.random(n_child) < null_prob if null_prob > 0 else np.zeros(n_child, dtype=bool)
    if n_parent == 0 or n_child == 0:
        return out
    if max_parent is None:
        bound = np.full(n_child, n_parent, dtype=np.int64)
    else:
        bound = np.clip(np.asarray(max_parent, dtype=np.int64), 0, n_parent)
        if bound.shape != (n_child,):
            raise RelforgeError(f"sample_fk: max_parent has shape {bound.shape}, expected ({n_child},)")

    # parent side: weights, cumulative weights, cluster blocks
    log_w = st["log_w"]
    w = np.exp(log_w - log_w.max())  # (n_parent,) in [0, 1], inactive -> 0
    cum = np.concatenate([[0.0], np.cumsum(w)])  # (n_parent + 1,)
    pos = np.arange(n_parent, dtype=np.int64)
    last_pos = np.maximum.accumulate(np.where(w > 0, pos, -1))  # last positive-weight parent <= a
    ba, bb = st["parent_clusters"], st["child_clusters"]
    ca = _block_labels(n_parent, ba, st["parent_shares"])
    starts = np.searchsorted(ca, np.arange(ba), side="left")
    ends = np.searchsorted(ca, np.arange(ba), side="right")
    wc = cum[ends] - cum[starts]  # (Ba,) total weight of each parent cluster
    log_m = st["log_m"]
    colmax = log_m.max(axis=0, keepdims=True)
    m = np.exp(log_m - np.where(np.isfinite(colmax), colmax, 0.0))  # (Ba, Bb), column max 1 (or all 0)
    mass = m * wc[:, None]  # (Ba, Bb)
    cmass = np.vstack([np.zeros((1, bb)), np.cumsum(mass, axis=0)])  # (Ba + 1, Bb)

    cb = _block_labels(n_child, bb, st["child_shares"])
    gstarts = np.searchsorted(cb, np.arange(bb), side="left")
    gends = np.searchsorted(cb, np.arange(bb), side="right")
    rows_per_chunk = max(1024, int(cfg.chunk_mb * 1e6 / (8 * 12)))
    for g in range(bb):
        for lo in range(int(gstarts[g]), int(gends[g]), rows_per_chunk):
            hi = min(lo + rows_per_chunk, int(gends[g]))
            out[lo:hi] = _draw_group(bound[lo:hi], u[lo:hi], g, cum, ca, starts, ends, m, cmass, last_pos)
    out[is_null] = -1
    return out


def _draw_group(bound, u, g, cum, ca, starts, ends, m, cmass, last_pos) -> np.ndarray:
    """Draw parents for children of child cluster ``g`` with exclusive bounds ``bound``."""
    res = np.full(len(bound), -1, dtype=np.int64)
    ok = bound > 0
    b = np.where(ok, bound, 1)
    k = ca[b - 1]  # cluster holding the last allowed parent
    partial = cum[b] - cum[starts[k]]
    total = cmass[k, g] + m[k, g] * partial
    x = u * total
    c = np.searchsorted(cmass[:, g], x, side="right") - 1
    c = np.clip(np.minimum(c, k), 0, None)
    mc = m[c, g]
    r = np.where(mc > 0, (x - cmass[c, g]) / np.where(mc > 0, mc, 1.0), 0.0)
    p = np.searchsorted(cum, cum[starts[c]] + r, side="right") - 1
    p = np.clip(p, starts[c], np.minimum(ends[c], b) - 1)
    p = np.maximum(last_pos[np.clip(p, 0, None)], starts[c])
    p = np.clip(p, 0, b - 1)  # float-rounding guard: stay inside the allowed prefix
    fallback = total <= 0  # no weight in the allowed prefix: uniform over it
    p = np.where(fallback, np.minimum((u * b).astype(np.int64), b - 1), p)
    res[ok] = p[ok]
    return res


def sample_links(schema: Schema, cfg: LinkConfig, *, seed: int,
                 times: dict[str, np.ndarray] | None = None,
                 after_parent: bool | None = None) -> dict[tuple[str, str], np.ndarray]:
    """Stage 2: every foreign key of ``schema`` (generator.md §3).

    Parameters
    ----------
    schema : tables with row counts and keys (rows of timed tables are in time order).
    cfg : link knobs.
    seed : each key ``(table, column)`` draws from its own stream
        ``relforge.rng.child(seed, "links", table, column)``, so results do not depend on order
        or process count.
    times : optional row timestamps per timed table (sorted, as from ``sample_times``).
    after_parent : when both child and parent tables have times, a child never links to a parent
        created after it. ``None`` uses ``cfg.after_parent``.

    Returns
    -------
    ``{(child table, fk column): int64 positions}``, -1 for null. A self-reference points to an
    earlier row only (acyclic; row 0 and a ``null_prob`` share of roots are null).
    """
    if after_parent is None:
        after_parent = cfg.after_parent
    times = times or {}
    out = {}
    for name, t in schema.tables.items():
        for fk in t.fkeys:
            if fk.parent not in schema.tables:
                raise RelforgeError(f"table {name!r}: column {fk.column!r} references unknown table {fk.parent!r}")
            rng = child(seed, "links", name, fk.column)
            n_parent = schema.tables[fk.parent].n_rows
            null_prob = fk.null_prob if fk.nullable else 0.0
            max_parent = None
            if fk.parent == name:
                max_parent = np.arange(t.n_rows, dtype=np.int64)
                null_prob = fk.null_prob
            elif after_parent and name in times and fk.parent in times:
                pt, ct = np.asarray(times[fk.parent]), np.asarray(times[name])
                if len(pt) != n_parent or len(ct) != t.n_rows:
                    raise RelforgeError(f"table {name!r}: times do not match row counts for key {fk.column!r}")
                max_parent = np.searchsorted(pt, ct, side="right").astype(np.int64)
            out[(name, fk.column)] = sample_fk(n_parent, t.n_rows, cfg, rng=rng,
                                               max_parent=max_parent, null_prob=null_prob)
    return out
