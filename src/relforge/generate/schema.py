"""Stage 1 containers: the schema of a database to synthesize (tables, columns, keys, row counts).

A :class:`Schema` is what every later stage consumes. It can come from the random sampler
(``sample_schema``), from a SQL file (``relforge.generate.sql``) or from an existing database
(``relforge.generate.like``). Tables are kept in topological order: every table comes after the
tables it references (self-references excepted).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from relforge.db.table import Stype
from relforge.errors import RelforgeError


def parents_first(parents: dict[str, list[str]], context: str = "") -> list[str]:
    """Table names (the keys of ``parents``, in their order) with every table after the tables it
    references (``parents[name]``; self-references ignored); a ``RelforgeError`` (prefixed by
    ``context``) names the tables on a cycle."""
    indeg = {n: 0 for n in parents}
    kids: dict[str, list[str]] = {n: [] for n in parents}
    for n, ps in parents.items():
        for p in set(ps):
            if p != n:
                indeg[n] += 1
                kids[p].append(n)
    order, ready = [], [n for n in parents if indeg[n] == 0]
    while ready:
        n = ready.pop(0)
        order.append(n)
        for c in kids[n]:
            indeg[c] -= 1
            if indeg[c] == 0:
                ready.append(c)
    if len(order) != len(parents):
        raise RelforgeError(f"{context}foreign keys form a cycle among tables: {', '.join(sorted(set(parents) - set(order)))}")
    return order


@dataclass(frozen=True)
class ColumnSpec:
    """One feature column to synthesize.

    ``stype`` is the final semantic type. ``labels`` fixes the category labels (SQL ENUM / CHECK IN);
    otherwise a categorical has ``n_categories`` classes. ``integer`` asks for integer-valued numbers
    (SQL INTEGER). ``role`` is a naming/rendering hint (amount, count, flag, status, date, text...).
    ``lo``/``hi`` bound numeric or datetime values when a schema declares them.
    """

    name: str
    stype: Stype
    n_categories: int = 0
    labels: tuple[str, ...] | None = None
    nullable: bool = True
    unique: bool = False
    integer: bool = False
    role: str = "feature"
    lo: float | None = None
    hi: float | None = None
    scale: int | None = None  # decimal places of a DECIMAL(p, s) / amount column (render.py)
    max_len: int | None = None  # longest allowed text (VARCHAR(n)); None = unbounded


@dataclass(frozen=True)
class ForeignKey:
    """``column`` of the owning table references the primary key of ``parent`` (may be itself)."""

    column: str
    parent: str
    nullable: bool = False
    null_prob: float = 0.0


@dataclass
class TableSpec:
    """One table to synthesize."""

    name: str
    n_rows: int
    kind: str = "entity"  # "entity" (referenced by others) or "activity"
    pkey: str | None = "id"
    fkeys: list[ForeignKey] = field(default_factory=list)
    columns: list[ColumnSpec] = field(default_factory=list)
    time_col: str | None = None

    @property
    def parents(self) -> list[str]:
        return [fk.parent for fk in self.fkeys if fk.parent != self.name]


@dataclass
class Schema:
    """Tables in topological order plus provenance (layout family, source)."""

    tables: dict[str, TableSpec]
    layout: str = ""
    meta: dict = field(default_factory=dict)

    def children(self, name: str) -> list[tuple[str, ForeignKey]]:
        return [(t.name, fk) for t in self.tables.values() for fk in t.fkeys if fk.parent == name and t.name != name]

    def topo_order(self) -> list[str]:
        """Table names, parents before children (self-references ignored); errors on a cycle."""
        for t in self.tables.values():
            for p in set(t.parents):
                if p not in self.tables:
                    raise RelforgeError(f"table {t.name!r}: foreign key references unknown table {p!r}")
        return parents_first({n: t.parents for n, t in self.tables.items()})

    def validate(self) -> None:
        """Names unique and non-empty, keys consistent, DAG acyclic."""
        for t in self.tables.values():
            if t.n_rows < 0:
                raise RelforgeError(f"table {t.name!r}: negative row count")
            names = [c.name for c in t.columns] + [fk.column for fk in t.fkeys]
            names += [t.pkey] if t.pkey else []
            names += [t.time_col] if t.time_col else []
            seen = set()
            for c in names:
                if not c:
                    raise RelforgeError(f"table {t.name!r}: empty column name")
                if c in seen:
                    raise RelforgeError(f"table {t.name!r}: duplicate column {c!r}")
                seen.add(c)
            for fk in t.fkeys:
                if fk.parent not in self.tables:
                    raise RelforgeError(f"table {t.name!r}: column {fk.column!r} references unknown table {fk.parent!r}")
                if self.tables[fk.parent].pkey is None:
                    raise RelforgeError(f"table {t.name!r}: column {fk.column!r} references {fk.parent!r}, which has no primary key")
        self.topo_order()


# ---------------------------------------------------------------- stage 1: random schemas


def _power_law_int(lo: int, hi: int, size: int, *, rng) -> np.ndarray:
    """Integers on ``[lo, hi]`` with P(k) proportional to 1/k (generator.md §1 ``sample_pl``)."""
    k = np.arange(lo, hi + 1)
    p = 1.0 / k
    return rng.choice(k, size=size, p=p / p.sum())


def _u_int(r: tuple[int, int], rng) -> int:
    return int(rng.integers(r[0], r[1] + 1))


def schema_layout_params(name: str, cfg) -> dict:
    """Family parameters of the table-DAG layout ``name`` from a :class:`SchemaConfig`."""
    return {
        "barabasi_albert": dict(m=cfg.ba_m, sink_dropout=cfg.ba_sink_dropout),
        "watts_strogatz": dict(k=cfg.ws_k, p=cfg.ws_rewire),
        "erdos_renyi": dict(p=cfg.er_p),
        "layered": dict(depth=cfg.layered_depth, dropout=cfg.layered_dropout),
    }.get(name, {})


def _cap_in_degree(n: int, edges, max_in: int, *, rng):
    """Drop random in-edges above ``max_in`` per node, then rejoin split components.

    Components are joined in order by an edge from a random node of one to a source (in-degree
    0, which every DAG component has) of the next, so caps stay respected and no cycle appears.
    """
    from relforge.generate.layouts import _as_edges, _components

    e = _as_edges(edges)
    if len(e) == 0:
        return e
    keep = np.ones(len(e), dtype=bool)
    indeg = np.bincount(e[:, 1], minlength=n)
    for v in np.flatnonzero(indeg > max_in):
        ins = np.flatnonzero(e[:, 1] == v)
        keep[rng.choice(ins, size=len(ins) - max_in, replace=False)] = False
    e = e[keep]
    labels = _components(n, e)
    k = int(labels.max()) + 1
    if k > 1:
        extra = []
        indeg = np.bincount(e[:, 1], minlength=n) if len(e) else np.zeros(n, dtype=np.int64)
        for c in range(k - 1):
            a = np.flatnonzero(labels == c)
            b = np.flatnonzero((labels == c + 1) & (indeg == 0))
            extra.append((int(rng.choice(a)), int(rng.choice(b))))
        e = _as_edges(np.concatenate([e, np.array(extra, dtype=np.int64)]))
    return e


def _topo_relabel(n: int, edges):
    """A permutation ``new_id[old]`` so that every edge goes from a lower to a higher new id."""
    import heapq

    indeg = np.bincount(edges[:, 1], minlength=n) if len(edges) else np.zeros(n, dtype=np.int64)
    kids = [[] for _ in range(n)]
    for u, v in edges:
        kids[int(u)].append(int(v))
    ready = [i for i in range(n) if indeg[i] == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        u = heapq.heappop(ready)
        order.append(u)
        for v in kids[u]:
            indeg[v] -= 1
            if indeg[v] == 0:
                heapq.heappush(ready, v)
    new_id = np.empty(n, dtype=np.int64)
    new_id[np.array(order, dtype=np.int64)] = np.arange(n)
    return new_id


def _sample_columns(n_cols: int, cfg, *, rng) -> list[ColumnSpec]:
    cols = []
    for i in range(n_cols):
        u = rng.random()
        name = f"feature_{i}"
        if u < cfg.datetime_prob:
            cols.append(ColumnSpec(name, Stype.datetime, role="date"))
        elif u < cfg.datetime_prob + cfg.text_prob:
            cols.append(ColumnSpec(name, Stype.text, n_categories=_u_int(cfg.text_categories, rng), role="text"))
        elif rng.random() < cfg.categorical_prob:
            cols.append(ColumnSpec(name, Stype.categorical, n_categories=_u_int(cfg.n_categories, rng)))
        else:
            cols.append(ColumnSpec(name, Stype.numerical))
    return cols


def sample_schema(cfg, *, rng) -> Schema:
    """Stage 1: a random schema (table DAG, row counts, columns) from ``cfg.schema``.

    Parameters
    ----------
    cfg : ``GeneratorConfig`` (only ``cfg.schema`` is read).
    rng : random stream.

    Returns
    -------
    Schema
        Tables ``table_0..`` in topological order. A DAG edge ``u -> v`` becomes a foreign key
        ``foreign_row_{j}`` of ``v`` to ``u`` (one per parent, parents in id order). Tables with
        children are entity tables (``entity_rows``, no time column unless
        ``time_col_entity_prob``); with ``keys_only_prob`` an entity table keeps nothing but its keys.
        Sinks, and a lone table, are activity tables with time column ``date``. A table may also get a nullable self-reference ``parent_row``.

    Notes
    -----
    generator.md §1-2: n_tables ~ U{n_tables}, the layout is a uniform pick from ``layouts``,
    feature counts follow P(k) ~ 1/k on ``n_features``, column stypes are categorical with
    ``categorical_prob`` (K ~ U{n_categories}), else numerical, plus small datetime/text shares.
    At most ``max_fkeys`` keys per table (self-reference included); dropped in-edges are
    compensated so the DAG stays weakly connected.
    """
    from relforge.generate.layouts import sample_dag

    sc = cfg.schema if hasattr(cfg, "schema") else cfg
    n = _u_int(sc.n_tables, rng)
    layout = str(sc.layouts[int(rng.integers(len(sc.layouts)))])
    edges = sample_dag(layout, n, rng=rng, params=schema_layout_params(layout, sc))
    edges = _cap_in_degree(n, edges, sc.max_fkeys, rng=rng)
    new_id = _topo_relabel(n, edges)
    edges = new_id[edges] if len(edges) else edges
    edges = edges[np.lexsort((edges[:, 0], edges[:, 1]))] if len(edges) else edges
    outdeg = np.bincount(edges[:, 0], minlength=n) if len(edges) else np.zeros(n, dtype=np.int64)
    n_feats = _power_law_int(sc.n_features[0], sc.n_features[1], n, rng=rng)
    tables: dict[str, TableSpec] = {}
    for i in range(n):
        name = f"table_{i}"
        is_entity = bool(outdeg[i] > 0)
        parents = edges[edges[:, 1] == i, 0] if len(edges) else []
        fkeys = []
        for j, p in enumerate(sorted(int(x) for x in parents)):
            nullable = bool(rng.random() < sc.nullable_fk_prob)
            rate = float(rng.uniform(*sc.fk_null_rate)) if nullable else 0.0
            fkeys.append(ForeignKey(f"foreign_row_{j}", f"table_{p}", nullable=nullable, null_prob=rate))
        if len(fkeys) < sc.max_fkeys and rng.random() < sc.self_ref_prob:
            fkeys.append(ForeignKey("parent_row", name, nullable=True, null_prob=float(rng.uniform(*sc.self_ref_roots))))
        if is_entity:
            rows = _u_int(sc.entity_rows, rng)
            time_col = "date" if rng.random() < sc.time_col_entity_prob else None
        else:
            rows = _u_int(sc.activity_rows, rng)
            time_col = "date"
        columns = _sample_columns(int(n_feats[i]), sc, rng=rng)
        if is_entity and sc.keys_only_prob > 0 and rng.random() < sc.keys_only_prob:
            columns, time_col = [], None  # no draw when the knob is off: other presets stay bit for bit
        tables[name] = TableSpec(
            name=name, n_rows=rows, kind="entity" if is_entity else "activity", pkey="row_idx",
            fkeys=fkeys, columns=columns, time_col=time_col,
        )
    schema = Schema(tables=tables, layout=layout, meta={"edges": edges.tolist(), "source": "random"})
    schema.validate()
    return schema
