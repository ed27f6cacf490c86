"""Training configuration (rt_pipeline.md §3 "Defaults", §4).

Defaults follow the PluRel scripts where they are CPU-sensible (AdamW lr 5e-4, weight decay 0.1 on
all parameters, one-cycle schedule with 20 % warm-up from lr/25 to lr/2.5e5 that also cycles
Adam's beta1 0.95 -> 0.85, gradient clip 1.0); sizes default to a CPU-scale run.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from relforge.batch import LABEL_HISTORY
from relforge.errors import RelforgeError
from relforge.model.checkpoint import ContextSettings, LEGACY

#: which columns of a name-shuffled context get new names: all, only the target's (the column of the
#: masked cells: the forecast label or the autocompleted column), or all but the target's
NAME_SCOPES = ("all", "target", "other")
#: every split of a task table: the forecast seeds of synthetic pretraining (``TrainConfig.forecast_splits``)
ALL_SPLITS = ("train", "val", "test")


def check_forecast_splits(splits, task_share, name: str = "forecast_splits") -> tuple:
    """``splits`` as a tuple, or one clear error: some of :data:`ALL_SPLITS`, and other than the
    training split only with a task share (the forecast tables then form their own group)."""
    splits = tuple(splits)
    if not splits or any(s not in ALL_SPLITS for s in splits) or (task_share is None and splits != ("train",)):
        raise RelforgeError(f"{name} must be some of {', '.join(ALL_SPLITS)}, other than train only with a task "
                            f"share, got {list(splits)}")
    return splits


@dataclass(frozen=True)
class TrainConfig:
    # model
    preset: str = "tiny"  # RT size preset: paper / small / tiny (relforge.model.config.PRESETS)
    qk_norm: bool = True  # QK-normalization on (PluRel) or off (ablation)
    attention: str = "auto"  # auto: flex on CUDA, sparse on CPU
    rel_time: bool = False  # row age before the seed as an input feature (RTConfig.rel_time)
    linear_values: bool = False  # numbers and datetimes also enter un-normalized (RTConfig.linear_values)
    copy_skip: bool = False  # number / datetime targets predicted as their column's visible mean in context + the decoder (RTConfig.copy_skip)
    huber_delta: float = 1.0  # Huber loss delta of number / datetime targets in label sd (RT: 1; large = squared error)
    # data
    batch_size: int = 8  # contexts per step per rank (PluRel: 128 on one GPU)
    ctx_len: int = 1024  # cells per context (spec §3)
    max_bfs_width: int = 128  # children followed per row (spec §3)
    peers: int = 16  # labelled training rows of the seed's table added to each autocomplete context (0: RT's contexts)
    history: int = LABEL_HISTORY  # forecast contexts: the entity's most recent closed labels (0: all)
    own_history: bool = False  # forecast contexts: only the seed's own entity shows its labels (SamplerConfig.own_history)
    recent: int = 0  # the seed and its parents show their this many most recent children first (SamplerConfig.recent)
    history_dropout: float = 0.0  # share of forecast training contexts shown no label history (the entity's rows must tell)
    tasks: tuple = ()  # train only these task names (fine-tuning); () = every task of every store
    task_share: float | None = None  # share of contexts from forecast task tables, the rest autocomplete (None: recorded tasks as they come)
    forecast_splits: tuple = ("train",)  # with a task share: the forecast tables' splits trained on (all three: synthetic pretraining only)
    num_workers: int = 0  # DataLoader workers building batches (0 = in the training process)
    # optimization
    steps: int = 200  # optimizer steps
    lr: float = 5e-4  # peak learning rate (spec §3)
    weight_decay: float = 0.1  # on all parameters (spec §3, §6.11)
    decay_all: bool = True  # decay every parameter (PluRel); False: matrices only, norm gains and biases free (nanoGPT)
    beta1: float = 0.9
    beta2: float = 0.999
    pct_start: float = 0.2  # warm-up fraction of the one-cycle schedule (spec §3)
    div_factor: float = 25.0  # initial lr = lr / div_factor
    final_div_factor: float = 1e4  # final lr = initial lr / final_div_factor (= lr / 2.5e5)
    cycle_momentum: bool = True  # OneCycleLR default: beta1 cycles 0.95 -> 0.85 -> 0.95
    grad_clip: float = 1.0  # max gradient norm (spec §3)
    mask_rate: float = 0.3  # share of other number/datetime/boolean cells also masked per context (0: seed target only, as RT)
    peer_mask: float = 0.0  # autocomplete contexts: share of peer rows whose target-column cell is also masked
    name_shuffle: float = 0.0  # share of training contexts given column names drawn from the batch's other columns
    name_scope: str = "all"  # which columns of those contexts are renamed: all, target (its column only), other
    amp: str = "auto"  # auto: bf16 autocast on CUDA, float32 on CPU; "off"; "bf16"
    compile: bool = False  # torch.compile the model (CUDA; slow to start on CPU)
    seed: int = 0  # weight init and item order
    threads: int = 0  # torch intra-op threads (0: torch's default); 1 suits tiny models on shared CPUs
    # evaluation, logging, checkpoints
    eval_every: int = 100  # steps between evaluations (and at step 0 and the last step); 0 = never
    eval_batches: int = 4  # batches per task and split (spec §3: at most 80)
    eval_batch_size: int = 16  # contexts per evaluation batch
    eval_splits: tuple = ("val",)  # splits evaluated; best checkpoints are chosen on "val"
    max_eval_tasks: int = 10  # per store: at most half classification, half regression (spec §4)
    log_every: int = 10  # steps between metric lines
    ckpt_every: int = 100  # steps between checkpoints (and at the end)
    tensorboard: bool = False  # also write TensorBoard events (needs the tensorboard package)
    progress: bool = True  # progress bar on a terminal

    def __post_init__(self):
        for k in ("batch_size", "ctx_len", "max_bfs_width", "steps", "eval_batches", "eval_batch_size",
                  "log_every", "ckpt_every", "max_eval_tasks"):
            v = getattr(self, k)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise RelforgeError(f"TrainConfig.{k} must be a positive integer, got {v!r}")
        if self.eval_every < 0 or self.num_workers < 0 or self.threads < 0:
            raise RelforgeError("TrainConfig.eval_every and num_workers must be >= 0")
        if not self.lr > 0 or self.weight_decay < 0 or not 0 < self.pct_start < 1 or self.grad_clip < 0:
            raise RelforgeError("TrainConfig: need lr > 0, weight_decay >= 0, 0 < pct_start < 1, grad_clip >= 0")
        for k in ("peers", "recent"):
            v = getattr(self, k)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise RelforgeError(f"TrainConfig.{k} must be an integer >= 0, got {v!r}")
        if not 0 <= self.mask_rate < 1:
            raise RelforgeError(f"TrainConfig.mask_rate must be in [0, 1), got {self.mask_rate!r}")
        if not 0 <= self.peer_mask <= 1:
            raise RelforgeError(f"TrainConfig.peer_mask must be in [0, 1], got {self.peer_mask!r}")
        if not 0 <= self.name_shuffle <= 1:
            raise RelforgeError(f"TrainConfig.name_shuffle must be in [0, 1], got {self.name_shuffle!r}")
        if self.name_scope not in NAME_SCOPES:
            raise RelforgeError(f"TrainConfig.name_scope must be one of {', '.join(NAME_SCOPES)}, got {self.name_scope!r}")
        if self.task_share is not None and not 0 <= self.task_share <= 1:
            raise RelforgeError(f"TrainConfig.task_share must be in [0, 1] or None, got {self.task_share!r}")
        if not 0 <= self.history_dropout <= 1:
            raise RelforgeError(f"TrainConfig.history_dropout must be in [0, 1], got {self.history_dropout!r}")
        if self.amp not in ("auto", "off", "bf16"):
            raise RelforgeError(f"TrainConfig.amp must be auto, off or bf16, got {self.amp!r}")
        bad = [s for s in self.eval_splits if s not in ("val", "test")]
        if bad:
            raise RelforgeError(f"TrainConfig.eval_splits: unknown split(s) {bad} (use val, test)")
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "eval_splits", tuple(self.eval_splits))
        object.__setattr__(self, "forecast_splits",
                           check_forecast_splits(self.forecast_splits, self.task_share, "TrainConfig.forecast_splits"))

    def replace(self, **kw) -> "TrainConfig":
        return dataclasses.replace(self, **kw)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise RelforgeError(f"unknown training option(s): {', '.join(unknown)}")
        return cls(**d)

    @classmethod
    def from_saved(cls, d: dict) -> "TrainConfig":
        """A checkpoint's config: options it predates take the value its run actually used."""
        return cls.from_dict({**LEGACY, **d})

    def context(self) -> ContextSettings:
        """How this run builds its training contexts (recorded with its weights)."""
        return ContextSettings(self.ctx_len, self.max_bfs_width, self.peers, self.mask_rate, self.name_shuffle,
                               self.history, self.own_history, self.recent)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)
