"""Context sampler: fixed-size cell contexts around seed rows (rt_pipeline.md §2).

For a task (database, table, target column, split) and a seed row, a context holds at most
``ctx_len`` cells, whole rows only:

1. the seed row, then its parents (up to 5 foreign keys per row), followed first: parents go on a
   LIFO stack that always has priority, so every emitted row's parents come right after it;
2. then children breadth-first: each emitted row pushes its admissible children into the bucket
   of depth + 1 (at most ``max_bfs_width`` of them, drawn without replacement); a bucket is
   processed in uniformly random order before the next deeper one;
   With ``peers`` > 0 (autocomplete tasks), up to that many of the task's *training* rows of the
   seed's table (target visible: labelled in-context examples), drawn at random among those the
   temporal rule admits (for a timed seed, among the ``4 * peers`` most recent of them, so that
   they track trends), follow the seed row and use at most half of the budget. They are not
   expanded. RT has no such rows: its autocomplete contexts reach sibling rows only through a
   shared parent, so the target column is often absent from the context. Forecast seeds get no
   peers: other entities' closed labels, tried as peers (2026-12-04, prior benchmark, seed 0 of
   two contenders), lowered the zero-shot AUROC of all four real classification tasks by 1-16;

   A forecast seed's **label history** (its entity's earlier rows of the same task, labels known
   by the seed's time) is not left to the random bucket: the ``history`` most recent of them (3 by
   default; 0: all, up to half of ``ctx_len`` cells) go on the priority stack when the entity is
   emitted, so they enter the context before the entity's other children; older labels stay out. In
   a random bucket a driver's 30 earlier labels competed with hundreds of race results and about 4
   made it into a 256-cell context; the history is what predicts most real forecast labels, and its
   recent end predicts them best: a model averages what it is shown, and shown the last 3 labels
   instead of up to 25, every v1-pretrained model ranks the real tasks better (validation splits:
   7-task mean 42.4 -> 46.4; docs/results.md, "label persistence" and session 10). Every emitted
   row of the entity table brings its labels this way, so other entities the walk reaches through
   a shared parent add theirs (a Chinook customer's 15 fellow customers of the same support rep);
   ``own_history`` keeps those out, the seed's own entity's labels only;
   With ``recent`` > 0 the seed row and its parents (a forecast seed's entity) also put their
   ``recent`` most recent admissible children *of each child table* on the priority stack, after
   the label history (looking back at most ``_bfs.RECENT_SCAN * recent`` children): the random
   draw of a driver's hundreds of results or a user's hundreds of ratings rarely keeps the latest,
   and the latest are what predict (test splits, one feature as the score: days since the user's
   last rating, MovieLens user-churn AUROC 0.84; the driver's last 4 qualifying positions, F1
   driver-top3 0.93; the DNF share of the last 4 results, F1 driver-dnf 0.80; LightGBM on
   relational aggregates 0.84 / 0.89 / 0.78, the label history 0.80 / 0.86 / 0.78). PyG's temporal
   neighbour sampling calls taking the latest the ``last`` strategy;
3. the first row that does not fit stops the walk (the budget counts the cells actually emitted);
   a row enters a context at most once, so walks end on any key graph, cycles within a table
   (``AcceptedAnswerId``/``ParentId``) or across tables included; a row that references one parent
   through two keys counts once when that parent's children are subsampled;
4. the seed's target cell is masked (``is_target``; its value moves to ``target``), columns in
   the task's drop list are removed from the seed row and from every row with the seed's
   timestamp (untimed == untimed), and the sequence is padded to ``ctx_len``. A timed seed's
   **contemporaries** (other rows at exactly its time) show no cell of the target column, and its
   peers are strictly earlier rows: the other results of a race are decided together, so their
   positions are not known when one of them is predicted (RT shows them; at prediction time they
   are the rows being predicted, and a model that learned to read them had nothing to read).

**Temporal rule (all rows, parents included).** An untimed row is always admissible. A timed row
is admissible only if the seed is timed and the row's time is <= the seed's time; so a seed
without a timestamp sees only untimed rows (spec §6.1). RT checks only children; we also check
parents, because a parent timestamped after its child (a later event a row points to, or a data
error) is information from the future. Rows of the seed's own forecast task (in-context examples,
labels visible) are admitted only once their label is known: cut-off + horizon <= seed time
(strictly before the seed when the horizon is unknown). RT admits every same-task row up to the seed
time, whose label windows still overlap the seed's future.

**Determinism.** Items of an epoch are the (task, seed) pairs of all tasks, shuffled by
``rng.child(seed, "items", epoch)``; batch ``b`` of rank ``r`` (of ``W``) takes items
``(b*B*W + r*B + i) mod n`` (wrapping; ``true_batch_size`` counts the real ones). Each context's
random choices come from a splitmix64 stream seeded by (seed, epoch, item position), so a batch is
the same whatever process, worker or order builds it.

Batch fields: see ``relforge.batch`` (the contract with the model, ``BATCH_FIELDS``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from relforge.batch import BATCH_FIELDS, LABEL_HISTORY, MAX_F2P  # noqa: F401 (BATCH_FIELDS: re-exported)
from relforge.errors import RelforgeError
from relforge.rng import child
from relforge.tokenize import _bfs
from relforge.tokenize.store import UNTIMED, CellStore, open_store
from relforge.tokenize.tasks import SamplerTask, resolve_task

_NO_PEERS = np.zeros(0, dtype=np.int64)
#: version of the context rule; results that depend on what contexts hold (the prior benchmark's
#: runs) record it. 2: a forecast seed's label history (its entity's earlier rows of the same task)
#: comes first, up to half of the context (1: in the breadth-first bucket with the other children).
#: 3: only its ``SamplerConfig.history`` (``relforge.batch.LABEL_HISTORY``) most recent labels.
#: 4: a timed seed's contemporaries (rows at exactly its time) hide their target-column cells, and
#: its peers are strictly earlier rows.
CONTEXT_VERSION = 4


@dataclass(frozen=True)
class SamplerConfig:
    """Context sampling settings (rt_pipeline.md §2, §3 defaults)."""

    ctx_len: int = 1024  # cells per context, padding included (spec §3)
    max_bfs_width: int = 128  # database children followed per row (spec §3)
    batch_size: int = 32  # contexts per batch (per rank)
    seed: int = 0  # item order and context randomness
    shuffle: bool = True  # False: items in task order (evaluation)
    peers: int = 0  # autocomplete: labelled training rows of the seed's table added after the seed (0: RT's contexts)
    peer_parents: bool = False  # autocomplete: each peer row also brings the rows it references (one hop)
    history: int = LABEL_HISTORY  # forecast: the entity's most recent closed labels in a context (0: all, up to half of it; -1: none)
    history_dropout: float = 0.0  # forecast: share of contexts shown no label history at all (training: read the entity's rows)
    own_history: bool = False  # forecast: only the seed's own entity brings its labels (not other entities the walk reaches)
    recent: int = 0  # the seed and its parents put their this many most recent children of each child table first (0: none)

    def validate(self) -> None:
        for k in ("ctx_len", "max_bfs_width", "batch_size"):
            if getattr(self, k) < 1:
                raise RelforgeError(f"sampler {k} must be >= 1, got {getattr(self, k)}")
        if self.recent < 0:
            raise RelforgeError(f"sampler recent must be >= 0, got {self.recent}")
        if self.peers < 0 or self.history < -1:
            raise RelforgeError(f"sampler peers must be >= 0 and history >= -1, got {self.peers}, {self.history}")
        if not 0.0 <= self.history_dropout <= 1.0:
            raise RelforgeError(f"sampler history_dropout must be in [0, 1], got {self.history_dropout}")
        if not 0 <= self.seed < 2**63:
            raise RelforgeError(f"sampler seed must be in [0, 2**63), got {self.seed}")


def _unit(rng_seeds: np.ndarray) -> np.ndarray:
    """One uniform [0, 1) draw per context from its RNG seed, independent of the draws the kernel makes
    from the same seed (one splitmix step of the seed xor a constant)."""
    z = (rng_seeds.astype(np.uint64) ^ np.uint64(0x5851F42D4C957F2D)) + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2 ** 53)


class ContextSampler:
    """Builds batches of contexts for a list of resolved tasks over one or more stores.

    Parameters
    ----------
    tasks : :class:`SamplerTask` objects (see :func:`relforge.tokenize.tasks.resolve_task`), or
        ``(store, task, split)`` tuples resolved here.
    cfg : :class:`SamplerConfig`.
    rank, world_size : distributed sharding of the item stream (spec §2 "Items").
    """

    def __init__(self, tasks, cfg: SamplerConfig = SamplerConfig(), rank: int = 0, world_size: int = 1):
        cfg.validate()
        if not 0 <= rank < world_size:
            raise RelforgeError(f"rank {rank} is outside world size {world_size}")
        resolved = []
        for t in tasks:
            if isinstance(t, SamplerTask):
                width = int(t.store.tables[t.table]["max_cells"])
                if cfg.ctx_len < max(width, 1):
                    raise RelforgeError(f"ctx_len {cfg.ctx_len} is smaller than one row of table "
                                        f"{t.store.tables[t.table]['name']!r} ({width} cells)")
                resolved.append(t)
            else:
                store, task, split = t
                resolved.append(resolve_task(store, task, split, ctx_len=cfg.ctx_len))
        if not resolved:
            raise RelforgeError("the sampler needs at least one task")
        self.tasks: list[SamplerTask] = resolved
        self.cfg, self.rank, self.world_size = cfg, rank, world_size
        # stores (deduplicated by identity) and their global id offsets
        self.stores: list[CellStore] = []
        pos = {}
        for t in resolved:
            if id(t.store) not in pos:
                pos[id(t.store)] = len(self.stores)
                self.stores.append(t.store)
        self.task_store = np.array([pos[id(t.store)] for t in resolved], dtype=np.int64)
        dims = {s.d_text for s in self.stores}
        if len(dims) > 1:
            raise RelforgeError(f"stores were embedded with different dimensions {sorted(dims)}")
        self.d_text = dims.pop()
        self.col_off = np.cumsum([0] + [len(s.columns) for s in self.stores])
        self.table_off = np.cumsum([0] + [len(s.tables) for s in self.stores])
        self.text_off = np.cumsum([0] + [s.n_texts for s in self.stores])
        self._arrays = [None] * len(self.stores)  # kernel views, built on first use of each store
        self._alloc_scratch()
        self.n_items = int(sum(t.n_seeds for t in resolved))
        self._epoch_items = None

    def _alloc_scratch(self) -> None:
        """Per-process scratch: visit stamps over nodes, id-remap stamps over columns/tables/texts."""
        n_max = max(s.n_nodes for s in self.stores)
        self._mark = np.full(n_max, -1, dtype=np.int64)
        self._local = np.zeros(n_max, dtype=np.int64)
        self._pick = np.full(n_max, -1, dtype=np.int64)
        self._ctr = np.zeros(4, dtype=np.int64)  # context stamp, pick stamp, walk steps, child draws
        self._m = {k: (np.full(int(o[-1]), -1, dtype=np.int64), np.zeros(int(o[-1]), dtype=np.int64))
                   for k, o in (("col", self.col_off), ("table", self.table_off), ("text", self.text_off))}
        self._stamp = 0

    @staticmethod
    def _kernel_arrays(s: CellStore) -> tuple:
        arrays = tuple(s[k] for k in ("cell_ptr", "cell_col", "cell_type", "cell_value", "cell_text", "node_table",
                                      "node_time", "node_f2p", "p2f_ptr", "p2f_child", "p2t_ptr", "p2t_child"))
        return arrays + (_bfs.repeated_children(s["p2f_ptr"], s["p2f_child"]),)

    @property
    def work(self) -> dict:
        """Work of the walks sampled so far in this process: ``steps`` (loop steps plus queue pushes)
        and ``draws`` (random child draws); a diagnostic that tests bound per context."""
        return dict(steps=int(self._ctr[2]), draws=int(self._ctr[3]))

    # ---- items
    @property
    def num_batches(self) -> int:
        """Batches per epoch per rank: ``ceil(n_items / (B * W))``."""
        return math.ceil(self.n_items / (self.cfg.batch_size * self.world_size))

    def items(self, epoch: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """(task index, seed node) of every item, in this epoch's order."""
        if self._epoch_items is not None and self._epoch_items[0] == epoch:
            return self._epoch_items[1]
        tk = np.concatenate([np.full(t.n_seeds, i, dtype=np.int64) for i, t in enumerate(self.tasks)])
        sd = np.concatenate([np.asarray(t.seeds, dtype=np.int64) for t in self.tasks])
        if self.cfg.shuffle:
            perm = child(self.cfg.seed, "items", int(epoch)).permutation(len(tk))
            tk, sd = tk[perm], sd[perm]
        self._epoch_items = (epoch, (tk, sd))
        return tk, sd

    # ---- batches
    def batch(self, b: int, epoch: int = 0) -> dict:
        """Batch ``b`` of this rank in ``epoch`` as a dict of numpy arrays (fields: BATCH_FIELDS)."""
        B, W, r = self.cfg.batch_size, self.world_size, self.rank
        n = self.n_items
        positions = b * B * W + r * B + np.arange(B, dtype=np.int64)
        tk, sd = self.items(epoch)
        idx = positions % n
        true_bs = int(min(B, max(0, n - r * B - b * B * W)))
        return self.assemble(tk[idx], sd[idx], positions, epoch, true_bs)

    def context(self, task_idx: int, seed_node: int, epoch: int = 0, pos: int = 0) -> dict:
        """One context (a batch of 1) for an explicit seed: for tests and inspection."""
        return self.assemble(np.array([task_idx]), np.array([seed_node]), np.array([pos]), epoch, 1)

    def assemble(self, task_idx: np.ndarray, seeds: np.ndarray, positions: np.ndarray, epoch: int, true_bs: int) -> dict:
        """Sample the contexts of ``(task_idx[i], seeds[i])`` into one batch (numpy arrays)."""
        cfg = self.cfg
        B, S = len(seeds), cfg.ctx_len
        out = dict(
            node_idx=np.empty((B, S), np.int32), f2p=np.empty((B, S, MAX_F2P), np.int32),
            col_id=np.empty((B, S), np.int32), table_id=np.empty((B, S), np.int32),
            sem_type=np.empty((B, S), np.int64), value=np.empty((B, S), np.float32),
            text_id=np.empty((B, S), np.int32), is_target=np.empty((B, S), np.bool_),
            target=np.empty((B, S), np.float32), is_padding=np.empty((B, S), np.bool_),
            timestamp=np.empty((B, S), np.int64), row_node=np.empty((B, S), np.int64),
        )
        nrows = np.zeros(B, np.int64)
        npeers = np.zeros(B, np.int64)
        rng_seeds = np.array([_bfs.mix_seed(cfg.seed, epoch, int(p)) for p in positions], dtype=np.uint64)
        for ti in np.unique(task_idx):
            t = self.tasks[ti]
            si = int(self.task_store[ti])
            rows = np.nonzero(task_idx == ti)[0]
            if self._arrays[si] is None:
                self._arrays[si] = self._kernel_arrays(self.stores[si])
            groups = [(rows, cfg.history)]
            if cfg.history_dropout > 0 and t.task_table >= 0:  # forecast: some contexts without label history
                blind = _unit(rng_seeds[rows]) < cfg.history_dropout
                groups = [(rows[~blind], cfg.history), (rows[blind], -1)]
            for rs, hist in groups:
                if len(rs) == 0:
                    continue
                _bfs.fill_batch(*self._arrays[si], seeds[rs].astype(np.int64), rs, rng_seeds[rs], t.target_col,
                                t.drop, bool(t.drop.any()), t.task_table, t.label_delay_s, hist, bool(cfg.own_history),
                                int(cfg.recent), S,
                                cfg.max_bfs_width,
                                t.peers if t.peers is not None else _NO_PEERS, cfg.peers, bool(cfg.peer_parents),
                                self._mark, self._local, self._pick, self._ctr, int(self.col_off[si]),
                                int(self.table_off[si]), int(self.text_off[si]),
                                out["node_idx"], out["f2p"], out["col_id"], out["table_id"], out["sem_type"],
                                out["value"], out["text_id"], out["is_target"], out["target"], out["is_padding"],
                                out["timestamp"], nrows, out["row_node"], npeers)
        self._stamp += 1
        for key, off, emb in (("col_id", self.col_off, "col_emb"), ("table_id", self.table_off, None),
                              ("text_id", self.text_off, "text_emb")):
            ms, mv = self._m[key.split("_")[0]]
            uniq = np.empty(max(min(int(off[-1]), B * S), 1), dtype=np.int64)
            flat = out[key].reshape(-1)
            k = _bfs.remap_ids(flat, ms, mv, self._stamp, uniq)
            if emb is not None:
                out[emb] = self._gather(emb, uniq[:k], off)
        out["task_idx"] = np.asarray(task_idx, dtype=np.int64)
        out["seed_row"] = np.asarray(seeds, dtype=np.int64)
        out["n_rows"] = nrows
        out["n_peers"] = npeers  # peer rows, at local rows 1 .. n_peers
        out["true_batch_size"] = true_bs
        return out

    def _gather(self, key: str, gids: np.ndarray, off: np.ndarray) -> np.ndarray:
        res = np.empty((len(gids), self.d_text), dtype=np.float32)
        if len(gids) == 0:
            return res
        sidx = np.searchsorted(off, gids, side="right") - 1
        for s in np.unique(sidx):
            m = sidx == s
            res[m] = self.stores[s][key][gids[m] - off[s]]
        return res

    def __len__(self) -> int:
        return self.num_batches

    # pickling (DataLoader workers): kernel views and the item cache are rebuilt, not copied
    def __getstate__(self):
        d = dict(self.__dict__)
        d["_arrays"] = [None] * len(self.stores)
        d["_epoch_items"] = None
        for k in ("_mark", "_local", "_pick", "_ctr", "_m", "_stamp"):
            d.pop(k, None)
        return d

    def __setstate__(self, d):
        self.__dict__.update(d)
        self._alloc_scratch()


