"""Zero-shot transfer to real databases: the paper's three pretraining regimes (overview §05).

For each held-out real database H in ``dbs`` (leave-one-DB-out over f1 / chinook / movielens):

- **Real only**: pretrain from scratch on the train split of every task (forecast and
  autocomplete) of the *other* real databases, evaluate on H's forecast tasks;
- **Synthetic + Real**: start from the synthetic checkpoint, continue on the same real tasks;
- **Synthetic only**: the synthetic checkpoint itself (one model for all H), zero-shot.

Evaluation (rt_pipeline.md §4 "Evaluation"): a fixed, seeded subset of at most ``eval_rows`` rows of
each task's test split; AUROC of the boolean logits, R2 of the regression outputs (normalised
units, which equals R2 in raw units). Baselines on the same rows: the majority / mean predictor
(train positive rate / train mean, from ``experiments.baselines.constant_baseline``) and LightGBM on
relational aggregates (``experiments.baselines.lightgbm_baseline``).

The synthetic checkpoint is pretrained here (:func:`pretrain_synthetic`: autocomplete tasks of
``synth_dbs`` generated databases) unless ``synthetic_checkpoint`` names one (``"default"`` = the
packaged default model, which is itself made by :func:`pretrain_synthetic`; see docs/results.md).

Everything is seeded: database seeds, task caps, item order, contexts, model initialisation and
the evaluation subset; the same config gives the same ``results.json``.

Training (:func:`train_steps`) is relforge's one training loop (:func:`relforge.train.loop.fit`) with
this study's schedule (linear warm-up over 10 % of the steps, linear decay to 10 % of ``lr``,
gradient clip 1.0; :func:`relforge.train.schedule.transfer_lr`), single process, for CPU-sized runs;
``mask_rate`` / ``name_shuffle`` (default 0, as the documented runs) add extra masks / shuffled names.
"""
from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from relforge import fileio, realdata
from relforge.db.task import TaskKind
from relforge.errors import RelforgeError
from relforge.generate.pipeline import generate_database
from relforge.experiments.baselines import constant_baseline, lightgbm_baseline
from relforge.experiments.task_corpus import cap_tasks, too_many_fkeys
from relforge.inference import embedder_for, metric, metric_name, predict_task
from relforge.inference import torch_threads as _threads
from relforge.model import checkpoint
from relforge.model.checkpoint import ContextSettings
from relforge.model.config import PRESETS, preset
from relforge.rng import child
from relforge.tokenize.cells import tokenize_database
from relforge.tokenize.sampler import ContextSampler, SamplerConfig
from relforge.tokenize.store import open_store, save_store
from relforge.tokenize.tasks import autocomplete_tasks, resolve_task
from relforge.train.loop import batch_stream, fit, init_model
from relforge.train.schedule import LambdaSchedule, transfer_lr

REGIMES = ("real_only", "synth_real", "synth_only")
REGIME_TITLES = {"real_only": "Real only", "synth_real": "Synth + Real", "synth_only": "Synth only"}
REAL_DBS = ("f1", "chinook", "movielens")

# small synthetic databases: MiniLM embeds every distinct text on CPU, so text volume is the cost
SMALL_GENERATOR = {"schema": {"n_tables": (3, 8), "entity_rows": (200, 500), "activity_rows": (800, 2000),
                              "n_features": (3, 15)}}


