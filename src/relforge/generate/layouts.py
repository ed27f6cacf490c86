"""Catalogue of random DAG families (generator.md §2).

One small function per family, ``family(n, *, rng, **params) -> edges``, in the style of
networkx's ``random_graphs`` module but written with numpy and without a networkx dependency.
``edges`` is an ``(E, 2)`` int64 array of ``(parent, child)`` rows over nodes ``0..n-1``; every
result is acyclic and weakly connected (consecutive components are joined by
:func:`ensure_connected`), and ``n in {0, 1}`` gives no edges. Parameters left as ``None`` are
drawn from the spec defaults with ``rng``, so ``sample_dag(name, n, rng=rng)`` works for both the
table DAG (stage 1) and per-table causal graphs (stage 3).

The same DAGs serve both uses: stage 1 turns nodes into tables (an edge ``u -> v`` means ``v``
holds a foreign key to ``u``), stage 3 into SCM nodes. :func:`edge_weights` draws one weight per
edge from one distribution picked per DAG.
"""
from __future__ import annotations

from collections import deque
from typing import Callable

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from relforge.errors import RelforgeError
from relforge.generate.config import EDGE_WEIGHTS

__all__ = [
    "barabasi_albert",
    "reverse_random_tree",
    "random_tree",
    "watts_strogatz",
    "erdos_renyi",
    "layered",
    "random_cauchy",
    "LAYOUTS",
    "sample_dag",
    "edge_weights",
    "ensure_connected",
    "is_acyclic",
    "n_components",
]

_EMPTY = np.zeros((0, 2), dtype=np.int64)


# ---------------------------------------------------------------- helpers


def _as_edges(edges) -> np.ndarray:
    """(E, 2) int64, duplicates and self-loops removed, rows sorted."""
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if len(e) == 0:
        return _EMPTY.copy()
    e = e[e[:, 0] != e[:, 1]]
    return np.unique(e, axis=0) if len(e) else _EMPTY.copy()


def _orient_low_high(edges: np.ndarray) -> np.ndarray:
    """Orient undirected pairs from the lower node id to the higher one (§2 default)."""
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    return _as_edges(np.stack([e.min(axis=1), e.max(axis=1)], axis=1))


