"""Stage 3: latent cell values from one structural causal model per table (generator.md §4).

:func:`sample_values` returns, per table, one latent array per feature column: float32 values for
numerical and datetime columns, int64 class codes ``0..K-1`` for categorical, boolean and text
columns. Post-processing (``post.py``) and rendering (``render.py``) turn them into cells.

Per table (stream ``relforge.rng.child(seed, "values", table)``):

1. A causal DAG over ``N = C + ceil(C/p) + 3`` nodes from a random layout (``layouts.sample_dag``),
   ``p ~ U(col_node_frac)``, in-degree capped at ``max_parents``; ``C`` distinct nodes carry the
   columns (§4.1). Each edge has a weight (``layouts.edge_weights``) with a random sign per
   embedding dim; each node has one frozen encoder (value -> H dims) read by all its children.
2. ``type_eager``: categorical nodes hold class codes, encoded by an embedding + MLP and decoded by
   ``argmax_k E_k . MLP(emb)``. ``type_lazy``: every node is numeric and categorical columns are
   quantized at random-row boundaries afterwards, labels permuted / reversed at random (§4.3).
3. Source nodes draw from §4.5 generators (temporal ``ts`` with probability ``activity_ts_prob``
   in timed tables). Other nodes: ``value = Dec(std(agg(w_e * Enc(parent), foreign)) + noise)``:
   the aggregated signal is standardized per dim (statistics of fixed calibration rows, §7 v2
   "standardize") and the noise, a per-row Kumaraswamy(a, b) draw (Beta-shaped, closed form) along
   a fixed direction, is a small drawn share (``noise_scale``) of it, so it never drowns the
   signal. Encoders also see standardized parent values, so MLP behaviour does not depend on the
   arbitrary scale of a node.
4. Timed tables (rows in time order) add 1-3 shared slow latent series (trend + cycle + AR(1),
   §4.5) that a large share of nodes read with a strong gain (``temporal_*`` knobs): drift and
   seasonality common to many columns. This is what gives activity columns their lag-1
   autocorrelation (plurel 1.1.0 measures a median of 0.00; real activity tables 0.16-0.95).
5. Foreign inputs (§4.4): for every foreign key to a parent table P, P's final latent columns are
   encoded with a per-(P, child) collation encoder *on P's rows* (one embedding per parent row
   from all its columns) and gathered at the child's FK positions
   (``Enc(gather(x)) == gather(Enc(x))``, so this is exact and costs ``n_P`` instead of
   ``n_child`` encoder rows). A null FK reads the encoding of the fixed fill value 0, never the
   parent's signal. A random share (``fk_reader_share``) of the child's non-source nodes reads
   each key with a drawn gain (``fk_gain``). Self-referencing keys carry no value flow (a table
   cannot feed itself without a row-order recursion; the key itself is still generated).

Only ancestors of column nodes are evaluated (the others cannot affect any cell). Rows are
evaluated in chunks of ``chunk_rows`` (all nodes per chunk); all per-row randomness (sources,
noise) is drawn for the whole table up front, so values do not depend on the chunk size (up to
float32 rounding of the matrix products). No Python loop runs over rows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from relforge.db.table import Stype
from relforge.generate import scm
from relforge.generate.layouts import edge_weights, sample_dag
from relforge.generate.schema import ColumnSpec, Schema, TableSpec
from relforge.rng import child

F32 = np.float32
CAT_STYPES = (Stype.categorical, Stype.boolean, Stype.text)
N_CAL = 512  # rows whose statistics standardize node values and signals


def n_classes(spec: ColumnSpec) -> int:
    """Latent classes of a categorical / boolean / text column."""
    if spec.labels:
        return len(spec.labels)
    if spec.stype == Stype.boolean:
        return 2
    return max(2, int(spec.n_categories or 2))


@dataclass
class _Node:
    cat: bool = False
    k: int = 0
    parents: list = field(default_factory=list)  # [(parent node, signed per-dim weights (H,) or None if folded)]
    fk_reads: list = field(default_factory=list)  # [(fk index, weight)]
    agg: str = "sum"
    enc: object = None  # encoder of this node's value, if a child reads it
    dec: object = None
    dec_emb: np.ndarray | None = None  # (H, K) class embeddings of a categorical decoder
    noise_ab: tuple = (1.0, 1.0)
    noise_dir: np.ndarray | None = None  # (H,), norm sqrt(H) * noise share
    source: np.ndarray | None = None  # values of a source node
    kind: str = ""  # source generator of a source node
    vec: bool = False  # hidden node with an H-dim state (no scalar value): dec maps signal -> state
    lat_w: np.ndarray | None = None  # (d, H) read of the row's entity latent (relational.latent_*)


class _CatEncoder:
    """Categorical encoder: a K x H embedding then an MLP(H, H, H) (§4.3).

    The input takes only K values, so ``MLP(emb[code]) == table[code]`` with ``table = MLP(emb)``
    computed once: a row costs one gather instead of an MLP evaluation (exact).
    """

    def __init__(self, k, h, mlp_kw, rng):
        init = mlp_kw["inits"][int(rng.integers(len(mlp_kw["inits"])))]
        self.emb = scm.init_weight(init, k, h, rng=rng)
        self.mlp = scm.RandomMLP(h, h, h, rng=rng, **mlp_kw)
        self._table = None

    def __call__(self, codes):
        if self._table is None:  # after any weight folding (see table_values)
            self._table = self.mlp(self.emb)
        return self._table[codes]


def _mlp_kw(c) -> dict:
    return dict(layers=c.mlp_layers, activations=c.activations, inits=c.weight_inits, density=c.weight_density)


def _cap_parents(edges: np.ndarray, max_in: int, rng) -> np.ndarray:
    if len(edges) == 0:
        return edges
    order = rng.permutation(len(edges))
    e = edges[order]
    # rank of each edge among its child's in-edges (in the random order); keep rank < max_in
    srt = np.argsort(e[:, 1], kind="stable")
    child_sorted = e[srt, 1]
    first = np.searchsorted(child_sorted, child_sorted, side="left")
    rank = np.empty(len(e), dtype=np.int64)
    rank[srt] = np.arange(len(e)) - first
    return e[rank < max_in]


def _topo(n: int, edges: np.ndarray) -> list[int]:
    indeg = np.bincount(edges[:, 1], minlength=n) if len(edges) else np.zeros(n, dtype=np.int64)
    kids = [[] for _ in range(n)]
    for u, v in edges.tolist():
        kids[u].append(v)
    ready = sorted(np.flatnonzero(indeg == 0).tolist(), reverse=True)
    order = []
    while ready:
        u = ready.pop()
        order.append(u)
        for v in kids[u]:
            indeg[v] -= 1
            if indeg[v] == 0:
                ready.append(v)
    if len(order) != n:
        raise ValueError("causal graph has a cycle")
    return order


def _foreign(parent_vals: dict[str, np.ndarray], parent_spec: TableSpec, h: int, c, rng) -> np.ndarray | None:
    """Collation embedding of every parent row, plus a final fill row for null keys: (n_P + 1, H).

    One collation encoder per (parent, child) pair reads the whole parent row: standardized numeric
    columns through a random (C_num, H) projection plus one random embedding per categorical
    column, then a random MLP(H, H, H). The fill row is the encoding of all-zero inputs.
    """
    cols = [s for s in parent_spec.columns if s.name in parent_vals]
    if not cols:
        return None
    n_p = parent_spec.n_rows
    pre = np.zeros((n_p + 1, h), dtype=F32)
    inits = c.weight_inits
    for s in cols:
        v = parent_vals[s.name]
        init = inits[int(rng.integers(len(inits)))]
        if v.dtype.kind in "iu":
            k = max(n_classes(s), int(v.max()) + 1 if len(v) else 1)
            emb = scm.init_weight(init, k, h, rng=rng)
            pre[:n_p] += emb[v]  # fill row (null key) stays 0
        else:
            w = scm.init_weight(init, 1, h, rng=rng)[0]
            x = v.astype(F32)
            m, inv = _stats(x[: min(n_p, N_CAL)]) if n_p else (F32(0), F32(1))
            pre[:n_p] += ((x - m) * inv)[:, None] * w
    pre *= F32(1.0 / math.sqrt(len(cols)))
    return scm.RandomMLP(h, h, h, rng=rng, **_mlp_kw(c))(pre)


def _stats(x: np.ndarray) -> tuple:
    """Column-wise mean and inverse std (1 where constant) of calibration values, float32."""
    x = np.asarray(x, dtype=np.float64)
    k = max(len(x), 1)
    m = np.add.reduce(x, axis=0) / k
    d = x - m
    sd = np.sqrt(np.add.reduce(d * d, axis=0) / k)
    ok = sd > 1e-12 * (1.0 + np.abs(m))
    return m.astype(F32), np.where(ok, 1.0 / np.where(ok, sd, 1.0), 1.0).astype(F32)


def _noise(nodes: list, ids: list, n: int, rng) -> dict:
    """Per-row node noise, drawn for all rows up front: Kumaraswamy(a, b) (a closed-form
    Beta-shaped law, far cheaper to draw than Beta), standardized per node."""
    if not ids or n == 0:
        return {v: np.zeros(n, F32) for v in ids}
    u = rng.random((len(ids), n), dtype=F32)
    ab = np.array([nodes[v].noise_ab for v in ids], dtype=F32)
    x = np.power(F32(1) - np.power(F32(1) - u, F32(1) / ab[:, 1:2]), F32(1) / ab[:, 0:1])
    x -= x.mean(1, keepdims=True)
    x /= np.maximum(x.std(1, keepdims=True), F32(1e-12))
    return {v: x[i] for i, v in enumerate(ids)}


def table_values(spec: TableSpec, cfg, *, rng: np.random.Generator, temporal: bool,
                 foreign: list[tuple[np.ndarray, np.ndarray]] = (), trace: dict | None = None,
                 entity: np.ndarray | None = None, entity_rng: np.random.Generator | None = None,
                 referenced: bool = False) -> dict[str, np.ndarray]:
    """Latent values of one table's feature columns (generator.md §4.1-4.5).

    Parameters
    ----------
    spec : the table; its ``columns`` are synthesized, ``n_rows`` rows.
    cfg : a :class:`GeneratorConfig`.
    rng : the table's stream.
    temporal : rows are in time order (timed table): sources may be temporal.
    foreign : per incoming foreign key, ``(embedding (n_P + 1, H), positions (n,))``; position -1
        (null) reads the last, fill row.
    trace : optional dict filled with ``{column: node description}`` (source kind, parents, keys
        read, ...) for diagnostics and tests.
    entity : optional ``(n, d)`` entity latent of every row (:func:`entity_latents`); a drawn share
        of the nodes reads it (``relational.latent_*``), wired from ``entity_rng`` only, so the
        table's own stream and the result without it are unchanged.

    Returns
    -------
    ``{column: latent}``: float32 values or int64 codes, one per row.

    Notes
    -----
    Each node has one encoder (its value -> H dims) shared by its children; an edge applies its
    weight with a random sign per dim, so children still see different features.
    Nodes that are not ancestors of a column node cannot affect the output and are not evaluated.
    Standardization statistics (node values before encoding, aggregated signals before noise and
    decoding) come from fixed calibration rows, so values do not depend on ``chunk_rows``.
    """
    c = cfg.scm
    h = c.emb_dim
    n = int(spec.n_rows)
    cols = list(spec.columns)
    n_col = len(cols)
    if n_col == 0:
        return {}
    kw = _mlp_kw(c)
    p = rng.uniform(*c.col_node_frac)
    n_nodes = n_col + math.ceil(n_col / p) + 3
    layout = c.layouts[int(rng.integers(len(c.layouts)))]
    edges = sample_dag(layout, n_nodes, rng=rng)
    edges = _cap_parents(np.asarray(edges, dtype=np.int64).reshape(-1, 2), c.max_parents, rng)
    weights = np.clip(edge_weights(len(edges), rng=rng), -1e4, 1e4).astype(F32)
    lazy = c.propagations[int(rng.integers(len(c.propagations)))] == "type_lazy"
    col_nodes = rng.choice(n_nodes, n_col, replace=False)
    node_col = {int(v): i for i, v in enumerate(col_nodes)}
    order = _topo(n_nodes, edges)
    cat_prob = cfg.schema.categorical_prob

    nodes = [_Node() for _ in range(n_nodes)]
    hidden_cat = rng.random(n_nodes) < cat_prob
    hidden_k = rng.integers(cfg.schema.n_categories[0], cfg.schema.n_categories[1] + 1, n_nodes)
    for v in range(n_nodes):
        nd = nodes[v]
        if v in node_col:
            s = cols[node_col[v]]
            nd.cat = s.stype in CAT_STYPES and not lazy
            nd.k = n_classes(s) if s.stype in CAT_STYPES else 0
        elif not lazy and hidden_cat[v]:
            nd.cat, nd.k = True, int(hidden_k[v])
    in_edges = [[] for _ in range(n_nodes)]
    for (u, v), w in zip(edges.tolist(), weights.tolist()):
        in_edges[v].append((u, w))
    if temporal and n > 0:  # shared slow latent series ("drift"/"season") read by a share of nodes
        n_lat = int(rng.integers(c.temporal_latents[0], c.temporal_latents[1] + 1))
        share = rng.uniform(*c.temporal_share)
        lat_w = np.clip(edge_weights(n_nodes, rng=rng), -1e4, 1e4)
        lat_w *= np.exp(rng.uniform(math.log(c.temporal_gain[0]), math.log(c.temporal_gain[1]), n_nodes))
        reads = rng.random(n_nodes) < share
        which = rng.integers(0, max(n_lat, 1), n_nodes)
        for j in range(n_lat):
            nodes.append(_Node(source=scm.ts_source(n, rng=rng, temporal=True, cfg=c), kind="ts"))
        for v in range(n_nodes):
            if n_lat and in_edges[v] and reads[v]:
                in_edges[v].append((n_nodes + int(which[v]), float(lat_w[v])))
        order = list(range(n_nodes, len(nodes))) + order
        in_edges += [[] for _ in range(n_lat)]

    # only ancestors of column nodes matter
    relevant = np.zeros(len(nodes), dtype=bool)
    stack = [int(v) for v in col_nodes]
    while stack:
        v = stack.pop()
        if not relevant[v]:
            relevant[v] = True
            stack.extend(u for u, _ in in_edges[v])
    order = [v for v in order if relevant[v]]
    n_kids = np.zeros(len(nodes), dtype=np.int64)
    for v in order:
        for u, _ in in_edges[v]:
            n_kids[u] += 1

    reader_share = rng.uniform(*c.fk_reader_share)
    lo_g, hi_g = math.log(c.fk_gain[0]), math.log(c.fk_gain[1])
    for v in order:
        nd = nodes[v]
        if v < n_nodes:
            for u, w in in_edges[v]:
                nd.parents.append((u, np.where(rng.random(h) < 0.5, F32(-w), F32(w)).astype(F32)))
            if nd.parents and len(foreign):
                rd = rng.random(len(foreign)) < reader_share
                g = np.exp(rng.uniform(lo_g, hi_g, len(foreign))) * np.clip(edge_weights(len(foreign), rng=rng), -1e4, 1e4)
                nd.fk_reads = [(j, F32(g[j])) for j in range(len(foreign)) if rd[j]]
            if not nd.parents:  # a source (§4.5)
                if temporal and rng.random() < c.activity_ts_prob:
                    kind = "ts"
                else:
                    kind = c.sources[int(rng.integers(len(c.sources)))]
                if nd.cat:
                    nd.source = scm.categorical_source(kind, n, nd.k, rng=rng, temporal=temporal, cfg=c)
                elif kind == "ts":
                    nd.source = scm.ts_source(n, rng=rng, temporal=temporal, cfg=c)
                else:
                    nd.source = scm.iid_source(kind, n, rng=rng, cfg=c)
                nd.kind = kind
            else:
                nd.agg = c.aggregations[int(rng.integers(len(c.aggregations)))]
                nd.noise_ab = tuple(rng.uniform(*c.noise_ab, 2))
                d = rng.standard_normal(h)
                d *= rng.uniform(*c.noise_scale) * math.sqrt(h) / (np.linalg.norm(d) + 1e-12)
                nd.noise_dir = d.astype(F32)
                if nd.cat:
                    nd.dec = scm.RandomMLP(h, h, h, rng=rng, **kw)
                    init = c.weight_inits[int(rng.integers(len(c.weight_inits)))]
                    nd.dec_emb = scm.init_weight(init, nd.k, h, rng=rng).T.copy()  # (H, K)
                elif v not in node_col and rng.random() < c.hidden_vector_prob:
                    nd.vec = True  # v2-style vector latent: one MLP instead of decoder + encoder
                    nd.dec = scm.RandomMLP(h, h, h, rng=rng, **kw)
                else:
                    nd.dec = scm.RandomMLP(h, h, 1, rng=rng, **kw)
        if n_kids[v] and not nd.vec:
            nd.enc = _CatEncoder(nd.k, h, kw, rng) if nd.cat else scm.RandomMLP(1, h, h, rng=rng, **kw)
    for v in order:  # a parent read by one child only: fold the edge weights into its encoder
        nd = nodes[v]
        for i, (u, wv) in enumerate(nd.parents):
            if n_kids[u] == 1:
                pu = nodes[u]
                mlp = pu.dec if pu.vec else (pu.enc.mlp if pu.cat else pu.enc)
                mlp.weights[-1] = mlp.weights[-1] * wv
                nd.parents[i] = (u, None)
    noise = _noise(nodes, [v for v in order if nodes[v].source is None], n, rng)
    if entity is not None and entity.shape[1] and n:
        _wire_entity(nodes, order, n_nodes, entity, h, cfg.relational, entity_rng, referenced=referenced)
    mech = getattr(cfg.relational, "mechanisms", ("mlp",))
    if tuple(mech) != ("mlp",) and entity_rng is not None:
        _mix_mechanisms(nodes, order, n_nodes, h, cfg.relational, entity_rng)

    chunk = int(c.chunk_rows)
    cal = np.unique(np.linspace(0, max(n - 1, 0), min(n, N_CAL)).astype(np.int64))
    stats: dict = {}
    fk_idx = [np.where(pos < 0, len(emb) - 1, pos) for emb, pos in foreign]

    def run(rows, cal_local, collect: bool) -> dict[int, np.ndarray]:
        """Evaluate every relevant node at ``rows``; statistics come from ``rows[cal_local]``."""
        emb: dict[int, np.ndarray] = {}
        zs: dict[int, np.ndarray] = {}  # standardized values of numeric nodes, for direct readers
        left = n_kids.copy()
        fk_cache: dict[int, np.ndarray] = {}
        out = {}

        def release(u):  # one reader of u done; drop u's embedding after its last one
            left[u] -= 1
            if left[u] == 0:
                del emb[u]
                zs.pop(u, None)
        for v in order:
            nd = nodes[v]
            if nd.source is not None:
                x = nd.source[rows]
            elif isinstance(nd.dec, _Direct):
                x = nd.dec.read(zs, [fk_cache.setdefault(j, foreign[j][0][fk_idx[j][rows]]) for j, _ in nd.fk_reads],
                                None if nd.lat_w is None else entity[rows], noise[v][rows], stats, v, collect)
                for u, _ in nd.parents:
                    release(u)
            else:
                ins = []
                for u, wv in nd.parents:
                    ins.append(emb[u] if wv is None else emb[u] * wv)
                    release(u)
                for j, w in nd.fk_reads:
                    if j not in fk_cache:
                        fk_cache[j] = foreign[j][0][fk_idx[j][rows]]
                    ins.append(fk_cache[j] * w)
                if nd.lat_w is not None:
                    ins.append(entity[rows] @ nd.lat_w)
                sig = scm.aggregate(ins, nd.agg)
                if collect:
                    stats["s", v] = _stats(sig[cal_local])
                m, inv = stats["s", v]
                sig -= m
                sig *= inv  # standardized signal; the noise is a share of it
                sig += noise[v][rows][:, None] * nd.noise_dir
                y = nd.dec(sig)
                if nd.vec:
                    emb[v] = y
                    continue
                x = np.argmax(y @ nd.dec_emb, axis=1) if nd.cat else y[:, 0]
            if nd.enc is not None:
                if nd.cat:
                    emb[v] = nd.enc(x)
                else:
                    if collect:
                        stats["v", v] = _stats(x[cal_local])
                    m, inv = stats["v", v]
                    zs[v] = (x - m) * inv
                    emb[v] = nd.enc(zs[v])
            if v in node_col:
                out[v] = x
        return out

    if n <= chunk:
        vals = run(slice(0, n), cal, True)
    else:
        run(cal, slice(None), True)  # statistics from the calibration rows
        vals = {}
        for start in range(0, n, chunk):
            part = run(slice(start, min(n, start + chunk)), None, False)
            for v, x in part.items():
                if v not in vals:
                    vals[v] = np.empty(n, dtype=x.dtype)
                vals[v][start:start + len(x)] = x

    result = {}
    for i, s in enumerate(cols):
        v = int(col_nodes[i])
        x = vals[v]
        if s.stype in CAT_STYPES and x.dtype.kind == "f":  # lazy: quantize (§4.3)
            x = _quantize(x, n_classes(s), c, rng)
        elif s.stype not in CAT_STYPES:
            x = np.nan_to_num(x.astype(F32), nan=0.0, posinf=scm.CLAMP, neginf=-scm.CLAMP)
        else:
            x = x.astype(np.int64)
        result[s.name] = x
        if trace is not None:
            nd = nodes[v]
            trace[s.name] = dict(node=v, source=nd.kind or None, cat=nd.cat, agg=nd.agg,
                                 parents=[int(u) for u, _ in nd.parents if u < n_nodes],
                                 temporal_inputs=sum(u >= n_nodes for u, _ in nd.parents),
                                 fk_reads=[j for j, _ in nd.fk_reads], lazy=lazy, layout=layout,
                                 entity=nd.lat_w is not None,
                                 mechanism=None if nd.dec is None else type(nd.dec).__name__.strip("_").lower())
    return result


def _wire_entity(nodes: list, order: list, n_nodes: int, entity: np.ndarray, h: int, r, rng,
                 referenced: bool = False) -> None:
    """Let a drawn share of the table's nodes read the rows' entity latent.

    In a table that other tables reference, each latent dim is visible to the table's own columns
    only with probability ``latent_visible``: the hidden dims are traits an entity passes to its
    children without storing them (a driver's skill), so only its children's cells reveal them.

    Each reading node reads only ``U{latent_reads}`` random dims, so different columns depend on
    different traits and a row's other cells do not reveal the trait a cell depends on (its parent
    and siblings do). A non-source node gets one more input, ``entity @ W`` with ``W`` (d, H) of gain
    ``LogU(latent_gain)`` relative to a causal edge. A source node keeps its marginal exactly: its
    values are re-assigned to rows by the rank of ``sqrt(1-c) z(source) + sqrt(c) entity @ w``
    with ``c = gain / (1 + gain)``, so heavy tails and discreteness survive.
    """
    d = entity.shape[1]
    share = rng.uniform(*r.latent_share)
    vis = (rng.random(d) < r.latent_visible) if referenced else np.ones(d, dtype=bool)
    if not vis.any():
        return
    lo, hi = math.log(r.latent_gain[0]), math.log(r.latent_gain[1])
    for v in order:
        nd = nodes[v]
        if v >= n_nodes:  # temporal latents stay row-order series
            continue
        u, g = rng.random(), math.exp(rng.uniform(lo, hi))
        w = rng.standard_normal((d, h)).astype(F32)
        k = int(rng.integers(r.latent_reads[0], r.latent_reads[1] + 1))
        pick = rng.permutation(np.flatnonzero(vis))[:k]  # the few visible dims this node reads
        if u >= share:
            continue
        keep = np.zeros(d, dtype=bool)
        keep[pick] = True
        w[~keep] = 0.0
        if nd.source is None:
            nd.lat_w = (w * F32(g / math.sqrt(max(len(pick), 1))))
        else:
            src = nd.source
            proj = entity @ w[:, 0] / math.sqrt(max(len(pick), 1))
            c = g / (1.0 + g)
            x = src.astype(np.float64)
            z = (x - x.mean()) / (x.std() + 1e-12)
            key = math.sqrt(1.0 - c) * z + math.sqrt(c) * proj
            out = np.empty_like(src)
            out[np.argsort(key, kind="stable")] = np.sort(src, kind="stable")
            nd.source = out


class _Linear:
    """A linear decoder ``sig @ w`` (n, H) -> (n, 1)."""

    def __init__(self, h, rng):
        self.w = (rng.standard_normal((h, 1)) / math.sqrt(h)).astype(F32)

    def __call__(self, x):
        return x @ self.w


class _Trees:
    """Oblivious threshold trees on the signal: T ~ U{1..4} trees of depth D ~ U{1..4}, random
    split dims, N(0, 1) thresholds and leaves; output = mean leaf (step-like mechanisms)."""

    def __init__(self, h, rng):
        t, dd = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        self.dims = rng.integers(0, h, (t, dd))
        self.thr = rng.standard_normal((t, dd)).astype(F32)
        self.leaf = rng.standard_normal((t, 2 ** dd)).astype(F32)
        self.bits = (2 ** np.arange(dd)).astype(np.int64)

    def __call__(self, x):
        out = np.zeros((len(x), 1), dtype=F32)
        for i in range(len(self.dims)):
            idx = ((x[:, self.dims[i]] > self.thr[i]).astype(np.int64) * self.bits).sum(1)
            out[:, 0] += self.leaf[i][idx]
        return out / F32(len(self.dims))


class _Periodic:
    """A periodic decoder: ``sum_k a_k sin(f_k (sig @ v_k) + phi_k)``, K ~ U{1..3}, f ~ LogU(0.5, 3)."""

    def __init__(self, h, rng):
        k = int(rng.integers(1, 4))
        self.v = (rng.standard_normal((h, k)) / math.sqrt(h)).astype(F32)
        self.f = np.exp(rng.uniform(math.log(0.5), math.log(3.0), k)).astype(F32)
        self.phi = rng.uniform(0, 2 * math.pi, k).astype(F32)
        self.a = rng.standard_normal(k).astype(F32)

    def __call__(self, x):
        return (np.sin((x @ self.v) * self.f + self.phi) @ self.a)[:, None]


class _Direct:
    """A node that reads its numeric parents' standardized *values*, not their embeddings:
    ``y = sqrt(1 - s) (sqrt(1 - f) z(sum_j w_j z_j) + sqrt(f) z(outer)) + sqrt(s) noise`` with
    ``w ~ N(0, 1)``, noise share ``s ~ U(0.05, 0.6)``; ``outer`` sums the node's foreign-key reads
    (``embedding @ u`` of each referenced row: parent-to-child propagation) and entity-latent read,
    with a share ``f ~ U(0, 0.5)`` of the signal. Where the parents are columns, the cell is mostly a
    linear function of cells of its own row, so a few peer rows identify it (in-context regression)."""

    def __init__(self, parents: list, n_fk: int, lat_w: np.ndarray | None, h: int, rng):
        self.parents = parents
        self.w = rng.standard_normal(len(parents)).astype(F32)
        self.fk_u = (rng.standard_normal((n_fk, h)) / math.sqrt(h)).astype(F32)
        # the node's entity-latent read (d, H), projected to one output
        self.lat_u = None if lat_w is None else lat_w @ (rng.standard_normal(h) / math.sqrt(h)).astype(F32)
        self.share = F32(rng.uniform(0.05, 0.6))
        self.outer = F32(rng.uniform(0.0, 0.5)) if n_fk or lat_w is not None else F32(0.0)

    def read(self, zs, fks, lat, noise, stats, v, collect):
        y = np.zeros(len(noise), dtype=F32)
        for u, w in zip(self.parents, self.w):
            y += w * zs[u]
        o = np.zeros(len(noise), dtype=F32)
        for i, e in enumerate(fks):
            o += e @ self.fk_u[i]
        if lat is not None:
            o += lat @ self.lat_u
        if collect:
            stats["d", v], stats["o", v] = _stats(y[:, None]), _stats(o[:, None])
        (m, inv), (mo, invo) = stats["d", v], stats["o", v]
        y = np.sqrt(F32(1) - self.outer) * (y - m[0]) * inv[0] + np.sqrt(self.outer) * (o - mo[0]) * invo[0]
        return np.sqrt(F32(1) - self.share) * y + np.sqrt(self.share) * noise


_MECHS = {"linear": _Linear, "tree": _Trees, "periodic": _Periodic}


def _mix_mechanisms(nodes: list, order: list, n_nodes: int, h: int, r, rng) -> None:
    """Give numeric scalar nodes a decoder family drawn per node from ``relational.mechanisms``
    (weights ``mechanism_weights``): the random MLP, a linear map, threshold trees or a periodic
    map of the node's standardized signal, or a direct linear read of its parents' values (a node
    without numeric parents keeps its MLP). Draws come from the table's entity stream only."""
    names = tuple(r.mechanisms)
    w = np.asarray(r.mechanism_weights[: len(names)], dtype=np.float64)
    w = w / w.sum() if w.sum() > 0 else np.full(len(names), 1.0 / len(names))
    for v in order:
        nd = nodes[v]
        if v >= n_nodes or nd.source is not None or nd.cat or nd.vec or nd.dec is None:
            continue
        fam = names[int(rng.choice(len(names), p=w))]
        if fam == "direct":
            num = [u for u, _ in nd.parents if not nodes[u].cat and not nodes[u].vec]
            if num:  # else the node keeps its MLP
                nd.dec = _Direct(num, len(nd.fk_reads), nd.lat_w, h, rng)
        elif fam != "mlp":
            nd.dec = _MECHS[fam](h, rng)


