"""The training loop: pretraining from scratch, continued pretraining, fine-tuning (rt_pipeline.md §3-§4).

``train(cfg, source, out)`` reads top to bottom like nanoGPT's train.py: distributed setup, model
init (scratch / ``init_from`` / resume), optimizer and one-cycle schedule, then one loop that
evaluates, steps, logs and checkpoints.

- Step ``s`` trains on batch ``s % num_batches`` of epoch ``s // num_batches`` of the source, so the
  data position is a function of the step and ``resume`` continues exactly (weights, AdamW moments,
  schedule, data position all restored).
- Metrics go to ``OUT/metrics.jsonl`` (one JSON object per line; ``kind`` train or eval), optionally
  to TensorBoard; a progress bar shows loss and tokens/s on a terminal.
- ``OUT/ckpt/`` is the latest training checkpoint, ``OUT/model.safetensors`` the final weights and
  ``OUT/best/<store>__<task>.safetensors`` the best weights per evaluation task on the validation
  metric (AUROC / R^2 higher is better; loss, when the metric is undefined, lower is better), with
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

from relforge.errors import RelforgeError
from relforge.model.config import preset
from relforge.model.rt import RelationalTransformer
from relforge.train import checkpoint as ckpt
from relforge.train.config import TrainConfig
from relforge.train.evaluate import evaluate_task, primary, to_device
from relforge.train.masking import add_masks, shuffle_names


def dist_info() -> tuple[int, int, int]:
    """(rank, world_size, local_rank) from the torchrun environment."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("LOCAL_RANK", 0))


def build_model(cfg: TrainConfig, d_text: int) -> RelationalTransformer:
    """A freshly initialized RT for ``cfg`` (init drawn under ``cfg.seed``; global RNG untouched)."""
    mcfg = preset(cfg.preset, d_text=d_text, qk_norm=cfg.qk_norm, attention=cfg.attention)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return RelationalTransformer(mcfg)


def make_scheduler(opt, cfg: TrainConfig):
    """One-cycle LR (linear): lr/div -> lr over pct_start, then -> lr/div/final_div; beta1 cycles."""
    return torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=cfg.lr, total_steps=cfg.steps + 1, pct_start=cfg.pct_start, anneal_strategy="linear",
        div_factor=cfg.div_factor, final_div_factor=cfg.final_div_factor, cycle_momentum=cfg.cycle_momentum,
        base_momentum=0.85, max_momentum=0.95)


