"""Checkpoints: model weights as safetensors (config JSON in the metadata), trainer state aside.

A checkpoint folder holds
- ``model.safetensors``: the unwrapped model's ``state_dict`` with metadata ``format``,
  ``rt_config`` (JSON of :class:`RTConfig`) and ``step``; loadable without pickle;
- ``state.pt`` (training checkpoints only): optimizer, LR scheduler, step, sampler position, RNG
  states, train config and best-so-far records, via ``torch.save``.
Folders are written to a temporary sibling and renamed, so a crash never leaves half a checkpoint.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from relforge.errors import RelforgeError
from relforge.model.config import RTConfig
from relforge.model.rt import RelationalTransformer

FORMAT = "relforge-rt/1"
WEIGHTS = "model.safetensors"
STATE = "state.pt"


def _unwrap(model):
    model = getattr(model, "module", model)  # DDP
    return getattr(model, "_orig_mod", model)  # torch.compile


def save_weights(path: str | Path, model, *, step: int = 0, extra: dict | None = None) -> Path:
    """Write ``model``'s weights to ``path`` (a .safetensors file) atomically."""
    model = _unwrap(model)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {"format": FORMAT, "rt_config": model.config.to_json(), "step": str(int(step))}
    if extra:
        meta["extra"] = json.dumps(extra, sort_keys=True)
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


def _weights_file(path: Path) -> Path:
    path = Path(path)
    if path.is_dir():
        path = path / WEIGHTS
    if not path.is_file():
        raise RelforgeError(f"no checkpoint at {str(path)!r} (expected a .safetensors file or a folder with {WEIGHTS})")
    return path


def read_config(path: str | Path) -> tuple[RTConfig, dict]:
    """The :class:`RTConfig` and metadata stored in a weights file or checkpoint folder."""
    f = _weights_file(path)
    try:
        with safe_open(str(f), framework="pt") as h:
            meta = h.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise RelforgeError(f"cannot read checkpoint {str(f)!r}: {e}") from None
    if meta.get("format") != FORMAT or "rt_config" not in meta:
        raise RelforgeError(f"{str(f)!r} is not a relforge RT checkpoint (format {meta.get('format')!r})")
    try:
        cfg = RTConfig.from_dict(json.loads(meta["rt_config"]))
    except json.JSONDecodeError as e:
        raise RelforgeError(f"corrupt model config in checkpoint {str(f)!r}: {e}") from None
    return cfg, meta


def load_weights(path: str | Path, model: RelationalTransformer | None = None, *, attention: str | None = None,
                 device="cpu") -> RelationalTransformer:
    """Load weights into ``model`` (checked to have the same shape config) or into a new model
    built from the stored config. A size mismatch raises a one-line :class:`RelforgeError`."""
    cfg, _ = read_config(path)
    f = _weights_file(path)
    if model is None:
        model = RelationalTransformer(cfg.replace(attention=attention) if attention else cfg)
    target = _unwrap(model)
    want, have = cfg.shape_dict(), target.config.shape_dict()
    if want != have:
        diff = ", ".join(f"{k} {want[k]} vs {have[k]}" for k in want if want[k] != have[k])
        raise RelforgeError(f"checkpoint {str(f)!r} is for a different model size ({diff}; checkpoint vs model)")
    try:
        state = load_file(str(f), device=str(device))
    except (SafetensorError, OSError) as e:
        raise RelforgeError(f"cannot read checkpoint {str(f)!r}: {e}") from None
    missing, unexpected = target.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise RelforgeError(f"checkpoint {str(f)!r} does not match the model "
                            f"(missing {list(missing)[:3]}, unexpected {list(unexpected)[:3]})")
    return model.to(device)


def save_checkpoint(folder: str | Path, model, state: dict) -> Path:
    """Write a training checkpoint folder (weights + trainer ``state``) atomically, replacing it."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.tmp-", dir=folder.parent))
    try:
        save_weights(tmp / WEIGHTS, model, step=int(state.get("step", 0)))
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
    """The trainer state of a checkpoint folder."""
    f = Path(folder) / STATE
    if not f.is_file():
        raise RelforgeError(f"no trainer state in {str(folder)!r} (missing {STATE}); is it a training checkpoint?")
    try:
        return torch.load(f, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unpickling failure is a corrupt file
        raise RelforgeError(f"cannot read trainer state {str(f)!r}: {type(e).__name__}") from None