@dataclass(frozen=True)
class TransferConfig:
    """Settings of :func:`run_transfer` (defaults: the CPU run of docs/results.md, < 1 h on 2 cores)."""

    preset: str = "tiny"  # model size (relforge.model.config.PRESETS)
    ctx_len: int = 256  # cells per context
    batch_size: int = 8  # contexts per step
    lr: float = 1e-3  # peak AdamW learning rate
    weight_decay: float = 0.01
    synth_dbs: int = 6  # synthetic databases for the synthetic checkpoint
    synth_steps: int = 1200  # steps of synthetic pretraining
    real_steps: int = 300  # steps of real pretraining (Real only) and continued pretraining (Synth + Real)
    eval_rows: int = 200  # test rows per task (seeded subset); 0: the full test set
    embedder: str = "minilm"  # text/column-name embedder (must match the synthetic checkpoint's)
    seed: int = 0
    dbs: tuple = REAL_DBS  # real databases, each held out in turn
    attention: str = "dense"  # dense masks are the fastest CPU path at these context sizes
    synthetic_checkpoint: str | None = None  # None: pretrain here; "default": packaged model; or a path
    lightgbm: bool = True  # LightGBM baseline (needs the baselines extra)
    max_tasks_per_db: int = 10  # synthetic tasks kept per database (5 clf + 5 reg, as the paper's test pool)
    threads: int = 1  # torch CPU threads; small models gain little from more, and shared cores thrash with them
    mask_rate: float = 0.0  # extra masked cells per training context (the documented runs: 0)
    name_shuffle: float = 0.0  # share of training contexts with shuffled column names (the documented runs: 0)
    peers: int = 0  # labelled rows of the seed's table per autocomplete training context (the prior models': 16)
    copy_skip: bool = False  # models built here predict numbers as their column's visible mean + output (RTConfig.copy_skip)

    def validate(self) -> None:
        if self.preset not in PRESETS:
            raise RelforgeError(f"unknown model preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        for k in ("ctx_len", "batch_size", "synth_dbs"):
            if getattr(self, k) < 1:
                raise RelforgeError(f"transfer {k} must be >= 1, got {getattr(self, k)}")
        for k in ("eval_rows", "peers"):
            if getattr(self, k) < 0:
                raise RelforgeError(f"transfer {k} must be >= 0, got {getattr(self, k)}")
        if not (0 <= self.mask_rate < 1 and 0 <= self.name_shuffle <= 1):
            raise RelforgeError(f"transfer mask_rate must be in [0, 1) and name_shuffle in [0, 1], got "
                                f"{self.mask_rate!r}, {self.name_shuffle!r}")
        for k in ("synth_steps", "real_steps"):
            if getattr(self, k) < 0:
                raise RelforgeError(f"transfer {k} must be >= 0, got {getattr(self, k)}")
        if self.lightgbm:
            import importlib.util

            if importlib.util.find_spec("lightgbm") is None:
                raise RelforgeError("the LightGBM baseline needs lightgbm (pip install 'relforge[baselines]'); "
                                    "or pass --no-lightgbm")
        bad = [d for d in self.dbs if d not in REAL_DBS]
        if bad or len(self.dbs) < 2:
            raise RelforgeError(f"transfer dbs must be two or more of {', '.join(REAL_DBS)}, got {list(self.dbs)}")

    def replace(self, **kw) -> "TransferConfig":
        return dataclasses.replace(self, **kw)

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["dbs"] = list(self.dbs)
        for k in ("mask_rate", "name_shuffle", "peers", "copy_skip"):
            if not d[k]:
                d.pop(k)  # results of runs before these options read the same
        return d


#: ``--quick``: a few minutes on 2 cores (hash embedder, a handful of steps) for tests and demos.
QUICK = TransferConfig(ctx_len=128, batch_size=4, synth_dbs=2, synth_steps=20, real_steps=10, eval_rows=48,
                       embedder="hash", lightgbm=False)


# ------------------------------------------------------------------------------------ model + training

def new_model(cfg: TransferConfig, d_text: int, seed: int):
    """A freshly initialised RT of ``cfg.preset``; initialisation seeded (scoped torch RNG fork)."""
    return init_model(preset(cfg.preset, d_text=d_text, attention=cfg.attention, copy_skip=cfg.copy_skip),
                      int(child(seed, "model-init").integers(2**31)))


def train_steps(model, sampler, steps: int, *, lr: float, weight_decay: float = 0.01, mask_rate: float = 0.0,
                name_shuffle: float = 0.0, seed: int = 0, log_every: int = 0, label: str = "") -> list[float]:
    """``steps`` steps of relforge's training loop (:func:`relforge.train.loop.fit`) over ``sampler``'s
    batch stream with the study's schedule (:func:`relforge.train.schedule.transfer_lr`), AdamW, gradient
    clip 1.0; no extra masks or name shuffling unless asked (the documented runs: none).

    Returns the per-step losses. Deterministic given the sampler and the model's initial weights.
    """
    if steps <= 0:
        return []
    opt = model.configure_optimizers(lr, weight_decay)
    t0 = time.perf_counter()
    seen = []

    def log(s: int, loss: float, batch) -> None:
        seen.append(loss)
        if log_every and (s % log_every == 0 or s == steps - 1):
            w = seen[max(0, s - log_every + 1): s + 1]
            print(f"{label} step {s + 1}/{steps} loss {np.nanmean(w):.4f} ({time.perf_counter() - t0:.0f}s)", flush=True)

    losses = fit(model, opt, LambdaSchedule(transfer_lr(lr, steps)).attach(opt), batch_stream(sampler), steps,
                 grad_clip=1.0, mask_rate=mask_rate, name_shuffle=name_shuffle, seed=seed, skip_empty=True,
                 after_step=log)
    model.eval()
    return losses


def _sampler(tasks, cfg: TransferConfig, seed_key: str):
    s = int(child(cfg.seed, "sampler", seed_key).integers(2**31))
    return ContextSampler(tasks, SamplerConfig(ctx_len=cfg.ctx_len, batch_size=cfg.batch_size, seed=s, peers=cfg.peers))


def loss_summary(losses: list[float]) -> dict:
    """First / last tenth mean loss of a run (the "loss went down" record)."""
    x = np.asarray(losses, dtype=float)
    if len(x) == 0:
        return {"steps": 0}
    k = max(1, len(x) // 10)
    return {"steps": int(len(x)), "loss_first": round(float(np.nanmean(x[:k])), 4),
            "loss_last": round(float(np.nanmean(x[-k:])), 4)}


# ------------------------------------------------------------------------------------ data

def synthetic_tasks(n_dbs: int, cfg: TransferConfig, *, generator_config=None, log=print) -> list:
    """Resolved train-split autocomplete tasks of ``n_dbs`` generated databases (seeded by ``cfg.seed``).

    Databases with more than 5 foreign keys on a table are skipped (RT's cap); at most
    ``max_tasks_per_db`` tasks per database (half classification, half regression, seeded).
    """
    gen_cfg = generator_config if generator_config is not None else SMALL_GENERATOR
    emb = embedder_for(cfg.embedder)
    out, k, tried = [], 0, 0
    base = int(child(cfg.seed, "synthetic-dbs").integers(2**31))
    while k < n_dbs:
        if tried >= 4 * n_dbs + 8:
            raise RelforgeError(f"could not generate {n_dbs} usable synthetic databases in {tried} tries")
        dseed = base + tried
        tried += 1
        db = generate_database(dseed, gen_cfg)
        if too_many_fkeys(db):
            continue
        store = tokenize_database(db, [], embedder=emb, name=f"synth{dseed}")
        tasks = cap_tasks(autocomplete_tasks(store), cfg.max_tasks_per_db // 2, cfg.max_tasks_per_db // 2, seed=dseed)
        got = []
        for t in tasks:
            try:
                got.append(resolve_task(store, t, "train", ctx_len=cfg.ctx_len))
            except RelforgeError:
                continue
        if not got:
            continue
        out += got
        k += 1
        log(f"synthetic db {k}/{n_dbs} (seed {dseed}): {store.n_nodes} rows, {len(got)} tasks")
    return out


def real_store_path(cache_dir: str | Path, name: str, embedder: str) -> Path:
    """``CACHE/<name>-<embedder>-<key>``: where a tokenized real database is cached. The key hashes
    the database's files and loader (:func:`relforge.realdata.fingerprint`), the text embedder's
    full record and the source of the tokenizer, so a cache made from other data, another
    embedder precision or older tokenizer code is never reused (the folder name alone once was the key)."""
    import hashlib

    from relforge.tokenize.cells import code_fingerprint

    emb = embedder_for(embedder)
    h = hashlib.sha256(realdata.fingerprint(name).encode())
    h.update(json.dumps(emb.describe(), sort_keys=True).encode())
    h.update(code_fingerprint().encode())
    return Path(cache_dir) / f"{name}-{emb.name.replace(':', '')}-{h.hexdigest()[:8]}"


def real_store(name: str, cfg: TransferConfig, cache_dir: Path | None = None):
    """(store, tasks) of a real database tokenized with ``cfg.embedder`` (cached under ``cache_dir``
    at :func:`real_store_path`)."""
    db = realdata.load(name)
    tasks = [realdata.get_task(name, t, db=db) for t in realdata.list_tasks(name)]
    emb = embedder_for(cfg.embedder)
    path = None
    if cache_dir is not None:
        path = real_store_path(cache_dir, name, cfg.embedder)
        if (path / "index.json").is_file():
            return open_store(path), tasks, db
    store = tokenize_database(db, tasks, embedder=emb, name=name)
    if path is not None:
        if not (path / "index.json").is_file():  # another seed's process may have cached it meanwhile
            save_store(store, path, overwrite=True)
        store = open_store(path)
    return store, tasks, db


def real_train_tasks(stores: dict, held_out: str, cfg: TransferConfig) -> list:
    """Train-split samplers tasks (forecast + autocomplete) of every real database but ``held_out``."""
    out = []
    for name, (store, tasks, _) in stores.items():
        if name == held_out:
            continue
        for t in tasks:
            try:
                out.append(resolve_task(store, t, "train", ctx_len=cfg.ctx_len))
            except RelforgeError:
                continue
    if not out:
        raise RelforgeError(f"no real training tasks left when holding out {held_out!r}")
    return out


def eval_subset(task, store, split: str, n: int, seed: int):
    """(SamplerTask restricted to a seeded subset of <= n seeds (``n`` 0: all), frame row positions of those seeds)."""
    st = resolve_task(store, task, split)
    rng = child(seed, "eval-subset", store.name, task.name, split)
    keep = np.sort(rng.permutation(st.n_seeds)[:n] if n else np.arange(st.n_seeds))
    st = dataclasses.replace(st, seeds=np.asarray(st.seeds)[keep])
    a, _ = store.node_range(st.table)
    before = sum(len(task.splits[s]) for s in ("train", "val", "test")[: ("train", "val", "test").index(split)]
                 if s in task.splits)
    rows = np.asarray(st.seeds) - a - before
    return st, rows


def evaluate_model(model, st, cfg: TransferConfig) -> tuple[np.ndarray, np.ndarray]:
    """(normalised truth, model outputs) at the seeds of ``st``, in seed order (``relforge.inference``)."""
    o = predict_task(model, st, ContextSettings(ctx_len=cfg.ctx_len, peers=cfg.peers), batch_size=max(cfg.batch_size, 8), seed=cfg.seed)
    return o.target.astype(np.float64), o.pred


# ------------------------------------------------------------------------------------ the study

def pretrain_synthetic(cfg: TransferConfig, *, log=print) -> tuple[object, dict]:
    """Pretrain an RT on synthetic autocomplete tasks only; returns (model, record)."""
    t0 = time.perf_counter()
    tasks = synthetic_tasks(cfg.synth_dbs, cfg, log=log)
    sampler = _sampler(tasks, cfg, "synthetic")
    model = new_model(cfg, sampler.d_text, cfg.seed)
    losses = train_steps(model, sampler, cfg.synth_steps, lr=cfg.lr, weight_decay=cfg.weight_decay,
                         mask_rate=cfg.mask_rate, name_shuffle=cfg.name_shuffle, seed=cfg.seed,
                         log_every=max(1, cfg.synth_steps // 10), label="synthetic")
    rec = dict(loss_summary(losses), n_tasks=len(tasks), n_dbs=cfg.synth_dbs, seconds=round(time.perf_counter() - t0, 1))
    return model, rec


def _load_synthetic(cfg: TransferConfig):
    path = cfg.synthetic_checkpoint
    ck = checkpoint.load(None if path == "default" else path.replace("{seed}", str(cfg.seed)))
    checkpoint.check_embedder(ck, cfg.embedder)
    if ck.model.config.attention != cfg.attention:
        ck.model.config = ck.model.config.replace(attention=cfg.attention)
    return ck.model, {"checkpoint": ck.path, **{k: ck.info.get(k) for k in ("steps", "loss_first", "loss_last", "n_dbs")}}


def run_transfer(cfg: TransferConfig = TransferConfig(), out: str | Path | None = None, *, log=print,
                 cache_dir: str | Path | None = None) -> dict:
    """Run the three regimes and the baselines; write ``results.json`` and ``table.md`` to ``out``.

    Returns the results dict (``rows``: one per (db, task) with a metric per regime and baseline).
    """
    cfg.validate()
    with _threads(cfg.threads):
        return _run_transfer(cfg, out, log=log, cache_dir=cache_dir)


def _run_transfer(cfg: TransferConfig, out, *, log, cache_dir) -> dict:
    import copy

    cfg.validate()
    t0 = time.perf_counter()
    cache = Path(cache_dir) if cache_dir is not None else (Path(out) / "stores" if out is not None else None)
    stores = {}
    for name in cfg.dbs:
        stores[name] = real_store(name, cfg, cache)
        log(f"real db {name}: {stores[name][0].n_nodes} rows, tasks {', '.join(t.name for t in stores[name][1])}")
    # synthetic checkpoint
    if cfg.synthetic_checkpoint:
        synth, synth_rec = _load_synthetic(cfg)
    else:
        synth, synth_rec = pretrain_synthetic(cfg, log=log)
    rows, training = [], {"synthetic": synth_rec}
    # evaluation subsets and baselines per held-out db
    for held in cfg.dbs:
        store, tasks, db = stores[held]
        evals = []
        for t in tasks:
            if t.kind != TaskKind.forecast:
                continue
            st, pos = eval_subset(t, store, "test", cfg.eval_rows, cfg.seed)
            y_raw = t.splits["test"][t.target_col].to_numpy(dtype=float)[pos]
            base = {"constant": metric(t.task_type, y_raw, constant_baseline(t)["test"][pos])}
            if cfg.lightgbm:
                base["lightgbm"] = metric(t.task_type, y_raw, lightgbm_baseline(db, t, seed=cfg.seed)["test"][pos])
            evals.append((t, st, base))
        models = {"synth_only": synth}
        train_tasks = real_train_tasks(stores, held, cfg)
        for regime in ("real_only", "synth_real"):
            sampler = _sampler(train_tasks, cfg, f"real-{held}")
            m = new_model(cfg, sampler.d_text, cfg.seed) if regime == "real_only" else copy.deepcopy(synth)
            losses = train_steps(m, sampler, cfg.real_steps, lr=cfg.lr, weight_decay=cfg.weight_decay,
                         mask_rate=cfg.mask_rate, name_shuffle=cfg.name_shuffle, seed=cfg.seed,
                                 log_every=max(1, cfg.real_steps // 5), label=f"{regime} (held out {held})")
            training[f"{regime}/{held}"] = dict(loss_summary(losses), n_tasks=len(train_tasks))
            models[regime] = m
        for t, st, base in evals:
            row = dict(db=held, task=t.name, task_type=t.task_type,
                       metric=metric_name(t.task_type), n=int(st.n_seeds))
            for regime in REGIMES:
                y, p = evaluate_model(models[regime], st, cfg)
                row[regime] = metric(t.task_type, y, p)
            row.update(base)
            rows.append(row)
            log(f"{held}/{t.name}: " + ", ".join(f"{k} {row[k]:.3f}" for k in (*REGIMES, *base)))
    res = dict(config=cfg.to_dict(), rows=[_rounded(r) for r in rows], training=training,
               seconds=round(time.perf_counter() - t0, 1))
    if out is not None:
        write_results(res, out)
    return res


def _rounded(r: dict) -> dict:
    return {k: (round(float(v), 4) if isinstance(v, (float, np.floating)) else v) for k, v in r.items()}


def _table_head(res: dict) -> tuple[list[str], list[str]]:
    """(baselines present in ``res``, the two header lines) of the transfer tables."""
    base = [b for b in ("constant", "lightgbm") if any(b in r for r in res["rows"])]
    head = ["Dataset", "Task", "Metric", "Real only", "Synth + Real", "Gain", "Synth only",
            *[{"constant": "Majority / mean", "lightgbm": "LightGBM"}[b] for b in base], "n"]
    return base, ["| " + " | ".join(head) + " |", "|" + "---|" * 3 + "---:|" * (len(head) - 3)]


def markdown(res: dict) -> str:
    """The paper-style table: one row per (db, task); AUROC and R2 in percent, with the gain of
    Synth + Real over Real only and the baselines."""
    base, lines = _table_head(res)
    f = lambda v: "nan" if v is None or v != v else f"{100 * v:.1f}"  # noqa: E731
    for kind, title in (("roc_auc", "AUROC"), ("r2", "R2")):
        rs = [r for r in res["rows"] if r["metric"] == kind]
        for r in rs:
            gain = r["synth_real"] - r["real_only"]
            lines.append(f"| {r['db']} | {r['task']} | {title} | {f(r['real_only'])} | {f(r['synth_real'])} | "
                         f"{'+' if gain >= 0 else ''}{f(gain)} | {f(r['synth_only'])} | "
                         + " | ".join(f(r.get(b)) for b in base) + f" | {r['n']} |")
        if rs:
            mean = {k: float(np.nanmean([r[k] for r in rs])) for k in (*REGIMES, *base)}
            lines.append(f"| **mean** | | {title} | {f(mean['real_only'])} | {f(mean['synth_real'])} | "
                         f"{'+' if mean['synth_real'] >= mean['real_only'] else ''}{f(mean['synth_real'] - mean['real_only'])}"
                         f" | {f(mean['synth_only'])} | " + " | ".join(f(mean[b]) for b in base) + " | |")
    return "\n".join(lines)


def write_results(res: dict, out: str | Path) -> Path:
    """``OUT/results.json`` and ``OUT/table.md`` (:func:`markdown`), each written atomically."""
    return fileio.write_results(out, res, markdown(res))


# ------------------------------------------------------------------------------- several seeds

def _seed_result(cfg: TransferConfig, sub: Path) -> dict | None:
    """A finished single-seed run in ``sub`` made with exactly ``cfg``, or None."""
    try:
        res = json.loads((sub / "results.json").read_text())
    except (OSError, ValueError):
        return None
    return res if isinstance(res, dict) and res.get("config") == json.loads(json.dumps(cfg.to_dict())) else None


def run_transfer_seeds(cfg: TransferConfig, seeds, out: str | Path, *, log=print) -> dict:
    """:func:`run_transfer` once per seed (``OUT/seed-<s>/``; a finished seed with the same config
    is reused, so seeds can run as separate processes and be joined by a last call), then the
    mean and standard deviation (ddof 1) over seeds of every figure in ``OUT/results.json`` and
    ``OUT/table.md``. The seed sets everything of a run: the real training order, model
    initialisation, evaluation subset and, with ``{seed}`` in ``synthetic_checkpoint``, which
    synthetic checkpoint (one per pretraining seed)."""
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise RelforgeError(f"transfer seeds must be distinct and at least one, got {seeds}")
    out = Path(out)
    t0 = time.perf_counter()
    per_seed = []
    for s in seeds:
        c = cfg.replace(seed=s)
        c.validate()
        sub = out / f"seed-{s}"
        res = _seed_result(c, sub)
        if res is None:
            log(f"seed {s}: running")
            res = run_transfer(c, sub, log=log, cache_dir=out / "stores")
        else:
            log(f"seed {s}: reused {sub / 'results.json'}")
        per_seed.append(res)
    res = aggregate_seeds(per_seed, seeds)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    fileio.write_results(out, res, markdown_seeds(res))
    return res


def aggregate_seeds(per_seed: list[dict], seeds: list[int]) -> dict:
    """Rows of several single-seed results joined by (db, task): ``value`` lists per regime and
    baseline, with their mean and sd (ddof 1)."""
    figures = (*REGIMES, "constant", "lightgbm")
    rows = []
    for r0 in per_seed[0]["rows"]:
        same = [next(r for r in res["rows"] if (r["db"], r["task"]) == (r0["db"], r0["task"])) for res in per_seed]
        row = {k: r0[k] for k in ("db", "task", "task_type", "metric", "n")}
        for k in figures:
            if k in r0:
                v = np.array([r[k] for r in same], dtype=float)
                row[k] = dict(mean=round(float(v.mean()), 4), sd=round(float(v.std(ddof=1)) if len(v) > 1 else 0.0, 4),
                              values=[round(float(x), 4) for x in v])
        rows.append(row)
    cfg = dict(per_seed[0]["config"])
    cfg.pop("seed", None)
    return dict(config=cfg, seeds=list(seeds), rows=rows, training=[r["training"] for r in per_seed],
                seed_seconds=[r["seconds"] for r in per_seed])


def markdown_seeds(res: dict) -> str:
    """:func:`markdown` with mean ± sd over seeds; the gain is Synth + Real minus Real only per seed."""
    base, head = _table_head(res)
    lines = [f"Mean ± sd over seeds {', '.join(map(str, res['seeds']))}; AUROC / R2 in %.", "", *head]

    def ms(v):
        v = 100 * np.asarray(v, dtype=float)
        sd = float(v.std(ddof=1)) if len(v) > 1 else 0.0
        return f"{'+' if v.mean() >= 0 else ''}{v.mean():.1f} ± {sd:.1f}"

    for kind, title in (("roc_auc", "AUROC"), ("r2", "R2")):
        rs = [r for r in res["rows"] if r["metric"] == kind]
        if not rs:
            continue
        for r in rs:
            gain = np.subtract(r["synth_real"]["values"], r["real_only"]["values"])
            cells = [ms(r[k]["values"]).lstrip("+") for k in ("real_only", "synth_real")]
            lines.append(f"| {r['db']} | {r['task']} | {title} | {cells[0]} | {cells[1]} | {ms(gain)} | "
                         f"{ms(r['synth_only']['values']).lstrip('+')} | "
                         + " | ".join(f"{100 * r[b]['mean']:.1f}" for b in base) + f" | {r['n']} |")
        mean = {k: np.mean([r[k]["values"] for r in rs], axis=0) for k in (*REGIMES, *base)}  # per seed
        gain = mean["synth_real"] - mean["real_only"]
        lines.append(f"| **mean** | | {title} | {ms(mean['real_only']).lstrip('+')} | {ms(mean['synth_real']).lstrip('+')} | "
                     f"{ms(gain)} | {ms(mean['synth_only']).lstrip('+')} | "
                     + " | ".join(f"{100 * float(np.mean(mean[b])):.1f}" for b in base) + " | |")
    return "\n".join(lines)


def make_default_model(out: str | Path, cfg: TransferConfig | None = None, *, log=print) -> dict:
    """Pretrain the 2026-11-28 packaged default model on synthetic databases only and save it
    (safetensors). Since session 8 the packaged model comes from the prior benchmark instead
    (``make default-model``: :func:`relforge.experiments.prior.make_prior_model`).

    The record (steps, first/last loss, databases, embedder, context length) goes into the
    checkpoint metadata; ``predict`` reads ``ctx_len`` from it.
    """
    cfg = cfg or TransferConfig()
    cfg.validate()
    with _threads(cfg.threads):
        model, rec = pretrain_synthetic(cfg, log=log)
    emb = embedder_for(cfg.embedder).describe()
    info = dict(rec, ctx_len=cfg.ctx_len, preset=cfg.preset, seed=cfg.seed, lr=cfg.lr, batch_size=cfg.batch_size,
                data="synthetic only", generator=json.dumps(SMALL_GENERATOR))
    checkpoint.save(out, model, embedder=emb, info=info, context=checkpoint.ContextSettings(
        ctx_len=cfg.ctx_len, mask_rate=cfg.mask_rate, name_shuffle=cfg.name_shuffle))
    return dict(info, out=str(out), embedder=emb, params=int(model.get_num_params()))


def main(argv=None) -> None:  # pragma: no cover - thin script wrapper (the 2026-11-28 default model)
    import argparse

    ap = argparse.ArgumentParser(description="Pretrain the 2026-11-28 default model (synthetic databases only).")
    ap.add_argument("--out", required=True, help="output file (the packaged model is made by make default-model)")
    ap.add_argument("--embedder", default=TransferConfig.embedder)
    ap.add_argument("--steps", type=int, default=TransferConfig.synth_steps)
    ap.add_argument("--dbs", type=int, default=TransferConfig.synth_dbs)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    rec = make_default_model(a.out, TransferConfig(embedder=a.embedder, synth_steps=a.steps, synth_dbs=a.dbs, seed=a.seed))
    print(json.dumps(rec, indent=1, sort_keys=True))


if __name__ == "__main__":  # pragma: no cover
    main()