def untimed() -> int:
    """The timestamp value of untimed rows and padding (INT64_MIN)."""
    return int(UNTIMED)


def summarize_batch_for(store_path, task: str, split: str = "train", *, ctx_len: int = 1024, width: int = 128,
                        batch_size: int = 8, seed: int = 0, peers: int = 0, recent: int = 0) -> dict:
    """Open a store, sample batch 0 of ``task`` and summarise it (used by ``relforge sample``)."""
    st = open_store(store_path)
    s = ContextSampler([(st, task, split)], SamplerConfig(ctx_len=ctx_len, max_bfs_width=width,
                                                         batch_size=batch_size, seed=seed, peers=peers,
                                                         recent=recent))
    b = s.batch(0)
    t = s.tasks[0]
    real = ~b["is_padding"]
    tcol = np.array([b["col_id"][i][b["is_target"][i]][0] for i in range(len(b["seed_row"]))])
    same = ((b["col_id"] == tcol[:, None]) & real & ~b["is_target"]).sum(1)
    return dict(store=st.name, task=t.name, kind=t.kind, task_type=t.task_type, split=split, n_seeds=t.n_seeds,
                batches_per_epoch=s.num_batches, mean_tokens=round(float(real.sum(1).mean()), 1),
                mean_rows=round(float(b["n_rows"].mean()), 1), mean_peers=round(float(b["n_peers"].mean()), 1),
                target_column_cells=same.tolist(), targets_per_context=b["is_target"].sum(1).tolist(),
                distinct_columns=int(len(b["col_emb"])), distinct_texts=int(len(b["text_emb"])))
