"""Does a pretrained model do in-context regression on held-out databases of a prior?

For each held-out database of ``--prior`` (a prior-benchmark contender's generator, seeds ``--db-seed``
and on, never in a benchmark corpus), every float column of a table with at least 200 rows that
a ridge regression on the row's other columns, fitted to 16 random rows of the table, predicts
with R² >= ``--min-ridge`` (``scripts/ridge_probe.py``: an optimistic ceiling of what 16 peer rows
tell) becomes an autocomplete task. Each model of ``--runs`` (prior-benchmark run folders under
``WORK/runs``) is scored zero-shot on up to 300 evenly spaced test rows of each task with the
benchmark's contexts (16 training rows of the table as peers). A model that learned to regress a
cell on its row across the peers scores a Pearson r² near the ridge's; one that averages the peers'
values scores about 0.

    python scripts/icl_check.py --prior v1+direct-vis-nofk --work W relforge-default-s0-b1d322 ...
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ridge_probe import features, probe  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="run folders under WORK/runs (prior-benchmark runs)")
    ap.add_argument("--prior", required=True, help="contender whose generator draws the held-out databases")
    ap.add_argument("--work", required=True, type=Path, help="the prior benchmark's work folder")
    ap.add_argument("--dbs", type=int, default=10, help="held-out databases")
    ap.add_argument("--db-seed", type=int, default=90001, help="first held-out database seed")
    ap.add_argument("--min-ridge", type=float, default=0.3, help="keep columns a 16-row ridge predicts at least this well")
    ap.add_argument("--out", type=Path, help="also write one JSON line per task here")
    a = ap.parse_args(argv)

    import torch

    from relforge.db.task import TaskType
    from relforge.experiments import prior as P
    from relforge.generate.pipeline import generate_database
    from relforge.inference import embedder_for
    from relforge.model import checkpoint
    from relforge.tokenize.cells import build_cells, embed_store
    from relforge.tokenize.tasks import resolve_task

    torch.set_num_threads(1)
    cfg = P.PriorBenchConfig()
    gen = P.contender_generator_configs(P.CONTENDERS[a.prior], cfg.sizes)[0][0]  # its (first) generator
    models = {r: checkpoint.load(a.work / "runs" / r / "model.safetensors").model.eval() for r in a.runs}
    # each run's contexts as its contender (recorded in the run's key) was trained and benchmarked
    cfgs = {r: P.contender_config(cfg, P.recorded_contender(a.work / "runs" / r)) for r in a.runs}
    emb = embedder_for(cfg.embedder)
    rows = []
    for seed in range(a.db_seed, a.db_seed + a.dbs):
        db = generate_database(seed, gen)
        store = embed_store(build_cells(db, [], name=db.name), emb)
        for tn, t in db.tables.items():
            if len(t.df) < 200:
                continue
            for c in t.feature_cols:
                s = t.df[c]
                if not pd.api.types.is_float_dtype(s) or s.nunique() < 20:
                    continue
                X = features(t, c)
                if X.shape[1] == 0:
                    continue
                ridge = float(probe(X, s.astype(float).fillna(s.mean()).to_numpy(), [16], np.random.default_rng(0),
                                    n_eval=100)[16][0])
                if ridge < a.min_ridge:
                    continue
                st = resolve_task(store, dict(table=tn, target_col=c, drop_cols=[], task_type=TaskType.regression),
                                  "test", ctx_len=cfg.ctx_len)
                if st.n_seeds < 30:
                    continue
                if st.n_seeds > 300:
                    pick = np.unique(np.linspace(0, st.n_seeds - 1, 300).round().astype(np.int64))
                    st = dataclasses.replace(st, seeds=st.seeds[pick])
                row = dict(db=seed, task=f"{tn}.{c}", ridge16=round(ridge, 3))
                for r, m in models.items():
                    sc = P._score(m, st, cfgs[r])
                    row[r] = dict(r2=round(sc["value"], 4), pearson_r2=round(sc["pearson_r2"], 4))
                rows.append(row)
                print(json.dumps(row), flush=True)
    if not rows:
        print("no task passed the ridge filter", file=sys.stderr)
        return 1
    if a.out:
        a.out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{len(rows)} tasks; 16-row ridge R2 median {np.median([r['ridge16'] for r in rows]):.3f}")
    for r in a.runs:
        print(f"{r}: R2 median {np.median([x[r]['r2'] for x in rows]):.3f}, "
              f"Pearson r2 median {np.median([x[r]['pearson_r2'] for x in rows]):.3f} "
              f"(mean {np.mean([x[r]['pearson_r2'] for x in rows]):.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
