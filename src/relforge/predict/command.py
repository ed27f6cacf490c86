"""The ``relforge predict`` command: load a checkpoint and a database, (fine-tune,) predict, write the
frame and, when scored, the model's and the baselines' scores (``<out>.scores.json``)."""
from __future__ import annotations

from pathlib import Path

from relforge.db.timecols import apply_time_cols
from relforge.errors import RelforgeError
from relforge.inference import torch_threads
from relforge.model import checkpoint as ckpt_io
from relforge.predict.autocomplete import autocomplete
from relforge.predict.taskfile import forecast, load_taskfile
from relforge.predict.userdb import load_user_db, write_frame


def run_predict(db_path, *, out, table: str | None = None, target: str | None = None, taskfile=None,
                checkpoint=None, embedder: str | None = None, holdout_after=None, ctx_len: int | None = None,
                batch_size: int = 16, seed: int = 0, threads: int = 0, holdout_frac: float | None = None,
                finetune_steps: int = 0, baselines: bool = True, progress=None, time_cols=None,
                history: int | None = None) -> dict:
    """The ``relforge predict`` command: load, (fine-tune,) predict, write ``out`` and, when scored,
    ``<out>.scores.json``; returns a summary dict (``line``: the model and baseline scores)."""
    from relforge.tokenize.embed import text_threads

    # threads 0 (default): the small RT on one thread (more only spin), MiniLM on every core
    with torch_threads(threads if threads > 0 else 1), text_threads(threads):
        return _run_predict(db_path, out=out, table=table, target=target, taskfile=taskfile, checkpoint=checkpoint,
                            embedder=embedder, holdout_after=holdout_after, ctx_len=ctx_len, batch_size=batch_size,
                            seed=seed, holdout_frac=holdout_frac, finetune_steps=finetune_steps, baselines=baselines,
                            progress=progress, time_cols=time_cols, history=history)


def _run_predict(db_path, *, out, table, target, taskfile, checkpoint, embedder, holdout_after, ctx_len, batch_size,
                 seed, holdout_frac, finetune_steps, baselines, progress, time_cols=None, history=None) -> dict:
    from relforge.progress import SILENT

    prog = progress or SILENT
    if taskfile is None and (table is None or target is None):
        raise RelforgeError("give --table and --target (autocomplete), or --task TASKFILE (forecast)")
    if taskfile is not None and (table is not None or target is not None):
        raise RelforgeError("give either --task TASKFILE or --table/--target, not both")
    if out is not None and Path(out).suffix.lower() not in (".csv", ".parquet"):
        raise RelforgeError(f"output {str(out)!r} must end in .csv or .parquet")
    if finetune_steps is None or int(finetune_steps) < 0:
        raise RelforgeError(f"--finetune-steps must be >= 0, got {finetune_steps!r}")
    if history is not None and (isinstance(history, bool) or not isinstance(history, int) or history < 0):
        raise RelforgeError(f"--history must be an integer >= 0, got {history!r}")
    if history is not None and taskfile is None:
        raise RelforgeError("--history applies to forecast task files (--task), not to autocomplete")
    if holdout_frac is not None and holdout_after is not None:
        raise RelforgeError("give --holdout-after or --holdout-frac, not both")
    if holdout_frac is not None and not 0 < float(holdout_frac) < 1:
        raise RelforgeError(f"--holdout-frac must be between 0 and 1, got {holdout_frac!r}")
    prog.hold()
    tf = load_taskfile(taskfile) if taskfile is not None else None
    ck = ckpt_io.load(checkpoint)
    db = apply_time_cols(load_user_db(db_path), time_cols)
    prog.done("load", f"{len(db.tables)} tables, {sum(len(t) for t in db.tables.values()):,} rows, "
                      f"model {Path(ck.path).name}")
    kw = dict(embedder=embedder, ctx_len=ctx_len, batch_size=batch_size, seed=seed, ckpt=ck, holdout_frac=holdout_frac,
              finetune_steps=int(finetune_steps), baselines=baselines, progress=prog)
    if tf is not None:
        res = forecast(db, tf, history=history, **kw)
    else:
        res = autocomplete(db, table, target, holdout_after=holdout_after, **kw)
    prog.release()
    summary = dict(rows=res.n_rows, task_type=res.task_type, metrics=res.metrics, checkpoint=ck.path)
    if res.finetune:
        summary["finetune"] = res.finetune
    if res.metrics:
        from relforge.predict_baselines import format_line

        label = f"model (fine-tuned {res.finetune['steps']} steps)" if res.finetune else "model"
        summary["baselines"] = res.baselines
        summary["line"] = format_line(res.metrics, res.baselines, res.task_type, label)
    if out is not None:
        summary["out"] = str(write_frame(res.frame, out))
        if res.metrics:
            from relforge.predict_baselines import scores_path, write_scores

            rec = {"task": tf.name if tf is not None else f"{table}.{target}", "task_type": res.task_type,
                   "rows": res.n_rows, "model": {**res.metrics, "checkpoint": Path(ck.path).name,
                                                 "finetune": res.finetune or None},
                   **{k: v for k, v in res.baselines.items() if k in ("constant", "lightgbm", "n_train")}}
            summary["scores"] = str(write_scores(scores_path(out), rec))
    return summary
