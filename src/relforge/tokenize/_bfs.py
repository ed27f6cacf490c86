"""Numba kernels of the context sampler (see sampler.py for the rules they implement)."""
from __future__ import annotations

import numpy as np
from numba import njit

from relforge.batch import MAX_F2P  # read as a compile-time constant by numba

UNTIMED = np.iinfo(np.int64).min
RECENT_SCAN = 32  # SamplerConfig.recent: child-list positions scanned back from the newest, per child wanted
_GOLD = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True)
def _next(st):
    """splitmix64 step on the 1-element uint64 state array ``st``."""
    st[0] += _GOLD
    z = st[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def _randint(st, k):
    """Uniform integer in [0, k) (k > 0)."""
    return np.int64((_next(st) >> np.uint64(11)) % np.uint64(k))


@njit(cache=True)
def mix_seed(seed, epoch, pos):
    """Per-context RNG seed from (seed, epoch, item position): two splitmix rounds."""
    st = np.zeros(1, dtype=np.uint64)
    st[0] = np.uint64(seed)
    a = _next(st)
    st[0] = a ^ (np.uint64(epoch) * np.uint64(0xD1B54A32D192ED03))
    b = _next(st)
    st[0] = b ^ (np.uint64(pos) * _GOLD)
    return _next(st)


@njit(cache=True)
def _admissible(t, seed_time):
    """Temporal rule: untimed rows always; timed rows only for a timed seed and only if t <= seed time."""
    if t == UNTIMED:
        return True
    if seed_time == UNTIMED:
        return False
    return t <= seed_time


@njit(cache=True)
def _grow(a):
    b = np.empty(max(2 * len(a), 16), dtype=a.dtype)
    b[: len(a)] = a
    return b


@njit(cache=True)
def _push(q, qd, n, row, depth, ctr):
    """Queue ``row`` at ``depth`` on (``q``, ``qd``) holding ``n`` rows, growing both when full; counts
    the step in ``ctr[2]``. Returns the (possibly new) arrays and the new length."""
    if n == len(q):
        q = _grow(q)
        qd = _grow(qd)
    q[n] = row
    qd[n] = depth
    ctr[2] += 1
    return q, qd, n + 1


@njit(cache=True)
def _upper(node_time, child, lo, hi, lim):
    """First index in [lo, hi) whose child time is > lim (children sorted by time)."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if node_time[child[mid]] <= lim:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True)
def _nth_distinct(dups, s0, hi, j):
    """Position in [s0, hi) of the ``j``-th (0-based) distinct child of a list whose repeated
    positions are counted by the prefix sum ``dups``: the first i with (i + 1 - s0) - repeats
    in [s0, i] == j + 1 (binary search; a repeat never comes first)."""
    lo = s0
    h = hi - 1
    while lo < h:
        mid = (lo + h) >> 1
        if (mid + 1 - s0) - (dups[mid + 1] - dups[s0]) >= j + 1:
            h = mid
        else:
            lo = mid + 1
    return lo


@njit(cache=True)
def _row_cells(cell_ptr, cell_col, drop, dropping, node, hide_col):
    """Cells row ``node`` emits: all of them, minus the drop columns when ``dropping`` and minus
    its cell of column ``hide_col`` (>= 0: the target column of a seed's contemporary)."""
    a = cell_ptr[node]
    e = cell_ptr[node + 1]
    nc = e - a
    if dropping or hide_col >= 0:
        for c in range(a, e):
            if (dropping and drop[cell_col[c]]) or cell_col[c] == hide_col:
                nc -= 1
    return nc


@njit(cache=True)
def _hidden_col(node, seed, seed_time, node_time, target_col):
    """The target column for a timed seed's contemporaries (other rows at exactly its time, such as
    the other results of its race: not known before it), else -1."""
    if node != seed and seed_time != UNTIMED and node_time[node] == seed_time:
        return target_col
    return -1


@njit(cache=True)
def _is_parent(node_f2p, child, node):
    """Whether ``child`` references ``node`` through one of its foreign keys."""
    for j in range(MAX_F2P):
        if node_f2p[child, j] == node:
            return True
    return False


@njit(cache=True)
def _take_row(node, rows, nrows, mark, local, stamp):
    """Mark ``node`` visited as local row ``nrows`` and append it; returns (rows, nrows + 1)."""
    mark[node] = stamp
    local[node] = nrows
    if nrows == len(rows):
        rows = _grow(rows)
    rows[nrows] = node
    return rows, nrows + 1


@njit(cache=True)
def _push_recent(p2f_child, node_table, s0, hi, recent, mark, pick, ctr, stamp, stack, sdep, sp, depth):
    """Push the ``recent`` last distinct children *of each child table* in ``p2f_child[s0:hi]``
    (time-sorted, admissible) that are not in the context yet onto the priority stack, oldest first
    so that the newest pops first. The scan looks at most ``RECENT_SCAN * recent`` positions back
    from the newest, so a hub parent costs no more than a small one; a child table whose latest rows
    lie further back gets none this way (the random draw may still bring them)."""
    ctr[1] += 1
    ps = ctr[1]
    tabs = np.full(8, -1, dtype=np.int64)
    cnts = np.zeros(8, dtype=np.int64)
    ntab = 0
    chosen = np.empty(64, dtype=np.int64)
    nch = 0
    stop = max(s0, hi - RECENT_SCAN * recent)
    i = hi
    while i > stop:
        i -= 1
        ctr[2] += 1  # the walk's work (tests bound it per context)
        c = p2f_child[i]
        if pick[c] == ps or mark[c] == stamp:
            continue
        t = node_table[c]
        j = 0
        while j < ntab and tabs[j] != t:
            j += 1
        if j == ntab:
            if ntab == len(tabs):
                tabs = _grow(tabs)
                cnts = _grow(cnts)
            tabs[j] = t
            cnts[j] = 0
            ntab += 1
        if cnts[j] >= recent:
            continue
        cnts[j] += 1
        pick[c] = ps
        if nch == len(chosen):
            chosen = _grow(chosen)
        chosen[nch] = c
        nch += 1
    for k in range(nch - 1, -1, -1):  # oldest first onto the stack: the newest is emitted first
        stack, sdep, sp = _push(stack, sdep, sp, chosen[k], depth, ctr)
    return stack, sdep, sp


@njit(cache=True)
def _add_peers(cell_ptr, cell_col, node_time, node_f2p, peers, n_peers, peer_parents, lim, seed, seed_time, target_col,
               drop, has_drop, ctx_len, st, mark, local, pick, ctr, stamp, rows, nrows, total):
    """Append up to ``n_peers`` random admissible peer rows (whole rows, at most ctx_len // 2 cells),
    drawn from the ``4 * n_peers`` most recent ones strictly before a timed seed (all of them when
    the seed is untimed). With ``peer_parents`` the peers take at most ctx_len // 4 cells and are
    followed by their admissible parent rows (one hop) in the rest of the half, so that a peer is
    seen as the seed is: its row and the rows it references. Returns (total, nrows, rows, peers
    taken); the peers are the local rows right after the seed."""
    # a timed seed's peers are strictly earlier rows: a contemporary's target is not known before it
    k = _upper(node_time, peers, 0, len(peers), lim - 1 if seed_time != UNTIMED else lim)
    lo = max(0, k - 4 * n_peers) if seed_time != UNTIMED else 0  # peers sort by time, untimed first
    if k == 0:
        return total, nrows, rows, 0
    ctr[1] += 1
    ps = ctr[1]
    budget = ctx_len // 2
    own = ctx_len // 4 if peer_parents else budget
    used = 0
    got = 0
    first = nrows
    for _ in range(3 * n_peers + 8):
        if got >= n_peers:
            break
        c = peers[lo + _randint(st, k - lo)]
        if pick[c] == ps or mark[c] == stamp:
            continue
        pick[c] = ps
        nc = _row_cells(cell_ptr, cell_col, drop, has_drop and node_time[c] == seed_time, c, -1)
        if used + nc > own or total + nc > ctx_len:
            break
        used += nc
        total += nc
        rows, nrows = _take_row(c, rows, nrows, mark, local, stamp)
        got += 1
    if peer_parents:
        for r in range(first, first + got):
            c = rows[r]
            for j in range(MAX_F2P):
                p = node_f2p[c, j]
                if p < 0 or mark[p] == stamp or not _admissible(node_time[p], seed_time):
                    continue
                nc = _row_cells(cell_ptr, cell_col, drop, has_drop and node_time[p] == seed_time, p,
                                _hidden_col(p, seed, seed_time, node_time, target_col))
                if used + nc > budget or total + nc > ctx_len:
                    continue  # a smaller parent row may still fit
                used += nc
                total += nc
                rows, nrows = _take_row(p, rows, nrows, mark, local, stamp)
    return total, nrows, rows, got


@njit(cache=True)
def sample_context(cell_ptr, cell_col, cell_type, cell_value, cell_text, node_table, node_time, node_f2p,
                   p2f_ptr, p2f_child, p2t_ptr, p2t_child, p2f_dups,
                   seed, target_col, drop, has_drop, task_table, label_delay, max_history, own_history, recent, ctx_len,
                   width, peers, n_peers, peer_parents, rng_seed, mark, local, pick, ctr, col_off, table_off, text_off, b,
                   o_node, o_f2p, o_col, o_table, o_sem, o_val, o_text, o_is_tgt, o_tgt, o_pad, o_time, o_rows):
    """Sample one context around node ``seed`` and write it into row ``b`` of the output arrays.

    Returns (number of rows, number of tokens, number of peer rows). ``mark``/``local``/``pick`` are
    scratch arrays of at least the store's node count; ``ctr`` holds four int64 counters advanced
    here: the context and pick stamps, then the walk's work (loop steps plus queue pushes, and
    random child draws), which tests use to bound the work per context.
    ``p2f_dups`` (empty when the store has none) counts, as a prefix sum over ``p2f_child``, the
    positions that repeat the previous child of the same parent: one row that references this row
    through two keys (``OwnerUserId`` and ``LastEditorUserId``). Subsampling draws distinct rows, so
    a list with fewer distinct children than ``width`` is taken whole instead of drawn from.

    Termination on any key graph (cycles within a table, across tables, through nullable keys):
    a row is emitted at most once (``mark``), each emitted row pushes at most ``MAX_F2P`` parents,
    ``width`` children and its own task rows, and at most ``ctx_len`` rows are emitted; the only
    unbounded-looking loop, the rejection draw of ``width`` distinct children, runs only when more
    than ``width`` distinct children exist.
    ``peers`` (node ids sorted by time) are the task's labelled rows: up to ``n_peers`` admissible
    ones, drawn without replacement, follow the seed row, using at most half of ``ctx_len``.
    ``recent`` > 0: the seed row and the rows at depth 1 (its parents: a forecast seed's entity) also
    put their ``recent`` most recent admissible distinct children of each child table on the priority
    stack (:func:`_push_recent`), so that the entity's latest events are in the context (how long
    ago, what they were) whatever the random draw of the others keeps.
    """
    st = np.zeros(1, dtype=np.uint64)
    st[0] = rng_seed
    ctr[0] += 1
    stamp = ctr[0]
    seed_time = node_time[seed]
    lim = seed_time  # children admissible: time <= lim (untimed seed: only untimed children)
    delay = label_delay if label_delay > 1 else 1

    rows = np.empty(64, dtype=np.int64)
    stack = np.empty(64, dtype=np.int64)
    sdep = np.empty(64, dtype=np.int64)
    pend = np.empty(256, dtype=np.int64)
    pdep = np.empty(256, dtype=np.int64)
    cur = np.empty(256, dtype=np.int64)
    sp = 0
    npend = 0
    ncur = 0
    icur = 0
    cur_depth = 0
    nrows = 0
    total = 0
    npeer = 0
    stack[0] = seed
    sdep[0] = 0
    sp = 1
    while True:
        ctr[2] += 1
        if sp > 0:
            sp -= 1
            node = stack[sp]
            d = sdep[sp]
        elif icur < ncur:
            node = cur[icur]
            d = cur_depth
            icur += 1
        else:
            if npend == 0:
                break
            md = pdep[0]
            for i in range(1, npend):
                if pdep[i] < md:
                    md = pdep[i]
            ncur = 0
            keep = 0
            for i in range(npend):
                if pdep[i] == md:
                    if ncur == len(cur):
                        cur = _grow(cur)
                    cur[ncur] = pend[i]
                    ncur += 1
                else:
                    pend[keep] = pend[i]
                    pdep[keep] = pdep[i]
                    keep += 1
            npend = keep
            for i in range(ncur - 1, 0, -1):  # random order = uniform pops from the bucket
                j = _randint(st, i + 1)
                tmp = cur[i]
                cur[i] = cur[j]
                cur[j] = tmp
            icur = 0
            cur_depth = md
            continue
        if mark[node] == stamp:
            continue
        nc = _row_cells(cell_ptr, cell_col, drop, has_drop and (node == seed or node_time[node] == seed_time), node,
                        _hidden_col(node, seed, seed_time, node_time, target_col))
        if total + nc > ctx_len or nrows >= ctx_len:
            break  # whole rows only; stop at the first row that does not fit (spec §2 / §6.7)
        total += nc
        rows, nrows = _take_row(node, rows, nrows, mark, local, stamp)
        if node == seed and n_peers > 0 and len(peers) > 0:
            total, nrows, rows, npeer = _add_peers(cell_ptr, cell_col, node_time, node_f2p, peers, n_peers, peer_parents,
                                                   lim, seed, seed_time, target_col, drop, has_drop, ctx_len, st, mark,
                                                   local, pick, ctr, stamp, rows, nrows, total)
        # parents first (LIFO stack, priority over children)
        for j in range(MAX_F2P):
            p = node_f2p[node, j]
            if p >= 0 and mark[p] != stamp and _admissible(node_time[p], seed_time):
                stack, sdep, sp = _push(stack, sdep, sp, p, d + 1, ctr)
        # database children: the admissible time-sorted prefix, subsampled to ``width``
        s0 = p2f_ptr[node]
        s1 = p2f_ptr[node + 1]
        if s1 > s0:
            hi = _upper(node_time, p2f_child, s0, s1, lim)
            if recent > 0 and d <= 1 and hi > s0:
                stack, sdep, sp = _push_recent(p2f_child, node_table, s0, hi, recent, mark, pick, ctr, stamp, stack, sdep, sp, d + 1)
            k = hi - s0
            distinct = k - (p2f_dups[hi] - p2f_dups[s0]) if len(p2f_dups) > 0 else k
            if k > 0:
                if k <= width:
                    for i in range(s0, hi):
                        c = p2f_child[i]
                        if mark[c] != stamp:
                            pend, pdep, npend = _push(pend, pdep, npend, c, d + 1, ctr)
                elif distinct <= width:  # repeated children: every distinct one, no draws
                    for i in range(s0, hi):
                        c = p2f_child[i]
                        if i > s0 and p2f_child[i - 1] == c:
                            continue
                        if mark[c] != stamp:
                            pend, pdep, npend = _push(pend, pdep, npend, c, d + 1, ctr)
                else:
                    ctr[1] += 1
                    ps = ctr[1]
                    got = 0
                    while got < width:
                        ctr[3] += 1
                        if distinct < k:  # uniform over distinct children, not over repeated positions
                            c = p2f_child[_nth_distinct(p2f_dups, s0, hi, _randint(st, distinct))]
                        else:
                            c = p2f_child[s0 + _randint(st, k)]
                        if pick[c] == ps:
                            continue
                        pick[c] = ps
                        got += 1
                        if mark[c] != stamp:
                            pend, pdep, npend = _push(pend, pdep, npend, c, d + 1, ctr)
        # rows of the seed's own task (forecast in-context examples), labels already known: the
        # entity's label history. The most recent ones, up to half of ``ctx_len`` cells, go on the
        # priority stack (emitted before the entity's other children, which would otherwise crowd
        # them out of the context); older ones join the next breadth-first bucket. With a cap
        # ``max_history`` > 0 (the default rule, 3) only that many of the most recent enter at all;
        # -1: none (a diagnostic: what the rest of the context tells). With ``own_history`` only the
        # seed's own entity (a parent of the seed row) brings its labels; without it every emitted
        # row of the entity table does, so other entities reached through a shared parent (a
        # Chinook customer's support rep, a synthetic entity's category) add their last labels too.
        if task_table >= 0 and seed_time != UNTIMED and max_history >= 0 and (
                not own_history or _is_parent(node_f2p, seed, node)):
            hist = 0
            nhist = 0
            for i in range(p2t_ptr[node + 1] - 1, p2t_ptr[node] - 1, -1):  # newest first
                c = p2t_child[i]
                if node_table[c] != task_table:
                    continue
                tc = node_time[c]
                if tc == UNTIMED or tc > seed_time - delay or mark[c] == stamp:
                    continue
                if max_history > 0 and nhist >= max_history:
                    break  # only the most recent ``max_history`` closed labels
                nhist += 1
                nc_h = _row_cells(cell_ptr, cell_col, drop, False, c, -1)
                if hist + nc_h <= ctx_len // 2:
                    hist += nc_h
                    stack, sdep, sp = _push(stack, sdep, sp, c, d + 1, ctr)
                else:
                    pend, pdep, npend = _push(pend, pdep, npend, c, d + 1, ctr)
    # ---- emit tokens, row by row
    for r in range(nrows):
        o_rows[b, r] = rows[r]
    for r in range(nrows, o_rows.shape[1]):
        o_rows[b, r] = -1
    pos = 0
    fl = np.empty(MAX_F2P, dtype=np.int32)
    for r in range(nrows):
        node = rows[r]
        for j in range(MAX_F2P):
            p = node_f2p[node, j]
            fl[j] = local[p] if (p >= 0 and mark[p] == stamp) else -1
        dropping = has_drop and (node == seed or node_time[node] == seed_time)
        hide = _hidden_col(node, seed, seed_time, node_time, target_col)
        tb = node_table[node] + table_off
        tm = node_time[node]
        for c in range(cell_ptr[node], cell_ptr[node + 1]):
            col = cell_col[c]
            if (dropping and drop[col]) or col == hide:
                continue
            o_node[b, pos] = r
            for j in range(MAX_F2P):
                o_f2p[b, pos, j] = fl[j]
            o_col[b, pos] = col + col_off
            o_table[b, pos] = tb
            o_sem[b, pos] = cell_type[c]
            t = cell_text[c]
            o_text[b, pos] = t + text_off if t >= 0 else -1
            o_time[b, pos] = tm
            o_pad[b, pos] = False
            if node == seed and col == target_col:
                o_is_tgt[b, pos] = True
                o_tgt[b, pos] = cell_value[c]
                o_val[b, pos] = 0.0
            else:
                o_is_tgt[b, pos] = False
                o_tgt[b, pos] = 0.0
                o_val[b, pos] = cell_value[c]
            pos += 1
    for q in range(pos, o_node.shape[1]):
        o_node[b, q] = -1
        for j in range(MAX_F2P):
            o_f2p[b, q, j] = -1
        o_col[b, q] = -1
        o_table[b, q] = -1
        o_sem[b, q] = 0
        o_text[b, q] = -1
        o_time[b, q] = UNTIMED
        o_pad[b, q] = True
        o_is_tgt[b, q] = False
        o_tgt[b, q] = 0.0
        o_val[b, q] = 0.0
    return nrows, pos, npeer


@njit(cache=True)
def fill_batch(cell_ptr, cell_col, cell_type, cell_value, cell_text, node_table, node_time, node_f2p,
               p2f_ptr, p2f_child, p2t_ptr, p2t_child, p2f_dups,
               seeds, brows, rng_seeds, target_col, drop, has_drop, task_table, label_delay, max_history, own_history, recent,
               ctx_len, width, peers, n_peers, peer_parents, mark, local, pick, ctr, col_off, table_off, text_off,
               o_node, o_f2p, o_col, o_table, o_sem, o_val, o_text, o_is_tgt, o_tgt, o_pad, o_time, o_nrows, o_rows,
               o_npeers):
    """Sample the contexts of several seeds of one task into batch rows ``brows``."""
    for i in range(len(seeds)):
        nr, _, npr = sample_context(cell_ptr, cell_col, cell_type, cell_value, cell_text, node_table, node_time,
                                    node_f2p, p2f_ptr, p2f_child, p2t_ptr, p2t_child, p2f_dups,
                                    seeds[i], target_col, drop, has_drop, task_table, label_delay, max_history,
                                    own_history, recent, ctx_len, width,
                                    peers, n_peers, peer_parents, rng_seeds[i], mark, local, pick, ctr, col_off, table_off,
                                    text_off, brows[i], o_node, o_f2p, o_col, o_table, o_sem, o_val, o_text,
                                    o_is_tgt, o_tgt, o_pad, o_time, o_rows)
        o_nrows[brows[i]] = nr
        o_npeers[brows[i]] = npr


def repeated_children(p2f_ptr: np.ndarray, p2f_child: np.ndarray) -> np.ndarray:
    """Prefix count of child-list positions that repeat the previous child of the same parent
    (``p2f_dups`` of :func:`sample_context`); an empty array when no parent has a repeated child.

    Child lists are sorted by (time, child id), so the copies of one child are adjacent."""
    c = np.asarray(p2f_child)
    if len(c) < 2:
        return np.zeros(0, dtype=np.int64)
    rep = np.zeros(len(c), dtype=bool)
    rep[1:] = c[1:] == c[:-1]
    starts = np.asarray(p2f_ptr[:-1])
    rep[starts[starts < len(c)]] = False  # the first child of a list repeats nothing
    if not rep.any():
        return np.zeros(0, dtype=np.int64)
    out = np.zeros(len(c) + 1, dtype=np.int64)
    np.cumsum(rep, out=out[1:])
    return out


@njit(cache=True)
def remap_ids(ids, mstamp, mval, stamp, uniq):
    """Rewrite global ids (>= 0) in place to first-appearance batch-local ids; returns the count of
    distinct ids, whose global values are written to ``uniq``."""
    n = 0
    for i in range(ids.shape[0]):
        g = ids[i]
        if g < 0:
            continue
        if mstamp[g] != stamp:
            mstamp[g] = stamp
            mval[g] = n
            uniq[n] = g
            n += 1
        ids[i] = mval[g]
    return n
