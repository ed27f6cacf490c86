"""Scaling sweeps over diversity N (databases) and size S (tokens), and their power laws.

PluRel (paper overview §04) pretrains one Relational Transformer per (N, S) cell, from scratch, on
the autocomplete tasks of N synthetic databases for S tokens, and evaluates the loss on held-out
synthetic databases. The loss is U-shaped along each axis, so no joint law is fitted: each axis is
fitted on its **optimal frontier** (for each N the best loss over S, and for each S the best over N)
with ``L(x) = a * x**(-b) + c`` (paper: ``L(N) = 0.07 N^-0.38 + 0.36``, ``L(S) = 0.025 S^-0.48 + 0.36``).

:func:`run_sweep` is resumable cell by cell (``OUT/cells/n<N>_s<S>.json``, each written atomically)
and writes ``results.json``, ``table.md`` and PNG plots. One token = one context position, padding
included, as in the paper (128 x 1024 tokens per step): ``steps = S / (batch_size * ctx_len)``.
Each cell trains with relforge's one training loop (:func:`relforge.train.loop.fit`: AdamW, extra
masks ``mask_rate``, optional name shuffling ``name_shuffle``) under the sweep's schedule
(:func:`relforge.train.schedule.sweep_lr`: linear warm-up over 20 % of the steps from lr/25, then
linear decay; gradient clip 1.0; rt_pipeline.md §3).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from relforge import realdata
from relforge.batch import to_torch
from relforge.corpus import CORPUS_CONFIG, JSONL_MANIFEST, build_corpus
from relforge.db.io import atomic_file
from relforge.errors import RelforgeError
from relforge.experiments.task_corpus import load_task_corpus
from relforge.inference import run_model
from relforge.model.config import PRESETS, preset
from relforge.tokenize.cells import tokenize_database
from relforge.tokenize.embed import get_embedder
from relforge.tokenize.sampler import ContextSampler, SamplerConfig
from relforge.tokenize.tasks import resolve_task
from relforge.train.loop import batch_stream, fit, init_model
from relforge.train.schedule import LambdaSchedule, sweep_lr

__all__ = ["SweepConfig", "PowerLawFit", "fit_power_law", "frontier", "power_law", "run_sweep", "train_cell",
           "parse_list", "summarize_sweep"]


# ----------------------------------------------------------------------------------------------
# power-law fits
# ----------------------------------------------------------------------------------------------

def power_law(x, a: float, b: float, c: float):
    """``a * x**(-b) + c``."""
    return a * np.power(np.asarray(x, dtype=float), -b) + c


@dataclass(frozen=True)
class PowerLawFit:
    """A fitted ``L(x) = a x^-b + c`` with ``level`` confidence intervals (``ci[name] = (lo, hi)``).

    ``method`` is ``"covariance"`` (Student-t on the fit's covariance) or ``"bootstrap"``
    (residual bootstrap percentiles, used when the covariance is not finite).
    """

    a: float
    b: float
    c: float
    ci: dict
    level: float
    n_points: int
    rmse: float
    method: str

    def __call__(self, x):
        return power_law(x, self.a, self.b, self.c)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def formula(self, var: str = "N") -> str:
        return f"{self.a:.3g} * {var}^-{self.b:.3g} + {self.c:.3g}"


def _curve_fit(x, y, p0=None):
    import warnings

    from scipy.optimize import OptimizeWarning, curve_fit

    x, y = np.asarray(x, float), np.asarray(y, float)
    c0 = max(0.0, float(y.min()) * 0.9)
    b0 = 0.5
    a0 = max(float(y.max()) - c0, 1e-6) * float(x.min()) ** b0
    p0 = p0 if p0 is not None else (a0, b0, c0)
    # b is bounded to a range power laws of losses live in; the asymptote c is a loss, >= 0
    with warnings.catch_warnings():  # an inestimable covariance is handled by the caller
        warnings.simplefilter("ignore", OptimizeWarning)
        popt, pcov = curve_fit(power_law, x, y, p0=p0, bounds=([0.0, 0.0, 0.0], [np.inf, 5.0, np.inf]),
                               maxfev=20000)
    return popt, pcov


def fit_power_law(x, y, *, level: float = 0.95, n_boot: int = 500, seed: int = 0) -> PowerLawFit:
    """Least-squares fit of ``y = a x^-b + c`` (scipy ``curve_fit``, ``a, c >= 0``, ``0 <= b <= 5``).

    Parameters
    ----------
    x, y : at least 3 points with positive ``x``.
    level : confidence level of the intervals.
    n_boot : residual-bootstrap resamples, used when the covariance interval is not finite.
    seed : bootstrap seed.

    Notes
    -----
    With ``n`` points the interval uses ``n - 3`` degrees of freedom, so 4-6 points give wide (honest)
    intervals. The asymptote ``c`` and the scale ``a`` are strongly correlated; ``b`` is the
    quantity to read.
    """
    from scipy import stats

    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise RelforgeError("power-law fit: x and y must be 1-D arrays of the same length")
    if len(x) < 3:
        raise RelforgeError(f"power-law fit needs at least 3 points, got {len(x)}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(x > 0)):
        raise RelforgeError("power-law fit needs finite values and positive x")
    try:
        popt, pcov = _curve_fit(x, y)
    except (RuntimeError, ValueError) as e:
        raise RelforgeError(f"power-law fit did not converge: {e}") from None
    resid = y - power_law(x, *popt)
    rmse = float(np.sqrt(np.mean(resid ** 2)))
    dof = len(x) - 3
    se = np.sqrt(np.diag(pcov)) if pcov is not None else np.full(3, np.inf)
    names = ("a", "b", "c")
    if dof >= 1 and np.all(np.isfinite(se)):
        t = float(stats.t.ppf(0.5 + level / 2, dof))
        ci = {k: (float(p - t * s), float(p + t * s)) for k, p, s in zip(names, popt, se)}
        method = "covariance"
    else:
        rng = np.random.default_rng(seed)
        fitted = power_law(x, *popt)
        draws = []
        for _ in range(n_boot):
            yb = fitted + rng.choice(resid, size=len(resid), replace=True)
            try:
                draws.append(_curve_fit(x, yb, p0=popt)[0])
            except (RuntimeError, ValueError):
                continue
        if draws:
            d = np.asarray(draws)
            lo, hi = np.percentile(d, [50 * (1 - level), 50 * (1 + level)], axis=0)
            ci = {k: (float(lo[i]), float(hi[i])) for i, k in enumerate(names)}
        else:
            ci = {k: (float("nan"), float("nan")) for k in names}
        method = "bootstrap"
    return PowerLawFit(float(popt[0]), float(popt[1]), float(popt[2]), ci, level, len(x), rmse, method)


def frontier(cells: list[dict], key: str = "heldout_loss") -> dict:
    """Optimal frontiers of sweep cells (dicts with ``n``, ``tokens`` and ``key``).

    Returns ``{"by_n": [(N, best S, loss)], "by_s": [(S, best N, loss)]}``, sorted by the axis.
    """
    by_n, by_s = {}, {}
    for c in cells:
        v = c.get(key)
        if v is None or not np.isfinite(v):
            continue
        n, s = int(c["n"]), float(c["tokens"])
        if n not in by_n or v < by_n[n][2]:
            by_n[n] = (n, s, float(v))
        if s not in by_s or v < by_s[s][2]:
            by_s[s] = (s, n, float(v))
    return dict(by_n=[by_n[k] for k in sorted(by_n)], by_s=[by_s[k] for k in sorted(by_s)])


# ----------------------------------------------------------------------------------------------
# sweep configuration
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SweepConfig:
    """Settings shared by every cell of a sweep (everything but N and S)."""

    model: str = "tiny"  # RT preset (relforge.model.config.PRESETS): tiny, small, paper
    ctx_len: int = 256  # cells per context (paper 1024; smaller on CPU)
    batch_size: int = 8  # contexts per step (paper 128)
    lr: float = 1e-3  # peak AdamW learning rate (paper 5e-4 at batch 128)
    weight_decay: float = 0.1  # on all parameters (rt_pipeline.md §3)
    warmup_frac: float = 0.2  # OneCycle pct_start (rt_pipeline.md §3)
    grad_clip: float = 1.0
    mask_rate: float = 0.3  # extra masked cells per training context (relforge.train.masking); 0 = seed target only
    n_heldout: int = 8  # held-out databases (paper 100)
    eval_batches: int = 16  # fixed held-out batches per evaluation (paper <= 80)
    eval_batch_size: int = 8
    max_bfs_width: int = 128
    embedder: str = "hash"  # text/column-name embedder of the stores (hash: no model download)
    seed: int = 0  # sampler order and model init
    threads: int = 1  # torch threads per cell (cells may run in parallel processes)
    real: tuple = ()  # real databases (f1, chinook, movielens) whose task loss (val) is also evaluated
    peers: int = 0  # labelled rows of the seed's table per autocomplete context (the documented study: 0)
    name_shuffle: float = 0.0  # share of training contexts with shuffled column names (the documented study: 0)

    def validate(self) -> None:
        if self.model not in PRESETS:
            raise RelforgeError(f"unknown model preset {self.model!r}; choose one of {', '.join(PRESETS)}")
        for k in ("ctx_len", "batch_size", "n_heldout", "eval_batches", "eval_batch_size", "max_bfs_width",
                  "threads"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise RelforgeError(f"sweep {k} must be a positive integer, got {v!r}")
        if not 0 <= self.mask_rate < 1:
            raise RelforgeError(f"sweep mask_rate must be in [0, 1), got {self.mask_rate!r}")
        if not 0 <= self.name_shuffle <= 1:
            raise RelforgeError(f"sweep name_shuffle must be in [0, 1], got {self.name_shuffle!r}")
        if isinstance(self.peers, bool) or not isinstance(self.peers, int) or self.peers < 0:
            raise RelforgeError(f"sweep peers must be an integer >= 0, got {self.peers!r}")
        if not (self.lr > 0 and self.weight_decay >= 0 and 0 <= self.warmup_frac < 1 and self.grad_clip > 0):
            raise RelforgeError("sweep lr must be > 0, weight_decay >= 0, warmup_frac in [0, 1), grad_clip > 0")
        if self.real:
            unknown = sorted(set(self.real) - set(realdata.list_databases()))
            if unknown:
                raise RelforgeError(f"unknown real database(s) {', '.join(unknown)} "
                                    f"(known: {', '.join(realdata.list_databases())})")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        if self.real:
            d["real"] = list(self.real)
        else:
            d.pop("real")  # sweeps without real tasks keep the settings hash they had before the option
        if not self.peers:
            d.pop("peers")  # likewise for sweeps without peers
        if not self.name_shuffle:
            d.pop("name_shuffle")  # and without name shuffling
        return d

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:16]

    def tokens_per_step(self) -> int:
        return self.batch_size * self.ctx_len

    def steps_for(self, tokens: float) -> int:
        return max(1, int(round(float(tokens) / self.tokens_per_step())))


def parse_list(text: str, kind=float, what: str = "value") -> list:
    """``"8,16,32"`` or ``"1e6,4e6"`` -> sorted distinct positive numbers (one-line error otherwise)."""
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            v = float(part)
        except ValueError:
            raise RelforgeError(f"bad {what} {part!r} in {text!r}") from None
        if not (v > 0 and math.isfinite(v)) or (kind is int and v != int(v)):
            raise RelforgeError(f"{what} must be positive{' integers' if kind is int else ''}, got {part!r}")
        out.append(kind(v))
    if not out:
        raise RelforgeError(f"no {what} given")
    return sorted(set(out))


# ----------------------------------------------------------------------------------------------
# one cell: train on N databases for S tokens, evaluate on the held-out databases
# ----------------------------------------------------------------------------------------------

def _samplers(tc, n: int, cfg: SweepConfig):
    train = [resolve_task(d.store, t, "train", ctx_len=cfg.ctx_len) for d in tc.train_dbs(n) for t in d.tasks]
    held = [resolve_task(d.store, t, "val", ctx_len=cfg.ctx_len) for d in tc.heldout for t in d.tasks]
    tr = ContextSampler(train, SamplerConfig(ctx_len=cfg.ctx_len, max_bfs_width=cfg.max_bfs_width,
                                             batch_size=cfg.batch_size, seed=cfg.seed, peers=cfg.peers))
    ev = ContextSampler(held, SamplerConfig(ctx_len=cfg.ctx_len, max_bfs_width=cfg.max_bfs_width,
                                            batch_size=cfg.eval_batch_size, seed=cfg.seed + 7919, peers=cfg.peers))
    return tr, ev


def eval_batches(sampler, n_batches: int) -> list[dict]:
    """The first ``n_batches`` full batches of epoch 0 (partial batches are dropped, rt_pipeline.md §4)."""
    out = []
    for b in range(min(n_batches, sampler.num_batches)):
        batch = to_torch(sampler.batch(b, 0))
        if batch["true_batch_size"] == sampler.cfg.batch_size:
            out.append(batch)
    return out


def evaluate(model, batches: list[dict]) -> float:
    """Mean masked-cell loss over ``batches`` (``relforge.inference.run_model``; no gradient)."""
    return run_model(model, batches).loss


def real_batches(cfg: SweepConfig) -> dict[str, list[dict]]:
    """Fixed evaluation batches (val split) of the tasks of each real database in ``cfg.real``."""
    out = {}
    for name in cfg.real:
        db, tasks = realdata.load_with_tasks(name)
        store = tokenize_database(db, tasks, embedder=get_embedder(cfg.embedder))
        resolved = []
        for t in tasks:
            try:
                resolved.append(resolve_task(store, t, "val", ctx_len=cfg.ctx_len))
            except RelforgeError:
                continue
        if not resolved:
            raise RelforgeError(f"real database {name!r} has no task with validation rows")
        ev = ContextSampler(resolved, SamplerConfig(ctx_len=cfg.ctx_len, max_bfs_width=cfg.max_bfs_width,
                                                    batch_size=cfg.eval_batch_size, seed=cfg.seed + 104729,
                                                    peers=cfg.peers))
        out[name] = eval_batches(ev, cfg.eval_batches)
    return out


def train_cell(tc, n: int, tokens: float, cfg: SweepConfig, *, heldout_batches: list[dict] | None = None,
               real: dict[str, list[dict]] | None = None) -> dict:
    """Train a fresh RT (preset ``cfg.model``) on the first ``n`` training databases of the task
    corpus ``tc`` for ``tokens`` tokens; return the cell record (held-out loss before and after,
    final train loss, steps, parameters, seconds; ``real_loss`` per real database when asked)."""
    import torch

    t0 = time.perf_counter()
    torch.set_num_threads(cfg.threads)
    tr, ev = _samplers(tc, n, cfg)
    held = heldout_batches if heldout_batches is not None else eval_batches(ev, cfg.eval_batches)
    real = real if real is not None else real_batches(cfg)
    if not held:
        raise RelforgeError("the held-out pool yields no full evaluation batch; lower eval_batch_size")
    model = init_model(preset(cfg.model, d_text=tr.d_text), cfg.seed)
    opt = model.configure_optimizers(cfg.lr, cfg.weight_decay)
    steps = cfg.steps_for(tokens)
    loss0 = evaluate(model, held)
    real0 = {k: evaluate(model, b) for k, b in real.items()}
    n_tail = max(1, steps // 10)
    losses = fit(model, opt, LambdaSchedule(sweep_lr(cfg.lr, steps, cfg.warmup_frac)).attach(opt), batch_stream(tr),
                 steps, grad_clip=cfg.grad_clip, mask_rate=cfg.mask_rate, name_shuffle=cfg.name_shuffle, seed=cfg.seed,
                 skip_empty=True)
    tail = [x for x in losses[steps - n_tail:] if math.isfinite(x)]
    return dict(n=int(n), tokens=float(tokens), steps=steps, tokens_trained=steps * cfg.tokens_per_step(),
                train_dbs=[d.seed for d in tc.train_dbs(n)], train_tasks=len(tr.tasks), train_items=tr.n_items,
                heldout_loss=evaluate(model, held), heldout_loss_init=loss0, heldout_batches=len(held),
                train_loss=float(np.mean(tail)) if tail else float("nan"), params=model.get_num_params(),
                real_loss={k: evaluate(model, b) for k, b in real.items()}, real_loss_init=real0,
                seconds=round(time.perf_counter() - t0, 2))


# ----------------------------------------------------------------------------------------------
# the sweep driver
# ----------------------------------------------------------------------------------------------

_WORKER: dict = {}


def cell_name(n: int, tokens: float) -> str:
    return f"n{int(n)}_s{float(tokens):.4g}".replace("+", "")


def _load_tc(corpus_dir: str, n_max: int, cfg: SweepConfig):
    return load_task_corpus(corpus_dir, cfg.n_heldout, n_train=n_max, embedder=cfg.embedder, seed=cfg.seed)


def _cell_job(corpus_dir: str, n_max: int, cfg: SweepConfig, n: int, tokens: float, out_file: str) -> dict:
    """Run one cell in a worker (the task corpus and held-out batches are built once per process)."""
    key = (corpus_dir, n_max, cfg.hash())
    if _WORKER.get("key") != key:
        tc = _load_tc(corpus_dir, n_max, cfg)
        _, ev = _samplers(tc, min(n_max, len(tc.train)), cfg)
        _WORKER.update(key=key, tc=tc, held=eval_batches(ev, cfg.eval_batches), real=real_batches(cfg))
    rec = train_cell(_WORKER["tc"], n, tokens, cfg, heldout_batches=_WORKER["held"], real=_WORKER["real"])
    rec["sweep_hash"] = cfg.hash()
    with atomic_file(out_file) as tmp:
        tmp.write_text(json.dumps(rec, indent=2))
    return rec


def _ensure_corpus(corpus_dir: Path, n_max: int, cfg: SweepConfig, generator_config, workers: int,
                   progress: bool) -> None:
    """Generate (or extend) the corpus until it has ``n_heldout + n_max`` usable databases."""
    if (corpus_dir / JSONL_MANIFEST).is_file():  # an existing corpus that is large enough is used as it is
        try:
            tc = load_task_corpus(corpus_dir, cfg.n_heldout, n_train=n_max, embedder=cfg.embedder, seed=cfg.seed)
            if len(tc.train) >= n_max:
                return
        except RelforgeError:
            pass
    if generator_config is None and (corpus_dir / CORPUS_CONFIG).is_file():  # an existing corpus: its own config
        generator_config = json.loads((corpus_dir / CORPUS_CONFIG).read_text())["config"]
    need = cfg.n_heldout + n_max
    k = need + max(2, need // 8)  # a margin for databases the filters skip
    for _ in range(4):
        build_corpus(corpus_dir, k, config=generator_config, workers=workers, progress=progress)
        try:
            tc = load_task_corpus(corpus_dir, cfg.n_heldout, n_train=n_max, embedder=cfg.embedder, seed=cfg.seed)
        except RelforgeError:
            tc = None
        if tc is not None and len(tc.train) >= n_max:
            return
        k = int(k * 1.5) + 2
    raise RelforgeError(f"corpus {str(corpus_dir)!r}: not enough usable databases for N = {n_max} "
                        f"plus {cfg.n_heldout} held out after {k} seeds")


def run_sweep(out_dir: str | Path, n_list, tokens_list, cfg: SweepConfig = SweepConfig(), *,
              corpus_dir: str | Path | None = None, generator_config=None, workers: int = 1,
              progress: bool = True, log=None) -> dict:
    """Train and evaluate every (N, S) cell not yet done, then fit and plot (see module doc).

    Parameters
    ----------
    out_dir : sweep folder: ``sweep.json`` (settings), ``cells/*.json``, ``results.json``,
        ``table.md``, ``loss_vs_n.png``, ``loss_vs_s.png``, ``frontier.png``, ``loglog.png``.
        Re-running the same command skips finished cells; other settings are refused.
    n_list, tokens_list : the N (databases) and S (tokens) axes.
    cfg : :class:`SweepConfig`.
    corpus_dir : the synthetic corpus (default ``OUT/corpus``), generated or extended as needed
        with ``generator_config`` (see ``relforge corpus``).
    workers : cells trained in parallel processes (each with ``cfg.threads`` torch threads); also
        the corpus generation workers.
    log : ``callable(str)`` for one line per finished cell (default: stderr when ``progress``).
    """
    import concurrent.futures as cf
    import multiprocessing as mp
    import sys

    cfg.validate()
    ns = sorted({int(n) for n in n_list})
    ss = sorted({float(s) for s in tokens_list})
    if not ns or not ss or min(ns) < 1 or min(ss) <= 0:
        raise RelforgeError("the sweep needs positive N and S values")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise RelforgeError(f"workers must be a positive integer, got {workers!r}")
    out = Path(out_dir)
    corpus = Path(corpus_dir) if corpus_dir is not None else out / "corpus"
    if log is None:
        log = (lambda m: print(m, file=sys.stderr, flush=True)) if progress else (lambda m: None)
    t0 = time.perf_counter()
    settings = out / "sweep.json"
    if settings.is_file():
        old = json.loads(settings.read_text())
        if old.get("sweep_hash") != cfg.hash():
            raise RelforgeError(f"sweep {str(out)!r} was run with other settings ({old.get('sweep_hash')}); "
                                "use another folder")
    elif out.is_dir() and any(p for p in out.iterdir() if p.name != "corpus"):
        raise RelforgeError(f"output folder {str(out)!r} is not empty and holds no sweep (sweep.json missing)")
    else:
        out.mkdir(parents=True, exist_ok=True)
        with atomic_file(settings) as tmp:
            tmp.write_text(json.dumps(dict(sweep_hash=cfg.hash(), config=cfg.to_dict(), corpus=str(corpus)), indent=2))
    (out / "cells").mkdir(exist_ok=True)
    _ensure_corpus(corpus, max(ns), cfg, generator_config, workers, progress)
    cells, todo = [], []
    for n in ns:
        for s in ss:
            f = out / "cells" / f"{cell_name(n, s)}.json"
            rec = None
            if f.is_file():
                try:
                    rec = json.loads(f.read_text())
                except json.JSONDecodeError:
                    rec = None
            if rec is not None and rec.get("sweep_hash") == cfg.hash():
                cells.append(rec)
            else:
                todo.append((n, s, str(f)))
    log(f"sweep {out}: {len(cells)} cells done, {len(todo)} to train ({cfg.model}, ctx {cfg.ctx_len}, "
        f"batch {cfg.batch_size})")
    # big cells first so parallel workers finish together
    todo.sort(key=lambda j: -cfg.steps_for(j[1]))
    args = (str(corpus), max(ns), cfg)
    if workers <= 1 or len(todo) <= 1:
        for n, s, f in todo:
            rec = _cell_job(*args, n, s, f)
            cells.append(rec)
            log(f"  N={n} S={s:.3g}: held-out loss {rec['heldout_loss']:.4f} ({rec['steps']} steps, {rec['seconds']} s)")
    else:
        with cf.ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=mp.get_context("spawn")) as ex:
            futs = [ex.submit(_cell_job, *args, n, s, f) for n, s, f in todo]
            for fut in cf.as_completed(futs):
                rec = fut.result()
                cells.append(rec)
                log(f"  N={rec['n']} S={rec['tokens']:.3g}: held-out loss {rec['heldout_loss']:.4f} "
                    f"({rec['steps']} steps, {rec['seconds']} s)")
    result = summarize_sweep(out, cells, cfg)
    result["seconds"] = round(time.perf_counter() - t0, 2)
    with atomic_file(out / "results.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    return result


def _fit_or_none(points, x_i: int) -> dict | None:
    xs = [p[x_i] for p in points]
    if len(set(xs)) < 3:
        return None
    try:
        return fit_power_law(xs, [p[2] for p in points]).to_dict()
    except RelforgeError as e:
        return dict(error=str(e))


def summarize_sweep(out: str | Path, cells: list[dict], cfg: SweepConfig) -> dict:
    """Frontiers, fits, ``table.md`` and the plots of a set of cell records."""
    out = Path(out)
    cells = sorted(cells, key=lambda c: (c["n"], c["tokens"]))
    fr = frontier(cells)
    fits = dict(by_n=_fit_or_none(fr["by_n"], 0), by_s=_fit_or_none(fr["by_s"], 0))
    (out / "table.md").write_text(_table(cells, fits, cfg))
    plots = _plots(out, cells, fr, fits)
    return dict(config=cfg.to_dict(), cells=cells, frontier=fr, fits=fits, plots=plots)


def _table(cells: list[dict], fits: dict, cfg: SweepConfig) -> str:
    ns = sorted({c["n"] for c in cells})
    ss = sorted({c["tokens"] for c in cells})
    at = {(c["n"], c["tokens"]): c for c in cells}
    lines = [f"Held-out synthetic loss (model `{cfg.model}`, ctx {cfg.ctx_len}, batch {cfg.batch_size}, "
             f"{cfg.n_heldout} held-out databases); rows N databases, columns S tokens.", "",
             "| N \\ S | " + " | ".join(f"{s:.3g}" for s in ss) + " |",
             "|---|" + "---|" * len(ss)]
    for n in ns:
        row = [f"{at[(n, s)]['heldout_loss']:.4f}" if (n, s) in at else "" for s in ss]
        lines.append(f"| {n} | " + " | ".join(row) + " |")
    for name in sorted({k for c in cells for k in c.get("real_loss", {})}):
        lines += ["", f"Real database `{name}` (its tasks, val split): loss; rows N, columns S.", "",
                  "| N \\ S | " + " | ".join(f"{s:.3g}" for s in ss) + " |", "|---|" + "---|" * len(ss)]
        for n in ns:
            row = [f"{at[(n, s)]['real_loss'][name]:.4f}" if name in at.get((n, s), {}).get("real_loss", {}) else ""
                   for s in ss]
            lines.append(f"| {n} | " + " | ".join(row) + " |")
    init = [c["heldout_loss_init"] for c in cells if "heldout_loss_init" in c]
    if init:
        lines += ["", f"Untrained model: held-out loss {np.mean(init):.4f}."]
    for key, var in (("by_n", "N"), ("by_s", "S")):
        f = fits.get(key)
        if f and "error" not in f:
            lo, hi = f["ci"]["b"]
            lines.append(f"Fit on the {var} frontier: L({var}) = {f['a']:.3g} * {var}^-{f['b']:.3g} + {f['c']:.3g}; "
                         f"b in [{lo:.3g}, {hi:.3g}] ({int(f['level'] * 100)} %, {f['method']}, "
                         f"{f['n_points']} points, rmse {f['rmse']:.2g}).")
        elif f:
            lines.append(f"Fit on the {var} frontier failed: {f['error']}")
        else:
            lines.append(f"No fit on the {var} frontier (fewer than 3 distinct {var}).")
    return "\n".join(lines) + "\n"


def _plots(out: Path, cells: list[dict], fr: dict, fits: dict) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = sorted({c["n"] for c in cells})
    ss = sorted({c["tokens"] for c in cells})
    at = {(c["n"], c["tokens"]): c["heldout_loss"] for c in cells}
    written = []

    from matplotlib.ticker import NullFormatter, ScalarFormatter

    def n_axis(ax, values):  # ticks at the swept values, no overlapping minor labels
        ax.set_xticks(sorted(values))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())

    def save(fig, name):
        for a in fig.axes:
            a.xaxis.set_minor_formatter(NullFormatter())
        with atomic_file(out / name) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        written.append(name)

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for s in ss:
        xs = [n for n in ns if (n, s) in at]
        ax.plot(xs, [at[(n, s)] for n in xs], "o-", label=f"S={s:.3g}")
    init = [c["heldout_loss_init"] for c in cells if "heldout_loss_init" in c]
    if init:
        ax.axhline(float(np.mean(init)), color="grey", ls="--", lw=1, label="untrained")
    ax.set(xscale="log", xlabel="N (training databases)", ylabel="held-out loss", title="loss vs N per S")
    n_axis(ax, ns)
    ax.legend(fontsize=7)
    save(fig, "loss_vs_n.png")

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for n in ns:
        xs = [s for s in ss if (n, s) in at]
        ax.plot(xs, [at[(n, s)] for s in xs], "o-", label=f"N={n}")
    ax.set(xscale="log", xlabel="S (tokens)", ylabel="held-out loss", title="loss vs S per N")
    ax.legend(fontsize=7)
    save(fig, "loss_vs_s.png")

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    fig2, axes2 = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, ax2, key, var in ((axes[0], axes2[0], "by_n", "N"), (axes[1], axes2[1], "by_s", "S")):
        pts = fr[key]
        if not pts:
            continue
        x = np.array([p[0] for p in pts], float)
        y = np.array([p[2] for p in pts], float)
        ax.plot(x, y, "o", label="frontier (best over the other axis)")
        f = fits.get(key)
        grid = np.geomspace(x.min(), x.max(), 100)
        if f and "error" not in f:
            ax.plot(grid, power_law(grid, f["a"], f["b"], f["c"]), "-",
                    label=f"{f['a']:.2g} {var}^-{f['b']:.2g} + {f['c']:.3g}")
            ax2.plot(x, np.maximum(y - f["c"], 1e-12), "o")
            ax2.plot(grid, f["a"] * grid ** -f["b"], "-", label=f"slope -{f['b']:.2g}")
            ax2.legend(fontsize=7)
        ax.set(xscale="log", xlabel=var, ylabel="held-out loss", title=f"optimal frontier L({var})")
        ax.legend(fontsize=7)
        ax2.set(xscale="log", yscale="log", xlabel=var, ylabel="loss - c", title=f"log-log: L({var}) - c")
        if var == "N":
            n_axis(ax, x)
            n_axis(ax2, x)
    save(fig, "frontier.png")
    save(fig2, "loglog.png")
    return written
