"""`relforge predict` (zero-shot and ``--finetune-steps N``) against its own baselines on the real
databases' autocomplete tasks (docs/results.md "Real databases").

Each task's database (``relforge.realdata.load``, the task's leaky columns dropped as the task
declares) is written to a temporary relforge folder and predicted as a user would with
``relforge.predict.run_predict`` (the packaged default model or ``--checkpoint``, MiniLM, one torch thread):

- timed tables (F1 ``results.position``, MovieLens ``ratings.rating``): ``--holdout-after`` the
  database's test timestamp (the task's test rows are scored; everything before trains), or with
  ``--last K`` the time before the latest K labelled rows (a cheaper run on a busy machine);
- untimed ``Track.UnitPrice`` (Chinook): ``--holdout-frac 0.1`` (a seeded tenth of the rows).

Prints one JSON line per (task, steps) with the model's, the constant's and LightGBM's scores.

    python bench/predict_real.py [--tasks f1/results-position ...] [--steps 0 200] [--json out/real.jsonl]
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

TASKS = ("f1/results-position", "chinook/track-unitprice", "movielens/ratings-rating")


def prepare(name: str, task: str, folder: Path, last: int | None = None) -> dict:
    """Write the task's database (leaky columns dropped) to ``folder``; returns predict arguments."""
    from relforge import realdata
    from relforge.db.database import Database
    from relforge.db.io import save_database

    d = realdata.task_def(name, task)
    db = realdata.load(name)
    t = db[d.table]
    if d.drop_cols:
        t = replace(t, df=t.df.drop(columns=list(d.drop_cols)),
                    stypes={k: v for k, v in t.stypes.items() if k not in d.drop_cols})
    tables = dict(db.tables)
    tables[d.table] = t
    save_database(Database(tables, db.val_timestamp, db.test_timestamp, db.name, dict(db.meta)), folder)
    kw = dict(table=d.table, target=d.target_col)
    if t.time_col is not None and last:  # the latest ``last`` labelled rows (a cheaper run)
        times = t.df.loc[t.df[d.target_col].notna(), t.time_col].sort_values()
        kw["holdout_after"] = str(times.iloc[-last - 1])
    elif t.time_col is not None:
        kw["holdout_after"] = str(db.test_timestamp)
    else:
        kw["holdout_frac"] = 0.1
    return kw


def emit(rec: dict, path: str | None) -> None:
    """Print ``rec`` as one JSON line; also append it to ``path`` when given."""
    line = json.dumps(rec)
    print(line, flush=True)
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="*", default=list(TASKS))
    ap.add_argument("--steps", nargs="*", type=int, default=[0, 200])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="append the JSON lines to this file")
    ap.add_argument("--lr", type=float, default=None, help="fine-tuning peak lr (default: relforge.finetune.DEFAULTS)")
    ap.add_argument("--checkpoint", default=None, help="model to predict with (default: the packaged default model)")
    ap.add_argument("--last", type=int, default=None,
                    help="timed tables: hold out the latest LAST labelled rows instead of the test split")
    a = ap.parse_args()
    from relforge import finetune
    from relforge.predict import run_predict
    from relforge.progress import Progress

    if a.lr is not None:
        finetune.DEFAULTS["lr"] = a.lr

    for spec in a.tasks:
        name, task = spec.split("/")
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / name
            kw = prepare(name, task, folder, a.last)
            for n in a.steps:
                t0 = time.perf_counter()
                r = run_predict(folder, out=Path(tmp) / "pred.csv", seed=a.seed, finetune_steps=n, threads=1,
                                progress=Progress(), checkpoint=a.checkpoint, **kw)
                rec = {"task": spec, "checkpoint": a.checkpoint or "packaged default", "finetune_steps": n, "finetune_lr": finetune.DEFAULTS["lr"] if n else None,
                       **{k: v for k, v in kw.items() if k.startswith("holdout")},
                       "rows": r["rows"], "model": r["metrics"], "constant": r["baselines"].get("constant"),
                       "lightgbm": r["baselines"].get("lightgbm"), "n_train": r["baselines"].get("n_train"),
                       "finetune": r.get("finetune"), "line": r["line"], "wall_s": round(time.perf_counter() - t0, 1),
                       "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                       "load_avg": [round(x, 2) for x in os.getloadavg()]}
                emit(rec, a.json)


if __name__ == "__main__":
    main()
