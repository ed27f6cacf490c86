"""Evaluation metrics and loops (rt_pipeline.md §4 "Evaluation").

Classification: AUROC of the boolean logits against ``target > 0``. Regression: R^2 on the
*normalized* values (spec §6.10). Each task is also scored against a trivial constant baseline:
classification predicts the evaluated positive rate (AUROC 0.5), regression the training mean,
which is 0 in normalized units.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from relforge.metrics import r2, roc_auc
from relforge.batch import CellType


def is_classification(task_type: str) -> bool:
    return task_type == "binary_classification"


def task_metric(task_type: str) -> str:
    return "auroc" if is_classification(task_type) else "r2"


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
        res = {"auroc": roc_auc(y, pred), "baseline_auroc": 0.5, "baseline_loss": _bce_at(float(p), y), "pos_rate": float(p)}
        if train_rate is not None and math.isfinite(train_rate):
            res["prior_loss"] = _bce_at(float(train_rate), y)
        return res
    # mean baseline: values are z-scored with training statistics, so the training mean is 0
    zero = np.zeros_like(target, dtype=np.float64)
    base_loss = float(torch.nn.functional.huber_loss(torch.as_tensor(zero), torch.as_tensor(target, dtype=torch.float64),
                                                     delta=huber_delta)) if target.size else float("nan")
    return {"r2": r2(target, pred), "baseline_r2": r2(target, zero), "baseline_loss": base_loss}


@torch.no_grad()
def predict(model, batches, device) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Run ``model`` over ``batches``; predictions, targets, semantic types at target cells of the
    first ``true_batch_size`` sequences, and the mean batch loss."""
    was_training = model.training
    model.eval()
    preds, tgts, sems, losses = [], [], [], []
    try:
        for batch in batches:
            batch = to_device(batch, device)
            n = int(batch.get("true_batch_size", batch["node_idx"].shape[0]))
            out, loss = model(batch)
            m = batch["is_target"][:n] & ~batch["is_padding"][:n]
            preds.append(out[:n][m].float().cpu().numpy())
            tgts.append(batch["target"][:n][m].float().cpu().numpy())
            sems.append(batch["sem_type"][:n][m].cpu().numpy())
            if loss is not None:
                losses.append(float(loss))
    finally:
        model.train(was_training)
    cat = lambda xs: np.concatenate(xs) if xs else np.zeros(0)  # noqa: E731
    return cat(preds), cat(tgts), cat(sems), (float(np.mean(losses)) if losses else float("nan"))


def to_device(batch: dict, device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


def evaluate_task(model, sampler, task_type: str, *, max_batches: int, device="cpu") -> dict:
    """Loss and AUROC (classification) or R^2 (regression) of ``model`` on the first ``max_batches``
    batches of epoch 0 of ``sampler`` (a fixed subset; spec §4 "Evaluation")."""
    nb = min(max_batches, sampler.num_batches)
    batches = (sampler.batch(b, 0) for b in range(nb))
    from relforge.tokenize.dataset import to_torch

    pred, tgt, sem, loss = predict(model, (to_torch(b) for b in batches), device)
    if is_classification(task_type) and sem.size and not (sem == CellType.boolean).all():
        task_type = "regression"  # defensive: a non-boolean target scored as regression
    res = {"loss": loss, "n": int(pred.size)}
    res.update(score_predictions(task_type, pred, tgt, model.config.huber_delta, _train_rate(sampler)))
    return res


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
    """(metric name, value, higher_is_better) used to pick best checkpoints: AUROC or R^2 when
    defined, else the loss (lower is better)."""
    for k in ("auroc", "r2"):
        v = result.get(k)
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            return k, float(v), True
    return "loss", float(result["loss"]), False
