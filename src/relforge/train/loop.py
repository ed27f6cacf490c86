"""The training loop: pretraining from scratch, continued pretraining, fine-tuning (rt_pipeline.md §3-§4).

The one training loop of relforge: :func:`fit` (and its :func:`train_step`) is what ``relforge
pretrain``, the scaling sweep (``experiments.scaling``), the transfer study and the default-model
build (``experiments.transfer``) all run, each with its schedule (``relforge.train.schedule``) and
batch changes (extra masks, shuffled names) passed in.

``train(cfg, source, out)`` is ``relforge pretrain`` around it and reads top to bottom like nanoGPT's
train.py: distributed setup, model init (scratch / ``init_from`` / resume), optimizer and one-cycle
schedule, then :func:`fit` with hooks that evaluate, log and checkpoint.

- Step ``s`` trains on batch ``s % num_batches`` of epoch ``s // num_batches`` of the source, so the
  data position is a function of the step and ``resume`` continues exactly (weights, AdamW moments,
  schedule, data position all restored).
- Metrics go to ``OUT/metrics.jsonl`` (one JSON object per line; ``kind`` train or eval), optionally
  to TensorBoard; a progress bar shows loss and tokens/s on a terminal.
- ``OUT/ckpt/`` is the latest training checkpoint, ``OUT/model.safetensors`` the final weights and
  ``OUT/best/<store>__<task>.safetensors`` the best weights per evaluation task on the validation
  metric (ROC AUC / R^2 higher is better; loss, when the metric is undefined, lower is better), with
  ``OUT/best.json`` recording the step, the value and the test metric at that step.
- DDP: run under ``torchrun``; each rank builds its own sampler shard (rank, world size from the
  environment); rank 0 evaluates, logs and writes checkpoints.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from relforge.batch import to_torch
from relforge.db.io import check_output_dir
from relforge.errors import RelforgeError
from relforge.model import checkpoint as ckpt
from relforge.model.config import RTConfig, preset
from relforge.model.rt import RelationalTransformer
from relforge.tokenize.dataset import make_loader
from relforge.train import data as D
from relforge.train.config import TrainConfig
from relforge.train.evaluate import evaluate_task, primary, to_device
from relforge.train.masking import add_masks, add_peer_masks, shuffle_names
from relforge.train.schedule import OneCycle


def dist_info() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from the torchrun environment."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def init_model(config: RTConfig, seed: int) -> RelationalTransformer:
    """A freshly initialized RT, its initial weights drawn under ``seed`` (the global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return RelationalTransformer(config)


def build_model(cfg: TrainConfig, d_text: int) -> RelationalTransformer:
    """A freshly initialized RT for ``cfg`` (init drawn under ``cfg.seed``)."""
    return init_model(preset(cfg.preset, d_text=d_text, qk_norm=cfg.qk_norm, attention=cfg.attention,
                             huber_delta=cfg.huber_delta, rel_time=cfg.rel_time,
                             linear_values=cfg.linear_values, copy_skip=cfg.copy_skip), cfg.seed)


def train_step(model, opt, batch: dict, *, grad_clip: float, params=None, autocast=nullcontext):
    """One optimizer step on ``batch``; returns the loss tensor, or None (no step) when the batch has
    no target cell. The loss reads target cells only (``targets_only``: same loss and gradients)."""
    with autocast():
        _, loss = model(batch, targets_only=True)
    if loss is None:
        return None
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(params if params is not None else model.parameters(), grad_clip)
    opt.step()
    return loss


def fit(model, opt, schedule, get_batch, steps: int, *, start: int = 0, grad_clip: float = 1.0,
        mask_rate: float = 0.0, name_shuffle: float = 0.0, peer_mask: float = 0.0, seed: int = 0, device=None, autocast=nullcontext,
        params=None, name_scope: str = "all", skip_empty: bool = False, before_step=None, after_step=None) -> list[float]:
    """The training loop: steps ``start .. steps-1`` of ``get_batch(step)`` (torch batches).

    Each step adds the extra masks (``mask_rate``), the peer masks (``peer_mask``) and shuffled
    names (``name_shuffle``) drawn from ``(seed, step)`` (``relforge.train.masking``), runs :func:`train_step` and advances ``schedule``
    (``relforge.train.schedule``, already attached to ``opt``). A batch without targets raises, or
    with ``skip_empty`` records NaN and takes no step; a non-finite loss raises. ``before_step(step)``
    and ``after_step(step, loss, batch)`` are the caller's hooks (evaluation, logging, checkpoints).
    Returns the per-step losses.
    """
    losses = []
    model.train()
    for step in range(start, steps):
        if before_step is not None:
            before_step(step)
        batch = add_peer_masks(add_masks(get_batch(step), mask_rate, seed, step), peer_mask, seed, step)
        batch = shuffle_names(batch, name_shuffle, seed, step, name_scope)
        if device is not None:
            batch = to_device(batch, device)
        loss = train_step(model, opt, batch, grad_clip=grad_clip, params=params, autocast=autocast)
        schedule.step()
        if loss is None:
            if not skip_empty:
                raise RelforgeError(f"step {step}: the batch has no target cells")
            lv = float("nan")
        else:
            lv = float(loss.detach())
            if not math.isfinite(lv):
                raise RelforgeError(f"step {step}: the loss is {lv} (diverged; lower the learning rate)")
        losses.append(lv)
        if after_step is not None:
            after_step(step, lv, batch)
    return losses


def batch_stream(source):
    """``step -> torch batch`` of a sampler-like ``source`` (``batch(b, epoch)``, ``num_batches``):
    step ``s`` is batch ``s % num_batches`` of epoch ``s // num_batches``; a callable passes through."""
    return source if callable(source) and not hasattr(source, "batch") else _Source(source)


class _Source:
    """Step -> batch (torch tensors) over a sampler-like object with ``batch(b, epoch)``/``num_batches``."""

    def __init__(self, source):
        self.source = source
        self.nb = int(source.num_batches)

    def __call__(self, step: int) -> dict:
        return to_torch(self.source.batch(step % self.nb, step // self.nb))


class _Logger:
    """JSON lines (+ optional TensorBoard) for rank 0."""

    def __init__(self, out: Path, resume_step: int | None, tensorboard: bool):
        self.path = out / "metrics.jsonl"
        if resume_step is not None and self.path.exists():  # drop lines written after the checkpoint
            keep = []
            for line in self.path.read_text().splitlines():
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if (r.get("kind") == "train" and r["step"] <= resume_step) or \
                        (r.get("kind") != "train" and r.get("step", 0) < resume_step):
                    keep.append(line)
            self.path.write_text("".join(k + "\n" for k in keep))
        elif resume_step is None:
            self.path.write_text("")
        self.f = open(self.path, "a")
        self.tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except Exception:  # noqa: BLE001
                raise RelforgeError("--tensorboard needs the tensorboard package (pip install tensorboard)") from None
            self.tb = SummaryWriter(str(out / "tb"))

    def write(self, rec: dict) -> None:
        self.f.write(json.dumps(rec, sort_keys=True) + "\n")
        self.f.flush()
        if self.tb is not None:
            prefix = rec["kind"] if rec["kind"] == "train" else f"{rec['kind']}/{rec.get('split')}/{rec.get('task')}"
            for k, v in rec.items():
                if isinstance(v, (int, float)) and k != "step" and math.isfinite(v):
                    self.tb.add_scalar(f"{prefix}/{k}", v, rec["step"])

    def close(self):
        self.f.close()
        if self.tb is not None:
            self.tb.close()


def _safe(key: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in key.replace("/", "__"))


def _progress(enabled: bool, total: int, start: int):
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    p = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                 TimeRemainingColumn(), transient=False)
    p.start()
    p.add_task("train", total=total, completed=start, info="")
    return p


def train(cfg: TrainConfig, source, out: str | Path, *, eval_tasks=(), d_text: int | None = None,
          init_from: str | Path | None = None, resume: bool = False, overwrite: bool = False,
          device: str | None = None, quiet: bool = False, embedder: dict | None = None) -> dict:
    """Train an RT and return a summary dict.

    Parameters
    ----------
    cfg : TrainConfig
    source : sampler-like (``batch(b, epoch)`` and ``num_batches``; e.g. ContextSampler, sharded for
        this rank) or a callable ``step -> batch``.
    out : output folder (metrics.jsonl, ckpt/, model.safetensors, best/, best.json).
    eval_tasks : :class:`relforge.train.data.EvalTask` list evaluated every ``cfg.eval_every`` steps.
    d_text : width of the text embeddings (required unless ``init_from``/``resume`` fixes it).
    init_from : weights to start from (continued pretraining / fine-tuning): a new schedule, same lr.
    resume : continue the run in ``out`` from ``out/ckpt`` exactly.
    embedder : ``{"name", "dim"}`` of the text embedder of the data, recorded with the weights so that
        ``relforge predict`` tokenizes new databases the same way (default: ``init_from``'s).
    """
    rank, world, local_rank = dist_info()
    out = Path(out)
    is_main = rank == 0
    if device is None:
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:  # plain "cuda": this process's local GPU
        dev = torch.device("cuda", local_rank)
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)

    # ---- model: resume / init_from / scratch
    state = None
    if resume:
        state = ckpt.load_state(out / "ckpt")
        saved = TrainConfig.from_saved(state["train_config"])
        if saved.to_dict() != cfg.to_dict():  # shape- and schedule-defining options come from the checkpoint
            diff = [k for k in cfg.to_dict() if cfg.to_dict()[k] != saved.to_dict()[k]]
            if not quiet and is_main:
                print(f"resume: using the checkpoint's settings (ignoring {', '.join(diff)})", file=sys.stderr)
            cfg = saved
        prev = ckpt.load(out / "ckpt", attention=cfg.attention)
        model, embedder = prev.model, embedder or prev.embedder
    else:
        if is_main:
            check_output_dir(out, overwrite)
        if init_from is not None:
            init = ckpt.read(init_from)
            if d_text is not None and init.config.d_text != d_text:
                raise RelforgeError(f"checkpoint {str(init_from)!r} expects d_text {init.config.d_text} but the data has {d_text}")
            if embedder and init.embedder and embedder.get("name") != init.embedder.get("name"):
                raise RelforgeError(f"checkpoint {str(init_from)!r} was trained with the {init.embedder.get('name')!r} "
                                    f"embedder but the data was embedded with {embedder.get('name')!r}")
            model = ckpt.load(init_from, attention=cfg.attention).model
            embedder = embedder or init.embedder
            if model.config.qk_norm != cfg.qk_norm:
                raise RelforgeError(f"checkpoint {str(init_from)!r} has qk_norm={model.config.qk_norm}, the config {cfg.qk_norm}")
            if cfg.copy_skip and not model.config.copy_skip:  # no weights of its own: it can be switched on, never off
                model.config = model.config.replace(copy_skip=True)
        else:
            if d_text is None:
                raise RelforgeError("d_text is needed to build a model from scratch")
            model = build_model(cfg, d_text)
    if d_text is not None and model.config.d_text != d_text:
        raise RelforgeError(f"model expects d_text {model.config.d_text} but the data has {d_text}")
    # the record saved with every weights file: how contexts were built (the checkpoint's settings on
    # resume), the embedder and the tasks, so that `relforge predict` / `evaluate` need only the weights
    record = dict(context=cfg.context(), embedder=embedder, tasks=cfg.tasks)
    model.to(dev)
    raw = model
    opt = raw.configure_optimizers(cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2), decay_all=cfg.decay_all,
                                   device_type=dev.type)
    sched = OneCycle(cfg.lr, cfg.steps, pct_start=cfg.pct_start, div_factor=cfg.div_factor,
                     final_div_factor=cfg.final_div_factor, cycle_momentum=cfg.cycle_momentum).attach(opt)
    start, best = 0, {}
    if state is not None:
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start, best = int(state["step"]), state.get("best", {})
    if cfg.compile:
        model = torch.compile(model)
    if world > 1:
        # the text decoder and encoders of absent cell types get no gradient on some batches
        model = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local_rank] if dev.type == "cuda" else None,
                                                          find_unused_parameters=True)
    use_bf16 = cfg.amp == "bf16" or (cfg.amp == "auto" and dev.type == "cuda" and torch.cuda.is_bf16_supported())
    autocast = (lambda: torch.autocast(device_type=dev.type, dtype=torch.bfloat16)) if use_bf16 else nullcontext
    get_batch = batch_stream(source)
    if cfg.num_workers > 0 and hasattr(source, "batch") and start < cfg.steps:
        # DataLoader workers build batches ahead; the stream yields the same step -> batch mapping

        it = iter(make_loader(source, num_workers=cfg.num_workers, steps=cfg.steps - start, start=start))
        get_batch = lambda step: next(it)  # noqa: E731

    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(cfg.to_json())
        (out / "model_config.json").write_text(raw.config.to_json())
    log = _Logger(out, start if resume else None, cfg.tensorboard) if is_main else None
    bar = _progress(is_main and cfg.progress and not quiet and sys.stderr.isatty(), cfg.steps, start)

    def run_eval(step: int) -> list[dict]:
        recs = []
        for et in eval_tasks:
            with autocast():
                r = evaluate_task(raw, et.source, et.task_type, max_batches=cfg.eval_batches, device=dev)
            rec = {"kind": "eval", "step": step, "task": et.key, "split": et.split, "task_type": et.task_type, **r}
            log.write(rec)
            recs.append(rec)
        _update_best(step, recs)
        return recs

    def _update_best(step: int, recs: list[dict]) -> None:
        by_task = {}
        for r in recs:
            by_task.setdefault(r["task"], {})[r["split"]] = r
        for key, per in by_task.items():
            if "val" not in per:
                continue
            name, value, higher = primary(per["val"])
            cur = best.get(key)
            better = cur is None or cur["metric"] != name or (value > cur["value"] if higher else value < cur["value"])
            if better and math.isfinite(value):
                test = per.get("test")
                best[key] = {"step": step, "metric": name, "value": value,
                             "test_value": primary(test)[1] if test else None}
                ckpt.save(out / "best" / f"{_safe(key)}.safetensors", raw, step=step,
                          info={"task": key, "metric": name, "value": value}, **record)
        (out / "best.json").write_text(json.dumps(best, indent=1, sort_keys=True))

    t_log, tok_log, losses = time.perf_counter(), 0, []
    t0 = time.perf_counter()
    evals = {"first": None, "last": None}
    summary = {}

    def before_step(step: int) -> None:
        if is_main and eval_tasks and cfg.eval_every and (step % cfg.eval_every == 0):
            recs = run_eval(step)
            evals["first"] = recs if evals["first"] is None else evals["first"]
            evals["last"] = recs

    def after_step(step: int, lv: float, batch: dict) -> None:
        nonlocal t_log, tok_log, losses
        losses.append(lv)
        tok_log += batch["node_idx"].numel()
        done = step + 1
        if is_main and (done % cfg.log_every == 0 or done == cfg.steps):
            dt = time.perf_counter() - t_log
            rec = {"kind": "train", "step": done, "loss": lv, "loss_avg": float(np.mean(losses)),
                   "lr": sched.last_lr(), "tokens_per_s": tok_log / max(dt, 1e-9),
                   "elapsed_s": time.perf_counter() - t0}
            log.write(rec)
            if bar is not None:
                bar.update(bar.task_ids[0], completed=done,
                           info=f"loss {rec['loss_avg']:.4f}  {rec['tokens_per_s']:.0f} tok/s")
            elif not quiet:
                print(f"step {done}/{cfg.steps} loss {rec['loss_avg']:.4f} lr {rec['lr']:.2e} "
                      f"{rec['tokens_per_s']:.0f} tok/s", file=sys.stderr)
            t_log, tok_log, losses = time.perf_counter(), 0, []
        if is_main and (done % cfg.ckpt_every == 0 or done == cfg.steps):
            ckpt.save_training(out / "ckpt", raw, {
                "step": done, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "train_config": cfg.to_dict(), "best": best, "sampler": {"next_step": done},
                "torch_rng": torch.get_rng_state()}, **record)

    fit(model, opt, sched, get_batch, cfg.steps, start=start, grad_clip=cfg.grad_clip, mask_rate=cfg.mask_rate,
        peer_mask=cfg.peer_mask, name_shuffle=cfg.name_shuffle, name_scope=cfg.name_scope, seed=cfg.seed, device=dev, autocast=autocast,
        params=list(raw.parameters()),
        before_step=before_step, after_step=after_step)
    first_eval, last_eval = evals["first"], evals["last"]
    if is_main and eval_tasks and cfg.eval_every and start < cfg.steps:
        last_eval = run_eval(cfg.steps)
        first_eval = last_eval if first_eval is None else first_eval
    if bar is not None:
        bar.stop()
    if is_main:
        ckpt.save(out / "model.safetensors", raw, step=cfg.steps, **record)
        log.close()
        summary = {"out": str(out), "steps": cfg.steps, "start_step": start, "params": raw.get_num_params(),
                   "wall_s": time.perf_counter() - t0, "first_eval": first_eval, "last_eval": last_eval,
                   "best": best}
    if world > 1:
        torch.distributed.barrier()
    return summary


