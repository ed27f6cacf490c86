"""The ``relforge predict`` command: load a checkpoint and a database, predict, write the frame."""
from __future__ import annotations

from pathlib import Path

from relforge.errors import RelforgeError
from relforge.inference import torch_threads
from relforge.model import checkpoint as ckpt_io
from relforge.predict.autocomplete import autocomplete
from relforge.predict.taskfile import forecast, load_taskfile
from relforge.predict.userdb import load_user_db, write_frame


def run_predict(db_path, *, out, table: str | None = None, target: str | None = None, taskfile=None,
                checkpoint=None, embedder: str | None = None, holdout_after=None, ctx_len: int | None = None,
                batch_size: int = 16, seed: int = 0, threads: int = 1) -> dict:
    """The ``relforge predict`` command: load, predict, write ``out``; returns a summary dict."""
    with torch_threads(threads):
        return _run_predict(db_path, out=out, table=table, target=target, taskfile=taskfile, checkpoint=checkpoint,
                            embedder=embedder, holdout_after=holdout_after, ctx_len=ctx_len, batch_size=batch_size,
                            seed=seed)


def _run_predict(db_path, *, out, table, target, taskfile, checkpoint, embedder, holdout_after, ctx_len, batch_size,
                 seed) -> dict:
    if taskfile is None and (table is None or target is None):
        raise RelforgeError("give --table and --target (autocomplete), or --task TASKFILE (forecast)")
    if taskfile is not None and (table is not None or target is not None):
        raise RelforgeError("give either --task TASKFILE or --table/--target, not both")
    if out is not None and Path(out).suffix.lower() not in (".csv", ".parquet"):
        raise RelforgeError(f"output {str(out)!r} must end in .csv or .parquet")
    tf = load_taskfile(taskfile) if taskfile is not None else None
    ck = ckpt_io.load(checkpoint)
    db = load_user_db(db_path)
    if tf is not None:
        res = forecast(db, tf, embedder=embedder, ctx_len=ctx_len, batch_size=batch_size, seed=seed, ckpt=ck)
    else:
        res = autocomplete(db, table, target, embedder=embedder, holdout_after=holdout_after, ctx_len=ctx_len,
                           batch_size=batch_size, seed=seed, ckpt=ck)
    summary = dict(rows=res.n_rows, task_type=res.task_type, metrics=res.metrics, checkpoint=ck.path)
    if out is not None:
        summary["out"] = str(write_frame(res.frame, out))
    return summary
