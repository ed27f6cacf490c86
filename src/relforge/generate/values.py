"""Stage 3: latent cell values from one structural causal model per table (generator.md §4).

:func:`sample_values` returns, per table, one latent array per feature column: float32 values for
numerical and datetime columns, int64 class codes ``0..K-1`` for categorical, boolean and text
columns. Post-processing (``post.py``) and rendering (``render.py``) turn them into cells.

Per table (stream ``relforge.rng.child(seed, "values", table)``):

1. A causal DAG over ``N = C + ceil(C/p) + 3`` nodes from a random layout (``layouts.sample_dag``),
   ``p ~ U(col_node_frac)``, in-degree capped at ``max_parents``; ``C`` distinct nodes carry the
   columns (§4.1). Each edge has a weight (``layouts.edge_weights``) and its own frozen encoder.
2. ``type_eager``: categorical nodes hold class codes, encoded by an embedding + MLP and decoded by
   ``argmax_k E_k . MLP(emb)``. ``type_lazy``: every node is numeric and categorical columns are
   quantized at random-row boundaries afterwards, labels permuted / reversed at random (§4.3).
3. Source nodes draw from §4.5 generators (temporal ``ts`` with probability ``activity_ts_prob``
   in timed tables). Other nodes: ``value = Dec(agg(w_e Enc_e(parent)) + foreign + noise)`` where
   the noise is a per-row Beta draw along a fixed direction, its std a drawn share
   (``noise_scale``) of the signal's std, so noise never drowns the signal.
4. Foreign inputs (§4.4): for every foreign key to a parent table P, P's final latent columns are
   encoded with a per-(P, child) collation encoder *on P's rows*, averaged over P's columns and
   gathered at the child's FK positions (``Enc(gather(x)) == gather(Enc(x))``, so this is exact
   and costs ``n_P`` instead of ``n_child`` encoder rows). A null FK reads the encoding of the
   fixed fill value 0, never the parent's signal. A random share of the child's non-source nodes
   reads each key. Self-referencing keys carry no value flow (a table cannot feed itself).

Rows are evaluated node by node in chunks of ``chunk_rows``; all per-row randomness (sources,
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
N_CAL = 512  # rows used to calibrate a node's noise scale


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
    parents: list = field(default_factory=list)  # [(parent node, weight, encoder)]
    fk_reads: list = field(default_factory=list)  # [(fk index, weight)]
    agg: str = "sum"
    dec: object = None
    dec_emb: np.ndarray | None = None  # (K, H) class embeddings of a categorical decoder
    noise: np.ndarray | None = None  # (n,) per-row noise draw (unit std)
    noise_dir: np.ndarray | None = None  # (H,)
    noise_scale: float = 0.0
    source: np.ndarray | None = None  # values of a source node
    kind: str = ""  # source generator of a source node


class _CatEncoder:
    """Categorical encoder: a K x H embedding then an MLP(H, H, H) (§4.3)."""

    def __init__(self, k, h, mlp_kw, rng):
        init = mlp_kw["inits"][int(rng.integers(len(mlp_kw["inits"])))]
        self.emb = scm.init_weight(init, k, h, rng=rng)
        self.mlp = scm.RandomMLP(h, h, h, rng=rng, **mlp_kw)

    def __call__(self, codes):
        return self.mlp(self.emb[codes])


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
    """Mean collation embedding of the parent's columns on its rows, plus a final fill row (n_P+1, H)."""
    cols = [s for s in parent_spec.columns if s.name in parent_vals]
    if not cols:
        return None
    n_p = parent_spec.n_rows
    out = np.zeros((n_p + 1, h), dtype=F32)
    kw = _mlp_kw(c)
    for s in cols:
        v = parent_vals[s.name]
        if v.dtype.kind in "iu":
            init = c.weight_inits[int(rng.integers(len(c.weight_inits)))]
            emb = scm.init_weight(init, int(v.max()) + 1 if len(v) else 1, h, rng=rng)
            out[:n_p] += emb[v]  # fill row (null key) stays 0
        else:
            enc = scm.RandomMLP(1, h, h, rng=rng, **kw)
            x = np.concatenate([np.nan_to_num(v.astype(F32), nan=0.0), np.zeros(1, F32)])
            out += np.clip(enc(x), -scm.AGG_CLAMP, scm.AGG_CLAMP)
    out /= F32(len(cols))
    return out


