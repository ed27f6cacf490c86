"""Evaluation metrics and loops (rt_pipeline.md §4 "Evaluation").

Every model run goes through ``relforge.inference.run_model`` (the one inference path).
Classification: ROC AUC (``roc_auc``) of the boolean logits against ``target > 0``. Regression: R^2 on the
*normalized* values (spec §6.10). Each task is also scored against a trivial constant baseline:
classification predicts the evaluated positive rate (ROC AUC 0.5), regression the training mean,
which is 0 in normalized units.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from relforge.batch import CellType
from relforge.db.task import TaskType
from relforge.inference import metric_name, run_model, sampler_batches
from relforge.metrics import r2, roc_auc


def is_classification(task_type: str) -> bool:
    return TaskType(task_type) is TaskType.binary_classification


def task_metric(task_type: str) -> str:
    return metric_name(task_type)


def _bce_at(p: float, y: np.ndarray) -> float:
    """Binary cross-entropy of the constant probability ``p`` on labels ``y``."""
    if not y.size:
        return float("nan")
    logit = math.log(max(p, 1e-6) / max(1 - p, 1e-6))
    return float(torch.nn.functional.binary_cross_entropy_with_logits(
        torch.full((y.size,), logit, dtype=torch.float64), torch.as_tensor(y, dtype=torch.float64)))


def score_predictions(task_type: str, pred: np.ndarray, target: np.ndarray, huber_delta: float = 1.0,
                      train_rate: float | None = None) -> dict:
    """Metric of the predictions plus the constant baselines' metric and loss.

    Classification has two constant losses: ``baseline_loss`` at the evaluated rows' own positive
    rate (an oracle: no model knows it in advance) and, given ``train_rate``, ``prior_loss`` at the
    training rows' rate (the constant a model could have learnt)."""
    if is_classification(task_type):
        y = target > 0
        p = y.mean() if y.size else 0.5
        res = {"roc_auc": roc_auc(y, pred), "baseline_roc_auc": 0.5, "baseline_loss": _bce_at(float(p), y), "pos_rate": float(p)}
        if train_rate is not None and math.isfinite(train_rate):
            res["prior_loss"] = _bce_at(float(train_rate), y)
        return res
    # mean baseline: values are z-scored with training statistics, so the training mean is 0
    zero = np.zeros_like(target, dtype=np.float64)
    base_loss = float(torch.nn.functional.huber_loss(torch.as_tensor(zero), torch.as_tensor(target, dtype=torch.float64),
                                                     delta=huber_delta)) if target.size else float("nan")
    # level-free figure: what the predictions rank, whatever their offset and scale (a model's level
    # offset moves R2 from seed to seed more than the corpus does; docs/results.md, session 9)
    ok = target.size > 1 and np.std(pred) > 0 and np.std(target) > 0
    pearson = float(np.corrcoef(target.astype(np.float64), pred.astype(np.float64))[0, 1] ** 2) if ok else float("nan")
    return {"r2": r2(target, pred), "baseline_r2": r2(target, zero), "baseline_loss": base_loss, "pearson_r2": pearson}


def to_device(batch: dict, device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


def evaluate_task(model, sampler, task_type: str, *, max_batches: int, device="cpu") -> dict:
    """Loss and ROC AUC (classification) or R^2 (regression) of ``model`` on the first ``max_batches``
    batches of epoch 0 of ``sampler`` (a fixed subset; spec §4 "Evaluation")."""
    o = run_model(model, sampler_batches(sampler, max_batches), device=device)
    pred, tgt, sem, loss = o.pred, o.target, o.sem, o.loss
    if is_classification(task_type) and sem.size and not (sem == CellType.boolean).all():
        task_type = TaskType.regression  # defensive: a non-boolean target scored as regression
    res = {"loss": loss, "n": int(pred.size)}
    res.update(score_predictions(task_type, pred, tgt, model.config.huber_delta, _train_rate(sampler)))
    return res


def context_label_mean(batch: dict) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, target) per context of a numpy batch with a target cell, by a rule with no
    parameters: the mean of the target column's values the context shows (a forecast seed's label
    history; an autocomplete seed's peers and siblings), 0 (the training mean) when it shows none."""
    n_real = int(batch.get("true_batch_size", len(batch["is_target"])))  # the rest wraps around to repeat items
    tgt = batch["is_target"] & ~batch["is_padding"]
    has = tgt.any(1) & (np.arange(len(tgt)) < n_real)
    pos = np.argmax(tgt, axis=1)
    rows = np.arange(len(pos))
    col = batch["col_id"][rows, pos]
    same = (batch["col_id"] == col[:, None]) & ~batch["is_padding"] & ~batch["is_target"]
    mean = np.where(same, batch["value"], 0.0).sum(1) / np.maximum(same.sum(1), 1)
    return mean[has].astype(np.float64), batch["target"][rows, pos][has].astype(np.float64)


def evaluate_context_mean(sampler, task_type: str, *, max_batches: int) -> dict:
    """:func:`context_label_mean` scored as :func:`evaluate_task` scores a model (same contexts,
    same metric): what reading the visible labels alone gets, the bar a zero-shot model must clear."""
    got = [context_label_mean(b) for b in sampler_batches(sampler, max_batches)]
    pred = np.concatenate([g[0] for g in got]) if got else np.zeros(0)
    tgt = np.concatenate([g[1] for g in got]) if got else np.zeros(0)
    return {"n": int(pred.size), **score_predictions(task_type, pred, tgt)}


def _train_rate(sampler) -> float | None:
    """Training-period positive rate of a boolean target (its fitted mean), if the sampler has one task."""
    tasks = getattr(sampler, "tasks", None)
    if not tasks or len(tasks) != 1:
        return None
    t = tasks[0]
    col = t.store.columns[t.target_col]
    stats = col.get("stats") or {}
    mean = stats.get("mean")
    return float(mean) if mean is not None and 0.0 < float(mean) < 1.0 else None


def primary(result: dict) -> tuple[str, float, bool]:
    """(metric name, value, higher_is_better) used to pick best checkpoints: ROC AUC or R^2 when
    defined, else the loss (lower is better)."""
    for k in ("roc_auc", "r2"):
        v = result.get(k)
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            return k, float(v), True
    return "loss", float(result["loss"]), False
