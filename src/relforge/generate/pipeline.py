"""End-to-end synthesis: schema -> times -> links -> values -> post-processing -> Database.

:func:`generate_database` chains the stages of generator.md §2-5. Each stage draws from its own
named child stream of the seed (``relforge.rng.child``), so the same ``(seed, config)`` gives the
same database (``content_hash``) in any process, and re-running one stage never shifts another.

Streams: ``schema`` (+ ``names`` for semantic names when ``schema.semantic_names`` is on and
``relforge.generate.names`` exists), ``time``, ``links``, ``values/<table>``, ``post/*/<table>`` and
``render/<table>`` (shared by a table's columns in column order). Latent values are kept as numpy
arrays per column; cells are rendered once per column and masked (missing values) in place of a
dtype that can hold them (float NaN, nullable Int64 / boolean, NaT, <NA> strings).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from relforge.db import Database, Stype, Table
from relforge._version import __version__
from relforge.errors import RelforgeError
from relforge.generate.config import GeneratorConfig, load_config
from relforge.generate.schema import Schema
from relforge.rng import child


def _generator_version() -> str:
    return __version__


def _apply_names(schema: Schema, cfg: GeneratorConfig, seed: int) -> Schema:
    """Semantic names (helper module ``relforge.generate.names``) when the schema knob asks."""
    if not getattr(cfg.schema, "semantic_names", False):
        return schema
    try:
        from relforge.generate.names import apply_names
    except ImportError:
        return schema
    if getattr(cfg.relational, "structured_names", False):
        return apply_names(schema, rng=child(seed, "names"), structured=True)
    return apply_names(schema, rng=child(seed, "names"))


def _with_rows(schema: Schema, n_rows: dict[str, int] | None) -> Schema:
    if not n_rows:
        return schema
    for t in n_rows:
        if t not in schema.tables:
            raise RelforgeError(f"n_rows: unknown table {t!r}")
        if int(n_rows[t]) < 0:
            raise RelforgeError(f"n_rows: table {t!r} has a negative row count")
    import dataclasses

    tables = {n: dataclasses.replace(t, n_rows=int(n_rows.get(n, t.n_rows))) for n, t in schema.tables.items()}
    return Schema(tables, schema.layout, dict(schema.meta))


def _masked(s: pd.Series, mask: np.ndarray) -> pd.Series:
    """``s`` with ``mask`` rows set missing, in a dtype that can hold a missing value."""
    dt = s.dtype
    if isinstance(dt, np.dtype):
        if dt.kind == "f":
            return pd.Series(np.where(mask, np.nan, s.to_numpy()), dtype=dt)
        if dt.kind == "b":
            return pd.Series(pd.arrays.BooleanArray(s.to_numpy(), mask.copy()))
        if dt.kind in "iu":
            return pd.Series(pd.arrays.IntegerArray(s.to_numpy().astype(np.int64), mask.copy()))
        if dt.kind == "M":
            v = s.to_numpy().copy()
            v[mask] = np.datetime64("NaT")
            return pd.Series(v)
    arr = s.array.copy()  # nullable / arrow-backed arrays: vectorized masked assignment
    arr[mask] = pd.NA
    return pd.Series(arr)


def apply_fanout(schema: Schema, cfg: GeneratorConfig, *, rng: np.random.Generator) -> Schema:
    """Shrink entity tables by their height in the key DAG (``relational.fanout``).

    ``f ~ LogU(fanout)`` once per database; a table of height ``h`` (longest path of foreign keys
    down to a table nobody references; unreferenced tables have height 0) keeps
    ``max(fanout_min_rows, round(n / f^min(h, fanout_max_levels)))`` rows. Parents then have several children each, the
    way real schemas nest (a hierarchy of few categories, more entities, many events).
    """
    lo, hi = cfg.relational.fanout
    if hi <= 1.0:
        return schema
    import dataclasses
    import math

    f = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    height: dict[str, int] = {}
    for name in reversed(schema.topo_order()):
        kids = [c for c, _ in schema.children(name)]
        height[name] = 1 + max(height[c] for c in kids) if kids else 0
    tables = {}
    for n, t in schema.tables.items():
        h = min(height[n], cfg.relational.fanout_max_levels)
        rows = t.n_rows if h == 0 else max(min(cfg.relational.fanout_min_rows, t.n_rows), int(round(t.n_rows / f ** h)))
        tables[n] = dataclasses.replace(t, n_rows=rows)
    meta = dict(schema.meta)
    meta["fanout"] = round(f, 4)
    return Schema(tables, schema.layout, meta)


def database_schema(seed: int, config=None) -> Schema:
    """The schema :func:`generate_database` samples for ``seed`` (stage 1, the fan-out of
    ``relational.fanout``, semantic names)."""
    from relforge.generate.schema import sample_schema

    cfg = load_config(config)
    schema = sample_schema(cfg, rng=child(int(seed), "schema"))
    schema = apply_fanout(schema, cfg, rng=child(int(seed), "fanout"))
    return _apply_names(schema, cfg, int(seed))


def generate_database(seed: int, config=None, *, schema: Schema | None = None,
                      n_rows: dict[str, int] | None = None) -> Database:
    """Generate one synthetic relational database (generator.md §2-5).

    Parameters
    ----------
    seed : the database seed (non-negative int).
    config : a :class:`GeneratorConfig`, a dict of overrides, a TOML path, or None (defaults).
    schema : a fixed schema (e.g. from a SQL file); default: ``sample_schema`` draws one.
    n_rows : optional per-table row counts overriding the schema's.

    Returns
    -------
    A validated :class:`Database` named ``relforge-<seed>``: primary keys ``0..n-1`` (int64),
    foreign keys ``Int64`` (NA = null), the time column ``datetime64[ns]`` in row order, feature
    stypes from the schema; ``meta`` records seed, config hash, generator version and layout.
    """
    from relforge.generate import post
    from relforge.generate.links import sample_links
    from relforge.generate.render import render_column
    from relforge.generate.timeline import sample_times, split_timestamps
    from relforge.generate.values import sample_values

    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise RelforgeError(f"seed must be a non-negative integer, got {seed!r}")
    seed = int(seed)
    cfg = load_config(config)
    if schema is None:
        schema = database_schema(seed, cfg)
    schema = _with_rows(schema, n_rows)
    schema.validate()

    times = sample_times(schema, cfg.post, seed=seed)  # {table: sorted datetime64[ns]}
    links = sample_links(schema, cfg.links, seed=seed, times=times)
    latents = sample_values(schema, links, times, cfg, seed=seed)
    latents = post.apply_transforms(schema, latents, cfg, seed=seed)
    schema, latents = post.categorical_to_bool(schema, latents, cfg, seed=seed)
    masks = post.nan_masks(schema, cfg, seed=seed)
    val_ts, test_ts = split_timestamps(times, cfg.post)

    tables = {}
    for name, spec in schema.tables.items():
        n = spec.n_rows
        cols: dict[str, pd.Series] = {}
        if spec.pkey:
            cols[spec.pkey] = pd.Series(np.arange(n, dtype=np.int64))
        fkeys = {}
        for fk in spec.fkeys:
            pos = np.asarray(links[(name, fk.column)], dtype=np.int64)
            cols[fk.column] = pd.Series(pd.array(np.where(pos < 0, 0, pos), dtype="Int64")).mask(pos < 0)
            fkeys[fk.column] = fk.parent
        t_arr = times.get(name)
        if spec.time_col:
            if t_arr is None:
                raise RelforgeError(f"table {name!r}: time column {spec.time_col!r} got no timestamps")
            cols[spec.time_col] = pd.Series(np.asarray(t_arr, dtype="datetime64[ns]"))
        stypes = {}
        rmask = masks.get(name, {})
        rng = child(seed, "render", name)  # one stream per table, drawn in column order
        for s in spec.columns:
            if s.name not in latents[name]:
                continue
            ser = render_column(s, latents[name][s.name], rng=rng, times=t_arr)
            ser = ser.reset_index(drop=True)
            if s.name in rmask:
                ser = _masked(ser, rmask[s.name])
            cols[s.name] = ser
            stypes[s.name] = s.stype
        if spec.time_col:
            stypes[spec.time_col] = Stype.datetime
        df = pd.DataFrame(cols, copy=False)
        tables[name] = Table(df, spec.pkey, fkeys, spec.time_col, stypes, spec.kind)

    meta = dict(seed=seed, config_hash=cfg.hash(), generator="relforge",
                generator_version=_generator_version(), layout=schema.layout)
    aggs = post.add_aggregates(tables, schema, cfg, seed=seed, val_ts=val_ts, test_ts=test_ts)
    if aggs:
        meta["aggregates"] = aggs
    db = Database(tables, val_ts, test_ts, name=f"relforge-{seed}", meta=meta)
    db.validate()
    return db