def evaluate_checkpoint(weights: str | Path, eval_tasks, *, max_batches: int = 4, device: str | None = None,
                        attention: str | None = None) -> list[dict]:
    """Zero-shot evaluation of a saved model on ``eval_tasks`` (one record per task and split)."""
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = ckpt.load(weights, attention=attention, device=dev).model
    use_bf16 = dev.type == "cuda" and torch.cuda.is_bf16_supported()
    recs = []
    for et in eval_tasks:
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16) if use_bf16 else nullcontext():
            r = evaluate_task(model, et.source, et.task_type, max_batches=max_batches, device=dev)
        recs.append({"task": et.key, "split": et.split, "task_type": et.task_type, **r})
    return recs


def pretrain(data: str | Path, out: str | Path, cfg: TrainConfig = TrainConfig(), *,
             eval_data: str | Path | list | None = None,
             init_from: str | Path | None = None, resume: bool = False, overwrite: bool = False,
             device: str | None = None, quiet: bool = False) -> dict:
    """Pretrain (from scratch), continue pretraining (``init_from``) or fine-tune (``cfg.tasks``) an RT
    on the tokenized store/corpus ``data``, evaluating on ``eval_data`` (one or several stores/corpora,
    e.g. held-out databases and ``data`` itself for its held-out rows) or on the validation split of
    the training tasks' stores when ``eval_data`` is None."""
    if resume:
        saved = ckpt.load_state(Path(out) / "ckpt")
        cfg = TrainConfig.from_saved(saved["train_config"])
    rank, world, _ = dist_info()
    source = D.training_sampler(data, cfg.context(), batch_size=cfg.batch_size, seed=cfg.seed, tasks=cfg.tasks,
                                rank=rank, world_size=world, task_share=cfg.task_share,
                                history_dropout=cfg.history_dropout, forecast_splits=cfg.forecast_splits)
    ev = []
    if cfg.eval_every and rank == 0:
        if eval_data is None:
            paths = [data]
        else:
            paths = [eval_data] if isinstance(eval_data, (str, Path)) else list(eval_data)
        for p in paths:
            ev += D.eval_tasks(p, cfg.context(), splits=cfg.eval_splits, batch_size=cfg.eval_batch_size,
                               max_tasks=cfg.max_eval_tasks, tasks=cfg.tasks if eval_data is None else ())
    return train(cfg, source, out, eval_tasks=ev, d_text=source.d_text, init_from=init_from, resume=resume,
                 overwrite=overwrite, device=device, quiet=quiet, embedder=D.embedder_of(data))


