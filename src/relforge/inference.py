"""The one inference path: batches -> predictions at target cells -> scores.

``relforge evaluate`` (``train.evaluate``), ``relforge predict`` (``relforge.predict``), the scaling
sweep and the transfer study all run a model through :func:`run_model`; a task's rows are predicted
with :func:`predict_task`; scores come from ``relforge.metrics`` (``roc_auc``, ``r2``, ``mae``).

- :func:`run_model`: model outputs at the target cells of the real sequences of each batch
  (numpy batches from the sampler are converted to torch once, by ``relforge.batch.to_torch``),
  with each target's true (normalised) value, cell type and seed row, and the mean batch loss.
- :func:`predict_task`: deterministic contexts (no shuffling) for every seed of a resolved
  ``SamplerTask``, built with a checkpoint's context settings; target cells of hidden rows other
  than each context's own seed are removed first (no leakage between predicted rows).
- :func:`score`: the metrics of predictions in the data's own units (``roc_auc`` for binary
  classification, ``r2`` and ``mae`` for regression); :func:`denormalize` maps outputs there.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from relforge.batch import to_torch
from relforge.errors import RelforgeError
from relforge.metrics import mae, r2, roc_auc
from relforge.model.checkpoint import ContextSettings
from relforge.db.task import TaskType
from relforge.settings import torch_threads  # noqa: F401 (the one home is settings; re-exported)
from relforge.tokenize.embed import get_embedder
from relforge.tokenize.sampler import ContextSampler, SamplerConfig


_EMBEDDERS: dict = {}


def embedder_for(spec: dict | str):
    """The embedder of a checkpoint's record or a name (cached per name: MiniLM loads once per process)."""
    name = spec["name"] if isinstance(spec, dict) else str(spec)
    if name not in _EMBEDDERS:
        _EMBEDDERS[name] = get_embedder(name)
    return _EMBEDDERS[name]


@dataclass
class Outputs:
    """One entry per target cell of the real sequences, in batch order (one per sequence at inference)."""

    seed_row: np.ndarray  # store node of the sequence's seed
    pred: np.ndarray  # model output: normalised value (number/datetime) or logit (boolean)
    target: np.ndarray  # true normalised value
    sem: np.ndarray  # CellType of the target cell
    loss: float  # mean batch loss (NaN when no batch has a target)


def blank_hidden(batch: dict, hidden_nodes: np.ndarray) -> None:
    """Remove, in place, target-column cells of hidden rows other than each context's own masked
    target (numpy batch). The target column of sequence ``b`` is the column of its ``is_target``
    token (``col_id`` is unique per (db, table, column) in a batch)."""
    if len(hidden_nodes) == 0:
        return
    tgt_col = np.where(batch["is_target"].any(1), np.argmax(batch["is_target"], axis=1), -1)
    B = len(tgt_col)
    tcol = np.array([batch["col_id"][b, tgt_col[b]] if tgt_col[b] >= 0 else -2 for b in range(B)])
    node = np.where(batch["node_idx"] >= 0,
                    np.take_along_axis(batch["row_node"], np.maximum(batch["node_idx"], 0).astype(np.int64), 1), -1)
    kill = (batch["col_id"] == tcol[:, None]) & ~batch["is_target"] & ~batch["is_padding"] & np.isin(node, hidden_nodes)
    if kill.any():
        batch["is_padding"][kill] = True
        batch["node_idx"][kill] = -1
        batch["f2p"][kill] = -1
        batch["col_id"][kill] = -1
        batch["table_id"][kill] = -1
        batch["value"][kill] = 0.0
        batch["text_id"][kill] = -1
        batch["sem_type"][kill] = 0


def sampler_batches(sampler, max_batches: int | None = None):
    """Batches ``0 .. n-1`` of epoch 0 of ``sampler`` (numpy), ``n`` capped at ``max_batches``."""
    n = sampler.num_batches if max_batches is None else min(max_batches, sampler.num_batches)
    return (sampler.batch(b, 0) for b in range(n))


