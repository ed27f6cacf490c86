"""Training and evaluation data from tokenized stores (``relforge tokenize`` output).

A path is a cell store folder or a corpus folder of stores (:func:`relforge.tokenize.store.open_corpus`).
Tasks of a store are the tasks recorded at tokenization (forecast / declared autocomplete) or,
when none are recorded (synthetic databases), every autocomplete task (rt_pipeline.md §4:
every feature column is a task).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from relforge.db.task import TaskType
from relforge.errors import RelforgeError
from relforge.model.checkpoint import ContextSettings
from relforge.rng import child
from relforge.tokenize.mix import mix_tasks, store_task_groups
from relforge.tokenize.sampler import ContextSampler, SamplerConfig
from relforge.tokenize.store import open_corpus, open_store
from relforge.tokenize.tasks import autocomplete_tasks, resolve_task, store_tasks
from relforge.train.config import check_forecast_splits


@dataclass
class EvalTask:
    key: str  # "<store>/<task>"
    split: str
    task_type: str
    source: object  # ContextSampler over this one task and split


def _task_names(store) -> list:
    names = store_tasks(store)
    return names if names else autocomplete_tasks(store)


def _name(t) -> str:
    return t if isinstance(t, str) else t.name


def open_stores(path: str | Path) -> list:
    p = Path(path)
    if not p.exists():
        raise RelforgeError(f"no tokenized data at {str(path)!r} (run `relforge tokenize` first)")
    if not (p / "index.json").is_file() and not (p / "corpus.json").is_file() and p.is_dir():
        subs = sorted(d for d in p.iterdir() if (d / "index.json").is_file())
        if subs:  # a plain folder of store folders
            return [open_store(d) for d in subs]
    return open_corpus(path)


def training_sampler(path: str | Path, context: ContextSettings, *, batch_size: int, seed: int,
                     tasks: tuple = (), rank: int = 0, world_size: int = 1, task_share: float | None = None,
                     history_dropout: float = 0.0, peer_parents: bool = False, forecast_splits: tuple = ("train",)):
    """A :class:`ContextSampler` over every (or the named) task of every store at ``path``, split train.

    ``context`` says how contexts are built (:meth:`ContextSettings.sampler_kw`, the settings recorded
    with the weights, so that evaluation and inference build them the same way); the keywords after
    it only act in training: which tasks, the forecast share, contexts blind to the label history.

    ``task_share`` (None: every recorded task, as always) trains on the stores' forecast task tables
    *and* their autocomplete tasks, the forecast ones making up that share of the contexts
    (:mod:`relforge.tokenize.mix`). With a share, ``forecast_splits`` names the splits whose cut-offs
    the forecast tables give seeds from: ``("train", "val", "test")`` for synthetic pretraining, where
    nothing is held out and the later cut-offs are the ones whose labels have left the training
    period's level (labels are scaled by training-period statistics, as at prediction time). Never
    for a real database: its val/test rows are what it is evaluated on."""
    forecast_splits = check_forecast_splits(forecast_splits, task_share, "forecast splits")
    stores = open_stores(path)
    resolved, seen, fc_resolved = [], set(), []
    for st in stores:
        if task_share is None:
            groups = [(_task_names(st), resolved)]
        else:
            fc, ac = store_task_groups(st)
            groups = [(ac, resolved), (fc, fc_resolved)]
        for names, into in groups:
            splits = forecast_splits if into is fc_resolved else ("train",)
            for t in names:
                n = _name(t)
                if tasks and n not in tasks and f"{st.name}/{n}" not in tasks:
                    continue
                for split in splits:
                    try:
                        into.append(resolve_task(st, t, split, ctx_len=context.ctx_len))
                        seen.add(n)
                        seen.add(f"{st.name}/{n}")
                    except RelforgeError:
                        continue  # a task with no rows in the split (e.g. a tiny table) is skipped
    if task_share is not None:
        resolved = mix_tasks(resolved, fc_resolved, task_share, seed=seed)
    missing = [t for t in tasks if t not in seen]
    if missing:
        raise RelforgeError(f"task(s) {', '.join(missing)} not found (with training rows) in {str(path)!r}")
    if not resolved:
        raise RelforgeError(f"no trainable task in {str(path)!r}")
    cfg = SamplerConfig(**context.sampler_kw(), batch_size=batch_size, seed=seed, history_dropout=history_dropout,
                        peer_parents=peer_parents)
    return ContextSampler(resolved, cfg, rank=rank, world_size=world_size)


def eval_tasks(path: str | Path, context: ContextSettings, *, splits=("val",), batch_size: int,
               max_tasks: int = 10, tasks: tuple = ()) -> list[EvalTask]:
    """One sampler per (store, task, split), contexts built as ``context`` says; at most ``max_tasks``
    per store, half classification and half regression, picked by a fixed shuffle (rt_pipeline.md §4:
    5 clf + 5 reg)."""
    out = []
    scfg = SamplerConfig(**context.sampler_kw(), batch_size=batch_size, seed=0)
    for st in open_stores(path):
        cands = {"clf": [], "reg": []}
        for t in _task_names(st):
            n = _name(t)
            if tasks and n not in tasks and f"{st.name}/{n}" not in tasks:
                continue
            try:
                per = {s: resolve_task(st, t, s, ctx_len=context.ctx_len) for s in splits}
            except RelforgeError:
                continue  # no rows in one of the splits
            kind = "clf" if next(iter(per.values())).task_type == TaskType.binary_classification else "reg"
            cands[kind].append((n, per))
        rng = child(0, "eval-tasks", st.name)
        picked = []
        for kind in ("clf", "reg"):
            c = cands[kind]
            order = rng.permutation(len(c)) if c else []
            picked += [c[i] for i in order[: max_tasks // 2 + (max_tasks % 2 if kind == "clf" else 0)]]
        for n, per in picked:
            for s, rt in per.items():
                out.append(EvalTask(f"{st.name}/{n}", s, rt.task_type, ContextSampler([rt], scfg)))
    return out


def embedder_of(path: str | Path) -> dict | None:
    """``{"name", "dim"}`` of the text embedder the stores at ``path`` were tokenized with (None if
    unrecorded); stores embedded with different embedders cannot be trained on together."""
    seen = {}
    for st in open_stores(path):
        e = st.index.get("embedder")
        if e:
            seen.setdefault(e.get("name"), dict(e))
    if len(seen) > 1:
        raise RelforgeError(f"the stores at {str(path)!r} were embedded with different embedders "
                            f"({', '.join(map(str, seen))}); tokenize them with one")
    return next(iter(seen.values()), None)


def d_text_of(path: str | Path) -> int:
    return int(open_stores(path)[0]["col_emb"].shape[1])