def evaluate_path(weights: str | Path, data: str | Path, *, split: str = "val", batches: int = 4, batch_size: int = 16,
                  ctx_len: int | None = None, max_tasks: int = 10, tasks: tuple = (), device: str | None = None,
                  peers: int | None = None) -> dict:
    """Zero-shot evaluation of ``weights`` (a .safetensors file or checkpoint/run folder) on every task
    of the stores at ``data``; returns per-task records and their means."""
    if max_tasks < 1:
        raise RelforgeError(f"tasks per database (--max-tasks) must be >= 1, got {max_tasks}")
    rec = ckpt.read(weights)
    w = Path(rec.path)
    ctx = rec.context.replace(ctx_len=ctx_len, peers=peers)  # how the model's training contexts were built
    emb = D.embedder_of(data)
    if rec.embedder and emb and rec.embedder.get("name") != emb.get("name"):
        raise RelforgeError(f"{str(w)!r} was trained with the {rec.embedder.get('name')!r} embedder but "
                            f"{str(data)!r} was embedded with {emb.get('name')!r}; tokenize it with the same one")
    d_text = D.d_text_of(data)
    if d_text != rec.config.d_text:
        raise RelforgeError(f"model expects d_text {rec.config.d_text} but {str(data)!r} was embedded with {d_text}")
    ev = D.eval_tasks(data, ctx, splits=(split,), batch_size=batch_size, max_tasks=max_tasks, tasks=tasks)
    if not ev:
        raise RelforgeError(f"no task with {split} rows in {str(data)!r}")
    recs = evaluate_checkpoint(w, ev, max_batches=batches, device=device)
    means = {}
    for k in ("loss", "baseline_loss", "prior_loss", "roc_auc", "r2"):
        vals = [r[k] for r in recs if k in r and r[k] is not None and math.isfinite(r[k])]
        if vals:
            means[k] = float(np.mean(vals))
    return {"weights": str(w), "data": str(data), "split": split, "tasks": recs, "mean": means}
