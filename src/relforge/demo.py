"""End-to-end demo: ``python -m relforge.demo --out DIR`` (what ``make demo`` runs).

The demo is a list of small steps (:data:`STEPS`), each a function ``step(ctx) -> None`` that reads
and adds to the shared :class:`DemoContext` and prints a few lines. Later stages (tokenization,
training) are added by appending steps. Steps so far:

1. ``generate``: a small corpus of synthetic databases (``DIR/corpus/db_*``), see :mod:`relforge.corpus`;
2. ``summarize``: tables, rows, cells, FK child-count dispersion and lag-1 autocorrelation per database
   (:mod:`relforge.metrics`), also saved to ``DIR/summary.json``;
3. ``export``: the first database to DuckDB and SQLite with declared keys, read back and checked;
4. ``plot``: its schema graph to ``DIR/schema.png``.

Re-running into the same ``DIR`` replaces the previous demo output; a non-empty folder that is not a
demo output is refused.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from relforge.db.io import atomic_file, check_output_dir
from relforge.errors import RelforgeError

MARKER = ".relforge-demo"

#: A small generator config so the demo runs in seconds on a laptop CPU.
DEMO_CONFIG = {
    "schema": {"n_tables": (3, 6), "entity_rows": (100, 300), "activity_rows": (500, 1500), "n_features": (2, 8)},
}


@dataclass
class DemoContext:
    """What the steps share: the output folder, options, and results of earlier steps."""

    out: Path
    seed: int = 0
    n_dbs: int = 4
    workers: int = 1
    config: dict = field(default_factory=lambda: dict(DEMO_CONFIG))
    state: dict = field(default_factory=dict)

    def say(self, msg: str) -> None:
        print(msg, flush=True)


def step_generate(ctx: DemoContext) -> None:
    """Generate ``n_dbs`` databases into ``out/corpus``."""
    from relforge.corpus import generate_many

    seeds = list(range(ctx.seed, ctx.seed + ctx.n_dbs))
    records = generate_many(seeds, ctx.config, ctx.out / "corpus", workers=ctx.workers, overwrite=True,
                            progress=False)
    ctx.state["corpus"] = records
    rows, cells = sum(r["rows"] for r in records), sum(r["cells"] for r in records)
    secs = sum(r["seconds"] for r in records)
    ctx.say(f"generated {len(records)} databases ({rows:,} rows, {cells:,} cells) in {secs:.1f} s "
            f"-> {ctx.out / 'corpus'}")


def _finite(xs) -> np.ndarray:
    a = np.asarray(list(xs), dtype=np.float64)
    return a[np.isfinite(a)]


def step_summarize(ctx: DemoContext) -> None:
    """Per database: tables, rows, cells, median/max FK dispersion, median lag-1 autocorrelation."""
    from relforge.db.io import load_database
    from relforge.metrics import activity_autocorrs, link_dispersions

    summary = []
    ctx.say(f"{'database':<11} {'tables':>6} {'rows':>8} {'cells':>9} {'disp med':>9} {'disp max':>9} {'ac1 med':>8}")
    for r in ctx.state["corpus"]:
        db = load_database(r["path"])
        disp = _finite(link_dispersions(db).values())
        ac = _finite(activity_autocorrs(db).values())
        rec = dict(seed=r["seed"], tables=len(db.tables), rows=db.n_rows, cells=db.n_cells,
                   dispersion_median=float(np.median(disp)) if len(disp) else None,
                   dispersion_max=float(disp.max()) if len(disp) else None,
                   autocorr_median=float(np.median(ac)) if len(ac) else None)
        summary.append(rec)
        f = lambda v: "-" if v is None else f"{v:.2f}"  # noqa: E731
        ctx.say(f"{Path(r['path']).name:<11} {rec['tables']:>6} {rec['rows']:>8,} {rec['cells']:>9,} "
                f"{f(rec['dispersion_median']):>9} {f(rec['dispersion_max']):>9} {f(rec['autocorr_median']):>8}")
    ctx.state["summary"] = summary
    with atomic_file(ctx.out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2))


def step_export(ctx: DemoContext) -> None:
    """Export the first database to DuckDB and SQLite and check that keys and data read back."""
    from relforge.db.io import load_database
    from relforge.db.sql_io import read_duckdb, read_sqlite, to_duckdb, to_sqlite

    db = load_database(ctx.state["corpus"][0]["path"])
    ctx.state["db"] = db
    for write, read, name in ((to_duckdb, read_duckdb, "db0.duckdb"), (to_sqlite, read_sqlite, "db0.sqlite")):
        path = write(db, ctx.out / name, overwrite=True)
        back = read(path)
        same = back.content_hash() == db.content_hash()
        n_fk = sum(len(t.fkey_col_to_pkey_table) for t in back.tables.values())
        ctx.say(f"exported {db.name} -> {path} ({path.stat().st_size / 1e6:.1f} MB, {n_fk} foreign keys declared; "
                f"read back {'identical' if same else 'DIFFERENT'})")
        if not same:
            raise RelforgeError(f"{path} did not read back identically")


def step_plot(ctx: DemoContext) -> None:
    """Draw the first database's schema graph."""
    from relforge.plotting import plot_schema

    path = plot_schema(ctx.state["db"], ctx.out / "schema.png")
    ctx.say(f"schema graph -> {path}")