def table_values(spec: TableSpec, cfg, *, rng: np.random.Generator, temporal: bool,
                 foreign: list[tuple[np.ndarray, np.ndarray]] = (), trace: dict | None = None) -> dict[str, np.ndarray]:
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

    Returns
    -------
    ``{column: latent}``: float32 values or int64 codes, one per row.
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
    weights = edge_weights(len(edges), rng=rng).astype(F32)
    lazy = c.propagations[int(rng.integers(len(c.propagations)))] == "type_lazy"
    col_nodes = rng.choice(n_nodes, n_col, replace=False)
    node_col = {int(v): i for i, v in enumerate(col_nodes)}
    order = _topo(n_nodes, edges)
    cat_prob = cfg.schema.categorical_prob

    nodes = [_Node() for _ in range(n_nodes)]
    for v in range(n_nodes):
        nd = nodes[v]
        if v in node_col:
            s = cols[node_col[v]]
            nd.cat = s.stype in CAT_STYPES and not lazy
            nd.k = n_classes(s) if s.stype in CAT_STYPES else 0
        elif not lazy and rng.random() < cat_prob:
            nd.cat, nd.k = True, int(rng.integers(cfg.schema.n_categories[0], cfg.schema.n_categories[1] + 1))
    in_edges = [[] for _ in range(n_nodes)]
    for (u, v), w in zip(edges.tolist(), weights):
        in_edges[v].append((u, w))
    if temporal and n > 0:  # shared slow latent series ("drift"/"season") read by a share of nodes
        n_lat = int(rng.integers(c.temporal_latents[0], c.temporal_latents[1] + 1))
        share = rng.uniform(*c.temporal_share)
        lat_w = edge_weights(n_nodes, rng=rng).astype(F32)
        for j in range(n_lat):
            nodes.append(_Node(source=scm.ts_source(n, rng=rng, temporal=True, cfg=c)))
        for v in range(n_nodes):
            if n_lat and in_edges[v] and rng.random() < share:
                in_edges[v].append((n_nodes + int(rng.integers(n_lat)), lat_w[v]))
        order = list(range(n_nodes, len(nodes))) + order
    reader_share = rng.uniform(*c.fk_reader_share)
    for v in order:
        if v >= n_nodes:
            continue
        nd = nodes[v]
        for u, w in in_edges[v]:
            enc = _CatEncoder(nodes[u].k, h, kw, rng) if nodes[u].cat else scm.RandomMLP(1, h, h, rng=rng, **kw)
            nd.parents.append((u, F32(w), enc))
        if nd.parents:
            for j in range(len(foreign)):
                if rng.random() < reader_share:
                    gain = math.exp(rng.uniform(math.log(c.fk_gain[0]), math.log(c.fk_gain[1])))
                    nd.fk_reads.append((j, F32(edge_weights(1, rng=rng)[0] * gain)))
        if not nd.parents and not nd.fk_reads:  # a source (§4.5)
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
            continue
        nd.agg = c.aggregations[int(rng.integers(len(c.aggregations)))]
        a, b = rng.uniform(*c.noise_ab, 2)
        nd.noise = scm.beta_noise(n, a, b, 1.0, rng=rng)
        d = rng.standard_normal(h).astype(F32)
        nd.noise_dir = d / F32(np.linalg.norm(d) + 1e-12)
        nd.noise_scale = float(rng.uniform(*c.noise_scale))
        if nd.cat:
            nd.dec = scm.RandomMLP(h, h, h, rng=rng, **kw)
            init = c.weight_inits[int(rng.integers(len(c.weight_inits)))]
            nd.dec_emb = scm.init_weight(init, nd.k, h, rng=rng).T.copy()  # (H, K)
        else:
            nd.dec = scm.RandomMLP(h, h, 1, rng=rng, **kw)

    chunk = int(c.chunk_rows)
    cal = np.unique(np.linspace(0, max(n - 1, 0), min(n, N_CAL)).astype(np.int64))
    vals: dict[int, np.ndarray] = {}
    norm: dict[int, tuple] = {}  # numeric node -> (mean, 1/std) on the calibration rows

    def _stats(x):  # column-wise mean and inverse std of calibration values
        x = x.astype(np.float64)
        m, sd = x.mean(0), x.std(0)
        inv = np.where((sd > 1e-12) & np.isfinite(sd), 1.0 / np.where(sd > 1e-12, sd, 1.0), 1.0)
        return np.nan_to_num(m).astype(F32), inv.astype(F32)

    for v in order:
        nd = nodes[v]
        if nd.source is not None:
            vals[v] = nd.source
            if not nd.cat:
                norm[v] = _stats(nd.source[cal])
            continue

        def signal(rows):  # aggregated inputs at ``rows`` (a slice or index array), (m, H)
            ins = []
            for u, w, enc in nd.parents:
                x = vals[u][rows]
                if u in norm:  # encoders see standardized parent values (scale-free MLPs)
                    m, inv = norm[u]
                    x = (x - m) * inv
                e = enc(x)
                e *= w
                ins.append(e)
            for j, w in nd.fk_reads:
                emb, pos = foreign[j]
                ins.append(emb[pos[rows]] * w)
            return scm.aggregate(ins, nd.agg)

        if n <= chunk:
            full = signal(slice(0, n))
            m, inv = _stats(full[cal]) if n else (F32(0), F32(1))
        else:
            full = None
            m, inv = _stats(signal(cal))
        sigma = F32(nd.noise_scale * math.sqrt(h))
        out = np.empty(n, dtype=np.int64 if nd.cat else F32)
        for start in range(0, n, chunk):
            sl = slice(start, min(n, start + chunk))
            x = full if full is not None else signal(sl)
            x = (x - m) * inv  # the signal is standardized; noise is a share of it (§7 v2)
            x += (nd.noise[sl] * sigma)[:, None] * nd.noise_dir[None, :]
            y = nd.dec(x)
            if nd.cat:
                out[sl] = np.argmax(y @ nd.dec_emb, axis=1)
            else:
                out[sl] = np.nan_to_num(y[:, 0], nan=0.0, posinf=scm.CLAMP, neginf=-scm.CLAMP)
        vals[v] = out
        if not nd.cat:
            norm[v] = _stats(out[cal])

    result = {}
    for i, s in enumerate(cols):
        x = vals[int(col_nodes[i])]
        if s.stype in CAT_STYPES and x.dtype.kind == "f":  # lazy: quantize (§4.3)
            x = _quantize(x, n_classes(s), c, rng)
        elif s.stype not in CAT_STYPES and x.dtype.kind in "iu":
            x = x.astype(F32)
        result[s.name] = x
        if trace is not None:
            nd = nodes[int(col_nodes[i])]
            trace[s.name] = dict(node=int(col_nodes[i]), source=nd.kind or None, cat=nd.cat, agg=nd.agg,
                                 parents=[int(u) for u, _, _ in nd.parents if u < n_nodes],
                                 temporal_inputs=sum(u >= n_nodes for u, _, _ in nd.parents),
                                 fk_reads=[j for j, _ in nd.fk_reads], lazy=lazy, layout=layout)
    return result


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
            pos = np.asarray(links[(name, fk.column)], dtype=np.int64)
            pos = np.where(pos < 0, len(emb) - 1, pos)
            foreign.append((emb, pos))
        temporal = name in times or spec.kind == "activity"
        out[name] = table_values(spec, cfg, rng=rng, temporal=temporal, foreign=foreign)
    return out