def entity_latents(schema: Schema, links: dict, times: dict | None, cfg, *, seed: int) -> dict[str, np.ndarray]:
    """Hidden per-row entity latents ``{table: (n, d) float32}`` (``relational.latent_dim`` = d).

    Tables in topological order. A row's latent is ``sqrt(rho) * std(inherited) + sqrt(1 - rho) * own``
    with ``own ~ N(0, I)`` (in a timed table an AR(1) series in time order with coefficient
    ``U(latent_smooth)`` per dim, so shared period effects keep activity columns autocorrelated)
    and ``rho ~ U(latent_inherit)`` per table; ``inherited`` sums, over the
    table's (non-self) foreign keys, the standardized parent row's latent (0 for a null key) with
    variance shares ``~ Dirichlet(latent_concentration)``, so one parent often dominates. So rows that share
    a parent share a component (homophily) and the parent's own columns, which read the parent's
    latent too, are informative about its children and back. With probability ``state_prob`` a
    timed child table also inherits a *time-varying parent state*: per parent row a few random
    sinusoids of the child row's time (periods ``LogU(state_period)`` of the window), scaled by
    ``state_gain``: an entity's recent children predict its next ones. Streams:
    ``child(seed, "latent", table)``.
    """
    r = cfg.relational
    d = int(r.latent_dim)
    times = times or {}
    out: dict[str, np.ndarray] = {}
    if d <= 0:
        return out
    t_all = [np.asarray(v, dtype="datetime64[ns]").astype(np.int64) for v in times.values() if v is not None and len(v)]
    t0 = min(int(x.min()) for x in t_all) if t_all else 0
    span = max((max(int(x.max()) for x in t_all) - t0) if t_all else 1, 1)
    for name in schema.topo_order():
        spec = schema.tables[name]
        n = int(spec.n_rows)
        rng = child(seed, "latent", name)
        own = rng.standard_normal((n, d)).astype(F32)
        rho = rng.uniform(*r.latent_inherit)
        if times.get(name) is not None and n > 1 and r.latent_smooth[1] > 0:
            # a timed table's own part drifts in time order (period effects), AR(1) per dim
            a = rng.uniform(*r.latent_smooth, d)
            for j in range(d):
                z = scm.ar1(own[:, j].astype(np.float64) * math.sqrt(1.0 - a[j] ** 2), float(a[j]))
                own[:, j] = ((z - z.mean()) / (z.std() + 1e-12)).astype(F32)
        use_state = rng.random() < r.state_prob and times.get(name) is not None
        inh = np.zeros((n, d), dtype=np.float64)
        k = 0
        fks = [fk for fk in spec.fkeys if fk.parent != name and fk.parent in out and (name, fk.column) in links]
        share = rng.dirichlet(np.full(len(fks), r.latent_concentration)) if fks else []
        for i, fk in enumerate(fks):
            pos = np.asarray(links[(name, fk.column)], dtype=np.int64)
            lp = out[fk.parent]
            ok = pos >= 0
            part = np.zeros((n, d))
            part[ok] = lp[pos[ok]]
            if use_state and n:
                n_p = len(lp)
                n_sin = 3
                per = np.exp(rng.uniform(math.log(r.state_period[0]), math.log(r.state_period[1]), n_sin))
                amp = rng.standard_normal((n_p, n_sin, d)) / math.sqrt(n_sin)
                phase = rng.uniform(0, 2 * math.pi, (n_p, n_sin))
                gain = rng.uniform(*r.state_gain)
                tt = (np.asarray(times[name], dtype="datetime64[ns]").astype(np.int64) - t0) / span
                pp = np.where(ok, pos, 0)
                st = np.zeros((n, d))
                for j in range(n_sin):
                    st += amp[pp, j, :] * np.sin(2 * math.pi * tt / per[j] + phase[pp, j])[:, None]
                part[ok] += gain * st[ok]
            sd = part.std(0, keepdims=True)
            inh += math.sqrt(share[i]) * part / np.where(sd > 1e-12, sd, 1.0)
            k += 1
        if k:
            sd = inh.std(0, keepdims=True)
            inh = (inh - inh.mean(0, keepdims=True)) / np.where(sd > 1e-12, sd, 1.0)
            lat = math.sqrt(rho) * inh + math.sqrt(1.0 - rho) * own
        else:
            lat = own
        out[name] = lat.astype(F32)
    return out