class _Source:
    """Step -> batch (torch tensors) over a sampler-like object with ``batch(b, epoch)``/``num_batches``."""

    def __init__(self, source):
        self.source = source
        self.nb = int(source.num_batches)

    def __call__(self, step: int) -> dict:
        b = self.source.batch(step % self.nb, step // self.nb)
        return {k: (torch.from_numpy(v) if isinstance(v, np.ndarray) else v) for k, v in b.items()}


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
          device: str | None = None, quiet: bool = False) -> dict:
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
    """
    rank, world, local_rank = dist_info()
    out = Path(out)
    is_main = rank == 0
    if device is None:
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
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
        model = ckpt.load_weights(out / "ckpt", attention=cfg.attention)
    else:
        if is_main:
            from relforge.db.io import check_output_dir

            check_output_dir(out, overwrite)
        if init_from is not None:
            icfg, _ = ckpt.read_config(init_from)
            if d_text is not None and icfg.d_text != d_text:
                raise RelforgeError(f"checkpoint {str(init_from)!r} expects d_text {icfg.d_text} but the data has {d_text}")
            model = ckpt.load_weights(init_from, attention=cfg.attention)
            if model.config.qk_norm != cfg.qk_norm:
                raise RelforgeError(f"checkpoint {str(init_from)!r} has qk_norm={model.config.qk_norm}, the config {cfg.qk_norm}")
        else:
            if d_text is None:
                raise RelforgeError("d_text is needed to build a model from scratch")
            model = build_model(cfg, d_text)
    if d_text is not None and model.config.d_text != d_text:
        raise RelforgeError(f"model expects d_text {model.config.d_text} but the data has {d_text}")
    # how contexts were built (the checkpoint's settings on resume), so that `relforge predict` builds
    # them the same way from the weights alone
    context_info = {"ctx_len": cfg.ctx_len, "max_bfs_width": cfg.max_bfs_width, "peers": cfg.peers}
    model.to(dev)
    raw = model
    opt = raw.configure_optimizers(cfg.lr, cfg.weight_decay, (cfg.beta1, cfg.beta2), device_type=dev.type)
    sched = make_scheduler(opt, cfg)
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
    get_batch = source if callable(source) and not hasattr(source, "batch") else _Source(source)
    if cfg.num_workers > 0 and hasattr(source, "batch") and start < cfg.steps:
        # DataLoader workers build batches ahead; the stream yields the same step -> batch mapping
        from relforge.tokenize.dataset import make_loader

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
                ckpt.save_weights(out / "best" / f"{_safe(key)}.safetensors", raw, step=step,
                                  extra={"task": key, "metric": name, "value": value, **context_info})
        (out / "best.json").write_text(json.dumps(best, indent=1, sort_keys=True))

    model.train()
    t_log, tok_log, losses = time.perf_counter(), 0, []
    t0 = time.perf_counter()
    first_eval = last_eval = None
    summary = {}
    for step in range(start, cfg.steps):
        if is_main and eval_tasks and cfg.eval_every and (step % cfg.eval_every == 0):
            recs = run_eval(step)
            first_eval = recs if first_eval is None else first_eval
            last_eval = recs
        batch = shuffle_names(add_masks(get_batch(step), cfg.mask_rate, cfg.seed, step), cfg.name_shuffle, cfg.seed, step)
        batch = to_device(batch, dev)
        with autocast():
            _, loss = model(batch, targets_only=True)  # the loss reads target cells only
        if loss is None:
            raise RelforgeError(f"step {step}: the batch has no target cells")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(raw.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        lv = float(loss.detach())
        if not math.isfinite(lv):
            raise RelforgeError(f"step {step}: the loss is {lv} (diverged; lower the learning rate)")
        losses.append(lv)
        tok_log += batch["node_idx"].numel()
        done = step + 1
        if is_main and (done % cfg.log_every == 0 or done == cfg.steps):
            dt = time.perf_counter() - t_log
            rec = {"kind": "train", "step": done, "loss": lv, "loss_avg": float(np.mean(losses)),
                   "lr": sched.get_last_lr()[0], "tokens_per_s": tok_log / max(dt, 1e-9),
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
            ckpt.save_checkpoint(out / "ckpt", raw, {
                "step": done, "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                "train_config": cfg.to_dict(), "best": best, "sampler": {"next_step": done},
                "torch_rng": torch.get_rng_state()})
    if is_main and eval_tasks and cfg.eval_every and start < cfg.steps:
        last_eval = run_eval(cfg.steps)
        first_eval = last_eval if first_eval is None else first_eval
    if bar is not None:
        bar.stop()
    if is_main:
        ckpt.save_weights(out / "model.safetensors", raw, step=cfg.steps, extra=context_info)
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
    model = ckpt.load_weights(weights, attention=attention, device=dev)
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
    from relforge.train import data as D

    if resume:
        saved = ckpt.load_state(Path(out) / "ckpt")
        cfg = TrainConfig.from_saved(saved["train_config"])
    rank, world, _ = dist_info()
    source = D.training_sampler(data, batch_size=cfg.batch_size, ctx_len=cfg.ctx_len, max_bfs_width=cfg.max_bfs_width,
                                seed=cfg.seed, tasks=cfg.tasks, rank=rank, world_size=world, peers=cfg.peers,
                                task_share=cfg.task_share)
    ev = []
    if cfg.eval_every and rank == 0:
        if eval_data is None:
            paths = [data]
        else:
            paths = [eval_data] if isinstance(eval_data, (str, Path)) else list(eval_data)
        for p in paths:
            ev += D.eval_tasks(p, splits=cfg.eval_splits, batch_size=cfg.eval_batch_size, ctx_len=cfg.ctx_len,
                               max_bfs_width=cfg.max_bfs_width, max_tasks=cfg.max_eval_tasks,
                               tasks=cfg.tasks if eval_data is None else (), peers=cfg.peers)
    return train(cfg, source, out, eval_tasks=ev, d_text=source.d_text, init_from=init_from, resume=resume,
                 overwrite=overwrite, device=device, quiet=quiet)


def evaluate_path(weights: str | Path, data: str | Path, *, split: str = "val", batches: int = 4, batch_size: int = 16,
                  ctx_len: int | None = None, max_tasks: int = 10, tasks: tuple = (), device: str | None = None,
                  peers: int | None = None) -> dict:
    """Zero-shot evaluation of ``weights`` (a .safetensors file or checkpoint/run folder) on every task
    of the stores at ``data``; returns per-task records and their means."""
    from relforge.train import data as D

    if max_tasks < 1:
        raise RelforgeError(f"tasks per database (--max-tasks) must be >= 1, got {max_tasks}")
    w = Path(weights)
    if w.is_dir() and (w / "model.safetensors").is_file():
        w = w / "model.safetensors"
    cfg_m, meta = ckpt.read_config(w)
    # how the model's training contexts were built: the weights record it (since they record peers);
    # older weights fall back to the run's train_config.json
    try:
        saved = json.loads(meta.get("extra", "{}"))
    except json.JSONDecodeError:
        saved = {}
    if not isinstance(saved, dict) or "peers" not in saved:
        tc = Path(weights) / "train_config.json" if Path(weights).is_dir() else w.parent / "train_config.json"
        saved = json.loads(tc.read_text()) if tc.is_file() else {}
    if ctx_len is None:
        ctx_len = int(saved.get("ctx_len", 1024))
    if peers is None:
        peers = int(saved.get("peers", 0))
    max_bfs_width = int(saved.get("max_bfs_width", 128))
    d_text = D.d_text_of(data)
    if d_text != cfg_m.d_text:
        raise RelforgeError(f"model expects d_text {cfg_m.d_text} but {str(data)!r} was embedded with {d_text}")
    ev = D.eval_tasks(data, splits=(split,), batch_size=batch_size, ctx_len=ctx_len, max_bfs_width=max_bfs_width,
                      max_tasks=max_tasks, tasks=tasks, peers=peers)
    if not ev:
        raise RelforgeError(f"no task with {split} rows in {str(data)!r}")
    recs = evaluate_checkpoint(w, ev, max_batches=batches, device=device)
    means = {}
    for k in ("loss", "baseline_loss", "prior_loss", "auroc", "r2"):
        vals = [r[k] for r in recs if k in r and r[k] is not None and math.isfinite(r[k])]
        if vals:
            means[k] = float(np.mean(vals))
    return {"weights": str(w), "data": str(data), "split": split, "tasks": recs, "mean": means}
