"""Sample a database from a :class:`~relforge.generate.fit.FittedModel` (``--like``, fitted mode).

Tables are drawn parents first. For a table with foreign keys, each parent row's number of children
comes from the parent's copula dimension for that link, mapped through the fitted children-per-
parent distribution (then rescaled to the table's row count); the first foreign key groups the
rows by parent, the others are assigned by a random permutation of their parents' child slots.
A row's latent vector is then drawn from the table's Gaussian copula *conditional on the latents
of its parents* (the joint correlation fitted on joined source rows), and each column maps its
latent through its fitted marginal, after a rank transform so the marginal is matched exactly.
Timed tables are finally sorted by time. Every draw comes from ``relforge.rng.child(seed, ...)``
streams: the output depends on the seed and the model only.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from relforge.db.database import Database
from relforge.db.table import Stype, Table
from relforge.errors import RelforgeError
from relforge.rng import child

_ASCII = dict(A=list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), a=list("abcdefghijklmnopqrstuvwxyz"), d=list("0123456789"))


def _psd_sqrt(S: np.ndarray) -> np.ndarray:
    if S.size == 0:
        return S
    S = (S + S.T) / 2
    w, V = np.linalg.eigh(S)
    return V * np.sqrt(np.clip(w, 0.0, None))


def _uniform_ranks(z: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(z)
    order = np.lexsort((rng.random(n), z))
    r = np.empty(n)
    r[order] = np.arange(n)
    return (r + rng.random(n)) / max(n, 1)


def _fix_total(c: np.ndarray, target: int, rng: np.random.Generator) -> np.ndarray:
    """Integer counts ``c`` rescaled to sum to ``target``, keeping their shape."""
    c = np.asarray(c, np.int64).copy()
    if len(c) == 0:
        return c
    s = int(c.sum())
    if s > 0 and abs(target / s - 1) > 0.02:
        x = c * (target / s)
        c = np.floor(x).astype(np.int64) + (rng.random(len(c)) < (x - np.floor(x)))
        s = int(c.sum())
    d = target - s
    if d > 0:
        w = c.astype(np.float64) + (0.0 if s > 0 else 1.0)
        c += rng.multinomial(d, w / w.sum())
    elif d < 0:
        units = np.repeat(np.arange(len(c)), c)
        drop = rng.choice(len(units), -d, replace=False)
        c -= np.bincount(units[drop], minlength=len(c))
    return c


def _discrete_draw(values: list, probs: list, v: np.ndarray) -> np.ndarray:
    cum = np.cumsum(np.asarray(probs, np.float64))
    i = np.searchsorted(cum, v * cum[-1], side="right")
    return np.asarray(values, dtype=object if isinstance(values[0], str) else None)[np.clip(i, 0, len(values) - 1)]


def _null_series(n: int, dtype: str) -> pd.Series:
    try:
        return pd.Series([None] * n, dtype=dtype)
    except (TypeError, ValueError):
        return pd.Series([None] * n, dtype="float64" if dtype.startswith(("int", "uint")) else "object")


def _typed(values, null: np.ndarray, dtype: str) -> pd.Series:
    s = pd.Series(values)
    if null.any():
        s = s.where(~null, None)
    try:
        if null.any() and dtype.startswith(("int", "uint")):
            return s.astype("float64")
        if null.any() and dtype == "bool":
            return s.astype("boolean")
        return s.astype(dtype)
    except (TypeError, ValueError):
        return s


def draw_column(m: dict, u: np.ndarray, rng: np.random.Generator) -> pd.Series:
    """Values of one column from uniforms ``u`` (null share first, then the fitted marginal)."""
    n = len(u)
    kind = m["kind"]
    if kind == "empty" or n == 0:
        return _null_series(n, m["dtype"])
    p0 = float(m["null"])
    null = u < p0
    v = np.clip((u - p0) / max(1 - p0, 1e-12), 0.0, 1 - 1e-12)
    if kind == "text":
        return _typed(draw_text(m["text"], n, rng), null, m["dtype"])
    if kind == "cat":
        return _typed(_draw_labels(m, v, rng), null, m["dtype"])
    if kind == "discrete":
        x = _discrete_draw(m["values"], m["probs"], v).astype(np.float64)
    else:
        q = np.asarray(m["q"], np.float64)
        x = np.interp(v, np.linspace(0, 1, len(q)), q)
    if m["stype"] == Stype.datetime.value:
        res = float(m.get("resolution") or (86400.0 if m.get("date_only") else 0.0))
        if res > 0:  # the source's resolution (days, hours, minutes, seconds), within its range
            lo, hi = (min(m["values"]), max(m["values"])) if kind == "discrete" else (m["q"][0], m["q"][-1])
            x = np.clip(np.round(x / res) * res, np.ceil(lo / res) * res, np.floor(hi / res) * res)
        ts = pd.to_datetime(np.round(x * 1e9).astype("int64"), unit="ns")
        s = pd.Series(ts).where(~null, pd.NaT)
        try:
            return s.astype(m["dtype"]) if "datetime64" in m["dtype"] and "tz" not in m["dtype"] else s
        except (TypeError, ValueError):
            return s
    if m.get("integer"):
        x = np.round(x)
    elif m.get("scale") is not None:
        x = np.round(x, int(m["scale"]))
    return _typed(x, null, m["dtype"])


def _draw_labels(m: dict, v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Category labels: the kept real labels by their frequency, the rare labels' mass as new
    labels in their style (numbers above the source's largest, or texts in the labels' shapes)."""
    syn = m.get("synth")
    vals, probs = list(m["values"]), list(m["probs"])
    if not syn:
        return _discrete_draw(vals, probs, v)
    cum = np.cumsum(probs + [syn["mass"]])
    i = np.clip(np.searchsorted(cum, v * cum[-1], side="right"), 0, len(vals))
    out = np.empty(len(v), dtype=object)
    if vals:
        ok = i < len(vals)
        out[ok] = np.asarray(vals, dtype=object)[i[ok]]
    new = np.flatnonzero(i == len(vals))
    k = len(syn["p"])
    if syn["numeric"]:
        labels = np.arange(k, dtype=np.int64) + int(syn["start"])
    else:
        labels = pd.Series(draw_text(syn["text"], k, rng), dtype=object)
        labels = labels.where(labels.str.len() > 0, "x")
        dup = labels.duplicated(keep="first") | labels.isin(set(map(str, vals)))
        labels[dup] = labels[dup] + " " + pd.Series(np.arange(int(dup.sum())) + 2, index=labels.index[dup]).astype(str)
        labels = labels.to_numpy(dtype=object)
    out[new] = labels[rng.choice(k, size=len(new), p=_norm(syn["p"]))]
    if syn["numeric"] and vals:
        return out.astype(np.float64)
    return out