def _quantize(x: np.ndarray, k: int, c, rng) -> np.ndarray:
    """Class = number of K-1 boundaries (values at random rows) exceeded; labels permuted with
    probability p ~ U(permute_prob) and reversed with q ~ U(reverse_prob) (§4.3)."""
    n = len(x)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    rows = rng.choice(n, min(k - 1, n), replace=False)
    bounds = np.sort(x[rows])
    codes = np.searchsorted(bounds, x, side="left").astype(np.int64)
    p, q = rng.uniform(*c.permute_prob), rng.uniform(*c.reverse_prob)
    if rng.random() < p:
        codes = rng.permutation(k)[codes]
    if rng.random() < q:
        codes = (k - 1) - codes
    return codes


def sample_values(schema: Schema, links: dict, times: dict | None, cfg, *, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Stage 3 for a whole schema: ``{table: {column: latent}}`` (generator.md §4).

    Parameters
    ----------
    schema : tables in topological order.
    links : ``{(child, fk column): parent positions (int64, -1 = null)}`` from stage 2.
    times : ``{table: timestamps}``; tables present are timed (rows in time order) and get
        temporal sources.
    cfg : a :class:`GeneratorConfig`.
    seed : the database seed; table ``t`` draws from ``child(seed, "values", t)``.
    """
    times = times or {}
    out: dict[str, dict[str, np.ndarray]] = {}
    h = cfg.scm.emb_dim
    lat = entity_latents(schema, links, times, cfg, seed=seed)
    for name in schema.topo_order():
        spec = schema.tables[name]
        rng = child(seed, "values", name)
        foreign = []
        for fk in spec.fkeys:
            if fk.parent == name or fk.parent not in out:
                continue
            frng = child(seed, "values", name, "collate", fk.column)
            emb = _foreign(out[fk.parent], schema.tables[fk.parent], h, cfg.scm, frng)
            if emb is None:
                continue
            foreign.append((emb, np.asarray(links[(name, fk.column)], dtype=np.int64)))
        temporal = name in times or spec.kind == "activity"
        out[name] = table_values(spec, cfg, rng=rng, temporal=temporal, foreign=foreign,
                                 entity=lat.get(name), entity_rng=child(seed, "values", name, "entity"),
                                 referenced=bool(schema.children(name)))
    return out