def step_pretrain(ctx: DemoContext) -> None:
    """Tokenize the corpus (unless an earlier step did), pretrain the tiny RT on all databases but
    the last, evaluate it on the held-out last one, plot the loss curve (:mod:`relforge.train.demo`)."""
    from relforge.train.demo import DEMO_TRAIN, mean_eval, plot_training, tokenize_dbs
    from relforge.train.loop import pretrain

    stores = ctx.state.get("store_dirs") or tokenize_dbs([r["path"] for r in ctx.state["corpus"]], ctx.out / "stores")
    if len(stores) < 2:
        raise RelforgeError("the training demo needs at least 2 databases (one is held out)")
    train_dir, held_dir = ctx.out / "stores_train", ctx.out / "stores_heldout"
    for d, group in ((train_dir, stores[:-1]), (held_dir, stores[-1:])):
        d.mkdir(exist_ok=True)
        for s in group:
            link = d / Path(s).name
            if not link.exists():
                link.symlink_to(Path(s).resolve())
    r = pretrain(train_dir, ctx.out / "rt_tiny", DEMO_TRAIN, eval_data=held_dir, overwrite=True, quiet=True)
    first, last = r["first_eval"], r["last_eval"]
    ctx.say(f"pretrained tiny RT ({r['params']:,} params) for {r['steps']} steps on {len(stores) - 1} databases "
            f"in {r['wall_s']:.1f} s -> {ctx.out / 'rt_tiny'}")
    ctx.say(f"held-out {Path(stores[-1]).name}: loss {mean_eval(first, 'loss'):.4f} (step 0) -> "
            f"{mean_eval(last, 'loss'):.4f}; constant baseline {mean_eval(last, 'baseline_loss'):.4f}; "
            f"AUROC {mean_eval(last, 'roc_auc'):.3f} (baseline 0.5), R2 {mean_eval(last, 'r2'):.3f} (baseline 0)")
    if mean_eval(last, "loss") > mean_eval(first, "loss"):
        ctx.say(f"   (a model pretrained on {len(stores) - 1} databases overfits them; held-out loss falls with the "
                "number of databases: docs/results.md, 'Scaling laws')")
    ctx.say(f"loss curve -> {plot_training(ctx.out / 'rt_tiny', ctx.out / 'loss_curve.png')}")


def step_zero_shot(ctx: DemoContext) -> None:
    """Zero-shot predictions on the Chinook SQLite file with the packaged default model (no training,
    no download): scored autocomplete of Invoice.Total after 2025-01-01 and the example forecast task."""
    from relforge.inference import torch_threads
    from relforge.settings import data_dir

    try:
        src = Path(data_dir()) / "chinook" / "Chinook_Sqlite.sqlite"
    except Exception:
        src = None
    if src is None or not src.is_file():
        ctx.say("Chinook not found (set RELFORGE_DATA); zero-shot step skipped")
        return
    with torch_threads(1):  # a tiny model on shared cores: more threads only spin
        _zero_shot(ctx, src)


def _zero_shot(ctx: DemoContext, src: Path) -> None:
    from relforge.model.checkpoint import load as load_checkpoint
    from relforge.predict import autocomplete, forecast, load_taskfile, load_user_db, write_frame

    ck = load_checkpoint(None)
    db = load_user_db(src)
    r = autocomplete(db, "Invoice", "Total", holdout_after="2025-01-01", ckpt=ck)
    path = write_frame(r.frame, ctx.out / "chinook_invoice_total.csv")
    ctx.say(f"default model ({ck.embedder['name']} embedder): Invoice.Total after 2025-01-01, {r.n_rows} rows, "
            f"R2 {r.metrics.get('r2', float('nan')):.3f} -> {path}")
    example = Path(__file__).resolve().parents[2] / "examples" / "chinook_task.toml"
    if example.is_file():
        r = forecast(db, load_taskfile(example), ckpt=ck)
        path = write_frame(r.frame, ctx.out / "chinook_churn.csv")
        ctx.say(f"forecast {example.name}: {r.n_rows} rows, AUROC {r.metrics.get('roc_auc', float('nan')):.3f} -> {path}")


#: The demo, in order. Append ``(name, step)`` pairs to extend it.
STEPS = [
    ("generate", step_generate),
    ("summarize", step_summarize),
    ("export", step_export),
    ("plot", step_plot),
    ("pretrain", step_pretrain),
    ("zero-shot", step_zero_shot),
]


def prepare_out(out: str | Path) -> Path:
    """Create ``out`` for the demo; refuse a non-empty folder that is not an earlier demo's output."""
    out = Path(out)
    if not (out / MARKER).is_file() and out.exists():
        try:
            check_output_dir(out, overwrite=False)
        except RelforgeError:
            raise RelforgeError(f"output folder {str(out)!r} is not empty and not an earlier demo output; "
                                "choose another --out") from None
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by python -m relforge.demo; safe to delete\n")
    return out


def run(ctx: DemoContext, steps=None) -> DemoContext:
    """Run ``steps`` (default :data:`STEPS`) in order, timing each."""
    t_all = time.perf_counter()
    for name, step in steps or STEPS:
        t0 = time.perf_counter()
        ctx.say(f"== {name}")
        step(ctx)
        ctx.say(f"   ({time.perf_counter() - t0:.1f} s)")
    ctx.say(f"demo finished in {time.perf_counter() - t_all:.1f} s; outputs in {ctx.out}")
    return ctx


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m relforge.demo", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="demo_out", help="output folder (default demo_out)")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--num-dbs", type=int, default=4, help="databases to generate")
    p.add_argument("--workers", type=int, default=1, help="worker processes for generation")
    a = p.parse_args(argv)
    try:
        ctx = DemoContext(prepare_out(a.out), seed=a.seed, n_dbs=a.num_dbs, workers=a.workers)
        run(ctx)
    except RelforgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