def draw_text(st: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` texts in the fitted style: frequent shape templates filled with fitted characters, or
    token sequences from the fitted vocabulary and pseudo-words."""
    out = np.empty(n, dtype=object)
    if n == 0:
        return out
    pools = {k: (st[name]["chars"], st[name]["p"]) if st.get(name) else (_ASCII[k], None)
             for k, name in (("A", "upper"), ("a", "lower"), ("d", "digit"))}
    if st["templates"] and st["coverage"] >= 0.5:
        ti = rng.choice(len(st["templates"]), size=n, p=_norm(st["template_p"]))
        for j in np.unique(ti):
            rows = np.flatnonzero(ti == j)
            out[rows] = _fill(st["templates"][j], len(rows), pools, rng)
    else:
        ntok = rng.choice(st["ntok"], size=n, p=_norm(st["ntok_p"])) if st["ntok"] else np.ones(n, np.int64)
        ntok = np.minimum(ntok, 12)
        cols = []
        for j in range(int(ntok.max(initial=0))):
            w = _pseudo_words(n, st, pools, rng)
            if st["vocab"] and st["rare_share"] < 1.0:
                use = rng.random(n) >= st["rare_share"]
                w[use] = np.asarray(st["vocab"], dtype=object)[rng.choice(len(st["vocab"]), size=int(use.sum()), p=_norm(st["vocab_p"]))]
            w[ntok <= j] = ""
            cols.append(pd.Series(w, dtype=object))
        if cols:
            s = cols[0].str.cat(cols[1:], sep=" ") if len(cols) > 1 else cols[0]
            out[:] = s.str.strip().to_numpy(dtype=object)
        else:
            out[:] = ""
    if st.get("max_len"):
        out = pd.Series(out, dtype=object).str.slice(0, int(st["max_len"])).to_numpy(dtype=object)
    return out


def _norm(p) -> np.ndarray:
    p = np.asarray(p, np.float64)
    return p / p.sum()


def _pick(pool, k: int, rng) -> np.ndarray:
    chars, p = pool
    return np.asarray(chars, dtype="<U1")[rng.choice(len(chars), size=k, p=None if p is None else _norm(p))]


def _fill(template: str, k: int, pools: dict, rng) -> np.ndarray:
    L = len(template)
    if L == 0:
        return np.full(k, "", dtype=object)
    arr = np.tile(np.asarray(list(template), dtype="<U1"), (k, 1))
    for sym, key in (("A", "A"), ("a", "a"), ("9", "d")):
        mk = arr == sym
        if mk.any():
            arr[mk] = _pick(pools[key], int(mk.sum()), rng)
    return np.ascontiguousarray(arr).view(f"<U{L}").ravel().astype(object)


def _pseudo_words(n: int, st: dict, pools: dict, rng) -> np.ndarray:
    lens = rng.choice(st["wlen"], size=n, p=_norm(st["wlen_p"])) if st["wlen"] else np.full(n, 5)
    L = int(lens.max(initial=1))
    arr = _pick(pools["a"], n * L, rng).reshape(n, L)
    cap = rng.random(n) < st.get("capital", 0.0)
    arr[cap, 0] = _pick(pools["A"], int(cap.sum()), rng)
    arr[np.arange(L)[None, :] >= lens[:, None]] = ""
    return np.ascontiguousarray(arr).view(f"<U{L}").ravel().astype(object)


# ----------------------------------------------------------------------------------------------


def _child_counts(fk: dict, u: np.ndarray) -> np.ndarray:
    v = np.clip(u, 0.0, 1 - 1e-12)
    return _discrete_draw(fk["counts"], fk["counts_p"], v).astype(np.int64)


def sample_fitted(model, seed: int = 0, n_rows: dict[str, int] | None = None) -> Database:
    """Draw one database from ``model`` (row counts: the source's, or ``n_rows`` per table)."""
    counts = model.n_rows
    for n, v in (n_rows or {}).items():
        if n not in counts:
            raise RelforgeError(f"row count given for unknown table {n!r}")
        counts[n] = int(v)
    out: dict[str, Table] = {}
    Z: dict[str, np.ndarray] = {}
    times: dict[str, np.ndarray] = {}
    for name in model.order:
        tm = model.tables[name]
        n = counts[name]
        rng = child(seed, "like", name)
        dims = tm["dims"]
        d = len(dims)
        idx, slots = _link_slots(model, tm, name, n, out, Z, rng, times)
        z = _latents(model, tm, n, idx, slots, Z, rng)
        prim = next((f for f in tm["fkeys"] if not f["self"]), None)
        ob = tm.get("order_by")
        if ob and prim is not None and ob["column"] in dims and n:
            # children of a parent follow each other in the source's within-parent order
            order = np.lexsort((ob["sign"] * z[:, dims.index(ob["column"])], idx[prim["column"]]))
            z = z[order]
            idx = {c: p[order] for c, p in idx.items()}
        # columns
        pos_of = {c: i for i, c in enumerate(dims)}
        cols: dict[str, pd.Series] = {}
        for m in tm["columns"]:
            j = pos_of.get(m["name"])
            u = _uniform_ranks(z[:, j], rng) if j is not None else rng.random(n)
            cols[m["name"]] = draw_column(m, u, child(seed, "like", name, m["name"]))
        tcol = tm["time_col"]
        if tcol is not None and tcol in cols and n:
            t = cols[tcol]
            if t.isna().any():  # a time column has no nulls
                t = t.fillna(t.dropna().iloc[0] if t.notna().any() else pd.Timestamp(0))
            tv = t.astype("datetime64[ns]").to_numpy().copy()
            anc = prim.get("anchor") if prim is not None else None
            if anc and tcol in dims:
                m_time = next(m for m in tm["columns"] if m["name"] == tcol)
                tv = _anchored_times(model, tm, name, prim, anc, idx[prim["column"]], dict(m_time, null=0.0), Z, tv, rng)
            for fk in tm["fkeys"]:
                rule, pos = fk.get("time_rule"), idx.get(fk["column"])
                if rule and pos is not None and fk["parent"] in times:
                    ok = pos >= 0
                    pt = times[fk["parent"]][pos[ok]]
                    tv[ok] = pt if rule == "equal" else np.maximum(tv[ok], pt)
            order = np.argsort(tv, kind="stable")
            cols = {c: s.iloc[order].reset_index(drop=True) for c, s in cols.items()}
            cols[tcol] = pd.Series(tv[order]).astype(cols[tcol].dtype if "datetime64" in str(cols[tcol].dtype) else "datetime64[ns]")
            idx = {c: p[order] for c, p in idx.items()}
            z = z[order]
            times[name] = tv[order]
        elif tcol is not None:
            times[name] = np.zeros(0, "datetime64[ns]")
        # keys
        pk = tm["pkey"]
        if pk is not None:
            ids = np.arange(n, dtype=np.int64) + int(pk["start"])
            cols[pk["name"]] = (pd.Series(ids).astype(pk["dtype"]) if pk["kind"] == "int"
                                else pd.Series(ids.astype(str)).astype(pk["dtype"] if pk["dtype"] != "object" else object))
        for fk in tm["fkeys"]:
            c = fk["column"]
            if fk["self"]:
                pos = _self_links(fk, n, rng)
                pvals = cols[pk["name"]].to_numpy() if pk is not None else np.arange(n)
            else:
                pos = idx[c]
                pt = out[fk["parent"]]
                pvals = pt.df[pt.pkey_col].to_numpy()
            vals = np.empty(n, dtype=object)
            ok = pos >= 0
            vals[ok] = pvals[pos[ok]] if len(pvals) else None
            vals[~ok] = None
            cols[c] = _typed(vals, ~ok, fk["dtype"])
        df = pd.DataFrame({c: cols[c] for c in tm["order"] if c in cols}, index=pd.RangeIndex(n))
        stypes = {c: Stype(s) for c, s in tm["stypes"].items() if c in df.columns}
        out[name] = Table(df, pk["name"] if pk else None, {f["column"]: f["parent"] for f in tm["fkeys"]}, tcol,
                          stypes, tm.get("kind", "entity"))
        Z[name] = z
    val, test = _splits(model, times)
    db = Database(out, val, test, f"like-{model.name}", dict(generator="relforge-like", like_mode="fitted",
                                                            like=model.name, seed=int(seed)))
    return db


def _time_range(tm: dict) -> tuple[float, float] | None:
    m = next((c for c in tm["columns"] if c["name"] == tm["time_col"]), None)
    if m is None or m["kind"] not in ("quantile", "discrete"):
        return None
    return (min(m["values"]), max(m["values"])) if m["kind"] == "discrete" else (m["q"][0], m["q"][-1])


def _link_slots(model, tm: dict, name: str, n: int, out: dict, Z: dict, rng, times: dict) -> tuple[dict, dict]:
    """Per foreign key, the parent row of each child row (-1: null). The first key groups rows by
    parent; the others get their parent's child slots (``slots``), matched to rows in :func:`_latents`."""
    idx: dict[str, np.ndarray] = {}
    slots: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    first = True
    for fk in tm["fkeys"]:
        if fk["self"]:
            continue
        parent = fk["parent"]
        npar = len(out[parent].df)
        n_null = min(n, int(round(fk["null"] * n)))
        if npar == 0:
            if n and n_null < n:
                raise RelforgeError(f"table {name!r} needs rows in its parent table {parent!r} (foreign key {fk['column']!r})")
            idx[fk["column"]] = np.full(n, -1, np.int64)
            continue
        pdims = model.tables[parent]["dims"]
        key = f"#n:{name}.{fk['column']}"
        u = _uniform_ranks(Z[parent][:, pdims.index(key)], rng) if key in pdims else rng.random(npar)
        c = _child_counts(fk, u)
        rng_t = _time_range(tm) if fk.get("time_rule") and parent in times else None
        if rng_t is not None and len(times[parent]) == npar:
            # children take their time from the parent: parents outside the child's range get none
            secs = times[parent].astype("datetime64[ns]").astype("int64") / 1e9
            inside = (secs >= rng_t[0]) & (secs <= rng_t[1])
            if inside.any() and not inside.all():
                # the smallest counts go to the parents outside (then none), the rest by rank to those inside
                cs = np.sort(c)
                k_out = int((~inside).sum())
                c = np.zeros(npar, np.int64)
                ins = np.flatnonzero(inside)
                c[ins[np.argsort(u[ins], kind="stable")]] = cs[k_out:]
                if c.sum() == 0:
                    c = inside.astype(np.int64)
        c = _fix_total(c, n - n_null, rng)
        slot = np.repeat(np.arange(npar), c)
        if first:
            pos = np.concatenate([slot, np.full(n_null, -1, np.int64)])
            idx[fk["column"]] = pos[rng.permutation(n)] if n_null else pos
            first = False
        else:
            rows = np.sort(rng.choice(n, size=n - n_null, replace=False)) if n_null else np.arange(n)
            slots[fk["column"]] = (slot, rows)
            pos = np.full(n, -1, np.int64)
            pos[rows] = slot[rng.permutation(len(slot))]
            idx[fk["column"]] = pos  # replaced by the matched assignment when there is a latent to match on
    return idx, slots


def _parent_block(model, tm: dict, col: str, names: list[str], pos: np.ndarray | None, Z: dict, n: int) -> np.ndarray:
    parent = next(f["parent"] for f in tm["fkeys"] if f["column"] == col)
    pz = Z.get(parent)
    block = np.zeros((n, len(names)))
    if pz is not None and pos is not None and len(pz):
        pdims = model.tables[parent]["dims"]
        cols = [pdims.index(x) for x in names]
        ok = pos >= 0
        block[ok] = pz[pos[ok]][:, cols]
    return block


def _latents(model, tm: dict, n: int, idx: dict, slots: dict, Z: dict, rng) -> np.ndarray:
    """Latent rows of a table: drawn conditional on the first foreign key's parent latents; each
    further foreign key's parent slots are then matched to rows by rank on the parent dimension the
    row's latent predicts best (plus the unexplained noise), so assortative pairings survive."""
    d = len(tm["dims"])
    noise = rng.standard_normal((n, d))
    if not (tm.get("joint") and tm["parent_dims"]):
        return noise @ _psd_sqrt(np.asarray(tm["corr"], np.float64)).T if d else noise
    J = np.asarray(tm["joint"], np.float64)
    blocks, at = {}, d
    for col, names in tm["parent_dims"].items():
        blocks[col] = np.arange(at, at + len(names))
        at += len(names)
    cond = [c for c in tm["parent_dims"] if c not in slots]
    ci = np.concatenate([blocks[c] for c in cond]) if cond else np.zeros(0, np.int64)
    X = np.column_stack([_parent_block(model, tm, c, tm["parent_dims"][c], idx.get(c), Z, n) for c in cond]) if cond else np.zeros((n, 0))
    oi = np.arange(d)
    Sxx, Sxo, Soo = J[np.ix_(ci, ci)], J[np.ix_(ci, oi)], J[np.ix_(oi, oi)]
    B = np.linalg.solve(Sxx + 1e-6 * np.eye(len(ci)), Sxo) if len(ci) else np.zeros((0, d))
    z = X @ B + noise @ _psd_sqrt(Soo - Sxo.T @ B).T
    G, gi = np.column_stack([z, X]), np.concatenate([oi, ci])
    for col, (slot, rows) in slots.items():
        ki = blocks[col]
        if len(ki) == 0 or len(rows) == 0:
            continue
        Bk = np.linalg.solve(J[np.ix_(gi, gi)] + 1e-6 * np.eye(len(gi)), J[np.ix_(gi, ki)])
        r2 = np.einsum("ij,ij->j", J[np.ix_(gi, ki)], Bk)
        j = int(np.argmax(r2))
        if not r2[j] > 0.01:
            continue
        score = G[rows] @ Bk[:, j] + np.sqrt(max(1 - r2[j], 0.0)) * rng.standard_normal(len(rows))
        parent = next(f["parent"] for f in tm["fkeys"] if f["column"] == col)
        pz = Z[parent][:, model.tables[parent]["dims"].index(tm["parent_dims"][col][j])]
        pos = np.full(n, -1, np.int64)
        pos[rows[np.argsort(score, kind="stable")]] = slot[np.argsort(pz[slot] + 1e-9 * rng.standard_normal(len(slot)), kind="stable")]
        idx[col] = pos
    return z


def _anchored_times(model, tm, name, fk, anc, pos, m_time, Z, tv, rng) -> np.ndarray:
    """Times of bursty children: their parent's anchor (ranked by the parent's mean-child-time
    latent) plus the parent's scale (ranked by its child-count latent) times a relative offset; the
    result is mapped back onto the time column's fitted marginal by rank (order kept, shape exact)."""
    parent = fk["parent"]
    npar = len(Z[parent])
    ok = pos >= 0
    if not ok.any() or npar == 0:
        return tv
    pdims = model.tables[parent]["dims"]
    tag = f"{name}.{fk['column']}"
    def ranks(key):
        return _uniform_ranks(Z[parent][:, pdims.index(key)], rng) if key in pdims else rng.random(npar)
    def q(name_, u):
        arr = np.asarray(anc[name_])
        return np.interp(u, np.linspace(0, 1, len(arr)), arr)
    anchor = q("first_q", ranks(f"#m:{tag}.{tm['time_col']}"))
    scale = q("scale_q", ranks(f"#n:{tag}"))
    secs = tv.astype("datetime64[ns]").astype("int64").astype(np.float64) / 1e9
    secs[ok] = anchor[pos[ok]] + scale[pos[ok]] * q("rel_q", rng.random(int(ok.sum())))
    vals = draw_column(m_time, _uniform_ranks(secs, rng), rng)
    return vals.astype("datetime64[ns]").to_numpy().copy()


def _self_links(fk: dict, n: int, rng) -> np.ndarray:
    """Self-references: children-per-row from the fitted distribution, each pointing to an earlier row."""
    pos = np.full(n, -1, np.int64)
    if n < 2:
        return pos
    n_null = min(n, max(1, int(round(fk["null"] * n))))
    c = _fix_total(_child_counts(fk, rng.random(n)), n - n_null, rng)
    parents = np.sort(np.repeat(np.arange(n), c))
    rows = np.sort(1 + rng.choice(n - 1, size=n - n_null, replace=False)) if n - n_null else np.zeros(0, np.int64)
    bad = parents >= rows
    parents[bad] = np.floor(rng.random(int(bad.sum())) * rows[bad]).astype(np.int64)
    pos[rows] = parents
    return pos


def _splits(model, times: dict[str, np.ndarray]):
    val = pd.Timestamp(model.val_timestamp) if model.val_timestamp else None
    test = pd.Timestamp(model.test_timestamp) if model.test_timestamp else None
    allt = np.concatenate([t for t in times.values() if len(t)]) if any(len(t) for t in times.values()) else None
    if allt is None:
        return val, test
    lo, hi = pd.Timestamp(allt.min()), pd.Timestamp(allt.max())
    if val is None or test is None or not (lo <= val <= test <= hi):
        q = np.quantile(allt.astype("int64"), [0.7, 0.85])
        val, test = (pd.Timestamp(int(x)).floor("D") for x in q)
    return val, test


__all__ = ["sample_fitted", "draw_column", "draw_text"]
