"""Fine-tuning variants on a validation split of rel-f1 ``results.position`` (docs/results.md,
"Why F1 trailed LightGBM"): choices are made here, never on the test rows (after 2010).

The F1 database (leaky columns dropped, as ``bench/predict_real.py`` writes it) is cut at
2010-01-01 (later rows removed), and ``relforge.predict.autocomplete`` predicts the rows after
``--cut`` (2005-01-01) with ``--steps`` of fine-tuning on the rows before it. To keep a run short,
the model scores a seeded sample of ``--neval`` of those rows; the constant and LightGBM score all
of them. Variants (development knobs of ``relforge.finetune``): ``--share`` forces the share of the
other rows' target cells hidden per training context (default: measured, as ``predict`` does;
0 = none hidden), ``--targets 1`` masks them as extra labels instead of removing them, ``--lr``,
``--batch``.

    python bench/finetune_f1_val.py --steps 600 [--share 0] [--targets 1] [--json out/val.jsonl]
"""
from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cut", default="2005-01-01")
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--share", type=float, default=-1.0, help="hidden share (default: measured)")
    ap.add_argument("--targets", type=int, default=0, help="1: mask the hidden cells as extra labels")
    ap.add_argument("--neval", type=int, default=2000)
    ap.add_argument("--json", default=None)
    ap.add_argument("--checkpoint", default=None, help="model to fine-tune (default: the packaged default model)")
    a = ap.parse_args()
    import torch

    from predict_real import emit, prepare
    from relforge import finetune as FT
    from relforge.db.database import Database
    from relforge.predict.userdb import load_user_db

    torch.set_num_threads(1)
    AC = importlib.import_module("relforge.predict.autocomplete")
    FT.DEFAULTS.update(lr=a.lr, batch_size=a.batch, column_targets=bool(a.targets))
    measured = FT.hidden_share
    FT.hidden_share = lambda *x, **k: measured(*x, **k) if a.share < 0 else a.share
    full_predict = AC.predict_task

    def predict_sample(model, st, context, **kw):  # the model scores a seeded sample of the rows
        seeds = st.seeds
        if a.neval and len(seeds) > a.neval:
            seeds = np.sort(np.random.default_rng(0).choice(seeds, a.neval, replace=False))
        return full_predict(model, replace(st, seeds=seeds), context, **kw)

    AC.predict_task = predict_sample
    with tempfile.TemporaryDirectory() as tmp:
        prepare("f1", "results-position", Path(tmp) / "f1")
        db = load_user_db(Path(tmp) / "f1")
    tabs = {}
    for n, t in db.tables.items():
        if t.time_col is not None:
            keep = (pd.to_datetime(t.df[t.time_col]) < pd.Timestamp("2010-01-01")).to_numpy()
            t = replace(t, df=t.df[keep].reset_index(drop=True))
        tabs[n] = t
    db = Database(tabs, None, None, db.name, dict(db.meta))
    t0 = time.perf_counter()
    r = AC.autocomplete(db, "results", "position", holdout_after=a.cut, finetune_steps=a.steps, baselines=True, seed=0,
                        checkpoint=a.checkpoint)
    rec = dict(cut=a.cut, steps=a.steps, lr=a.lr, batch=a.batch, share=a.share, targets=a.targets,
               checkpoint=a.checkpoint or "default", model=r.metrics,
               finetune=r.finetune, constant=r.baselines["constant"]["r2"], lightgbm=r.baselines["lightgbm"]["r2"],
               wall_s=round(time.perf_counter() - t0, 1), date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    emit(rec, a.json)


if __name__ == "__main__":
    main()