def _components(n: int, edges: np.ndarray) -> np.ndarray:
    """Weak-component label of every node (labels ordered by smallest member)."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    adj = coo_matrix((np.ones(len(e), dtype=np.int8), (e[:, 0], e[:, 1])), shape=(n, n))
    _, labels = connected_components(adj, directed=True, connection="weak")
    first = np.full(labels.max() + 1, n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n))
    rank = np.empty_like(first)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[labels].astype(np.int64)


def n_components(n: int, edges: np.ndarray) -> int:
    """Number of weakly connected components of a graph on ``n`` nodes (0 for ``n == 0``)."""
    return int(_components(n, _as_edges(edges)).max() + 1) if n > 0 else 0


def is_acyclic(n: int, edges: np.ndarray) -> bool:
    """Whether the directed graph has no cycle (Kahn's algorithm)."""
    e = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    if len(e) and (e.min() < 0 or e.max() >= n):
        return False
    indeg = np.bincount(e[:, 1], minlength=n) if len(e) else np.zeros(n, dtype=np.int64)
    kids = [[] for _ in range(n)]
    for u, v in e:
        kids[int(u)].append(int(v))
    ready = deque(np.flatnonzero(indeg == 0).tolist())
    seen = 0
    indeg = indeg.copy()
    while ready:
        u = ready.popleft()
        seen += 1
        for v in kids[u]:
            indeg[v] -= 1
            if indeg[v] == 0:
                ready.append(v)
    return seen == n


def ensure_connected(n: int, edges: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """Join each pair of consecutive weak components with one edge between two random nodes.

    Components are ordered by their smallest node; the new edge is oriented from the lower id to
    the higher one. Joining two distinct components can never close a cycle (generator.md §2).
    """
    e = _as_edges(edges)
    if n < 2:
        return e
    labels = _components(n, e)
    k = int(labels.max()) + 1
    if k == 1:
        return e
    members = [np.flatnonzero(labels == c) for c in range(k)]
    extra = []
    for a, b in zip(members[:-1], members[1:]):
        extra.append((int(rng.choice(a)), int(rng.choice(b))))
    return _as_edges(np.concatenate([e, _orient_low_high(np.array(extra))]))


def _draw(v, lo_hi_default, rng: np.random.Generator, integer: bool = False):
    """A concrete parameter: ``None`` -> drawn from the default range; a 2-tuple -> drawn from it."""
    if v is None:
        v = lo_hi_default
    if isinstance(v, (tuple, list)):
        lo, hi = v
        return int(rng.integers(lo, hi + 1)) if integer else float(rng.uniform(lo, hi))
    return int(v) if integer else float(v)


def _finish(n: int, edges, rng: np.random.Generator) -> np.ndarray:
    return ensure_connected(n, _as_edges(edges), rng=rng)


# ---------------------------------------------------------------- families


def barabasi_albert(n: int, *, rng: np.random.Generator, m: int = 2, sink_dropout: float = 0.4,
                    leaf_flip: float = 0.0, max_in: int = 4) -> np.ndarray:
    """Barabasi-Albert preferential attachment with leaf sparsification.

    Parameters
    ----------
    n : number of nodes.
    rng : random stream.
    m : edges per new node (capped at ``n - 1``).
    sink_dropout : probability that a sink with more than one in-edge loses one random in-edge.
    leaf_flip : probability that a sink with a single in-edge has it reversed when the parent's
        in-degree is below ``max_in`` (off by default, as in the spec).

    Notes
    -----
    Start from a star on ``m + 1`` nodes; each later node attaches to ``m`` distinct earlier nodes
    picked with probability proportional to degree. Edges point from the lower id to the higher,
    then node labels are permuted at random, then each sink with in-degree > 1 loses one random
    in-edge with probability ``sink_dropout`` (generator.md §2). Hub tables referenced by many others.

    References
    ----------
    Barabasi & Albert, "Emergence of scaling in random networks", Science 1999.
    """
    if n < 2:
        return _EMPTY.copy()
    m = max(1, min(int(m), n - 1))
    edges = [(0, j) for j in range(1, m + 1)]
    deg = np.zeros(n, dtype=np.float64)
    deg[0], deg[1:m + 1] = m, 1
    for t in range(m + 1, n):
        p = deg[:t] / deg[:t].sum()
        targets = rng.choice(t, size=m, replace=False, p=p)
        edges.extend((int(s), t) for s in targets)
        deg[targets] += 1
        deg[t] = m
    e = np.array(edges, dtype=np.int64)
    perm = rng.permutation(n)
    e = perm[e]
    # leaf sparsification: sinks with several parents lose one random in-edge w.p. sink_dropout
    outdeg = np.bincount(e[:, 0], minlength=n)
    indeg = np.bincount(e[:, 1], minlength=n)
    keep = np.ones(len(e), dtype=bool)
    for v in np.flatnonzero((outdeg == 0) & (indeg > 1)):
        if rng.random() < sink_dropout:
            keep[rng.choice(np.flatnonzero(e[:, 1] == v))] = False
    e = e[keep]
    if leaf_flip > 0:  # reversing a sink's only in-edge cannot close a cycle
        outdeg = np.bincount(e[:, 0], minlength=n)
        indeg = np.bincount(e[:, 1], minlength=n)
        for i in np.flatnonzero(np.isin(e[:, 1], np.flatnonzero((outdeg == 0) & (indeg == 1)))):
            u = e[i, 0]
            if indeg[u] < max_in and rng.random() < leaf_flip:
                e[i] = e[i, ::-1]
                indeg[u] += 1
    return _finish(n, e, rng)


def _random_labelled_tree(n: int, rng: np.random.Generator) -> np.ndarray:
    """Undirected uniform random labelled tree on ``n >= 2`` nodes from a random Pruefer sequence."""
    if n == 2:
        return np.array([[0, 1]], dtype=np.int64)
    seq = rng.integers(0, n, size=n - 2)
    degree = np.ones(n, dtype=np.int64) + np.bincount(seq, minlength=n)
    import heapq

    leaves = [i for i in range(n) if degree[i] == 1]
    heapq.heapify(leaves)
    edges = []
    for x in seq:
        leaf = heapq.heappop(leaves)
        edges.append((leaf, int(x)))
        degree[x] -= 1
        if degree[x] == 1:
            heapq.heappush(leaves, int(x))
    u, v = heapq.heappop(leaves), heapq.heappop(leaves)
    edges.append((u, v))
    return np.array(edges, dtype=np.int64)


def random_tree(n: int, *, rng: np.random.Generator) -> np.ndarray:
    """Uniform random labelled tree with edges pointing away from a random root.

    Notes
    -----
    A Pruefer sequence gives the undirected tree; a BFS from a uniformly drawn root orients every
    edge away from it, so the root is the only source (generator.md §2).
    """
    if n < 2:
        return _EMPTY.copy()
    und = _random_labelled_tree(n, rng)
    adj = [[] for _ in range(n)]
    for u, v in und:
        adj[int(u)].append(int(v))
        adj[int(v)].append(int(u))
    root = int(rng.integers(n))
    seen = np.zeros(n, dtype=bool)
    seen[root] = True
    queue, edges = deque([root]), []
    while queue:
        u = queue.popleft()
        for v in adj[u]:
            if not seen[v]:
                seen[v] = True
                edges.append((u, v))
                queue.append(v)
    return _finish(n, edges, rng)


def reverse_random_tree(n: int, *, rng: np.random.Generator) -> np.ndarray:
    """:func:`random_tree` with every edge reversed: the root is the only sink (one fact table)."""
    e = random_tree(n, rng=rng)
    return _as_edges(e[:, ::-1])


def watts_strogatz(n: int, *, rng: np.random.Generator, k=None, p=None) -> np.ndarray:
    """Watts-Strogatz small world: ring lattice of degree ``k`` with rewiring probability ``p``.

    Parameters
    ----------
    k : ring degree, an int or a tuple of choices (default ``(2, 4)``); if ``k > n`` it becomes
        ``n`` (even ``n``) or ``n - 1`` (odd), and it is at least 2.
    p : rewiring probability, a float or a ``(lo, hi)`` range (default ``U(0.1, 0.3)``).

    Notes
    -----
    Each node links to its ``k // 2`` clockwise neighbours; each lattice edge ``(u, v)`` is rewired
    with probability ``p`` to ``(u, w)``, ``w`` uniform among nodes not yet adjacent to ``u``. Edges
    are then oriented low -> high (generator.md §2). Table clusters with a few cross references.

    References
    ----------
    Watts & Strogatz, "Collective dynamics of 'small-world' networks", Nature 1998.
    """
    if n < 2:
        return _EMPTY.copy()
    if k is None:
        k = (2, 4)
    if isinstance(k, (tuple, list)):
        k = int(rng.choice(np.asarray(k)))
    p = _draw(p, (0.1, 0.3), rng)
    k = int(k)
    if k > n:
        k = n if n % 2 == 0 else n - 1
    k = max(k, 2)
    half = max(1, k // 2)
    adj = [set() for _ in range(n)]
    lattice = []
    for j in range(1, half + 1):
        for u in range(n):
            v = (u + j) % n
            if u != v and v not in adj[u]:
                adj[u].add(v)
                adj[v].add(u)
                lattice.append((u, v))
    for u, v in lattice:
        if rng.random() < p:
            free = [w for w in range(n) if w != u and w not in adj[u]]
            if free:
                w = int(free[int(rng.integers(len(free)))])
                adj[u].discard(v)
                adj[v].discard(u)
                adj[u].add(w)
                adj[w].add(u)
    edges = [(u, v) for u in range(n) for v in adj[u] if u < v]
    return _finish(n, _orient_low_high(np.array(edges, dtype=np.int64).reshape(-1, 2)), rng)


def erdos_renyi(n: int, *, rng: np.random.Generator, p=None) -> np.ndarray:
    """Directed G(n, p) made undirected, oriented low -> high (generator.md §2).

    ``p`` is a float or a ``(lo, hi)`` range (default ``U(0.3, 0.8)``). Each unordered pair is linked
    when either of its two directed draws succeeds.

    References
    ----------
    Erdos & Renyi, "On random graphs I", 1959; Gilbert, "Random graphs", 1959.
    """
    if n < 2:
        return _EMPTY.copy()
    p = _draw(p, (0.3, 0.8), rng)
    a = rng.random((n, n)) < p
    und = np.triu(a | a.T, k=1)
    return _finish(n, np.argwhere(und), rng)


def layered(n: int, *, rng: np.random.Generator, depth=None, dropout: float = 0.1) -> np.ndarray:
    """Layered DAG: nodes in ``depth`` layers, edges only between consecutive layers.

    Parameters
    ----------
    depth : number of layers, an int or a ``(lo, hi)`` range (default ``U{2..8}``), capped at ``n``.
    dropout : probability that a consecutive-layer edge is removed.

    Notes
    -----
    One node per layer, the rest in uniformly random layers; ids are consecutive by layer. Every
    node keeps at least one neighbour in an adjacent layer: a parent in the previous layer, or for
    the first layer a child in the second (generator.md §2).
    """
    if n < 2:
        return _EMPTY.copy()
    depth = min(_draw(depth, (2, 8), rng, integer=True), n)
    depth = max(depth, 1)
    layer = np.concatenate([np.arange(depth), rng.integers(0, depth, size=n - depth)])
    layer = np.sort(layer)  # ids consecutive by layer
    members = [np.flatnonzero(layer == l) for l in range(depth)]
    edges = []
    for l in range(depth - 1):
        a, b = members[l], members[l + 1]
        uu, vv = np.meshgrid(a, b, indexing="ij")
        keep = rng.random(uu.shape) >= dropout
        edges.append(np.stack([uu[keep], vv[keep]], axis=1))
    e = np.concatenate(edges) if edges else _EMPTY.copy()
    has_parent = np.zeros(n, dtype=bool)
    has_child = np.zeros(n, dtype=bool)
    has_parent[e[:, 1]] = True
    has_child[e[:, 0]] = True
    extra = []
    for v in range(n):
        l = layer[v]
        if l > 0 and not has_parent[v]:
            extra.append((int(rng.choice(members[l - 1])), v))
        elif l == 0 and depth > 1 and not has_child[v]:
            extra.append((v, int(rng.choice(members[1]))))
    if extra:
        e = np.concatenate([e, np.array(extra, dtype=np.int64)])
    return _finish(n, e, rng)


def random_cauchy(n: int, *, rng: np.random.Generator) -> np.ndarray:
    """Edge ``i -> j`` (``i < j``) with probability ``sigmoid(clip(A + B_i + C_j, +-500))``.

    ``A``, ``B_i``, ``C_j`` are standard Cauchy, so densities range from empty to complete and
    node degrees are very uneven (generator.md §2).
    """
    if n < 2:
        return _EMPTY.copy()
    a = rng.standard_cauchy()
    b = rng.standard_cauchy(n)
    c = rng.standard_cauchy(n)
    logit = np.clip(a + b[:, None] + c[None, :], -500, 500)
    prob = 1.0 / (1.0 + np.exp(-logit))
    adj = np.triu(rng.random((n, n)) < prob, k=1)
    return _finish(n, np.argwhere(adj), rng)


LAYOUTS: dict[str, Callable[..., np.ndarray]] = {
    "barabasi_albert": barabasi_albert,
    "reverse_random_tree": reverse_random_tree,
    "watts_strogatz": watts_strogatz,
    "erdos_renyi": erdos_renyi,
    "random_tree": random_tree,
    "layered": layered,
    "random_cauchy": random_cauchy,
}


def sample_dag(name: str, n: int, *, rng: np.random.Generator, params: dict | None = None) -> np.ndarray:
    """Edges ``(E, 2)`` of a random DAG of family ``name`` on ``n`` nodes.

    Parameters
    ----------
    name : a key of :data:`LAYOUTS` (``config.GRAPH_LAYOUTS``).
    n : number of nodes (0 and 1 give no edges).
    rng : random stream.
    params : keyword parameters of the family (``None`` values / missing keys use spec defaults).

    Returns
    -------
    int64 array of ``(parent, child)`` rows; acyclic and weakly connected.
    """
    if name not in LAYOUTS:
        raise RelforgeError(f"unknown graph layout {name!r} (choose from {', '.join(LAYOUTS)})")
    if n < 0:
        raise RelforgeError(f"graph layout {name!r}: negative node count {n}")
    kw = {k: v for k, v in (params or {}).items() if v is not None}
    try:
        return LAYOUTS[name](int(n), rng=rng, **kw)
    except TypeError as e:
        raise RelforgeError(f"graph layout {name!r}: bad parameters {sorted(kw)}: {e}") from None


def edge_weights(n_edges: int, *, rng: np.random.Generator, dists=EDGE_WEIGHTS) -> np.ndarray:
    """One weight per edge from one distribution drawn per DAG (generator.md §1).

    ``dists`` is a subset of ``normal`` N(0,1), ``lognormal`` LogN(0,1), ``cauchy`` (standard) and
    ``uniform`` U(-2,2).
    """
    dists = tuple(dists)
    if not dists:
        raise RelforgeError("edge_weights: no distribution to choose from")
    kind = dists[int(rng.integers(len(dists)))]
    if kind == "normal":
        return rng.standard_normal(n_edges)
    if kind == "lognormal":
        return rng.lognormal(0.0, 1.0, n_edges)
    if kind == "cauchy":
        return rng.standard_cauchy(n_edges)
    if kind == "uniform":
        return rng.uniform(-2.0, 2.0, n_edges)
    raise RelforgeError(f"unknown edge-weight distribution {kind!r} (choose from {', '.join(EDGE_WEIGHTS)})")
