"""Configuration of the Relational Transformer (rt_pipeline.md §3) and its size presets.

``paper`` is the configuration of every PluRel script (rt_pipeline.md §3 "Defaults"), with the gated
attention output of relational-transformer 1.10 (the RT those scripts train); ``small``
matches the anchor bench's small model; ``tiny`` is a CPU debug preset (a few seconds per hundred
steps on 2 cores), good for tests and ``make demo``.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from relforge.errors import RelforgeError

ATTENTION_IMPLS = ("auto", "sparse", "dense", "flex")


@dataclass(frozen=True)
class RTConfig:
    n_blocks: int = 12  # blocks of (col, feat, nbr attention + SwiGLU FFN); rt_pipeline.md §3
    d_model: int = 256  # residual width; rt_pipeline.md §3
    n_heads: int = 8  # attention heads; head_dim = d_model / n_heads
    d_ff: int = 1024  # SwiGLU hidden width
    d_text: int = 384  # width of column-name / text embeddings (MiniLM); set from the tokenized data
    qk_norm: bool = True  # learnable RMSNorm over head_dim on queries and keys (PluRel); off = old RT
    huber_delta: float = 1.0  # Huber loss delta for numbers and datetimes; rt_pipeline.md §3 "Loss"
    norm_eps: float = 1e-6  # RMSNorm epsilon
    attention: str = "auto"  # "auto": flex on CUDA, sparse on CPU; "dense" = reference math
    attn_gate: bool = False  # gated attention output, 2 * sigmoid(W_g x) (relational-transformer 1.10); off = RT 1.0
    rel_time: bool = False  # add each cell's row age before the seed row (log days; untimed flagged) to its embedding; off = RT
    linear_values: bool = False  # also add each number / datetime cell's value (clipped to +-VALUE_CLIP) times a learned vector, un-normalized; off = RT
    copy_skip: bool = False  # a number / datetime target = the mean of its column's visible cells in the context + the decoder's output; off = RT

    def __post_init__(self):
        for name in ("n_blocks", "d_model", "n_heads", "d_ff", "d_text"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise RelforgeError(f"RTConfig.{name} must be a positive integer, got {v!r}")
        if self.d_model % self.n_heads:
            raise RelforgeError(f"RTConfig.d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads})")
        if self.attention not in ATTENTION_IMPLS:
            raise RelforgeError(f"RTConfig.attention must be one of {ATTENTION_IMPLS}, got {self.attention!r}")
        if not self.huber_delta > 0:
            raise RelforgeError(f"RTConfig.huber_delta must be > 0, got {self.huber_delta!r}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def replace(self, **kw) -> "RTConfig":
        return dataclasses.replace(self, **kw)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "RTConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise RelforgeError(f"unknown RTConfig field(s): {', '.join(unknown)}")
        return cls(**d)

    def shape_dict(self) -> dict:
        """The fields that fix parameter shapes (checked when loading a checkpoint)."""
        return {k: getattr(self, k) for k in ("n_blocks", "d_model", "n_heads", "d_ff", "d_text", "qk_norm",
                                                   "attn_gate", "rel_time", "linear_values")}


PRESETS: dict[str, dict] = {
    # rt_pipeline.md §3 with relational-transformer 1.10's attention gate: 21.55M params (19.19M without
    # the gate, ``preset("paper", attn_gate=False)``, the preset before the gate was added)
    "paper": dict(n_blocks=12, d_model=256, n_heads=8, d_ff=1024, attn_gate=True),
    "small": dict(n_blocks=4, d_model=128, n_heads=4, d_ff=512),  # anchor bench "small", ~1.9M params
    "tiny": dict(n_blocks=2, d_model=64, n_heads=4, d_ff=128),  # CPU debug preset (tests, demo)
}


def preset(name: str, **overrides) -> RTConfig:
    """The :class:`RTConfig` of a named preset (``paper``, ``small``, ``tiny``) with overrides."""
    if name not in PRESETS:
        raise RelforgeError(f"unknown model preset {name!r}; choose one of {', '.join(PRESETS)}")
    return RTConfig(**{**PRESETS[name], **overrides})
