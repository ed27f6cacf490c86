"""Context sampler properties (rt_pipeline.md §2): seed present, no future rows, target masked,
whole rows within ctx_len, drop columns, forecast in-context rows, determinism, sharding."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_

from relforge.errors import RelforgeError
from relforge.tokenize import ContextSampler, SamplerConfig, build_cells, embed_store, resolve_task
from relforge.tokenize.store import UNTIMED

from tok_helpers import make_db, make_forecast_task

_STORES = {}


def store_for(seed: int):
    if seed not in _STORES:
        db = make_db(seed, n_users=15 + 7 * seed, n_events=120 + 40 * seed, null_frac=0.05 * (seed % 3))
        _STORES[seed] = embed_store(build_cells(db, [make_forecast_task(db)]), "hash:16")
    return _STORES[seed]


def check_batch(store, sampler, b):
    """Every invariant of every context of batch ``b`` (a dict from ``sampler.batch``)."""
    S = sampler.cfg.ctx_len
    tm_all = np.asarray(store["node_time"])
    ptr, ccol = np.asarray(store["cell_ptr"]), np.asarray(store["cell_col"])
    cval = np.asarray(store["cell_value"])
    f2p_all = np.asarray(store["node_f2p"])
    for i in range(len(b["seed_row"])):
        task = sampler.tasks[b["task_idx"][i]]
        seed = int(b["seed_row"][i])
        ts = tm_all[seed]
        real = ~b["is_padding"][i]
        n = int(real.sum())
        assert n <= S and real[:n].all() and not real[n:].any()  # padded to ctx_len, padding last
        rows = b["row_node"][i][: b["n_rows"][i]]
        assert rows[0] == seed and len(set(rows.tolist())) == len(rows)  # seed row first, rows unique
        # temporal rule on every row: untimed, or timed seed and time <= seed time
        rt = tm_all[rows]
        ok = (rt == UNTIMED) | ((ts != UNTIMED) & (rt <= ts))
        ok[0] = True
        assert ok.all(), "a row timestamped after the seed entered the context"
        tok_t = b["timestamp"][i][real]
        assert np.all((tok_t == UNTIMED) | ((ts != UNTIMED) & (tok_t <= ts)) | (b["node_idx"][i][real] == 0))
        # exactly one target: the seed's target cell, masked, its true value in `target`
        tgt = np.nonzero(b["is_target"][i])[0]
        assert len(tgt) == 1 and b["node_idx"][i][tgt[0]] == 0
        cells = np.arange(ptr[seed], ptr[seed + 1])
        true = cval[cells[ccol[cells] == task.target_col]]
        assert len(true) == 1 and b["target"][i][tgt[0]] == true[0] and b["value"][i][tgt[0]] == 0
        # whole rows: each local row carries all its cells minus the drops, and a timed seed's
        # contemporaries (other rows at exactly its time) minus their target-column cell
        node_idx = b["node_idx"][i][real]
        per_row = np.bincount(node_idx, minlength=len(rows))
        for r, node in enumerate(rows):
            cols = ccol[ptr[node]:ptr[node + 1]]
            dropping = node == seed or tm_all[node] == ts
            keep = ~task.drop[cols].astype(bool) if dropping else np.ones(len(cols), bool)
            if node != seed and ts != UNTIMED and tm_all[node] == ts:
                keep &= cols != task.target_col
            assert per_row[r] == int(keep.sum())
        # f2p: local parents are the row's real parents present in the context
        loc = {int(nd): r for r, nd in enumerate(rows)}
        for q in np.nonzero(real)[0][:: max(1, n // 50)]:
            node = rows[b["node_idx"][i][q]]
            want = [loc.get(int(p), -1) if p >= 0 else -1 for p in f2p_all[node]]
            assert list(b["f2p"][i][q]) == want
        # forecast: same-task rows only, labels known by the seed's time; no other task's rows
        is_task_row = np.array([store.tables[t]["is_task"] for t in np.asarray(store["node_table"])[rows]])
        if task.kind == "forecast":
            others = rows[1:][is_task_row[1:]]
            assert np.all(np.asarray(store["node_table"])[others] == task.task_table)
            assert np.all(tm_all[others] + max(task.label_delay_s, 1) <= ts)
        else:
            assert not is_task_row.any()


def check_peers(store, sampler, b):
    """Peer rows (the labelled rows following the seed) are training rows of the task with a visible
    target, admissible in time, distinct, within half the budget; returns the peer count per context."""
    ptr = np.asarray(store["cell_ptr"])
    counts = []
    for i in range(len(b["seed_row"])):
        task = sampler.tasks[b["task_idx"][i]]
        if task.kind != "autocomplete" or sampler.cfg.peers == 0:
            assert b["n_peers"][i] == 0
            counts.append(0)
            continue
        rows = b["row_node"][i][: b["n_rows"][i]]
        k = int(b["n_peers"][i])
        assert k <= sampler.cfg.peers
        peers = rows[1 : 1 + k]
        assert set(peers.tolist()) <= set(task.peers.tolist())
        tm = np.asarray(store["node_time"])
        ts = tm[int(b["seed_row"][i])]
        if ts != UNTIMED:  # timed seed: drawn among the 4 * peers most recent strictly earlier training rows
            ok = task.peers[(tm[task.peers] == UNTIMED) | (tm[task.peers] < ts)]
            assert set(peers.tolist()) <= set(ok[-4 * sampler.cfg.peers:].tolist())
        budget = sampler.cfg.ctx_len // (4 if sampler.cfg.peer_parents else 2)
        assert int(sum(ptr[p + 1] - ptr[p] for p in peers)) <= budget
        real = ~b["is_padding"][i]
        for r in range(1, 1 + k):  # the target column's value is visible on every peer row
            on_row = real & (b["node_idx"][i] == r) & (b["col_id"][i] == b["col_id"][i][b["is_target"][i]][0])
            assert on_row.sum() == 1 and not b["is_target"][i][on_row].any()
        counts.append(k)
    return np.array(counts)


@pytest.mark.parametrize("task", ["events.amount", "users.age", "events.clicked", "reviews.stars"])
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_peers_are_labelled_training_rows(toy_store, task, split):
    t = resolve_task(toy_store, task, split)
    train = set(resolve_task(toy_store, task, "train").seeds.tolist())
    assert set(t.peers.tolist()) == train  # whatever the split, peers come from the training rows
    s = ContextSampler([t], SamplerConfig(ctx_len=64, max_bfs_width=8, batch_size=16, seed=1, peers=4))
    b = s.batch(0)
    check_batch(toy_store, s, b)
    k = check_peers(toy_store, s, b)
    assert k.mean() >= 1  # most contexts get labelled examples
    again = ContextSampler([t], SamplerConfig(ctx_len=64, max_bfs_width=8, batch_size=16, seed=1, peers=4)).batch(0)
    assert all(np.array_equal(b[f], again[f]) for f in ("row_node", "value", "col_id", "is_target"))


@pytest.mark.parametrize("db_seed", [0, 1, 2])
def test_peer_parents_show_each_peer_with_the_rows_it_references(db_seed):
    """With ``peer_parents`` every peer row is followed by its admissible parent rows (one hop) while
    they fit, so a peer is seen as the seed is; peers stay the local rows right after the seed, the
    peers and their parents take at most half the context, and the rest of the walk is unchanged in
    kind (the seed's own parents are still there)."""
    store, tasks = generated_store(db_seed)
    f2p, tm = np.asarray(store["node_f2p"]), np.asarray(store["node_time"])
    ptr = np.asarray(store["cell_ptr"])
    with_parents = 0
    for task in tasks:
        t = resolve_task(store, task, "train", ctx_len=512)
        s = ContextSampler([t], SamplerConfig(ctx_len=512, batch_size=8, seed=3, peers=4, peer_parents=True))
        b = s.batch(0)
        check_batch(store, s, b)
        check_peers(store, s, b)
        plain = ContextSampler([t], SamplerConfig(ctx_len=512, batch_size=8, seed=3, peers=4)).batch(0)
        for i in range(b["true_batch_size"]):
            rows = b["row_node"][i][: b["n_rows"][i]]
            seed, k = int(rows[0]), int(b["n_peers"][i])
            ts = tm[seed]
            want = {int(p) for c in rows[1:1 + k] for p in f2p[c]
                    if p >= 0 and (tm[p] == UNTIMED or (ts != UNTIMED and tm[p] <= ts))}
            have = set(rows.tolist())
            assert want <= have, "a peer's parent row is missing"
            with_parents += len(want - {seed}) > 0
            block = rows[: 1 + k + len(want - set(rows[:1 + k].tolist()))]
            assert int(sum(ptr[r + 1] - ptr[r] for r in block[1:])) <= 512 // 2
            assert set(int(p) for p in f2p[seed] if p >= 0 and (tm[p] == UNTIMED or tm[p] <= ts)) <= have
            # the same peers as without parents, as far as the smaller peer budget goes
            assert k <= int(plain["n_peers"][i]) and rows[1:1 + k].tolist() == plain["row_node"][i][1:1 + k].tolist()
    assert with_parents > 0  # the rule did something on these databases


def test_peers_put_the_target_column_into_every_context():
    store, tasks = generated_store(1)
    t = resolve_task(store, tasks[0], "val", ctx_len=256)
    seen = {}
    for peers in (0, 8):
        s = ContextSampler([t], SamplerConfig(ctx_len=256, batch_size=32, seed=2, peers=peers))
        b = s.batch(0)
        n = b["true_batch_size"]
        col = np.array([b["col_id"][i][b["is_target"][i]][0] for i in range(n)])
        same = ((b["col_id"][:n] == col[:, None]) & ~b["is_target"][:n] & ~b["is_padding"][:n]).sum(1)
        seen[peers] = same
    assert (seen[8] > 0).all() and seen[8].mean() > seen[0].mean()


@pytest.mark.parametrize("task", ["events.amount", "users.age", "events.clicked", "user-active", "reviews.stars"])
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_invariants_on_toy(toy_store, task, split):
    s = ContextSampler([(toy_store, task, split)], SamplerConfig(ctx_len=64, max_bfs_width=8, batch_size=16, seed=1))
    for bi in range(min(2, s.num_batches)):
        check_batch(toy_store, s, s.batch(bi))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(db_seed=st_.integers(0, 3), seed=st_.integers(0, 2**31), ctx=st_.integers(8, 300), width=st_.integers(1, 40),
       task=st_.sampled_from(["events.amount", "events.clicked", "users.age", "user-active", "reviews.stars"]),
       split=st_.sampled_from(["train", "val", "test"]))
def test_property_no_future_rows_target_masked(db_seed, seed, ctx, width, task, split):
    store = store_for(db_seed)
    s = ContextSampler([(store, task, split)], SamplerConfig(ctx_len=ctx, max_bfs_width=width, batch_size=8, seed=seed))
    check_batch(store, s, s.batch(seed % s.num_batches, epoch=seed % 3))


def test_every_seed_of_an_epoch_is_covered(toy_store):
    s = ContextSampler([(toy_store, "events.amount", "train")], SamplerConfig(ctx_len=32, batch_size=7))
    seen = np.concatenate([s.batch(b)["seed_row"][: s.batch(b)["true_batch_size"]] for b in range(s.num_batches)])
    assert sorted(seen.tolist()) == sorted(s.tasks[0].seeds.tolist())


def test_untimed_seed_sees_only_untimed_rows(toy_store):
    s = ContextSampler([(toy_store, "users.age", "train")], SamplerConfig(ctx_len=512, max_bfs_width=64, batch_size=8))
    b = s.batch(0)
    assert np.all(b["timestamp"][~b["is_padding"]] == UNTIMED)


def test_contexts_reach_children_and_fill_budget(toy_store):
    s = ContextSampler([(toy_store, "events.amount", "test")], SamplerConfig(ctx_len=128, max_bfs_width=32, batch_size=8))
    b = s.batch(0)
    assert (b["n_rows"] > 5).all()
    assert ((~b["is_padding"]).sum(1) > 100).all()  # the budget is used (rows have <= 4 cells)


def test_parents_timed_after_seed_are_excluded(toy_store):
    # events may point at a campaign dated after the event: that parent must not appear
    ev0, ev1 = toy_store.node_range("events")
    f2p, tm = np.asarray(toy_store["node_f2p"]), np.asarray(toy_store["node_time"])
    late = [n for n in range(ev0, ev1) if f2p[n, 2] >= 0 and tm[n] != UNTIMED and tm[f2p[n, 2]] > tm[n]]
    assert late, "fixture should contain events whose campaign is dated later"
    task = resolve_task(toy_store, "events.amount", "train")
    cand = [n for n in late if n in set(task.seeds.tolist())] or late
    s = ContextSampler([(toy_store, "events.amount", "train")], SamplerConfig(ctx_len=256, batch_size=1))
    for n in cand[:5]:
        b = s.context(0, n)
        assert f2p[n, 2] not in set(b["row_node"][0].tolist())


def test_drop_columns_hidden_on_seed_and_same_time_rows(toy_store):
    task = {"table": "events", "target_col": "amount", "drop_cols": ["clicked", "users.vip"]}
    s = ContextSampler([resolve_task(toy_store, task, "train")], SamplerConfig(ctx_len=256, batch_size=16))
    b = s.batch(0)
    check_batch(toy_store, s, b)  # counts every row's cells minus the drops where they apply
    ptr, tm = np.asarray(toy_store["cell_ptr"]), np.asarray(toy_store["node_time"])
    ev0, ev1 = toy_store.node_range("events")
    u0, u1 = toy_store.node_range("users")
    kept_other, kept_users = False, False
    for i in range(16):
        rows = b["row_node"][i][: b["n_rows"][i]]
        seed = rows[0]
        seed_tokens = int(((b["node_idx"][i] == 0) & ~b["is_padding"][i]).sum())
        assert seed_tokens == ptr[seed + 1] - ptr[seed] - 1  # "clicked" hidden on the seed (never null)
        for r, node in enumerate(rows[1:], start=1):
            ntok = int(((b["node_idx"][i] == r) & ~b["is_padding"][i]).sum())
            if ev0 <= node < ev1 and tm[node] != tm[seed]:
                kept_other |= ntok == ptr[node + 1] - ptr[node]
            if u0 <= node < u1:  # users are untimed: never "same time" as a timed seed
                kept_users |= ntok == ptr[node + 1] - ptr[node]
    assert kept_other and kept_users


def test_same_seed_same_batches_different_seed_differs(toy_store):
    cfg = SamplerConfig(ctx_len=96, max_bfs_width=6, batch_size=8, seed=5)
    a = ContextSampler([(toy_store, "events.amount", "train"), (toy_store, "user-active", "train")], cfg)
    b = ContextSampler([(toy_store, "events.amount", "train"), (toy_store, "user-active", "train")], cfg)
    for bi, ep in [(0, 0), (3, 0), (1, 2)]:
        x, y = a.batch(bi, ep), b.batch(bi, ep)
        for k in x:
            assert np.array_equal(np.asarray(x[k]), np.asarray(y[k])), k
    # out of order / repeated calls give the same batch
    b.batch(3)
    assert np.array_equal(a.batch(0)["row_node"], b.batch(0)["row_node"])
    c = ContextSampler([(toy_store, "events.amount", "train"), (toy_store, "user-active", "train")],
                       SamplerConfig(ctx_len=96, max_bfs_width=6, batch_size=8, seed=6))
    assert not np.array_equal(a.batch(0)["seed_row"], c.batch(0)["seed_row"])
    assert not np.array_equal(a.batch(0, 0)["seed_row"], a.batch(0, 1)["seed_row"])


def test_rank_sharding_partitions_items(toy_store):
    cfg = SamplerConfig(ctx_len=32, batch_size=5)
    W = 3
    ranks = [ContextSampler([(toy_store, "events.amount", "train")], cfg, rank=r, world_size=W) for r in range(W)]
    full = ContextSampler([(toy_store, "events.amount", "train")], SamplerConfig(ctx_len=32, batch_size=15))
    tk, sd = full.items(0)
    for bi in range(ranks[0].num_batches):
        got = np.concatenate([r.batch(bi)["seed_row"] for r in ranks])
        pos = (bi * 15 + np.arange(15)) % len(sd)
        assert np.array_equal(got, sd[pos])
    assert ranks[0].num_batches == full.num_batches


def test_bad_tasks_give_one_line_errors(toy_store):
    cfg = SamplerConfig(ctx_len=64)
    cases = [("nope.amount", "no table 'nope'"), ("events.nope", "no column 'nope'"),
             ("events.user_id", "key column"), ("events.event_id", "key column"), ("users.country", "only number")]
    for task, msg in cases:
        with pytest.raises(RelforgeError, match=msg):
            ContextSampler([(toy_store, task, "train")], cfg)
    with pytest.raises(RelforgeError, match="smaller than one row"):
        ContextSampler([(toy_store, "users.age", "train")], SamplerConfig(ctx_len=3))
    with pytest.raises(RelforgeError, match="peers"):
        SamplerConfig(peers=-1).validate()
    with pytest.raises(RelforgeError, match="history"):
        SamplerConfig(history=-2).validate()
    with pytest.raises(RelforgeError, match="history_dropout"):
        SamplerConfig(history_dropout=1.5).validate()
    with pytest.raises(RelforgeError, match="unknown split"):
        resolve_task(toy_store, "users.age", "dev")
    with pytest.raises(RelforgeError, match="drop column"):
        resolve_task(toy_store, {"table": "users", "target_col": "age", "drop_cols": ["zzz"]})


def test_empty_table_is_refused():
    import pandas as pd

    from relforge.db import Database, Table

    df = pd.DataFrame({"id": pd.Series([], dtype="int64"), "x": pd.Series([], dtype="float64")})
    st = build_cells(Database({"t": Table(df, "id")}, name="empty"))
    with pytest.raises(RelforgeError, match="empty"):
        resolve_task(st, "t.x", "train")


_GEN = {}


def generated_store(seed: int):
    """A small relforge.generate database (helper B's generator), tokenized once per seed."""
    if seed not in _GEN:
        import relforge

        from relforge.tokenize import autocomplete_tasks

        cfg = {"schema": {"n_tables": (3, 6), "entity_rows": (40, 90), "activity_rows": (120, 300)}}
        st = embed_store(build_cells(relforge.synthesize(seed, cfg)), "hash:8")
        _GEN[seed] = (st, autocomplete_tasks(st))
    return _GEN[seed]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(db_seed=st_.integers(0, 3), seed=st_.integers(0, 2**31), ctx=st_.integers(16, 400), width=st_.integers(1, 64),
       pick=st_.integers(0, 10**6), split=st_.sampled_from(["train", "val", "test"]), peers=st_.sampled_from([0, 0, 3, 16]),
       peer_parents=st_.booleans())
def test_property_on_generated_databases(db_seed, seed, ctx, width, pick, split, peers, peer_parents):
    store, tasks = generated_store(db_seed)
    task = tasks[pick % len(tasks)]
    try:
        t = resolve_task(store, task, split, ctx_len=ctx)
    except RelforgeError as e:  # an empty split, or rows wider than this ctx_len: refused by design
        assert "no " + split in str(e) or "smaller than one row" in str(e)
        return
    s = ContextSampler([t], SamplerConfig(ctx_len=ctx, max_bfs_width=width, batch_size=6, seed=seed, peers=peers,
                                          peer_parents=peer_parents))
    b = s.batch(seed % s.num_batches, epoch=seed % 2)
    check_batch(store, s, b)
    check_peers(store, s, b)


@pytest.mark.parametrize("ctx,history", [(40, 0), (64, 0), (256, 0), (64, 3), (256, 3), (256, 1)])
def test_forecast_label_history_comes_first(ctx, history):
    """A forecast seed's label history (its entity's earlier rows of the same task whose windows
    have closed) is in the context, newest first up to half the budget (and up to ``history`` rows),
    however many other children the entity has: busy users here have ~40 events each, enough to
    crowd it out of a random bucket. With a ``history`` cap no older label of the entity enters."""
    db = make_db(3, n_users=12, n_events=500)
    store = embed_store(build_cells(db, [make_forecast_task(db, horizon_days=10)]), "hash:16")
    t = resolve_task(store, "user-active", "test")
    s = ContextSampler([t], SamplerConfig(ctx_len=ctx, max_bfs_width=128, batch_size=len(t.seeds), shuffle=False,
                                          history=history))
    b = s.batch(0)
    tm, nt = np.asarray(store["node_time"]), np.asarray(store["node_table"])
    f2p, ptr = np.asarray(store["node_f2p"]), np.asarray(store["cell_ptr"])
    a, e = store.node_range(t.task_table)
    task_rows = np.arange(a, e)
    checked = 0
    for i in range(b["true_batch_size"]):
        seed = int(b["seed_row"][i])
        ent = f2p[seed][0]
        hist = task_rows[(f2p[task_rows, 0] == ent) & (tm[task_rows] + max(t.label_delay_s, 1) <= tm[seed])]
        hist = hist[np.argsort(-tm[hist], kind="stable")]
        size = np.cumsum(ptr[hist + 1] - ptr[hist])
        want = set(hist[size <= ctx // 2][: history or None].tolist())
        got = set(b["row_node"][i][: b["n_rows"][i]].tolist())
        assert want <= got, f"context {i} lacks {len(want - got)} of its {len(want)} most recent earlier labels"
        if history:
            assert len(want) <= history and not (got & set(hist.tolist())) - want, "an older label entered"
            # and no row of the task from after the seed's label is known (the leak-free rule holds)
            later = task_rows[(f2p[task_rows, 0] == ent) & (tm[task_rows] + max(t.label_delay_s, 1) > tm[seed])]
            assert not (got & set(later.tolist())) - {seed}
        assert np.all(nt[list(got - {seed})] >= 0)
        checked += len(want)
    assert checked >= min(3, history or 3) * b["true_batch_size"]  # most seeds have a history to check
    check_batch(store, s, b)


def test_forecast_own_history_keeps_other_entities_labels_out():
    """Every emitted row of the entity table brings its last labels, so other users reached through a
    shared item add theirs; ``own_history`` keeps only the seed's own entity's labels (the same
    most recent ones) and leaves the rest of the walk as it was."""
    db = make_db(3, n_users=12, n_events=500)
    store = embed_store(build_cells(db, [make_forecast_task(db, horizon_days=10)]), "hash:16")
    t = resolve_task(store, "user-active", "test")
    f2p = np.asarray(store["node_f2p"])
    a, e = store.node_range(t.task_table)

    def contexts(own):
        b = ContextSampler([t], SamplerConfig(ctx_len=1024, max_bfs_width=128, batch_size=len(t.seeds), shuffle=False,
                                              own_history=own)).batch(0)
        out = []
        for i in range(b["true_batch_size"]):
            seed, rows = int(b["seed_row"][i]), b["row_node"][i][: b["n_rows"][i]]
            labels = rows[(rows >= a) & (rows < e) & (rows != seed)]
            out.append((f2p[seed][0], set(labels[f2p[labels, 0] == f2p[seed][0]].tolist()),
                        set(labels[f2p[labels, 0] != f2p[seed][0]].tolist())))
        return b, out

    _, both = contexts(False)
    b, own = contexts(True)
    assert sum(len(other) for _, _, other in both) > 0, "no context reached another user's labels: nothing to test"
    assert all(not other for _, _, other in own), "another user's label entered with own_history"
    assert [mine for _, mine, _ in own] == [mine for _, mine, _ in both]  # the seed's own history is unchanged
    assert sum(len(mine) for _, mine, _ in own) >= len(own)
    check_batch(store, ContextSampler([t], SamplerConfig(ctx_len=1024, batch_size=len(t.seeds), shuffle=False,
                                                         own_history=True)), b)



def test_own_history_is_recorded_with_the_weights_and_used_by_predict(tmp_path):
    """A run trained with ``own_history`` records it in its checkpoint's context settings, and
    ``predict_task`` builds its contexts the same way: the outputs are those of own-history contexts,
    not of contexts that show other users' labels. A record without the field reads False."""
    import torch

    from relforge.inference import predict_task
    from relforge.model import checkpoint
    from relforge.model.checkpoint import ContextSettings
    from relforge.model.config import preset
    from relforge.model.rt import RelationalTransformer
    from relforge.train.config import TrainConfig

    db = make_db(3, n_users=12, n_events=500)
    store = embed_store(build_cells(db, [make_forecast_task(db, horizon_days=10)]), "hash:16")
    t = resolve_task(store, "user-active", "test")
    torch.manual_seed(0)
    model = RelationalTransformer(preset("tiny", d_text=16, attention="dense"))
    ctx = TrainConfig(ctx_len=1024, own_history=True).context()
    checkpoint.save(tmp_path / "m.safetensors", model, context=ctx)
    back = checkpoint.load(tmp_path / "m.safetensors")
    assert back.context.own_history is True
    assert ContextSettings.from_record({"ctx_len": 256}).own_history is False
    own = predict_task(back.model, t, back.context).pred
    other = predict_task(back.model, t, back.context.replace(own_history=False)).pred
    assert not np.allclose(own, other), "own-history contexts changed no prediction: nothing to test"
    from relforge.inference import run_model, sampler_batches

    built = ContextSampler([t], SamplerConfig(ctx_len=1024, batch_size=16, shuffle=False, own_history=True))
    assert np.allclose(own, run_model(back.model, sampler_batches(built)).pred, atol=1e-6)

def test_forecast_history_dropout():
    """``history=-1`` shows a forecast seed none of its entity's labels; ``history_dropout`` does that
    for a seeded share of contexts, the others keep the capped history, the rest of each context
    (the entity's own rows) stays, and a context's draw depends only on its position, not on the
    batch it is in."""
    db = make_db(3, n_users=12, n_events=500)
    store = embed_store(build_cells(db, [make_forecast_task(db, horizon_days=10)]), "hash:16")
    t = resolve_task(store, "user-active", "test")
    n = len(t.seeds)
    a, e = store.node_range(t.task_table)
    task_rows = set(range(a, e))

    def contexts(**kw):
        b = ContextSampler([t], SamplerConfig(ctx_len=256, max_bfs_width=128, batch_size=n, shuffle=False, **kw)).batch(0)
        return b, [set(b["row_node"][i][: b["n_rows"][i]].tolist()) - {int(b["seed_row"][i])} for i in range(n)]

    _, full = contexts()
    _, blind = contexts(history=-1)
    shown = [bool(c & task_rows) for c in full]
    assert sum(shown) >= n // 2  # most seeds have a label history to hide
    assert not any(c & task_rows for c in blind), "a label entered a context with history -1"
    assert all(c - task_rows for c in blind)  # the entity's other rows are still there

    b, mixed = contexts(history_dropout=0.5)
    hidden = [s and not (m & task_rows) for s, m in zip(shown, mixed)]
    kept = [s and m == f for s, m, f in zip(shown, mixed, full)]
    assert all(h or k for h, k, s in zip(hidden, kept, shown) if s), "a context got part of its history"
    assert 0.25 <= sum(hidden) / sum(shown) <= 0.75, f"{sum(hidden)} of {sum(shown)} hidden"
    check_batch(store, ContextSampler([t], SamplerConfig(ctx_len=256, batch_size=n, shuffle=False, history_dropout=0.5)), b)
    # the same draw for each context whatever the batch size
    s2 = ContextSampler([t], SamplerConfig(ctx_len=256, max_bfs_width=128, batch_size=7, shuffle=False, history_dropout=0.5))
    rows = [set(r[:k].tolist()) for i in range(s2.num_batches)
            for r, k in zip(s2.batch(i)["row_node"], s2.batch(i)["n_rows"])][:n]
    assert [bool(r & task_rows - {int(x)}) for r, x in zip(rows, t.seeds)] == [bool(m & task_rows) for m in mixed]


def test_contemporaries_hide_their_target_cells():
    """Rows at exactly a timed seed's time (the other results of its race) show no cell of the
    target column, and its peers are strictly earlier rows: events here fall on 12 dates, so most
    contexts reach several contemporaries through the seed's user, item and campaign. RT's rule
    (children admitted up to and including the seed's time, every cell shown) fails this test."""
    db = make_db(5, n_users=10, n_events=300)
    ev = db["events"].df
    ev["date"] = ev["date"].dt.floor("30D")
    store = embed_store(build_cells(db, []), "hash:16")
    for split, peers in (("train", 0), ("test", 0), ("train", 8)):
        t = resolve_task(store, "events.amount", split)
        s = ContextSampler([t], SamplerConfig(ctx_len=400, max_bfs_width=64, batch_size=len(t.seeds), shuffle=False,
                                              peers=peers))
        b = s.batch(0)
        tm = np.asarray(store["node_time"])
        ptr, ccol = np.asarray(store["cell_ptr"]), np.asarray(store["cell_col"])
        seen = 0
        for i in range(b["true_batch_size"]):
            seed = int(b["seed_row"][i])
            rows = b["row_node"][i][: b["n_rows"][i]]
            same = [r for r, nd in enumerate(rows) if nd != seed and tm[seed] != UNTIMED and tm[nd] == tm[seed]]
            seen += sum(t.target_col in ccol[ptr[rows[r]]:ptr[rows[r] + 1]] for r in same)
            col = b["col_id"][i][b["is_target"][i]][0]
            on = ~b["is_padding"][i] & (b["col_id"][i] == col)
            assert not np.isin(b["node_idx"][i][on], same).any(), "a contemporary's target cell is visible"
            assert not np.isin(np.arange(1, 1 + b["n_peers"][i]), same).any(), "a contemporary is a peer"
        assert seen >= b["true_batch_size"], "too few contemporaries with a target cell to check"
        check_batch(store, s, b)
        check_peers(store, s, b)


def _latest_children(store, node: int, before: int, k: int, scan: int) -> list[int]:
    """The ``k`` most recent distinct children of each child table of ``node`` at or before time
    ``before``, among the last ``scan`` admissible positions of its time-sorted child list (read in
    Python)."""
    ptr, ch, tm, tab = (np.asarray(store[x]) for x in ("p2f_ptr", "p2f_child", "node_time", "node_table"))
    kids = [int(c) for c in ch[ptr[node]: ptr[node + 1]] if tm[c] != UNTIMED and tm[c] <= before][-scan:]
    out, per = [], {}
    for c in reversed(kids):
        if c not in out and per.get(tab[c], 0) < k:
            out.append(c)
            per[tab[c]] = per.get(tab[c], 0) + 1
    return out


def test_recent_children_put_the_entitys_latest_events_in_every_context(real_data_dir):
    """MovieLens user-churn: a user's hundreds of ratings are drawn at random into a context, so the
    latest (what says how long ago the user last rated) are often missing. With ``recent`` = 4 the
    user's 4 most recent rows of each child table up to the cut-off are in every context; nothing
    after the cut-off enters, and every other invariant holds."""
    from relforge.tokenize._bfs import RECENT_SCAN
    from relforge import realdata
    from relforge.tokenize.cells import tokenize_database

    db = realdata.load("movielens", real_data_dir)
    task = realdata.get_task("movielens", "user-churn", db=db)
    store = tokenize_database(db, [task], embedder="hash:16")
    t = resolve_task(store, "user-churn", "test", ctx_len=256)
    f2p = np.asarray(store["node_f2p"])
    tm = np.asarray(store["node_time"])

    def batch(recent):
        s = ContextSampler([t], SamplerConfig(ctx_len=256, max_bfs_width=128, batch_size=len(t.seeds), shuffle=False,
                                              recent=recent))
        return s, s.batch(0)

    def share_with_latest(b):
        hits = []
        for i in range(b["true_batch_size"]):
            seed = int(b["seed_row"][i])
            rows = set(b["row_node"][i][: b["n_rows"][i]].tolist())
            latest = _latest_children(store, int(f2p[seed][0]), int(tm[seed]), 4, RECENT_SCAN * 4)
            assert latest, "a user-churn row whose user has no rating before the cut-off"
            hits.append(set(latest) <= rows)
        return np.mean(hits)

    _, plain = batch(0)
    s, rec = batch(4)
    assert share_with_latest(rec) == 1.0
    assert share_with_latest(plain) < 0.5, "random draws already keep the latest ratings: nothing to test"
    check_batch(store, s, rec)
    assert not np.array_equal(plain["row_node"], rec["row_node"])


def test_recent_is_validated():
    with pytest.raises(RelforgeError, match="recent"):
        SamplerConfig(recent=-1).validate()


def test_recent_is_recorded_with_the_weights_and_used_by_predict(tmp_path):
    """A run trained with ``recent`` records it in its checkpoint's context settings, and
    ``predict_task`` builds its contexts the same way; a record without the field reads 0."""
    import torch

    from relforge.inference import predict_task, run_model, sampler_batches
    from relforge.model import checkpoint
    from relforge.model.checkpoint import ContextSettings
    from relforge.model.config import preset
    from relforge.model.rt import RelationalTransformer
    from relforge.train.config import TrainConfig

    db = make_db(3, n_users=12, n_events=500)
    store = embed_store(build_cells(db, [make_forecast_task(db, horizon_days=10)]), "hash:16")
    t = resolve_task(store, "user-active", "test")
    torch.manual_seed(0)
    model = RelationalTransformer(preset("tiny", d_text=16, attention="dense"))
    checkpoint.save(tmp_path / "m.safetensors", model, context=TrainConfig(ctx_len=96, recent=3).context())
    back = checkpoint.load(tmp_path / "m.safetensors")
    assert back.context.recent == 3
    assert ContextSettings.from_record({"ctx_len": 256}).recent == 0
    with pytest.raises(RelforgeError, match="recent"):
        TrainConfig(recent=-1)
    assert SamplerConfig(**back.context.sampler_kw()).recent == 3
    mine = predict_task(back.model, t, back.context).pred
    plain = predict_task(back.model, t, back.context.replace(recent=0)).pred
    # an untrained model barely reacts to its context: compare bit for bit (contexts are deterministic)
    assert not np.array_equal(mine, plain), "recent children changed no prediction: nothing to test"
    built = ContextSampler([t], SamplerConfig(ctx_len=96, batch_size=16, shuffle=False, recent=3))
    assert np.array_equal(mine, run_model(back.model, sampler_batches(built)).pred)