def run_model(model, batches, *, device=None, hidden_nodes=None, require_target: bool = False) -> Outputs:
    """Run ``model`` (eval mode, no gradient; its mode is restored) over ``batches``.

    ``hidden_nodes``: store nodes whose target cells are removed from every context but their own
    (numpy batches only). ``require_target``: a real sequence without a target cell (its seed's
    target did not fit in the context) raises instead of being skipped.
    """
    import torch

    hidden = np.unique(np.asarray(hidden_nodes if hidden_nodes is not None else [], dtype=np.int64))
    was_training = model.training
    model.eval()
    rows, preds, tgts, sems, losses = [], [], [], [], []
    try:
        with torch.no_grad():
            for batch in batches:
                if len(hidden):
                    blank_hidden(batch, hidden)
                batch = to_torch(batch)
                if device is not None:
                    batch = {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}
                n = int(batch.get("true_batch_size", batch["node_idx"].shape[0]))
                out, loss = model(batch)
                m = batch["is_target"][:n] & ~batch["is_padding"][:n]
                if require_target and not bool(m.any(1).all()):
                    raise RelforgeError("a context lost its target cell (ctx_len too small for the rows?)")
                seq = torch.nonzero(m)[:, 0].cpu().numpy()
                rows.append(np.asarray(batch["seed_row"][:n].cpu())[seq] if "seed_row" in batch else seq)
                preds.append(out[:n][m].float().cpu().numpy())
                tgts.append(batch["target"][:n][m].float().cpu().numpy())
                sems.append(batch["sem_type"][:n][m].cpu().numpy())
                if loss is not None:
                    losses.append(float(loss))
    finally:
        model.train(was_training)
    cat = lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt)  # noqa: E731
    return Outputs(cat(rows, np.int64), cat(preds, np.float32), cat(tgts, np.float32), cat(sems, np.int32),
                   float(np.mean(losses)) if losses else float("nan"))


def _reported(batches, progress, total: int):
    """``batches`` passed through, a progress line every few seconds (contexts done of ``total``)."""
    done = 0
    for b in batches:
        yield b
        done += int(b.get("true_batch_size", len(b["node_idx"])))
        progress.update("predict", done, total, "contexts")


def predict_task(model, task, context: ContextSettings, *, batch_size: int = 16, seed: int = 0,
                 hidden_nodes: np.ndarray | None = None, device=None, progress=None) -> Outputs:
    """Outputs at the masked target of every seed of a resolved ``SamplerTask``, in seed order.

    Contexts are deterministic (``seed``, no shuffling) and built as ``context`` says (a
    checkpoint's recorded settings: ``ctx_len``, ``max_bfs_width``, ``peers``). ``progress``: a
    :class:`relforge.progress.Progress` (contexts done; which texts were embedded, when lazy)."""
    sampler = ContextSampler([task], SamplerConfig(**context.sampler_kw(), batch_size=batch_size, seed=seed,
                                                   shuffle=False))
    batches = sampler_batches(sampler)
    if progress is not None:
        batches = _reported(batches, progress, len(task.seeds))
    try:
        o = run_model(model, batches, device=device, hidden_nodes=hidden_nodes, require_target=True)
    except RelforgeError as e:
        raise RelforgeError(f"task {task.name!r}: {e} (ctx_len {context.ctx_len})") from None
    if progress is not None:
        progress.done("predict", f"{len(o.seed_row):,} contexts of <= {context.ctx_len} cells")
        lazy = task.store.arrays.get("text_emb")
        if hasattr(lazy, "summary"):
            progress.done("embed", lazy.summary())
    return o


def denormalize(task_type: str, out: np.ndarray, stats: dict) -> np.ndarray:
    """Outputs in the data's units: probabilities for binary classification, values for regression."""
    if TaskType(task_type) is TaskType.binary_classification:
        return 1.0 / (1.0 + np.exp(-out.astype(np.float64)))
    return out.astype(np.float64) * float(stats["std"]) + float(stats["mean"])


def metric(task_type: str, y_true, pred) -> float:
    """The task type's primary metric: ``roc_auc`` (binary, labels ``y > 0``) or ``r2``."""
    if TaskType(task_type) is TaskType.binary_classification:
        return roc_auc(np.asarray(y_true) > 0, pred)
    return r2(y_true, pred)


def metric_name(task_type: str) -> str:
    return "roc_auc" if TaskType(task_type) is TaskType.binary_classification else "r2"


def score(task_type: str, y_true, pred) -> dict:
    """``roc_auc`` for binary tasks, ``r2`` and ``mae`` for regression, on rows with a known truth."""
    y, p = np.asarray(y_true, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    ok = np.isfinite(y)
    if not ok.any():
        return {}
    if TaskType(task_type) is TaskType.binary_classification:
        return {"roc_auc": roc_auc(y[ok] > 0, p[ok]), "n": int(ok.sum())}
    return {"r2": r2(y[ok], p[ok]), "mae": mae(y[ok], p[ok]), "n": int(ok.sum())}
