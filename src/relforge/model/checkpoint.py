"""The trained model's one home: weights plus the record needed to use them.

A checkpoint is one safetensors file (loadable without pickle) whose string metadata holds

- ``format``: :data:`FORMAT` (the only format string in relforge);
- ``rt_config``: the :class:`~relforge.model.config.RTConfig` as JSON (the model arguments);
- ``step``: the optimizer step the weights were saved at;
- ``extra``: JSON of the record: ``embedder`` (``{"name", "dim"}`` of the text embedder the model
  was trained with), the context settings (:class:`ContextSettings`: ``ctx_len``,
  ``max_bfs_width``, ``peers``, ``mask_rate``, ``name_shuffle``, stored flat), ``tasks`` (the task
  names it was trained on, ``[]`` for every task) and any free-form training record (``info``:
  steps, losses, data, ...).

:func:`save` writes it atomically; :func:`read` returns its :class:`Record` without loading tensors;
:func:`load` builds the model and checks that the weights fit. ``save_training`` /
``load_state`` add the trainer state (``state.pt``: optimizer, schedule, step) of a resumable
training checkpoint folder.

Old checkpoints load with the settings they were made with: weights whose record lacks context
settings (a `relforge pretrain` run from before they were recorded) take them from the run's
``train_config.json`` beside them, with the values of options the run predates
(:data:`LEGACY`); fields found nowhere take the :class:`ContextSettings`
defaults. With no path, the packaged default model (``relforge/assets/default_model.safetensors``)
is used.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from relforge.batch import LABEL_HISTORY
from relforge.errors import RelforgeError
from relforge.model.config import RTConfig
from relforge.model.rt import RelationalTransformer

FORMAT = "relforge-rt/1"
WEIGHTS = "model.safetensors"
STATE = "state.pt"
DEFAULT_MODEL = "default_model.safetensors"

#: values of context options added after the first checkpoints were written (the behaviour before them)
LEGACY = {"mask_rate": 0.0, "peers": 0, "name_shuffle": 0.0}


@dataclass(frozen=True)
class ContextSettings:
    """How training contexts were built, so inference builds them the same way.

    The defaults are the values for weights that record none (the spec's context length, RT's
    contexts: no peers, no extra masks, true names); every reader in relforge uses these.
    """

    ctx_len: int = 1024  # cells per context (rt_pipeline.md §3)
    max_bfs_width: int = 128  # children followed per row (rt_pipeline.md §3)
    peers: int = 0  # labelled training rows of the seed's table per autocomplete context
    mask_rate: float = 0.0  # share of other cells also masked per training context (training only)
    name_shuffle: float = 0.0  # share of training contexts with shuffled column names (training only)
    history: int = LABEL_HISTORY  # forecast: the entity's most recent closed labels a context shows (0: all, -1: none)
    own_history: bool = False  # forecast: only the seed's own entity shows its labels (SamplerConfig.own_history)
    recent: int = 0  # the seed and its parents show their this many most recent children first (SamplerConfig.recent)

    def __post_init__(self):
        for k in ("ctx_len", "max_bfs_width"):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise RelforgeError(f"context setting {k} must be a positive integer, got {v!r}")
        for k, lo in (("peers", 0), ("history", -1), ("recent", 0)):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise RelforgeError(f"context setting {k} must be an integer >= {lo}, got {v!r}")
        if not isinstance(self.own_history, bool):
            raise RelforgeError(f"context setting own_history must be true or false, got {self.own_history!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def sampler_kw(self) -> dict:
        """The settings that build a context (``SamplerConfig`` / ``eval_tasks`` keywords), so that a
        reader of the weights passes all of them, not a hand-picked few."""
        return dict(ctx_len=self.ctx_len, max_bfs_width=self.max_bfs_width, peers=self.peers, history=self.history,
                    own_history=self.own_history, recent=self.recent)

    def replace(self, **kw) -> "ContextSettings":
        return dataclasses.replace(self, **{k: v for k, v in kw.items() if v is not None})

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_record(cls, *records: dict) -> "ContextSettings":
        """The settings of the first record (dict) holding each field; defaults for the rest."""
        got = {}
        for k in cls.fields():
            for r in records:
                if isinstance(r, dict) and r.get(k) is not None:
                    typ = type(getattr(cls, k))
                    got[k] = typ(r[k])
                    break
        return cls(**got)


@dataclass
class Record:
    """What a checkpoint says about its weights (everything but the tensors)."""

    config: RTConfig
    context: ContextSettings
    embedder: dict | None  # {"name": ..., "dim": ...}; None when the checkpoint does not record it
    tasks: tuple = ()
    info: dict = field(default_factory=dict)  # free-form training record (steps, losses, data, ...)
    step: int = 0
    path: str = ""


@dataclass
class Checkpoint(Record):
    """A :class:`Record` with its model (in eval mode)."""

    model: object = None


# ------------------------------------------------------------------------------------ paths

def default_path() -> Path:
    """Path of the packaged default model (``relforge/assets/default_model.safetensors``)."""
    return Path(str(files("relforge") / "assets" / DEFAULT_MODEL))


def weights_file(path: str | Path | None) -> Path:
    """The weights file of ``path``: a .safetensors file, a run/checkpoint folder holding
    ``model.safetensors``, or None for the packaged default model."""
    if path is None:
        p = default_path()
        if not p.is_file():
            raise RelforgeError(f"the default model is missing from the package ({p}); build it with "
                                "`make default-model` or pass --checkpoint")
        return p
    p = Path(path)
    if p.is_dir():
        p = p / WEIGHTS
    if not p.is_file():
        raise RelforgeError(f"no checkpoint at {str(path)!r} (expected a .safetensors file or a folder with {WEIGHTS})")
    return p


def _unwrap(model):
    model = getattr(model, "module", model)  # DDP
    return getattr(model, "_orig_mod", model)  # torch.compile


# ------------------------------------------------------------------------------------ write

def save(path: str | Path, model, *, context: ContextSettings | None = None, embedder: dict | None = None,
         tasks=(), step: int = 0, info: dict | None = None) -> Path:
    """Write ``model``'s weights and record to ``path`` (a .safetensors file) atomically."""
    from safetensors.torch import save_file

    model = _unwrap(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = dict(info or {})
    if context is not None:
        extra.update(context.to_dict())
    if embedder is not None:
        extra["embedder"] = dict(embedder)
    extra["tasks"] = list(tasks)
    meta = {"format": FORMAT, "rt_config": model.config.to_json(), "step": str(int(step)),
            "extra": json.dumps(extra, sort_keys=True)}
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


# ------------------------------------------------------------------------------------ read

def _metadata(f: Path) -> dict:
    from safetensors import safe_open

    try:
        with safe_open(str(f), framework="pt") as h:
            return h.metadata() or {}
    except Exception as e:  # noqa: BLE001 - safetensors raises several types for a corrupt header
        raise RelforgeError(f"cannot read checkpoint {str(f)!r}: corrupt or not a safetensors file "
                            f"({type(e).__name__})") from None


def _train_config_beside(f: Path) -> dict:
    """The ``train_config.json`` of the run that wrote ``f`` (run/model.safetensors,
    run/ckpt/model.safetensors, run/best/x.safetensors), with LEGACY values for options it predates."""
    for d in (f.parent, f.parent.parent):
        tc = d / "train_config.json"
        if tc.is_file():
            try:
                saved = json.loads(tc.read_text())
            except (OSError, json.JSONDecodeError):
                return {}
            return {**LEGACY, **saved} if isinstance(saved, dict) else {}
    return {}


def read(path: str | Path | None = None) -> Record:
    """The :class:`Record` of a checkpoint (the packaged default model when ``path`` is None)."""
    f = weights_file(path)
    meta = _metadata(f)
    if meta.get("format") != FORMAT or "rt_config" not in meta:
        raise RelforgeError(f"{str(f)!r} is not a relforge RT checkpoint (metadata format {meta.get('format')!r}, "
                            f"expected {FORMAT!r})")
    try:
        cfg = RTConfig.from_dict(json.loads(meta["rt_config"]))
        extra = json.loads(meta.get("extra", "{}"))
        step = int(meta.get("step", 0))
        if not isinstance(extra, dict):
            raise TypeError("extra is not a JSON object")
    except (json.JSONDecodeError, TypeError, ValueError) as e:
        raise RelforgeError(f"checkpoint {str(f)!r} has corrupt metadata ({e})") from None
    fallback = {} if all(k in extra for k in ContextSettings.fields()) else _train_config_beside(f)
    context = ContextSettings.from_record(extra, fallback)
    embedder = extra.get("embedder")
    tasks = tuple(extra.get("tasks") or fallback.get("tasks") or ())
    info = {k: v for k, v in extra.items() if k not in (*ContextSettings.fields(), "embedder", "tasks")}
    return Record(cfg, context, embedder if isinstance(embedder, dict) else None, tasks, info, step, str(f))


def load(path: str | Path | None = None, *, attention: str | None = None, device="cpu", into=None) -> Checkpoint:
    """Load a checkpoint (the packaged default model when ``path`` is None).

    ``attention`` overrides the recorded attention implementation (not a shape); ``into`` loads
    the weights into an existing model, which must have the recorded shape. A missing or corrupt
    file, another format, or weights that do not fit raise a one-line :class:`RelforgeError`.
    """
    from safetensors.torch import load_file

    rec = read(path)
    f = Path(rec.path)
    cfg = rec.config.replace(attention=attention) if attention else rec.config
    model = into if into is not None else RelationalTransformer(cfg)
    target = _unwrap(model)
    want, have = rec.config.shape_dict(), target.config.shape_dict()
    if want != have:
        diff = ", ".join(f"{k} {want[k]} vs {have[k]}" for k in want if want[k] != have[k])
        raise RelforgeError(f"checkpoint {str(f)!r} is for a different model size ({diff}; checkpoint vs model)")
    try:
        state = load_file(str(f), device=str(device))
    except Exception as e:  # noqa: BLE001
        raise RelforgeError(f"cannot read checkpoint {str(f)!r}: corrupt ({type(e).__name__})") from None
    own = target.state_dict()
    bad = [k for k in own if k not in state or tuple(state[k].shape) != tuple(own[k].shape)]
    extra = [k for k in state if k not in own]
    if bad or extra:
        k = (bad or extra)[0]
        got = tuple(state[k].shape) if k in state else "missing"
        exp = tuple(own[k].shape) if k in own else "unexpected"
        raise RelforgeError(f"checkpoint {str(f)!r} does not fit its model config (a checkpoint of another size?): "
                            f"{k} is {got}, expected {exp}")
    target.load_state_dict(state, strict=True)
    model.to(device)
    if into is None:
        model.eval()
    return Checkpoint(rec.config if into is not None else cfg, rec.context, rec.embedder, rec.tasks, rec.info,
                      rec.step, rec.path, model)


# ------------------------------------------------------------------------------------ training folders

def save_training(folder: str | Path, model, state: dict, **record) -> Path:
    """Write a training checkpoint folder (weights + record, trainer ``state``) atomically, replacing it."""
    import torch

    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        save(tmp / WEIGHTS, model, step=int(state.get("step", 0)), **record)
        torch.save(state, tmp / STATE)
        old = None
        if folder.exists():
            old = folder.parent / f".{folder.name}.old-{os.getpid()}"
            os.replace(folder, old)
        os.replace(tmp, folder)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return folder


def load_state(folder: str | Path) -> dict:
    """The trainer state of a training checkpoint folder."""
    import torch

    f = Path(folder) / STATE
    if not f.is_file():
        raise RelforgeError(f"no trainer state in {str(folder)!r} (missing {STATE}); is it a training checkpoint?")
    try:
        return torch.load(f, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a corrupt file
        raise RelforgeError(f"cannot read trainer state {str(f)!r}: {type(e).__name__}") from None


# ------------------------------------------------------------------------------------ embedder

def check_embedder(rec: Record, embedder: str | None) -> str:
    """The embedder name to tokenize with: the checkpoint's; a different explicit one is refused
    (column-name vectors of another embedder are meaningless to the model)."""
    if rec.embedder is None:
        if embedder is None:
            raise RelforgeError(f"checkpoint {rec.path!r} does not record its text embedder; pass --embedder "
                                "(the one it was pretrained with: minilm or hash)")
        return embedder
    want = rec.embedder.get("name")
    if embedder is not None and embedder != want:
        raise RelforgeError(f"checkpoint {rec.path!r} was pretrained with the {want!r} embedder, not {embedder!r}; "
                            "column-name embeddings must match (drop --embedder or use another checkpoint)")
    return want
