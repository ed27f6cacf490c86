"""The ``relforge`` command line: thin wrappers over the library.

Each command parses options, builds a config, calls one library function and prints where the
output went. A :class:`RelforgeError` (bad config, schema, path, corrupt file) is printed as one
line ``error: ...`` with exit code 2, never a traceback.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from relforge.batch import LABEL_HISTORY
from relforge.errors import RelforgeError


class _OneLineErrors(TyperGroup):
    """Every error, usage errors included, as ONE line ``error: ...`` on stderr with exit code 2
    (also under typer's CliRunner, which calls ``main`` directly)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except RelforgeError as e:
            fail(str(e))
        except OSError as e:  # unwritable/full disk, permissions: the path is the problem, not the code
            where = f" ({e.filename})" if getattr(e, "filename", None) else ""
            fail(f"{e.strerror or e}{where}")
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        except typer.TyperException as e:  # click's usage errors (typer vendors click)
            if type(e).__name__ == "NoArgsIsHelpError":
                typer.echo(e.ctx.get_help())
                sys.exit(0)
            msg = e.format_message() if hasattr(e, "format_message") else str(e)
            typer.echo("error: " + " ".join(str(msg).split()), err=True)
            sys.exit(getattr(e, "exit_code", 2))
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(cls=_OneLineErrors, add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="relforge: synthetic relational databases and Relational Transformers.")


@app.callback()
def _root():
    """relforge: synthetic relational databases and Relational Transformers."""


_TIME_COL_HELP = ("TABLE=COLUMN: the row time of TABLE (TABLE= for none; repeatable); overrides the detected "
                  "or recorded time column (see `relforge inspect`)")


def fail(msg: str) -> None:
    typer.echo(f"error: {msg}", err=True)
    raise SystemExit(2)


@app.command("config")
def config_cmd():
    """Print every generator knob with its default, as a TOML file to edit."""
    from relforge.generate.config import describe

    typer.echo(describe())


@app.command("datasets")
def datasets_cmd(
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="real-data folder (default $RELFORGE_DATA or ../shared/data)"),
    sizes: bool = typer.Option(True, "--sizes/--no-sizes", help="load each database to report tables and rows"),
):
    """List the real databases (f1, chinook, movielens) and their tasks."""
    from relforge.realdata import describe

    for rec in describe(data_dir, with_sizes=sizes):
        line = f"{rec['name']}: {rec['description']}"
        if "error" in rec:
            line += f"  [unavailable: {rec['error']}]"
        elif sizes:
            line += (f"  [{rec['tables']} tables, {rec['rows']:,} rows, val {rec['val_timestamp']},"
                     f" test {rec['test_timestamp']}]")
        typer.echo(line)
        typer.echo(f"  tasks: {', '.join(rec['tasks'])}")


@app.command("generate")
def generate_cmd(
    seed: int = typer.Option(..., "--seed", help="seed of the (first) database"),
    out: Path = typer.Option(..., "--out", help="output folder (one database, or db_<seed>/ subfolders)"),
    num_dbs: int = typer.Option(1, "--num-dbs", help="number of databases; seeds S..S+K-1 into OUT/db_<seed>/"),
    config: Optional[Path] = typer.Option(None, "--config", help="generator config TOML (see `relforge config`)"),
    workers: int = typer.Option(1, "--workers", help="worker processes (output does not depend on it)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing non-empty output folder"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar on stderr"),
    schema: Optional[Path] = typer.Option(None, "--schema", help="SQL file of CREATE TABLE statements (parsed, never executed)"),
    dialect: Optional[str] = typer.Option(None, "--dialect", help="SQL dialect of --schema: sqlite, postgres, mysql, duckdb"),
    like: Optional[str] = typer.Option(None, "--like", help="a database like this SQLite/DuckDB file, database folder "
                                                             "or real database name (f1, chinook, movielens)"),
    like_mode: str = typer.Option("fitted", "--like-mode", help="fitted: learn the source's distributions, links and "
                                                                "dependence; schema: its schema and row counts only, "
                                                                "filled by the generic prior"),
    like_min_count: Optional[int] = typer.Option(None, "--like-min-count", help="fitted --like: labels, text shapes and "
                                                                                 "tokens seen fewer times are not kept "
                                                                                 "(default 5, relaxed in small columns)"),
    rows: Optional[list[str]] = typer.Option(None, "--rows", help="row counts for --schema/--like: N (every table) or TABLE=N (repeatable)"),
    time_col: Optional[list[str]] = typer.Option(None, "--time-col", help=_TIME_COL_HELP + "; with --schema/--like"),
):
    """Generate synthetic relational databases (PluRel pipeline) as Parquet folders."""
    from relforge.corpus import generate_to
    from relforge.generate.sources import like_generator, schema_generator

    if like is not None and schema is None and dialect is None:
        if like_mode == "fitted" and config is not None:
            raise RelforgeError("--config applies to --like-mode schema only (the fitted mode learns the source)")
        gen = like_generator(like, rows=rows, mode=like_mode, min_count=like_min_count, time_cols=time_col)
    else:
        if like_mode != "fitted" or like_min_count is not None:
            raise RelforgeError("--like-mode and --like-min-count apply to --like only")
        gen = schema_generator(schema, like, dialect=dialect, rows=rows, time_cols=time_col)  # None: random schemas
    recs = generate_to(out, seed, num_dbs, config, workers=workers, overwrite=overwrite, progress=progress,
                       generator=gen)
    rows, cells = sum(r["rows"] for r in recs), sum(r["cells"] for r in recs)
    if num_dbs == 1:
        r = recs[0]
        typer.echo(f"wrote database (seed {r['seed']}: {r['tables']} tables, {rows:,} rows, {cells:,} cells) to {out}")
    else:
        typer.echo(f"wrote {len(recs)} databases (seeds {recs[0]['seed']}..{recs[-1]['seed']}: {rows:,} rows, "
                   f"{cells:,} cells) to {out}/db_*/; manifest {out}/corpus.json")


@app.command("inspect")
def inspect_cmd(
    path: Path = typer.Argument(..., help="database folder, .sqlite/.duckdb file, or corpus folder"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="also draw the schema graph to this PNG"),
    columns: bool = typer.Option(True, "--columns/--no-columns", help="list every column with its type"),
    time_col: Optional[list[str]] = typer.Option(None, "--time-col", help=_TIME_COL_HELP),
):
    """Print a database's tables (kind, rows, keys, time column, column types); optionally plot its schema."""
    from relforge.corpus import describe_corpus, is_corpus

    if is_corpus(path):
        if plot is not None or time_col:
            raise RelforgeError(f"{str(path)!r} is a corpus; pass one of its db_* folders to --plot / --time-col")
        typer.echo(describe_corpus(path))
        return
    from relforge.db.describe import describe_database
    from relforge.db.io import load_database

    db = load_database(path, time_cols=time_col)
    typer.echo(describe_database(db, columns=columns))
    if plot is not None:
        from relforge.plotting import plot_schema

        plot_schema(db, plot)
        typer.echo(f"schema graph written to {plot}")


@app.command("export")
def export_cmd(
    path: Path = typer.Argument(..., help="database folder (or .sqlite/.duckdb file)"),
    duckdb: Optional[Path] = typer.Option(None, "--duckdb", help="write a DuckDB file"),
    sqlite: Optional[Path] = typer.Option(None, "--sqlite", help="write a SQLite file"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace existing output files"),
):
    """Export a database to DuckDB and/or SQLite with declared primary and foreign keys."""
    from relforge.db.io import export_database

    for p in export_database(path, duckdb=duckdb, sqlite=sqlite, overwrite=overwrite):
        typer.echo(f"wrote {p}")


@app.command("report")
def report_cmd(
    db: str = typer.Argument(..., help="database folder/.sqlite/.duckdb, real database name (f1, chinook, "
                                       "movielens), or a folder of databases (corpus)"),
    out: Path = typer.Option(..., "--out", help="report folder: index.html, plots/*.png, metrics.json"),
    vs: Optional[str] = typer.Option(None, "--vs", help="second database to compare against (same forms as DB)"),
    corpus: Optional[bool] = typer.Option(None, "--corpus/--single", help="corpus summary of a folder of databases "
                                                                       "(default: detected)"),
    seed: int = typer.Option(0, "--seed", help="seed of row subsampling and classifier folds"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing non-empty output folder"),
    time_col: Optional[list[str]] = typer.Option(None, "--time-col", help=_TIME_COL_HELP + "; of DB"),
    learnability: bool = typer.Option(False, "--learnability", help="add the learnability probe (LightGBM per "
                                                                    "autocomplete task; needs relforge[baselines])"),
):
    """Fidelity and realism report (HTML + PNG + JSON) of a database, a pair, or a corpus."""
    from relforge.report import build_report

    page = build_report(db, out, vs=vs, corpus=corpus, overwrite=overwrite, seed=seed, learnability=learnability,
                        time_cols=time_col)
    typer.echo(f"report written to {page} (metrics in {page.parent / 'metrics.json'})")


@app.command("tokenize")
def tokenize_cmd(
    db: str = typer.Argument(..., help="database folder (relforge or relbench layout), .sqlite/.duckdb, a real "
                                       "database name (f1, chinook, movielens), or a folder of databases (-> corpus)"),
    out: Path = typer.Option(..., "--out", help="store folder (memory-mapped .npy arrays + index.json), or corpus "
                                                "folder (one store per database + stores.json)"),
    embedder: str = typer.Option("minilm", "--embedder", help="minilm (needs relforge[text]), hash or hash:<dim>"),
    tasks: bool = typer.Option(True, "--tasks/--no-tasks", help="also tokenize the database's forecast tasks"),
    forecast_tasks: int = typer.Option(0, "--forecast-tasks", help="give each database without tasks of its own up to "
                                       "this many synthetic forecast tasks (churn, any, count, sum, mean over a window)"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing non-empty output folder"),
    time_col: Optional[list[str]] = typer.Option(None, "--time-col", help=_TIME_COL_HELP),
):
    """Tokenize a database into cells (one token per non-null cell) and save a cell store."""
    import json

    from relforge import realdata
    from relforge.tokenize.pipeline import tokenize_source

    if not Path(db).exists():
        if db not in realdata.list_databases():
            raise RelforgeError(f"no such database: {db!r} (a path, or one of {', '.join(realdata.list_databases())})")
        db = realdata.load_with_tasks(db)
    if forecast_tasks < 0:
        raise RelforgeError(f"--forecast-tasks must be >= 0, got {forecast_tasks}")
    maker = None
    if forecast_tasks > 0:
        from relforge.generate.tasks import task_maker

        maker = task_maker(forecast_tasks)
    info = tokenize_source(db, out, embedder=embedder, overwrite=overwrite, with_tasks=tasks, task_maker=maker,
                           time_cols=time_col)
    typer.echo(json.dumps(info))
    typer.echo(f"store written to {out}")


@app.command("sample")
def sample_cmd(
    store: Path = typer.Argument(..., help="cell store folder (from `relforge tokenize`)"),
    task: str = typer.Option(..., "--task", help="task name in the store, or table.column (autocomplete)"),
    split: str = typer.Option("train", "--split", help="train, val or test"),
    ctx_len: int = typer.Option(1024, "--ctx-len", help="cells per context"),
    width: int = typer.Option(128, "--max-bfs-width", help="children followed per row"),
    batch_size: int = typer.Option(8, "--batch-size", help="contexts to sample"),
    seed: int = typer.Option(0, "--seed", help="sampler seed"),
    peers: int = typer.Option(0, "--peers", help="labelled training rows of the seed's table per context"),
    recent: int = typer.Option(0, "--recent", help="the seed row and its parents show their this many most recent "
                               "children of each child table first"),
):
    """Sample one batch of contexts for a task and print a JSON summary (a check of a store/task)."""
    import json

    from relforge.tokenize.sampler import summarize_batch_for

    typer.echo(json.dumps(summarize_batch_for(store, task, split, ctx_len=ctx_len, width=width,
                                              batch_size=batch_size, seed=seed, peers=peers, recent=recent)))


@app.command("corpus")
def corpus_cmd(
    num_dbs: int = typer.Option(..., "--num-dbs", help="number of databases K (seeds OFFSET..OFFSET+K-1)"),
    out: Path = typer.Option(..., "--out", help="corpus folder (a killed run is completed by the same command)"),
    workers: int = typer.Option(1, "--workers", help="processes (local) or CPUs of a local Ray instance"),
    backend: str = typer.Option("local", "--backend", help="local (process pool) or ray"),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (default: start a local one)"),
    offset: int = typer.Option(0, "--offset", help="first seed"),
    config: Optional[Path] = typer.Option(None, "--config", help="generator config TOML (see `relforge config`)"),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="progress bar on stderr"),
):
    """Generate a resumable corpus of synthetic databases with a manifest (manifest.jsonl)."""
    from relforge.corpus import build_corpus

    r = build_corpus(out, num_dbs, offset=offset, config=config, workers=workers, backend=backend, address=address,
                     progress=progress)
    typer.echo(f"corpus {out}: {r['databases']} databases ({r['generated']} generated, {r['skipped']} already there, "
               f"{r['failed']} failed) in {r['seconds']:.1f} s; manifest {out / 'manifest.jsonl'}")


@app.command("scaling")
def scaling_cmd(
    n: str = typer.Option(..., "--n", help="training databases per cell, e.g. 8,16,32"),
    tokens: str = typer.Option(..., "--tokens", help="training tokens per cell, e.g. 1e6,4e6"),
    out: Path = typer.Option(..., "--out", help="sweep folder (re-run the same command to resume)"),
    config: str = typer.Option("tiny", "--config", help="model preset: tiny, small or paper"),
    corpus: Optional[Path] = typer.Option(None, "--corpus", help="synthetic corpus folder (default OUT/corpus; made or extended as needed)"),
    generator_config: Optional[Path] = typer.Option(None, "--generator-config", help="generator config TOML for a new corpus"),
    heldout: int = typer.Option(8, "--heldout", help="held-out databases (the first usable seeds)"),
    ctx_len: int = typer.Option(256, "--ctx-len", help="cells per context"),
    batch_size: int = typer.Option(8, "--batch-size", help="contexts per step"),
    lr: float = typer.Option(1e-3, "--lr", help="peak learning rate"),
    mask_rate: float = typer.Option(0.3, "--mask-rate", help="extra masked cells per training context (0: seed target only)"),
    peers: int = typer.Option(0, "--peers", help="labelled rows of the seed's table per autocomplete context "
                              "(pretrain's default is 16; the documented study used 0)"),
    eval_batches: int = typer.Option(16, "--eval-batches", help="held-out batches per evaluation"),
    seed: int = typer.Option(0, "--seed", help="sampler and init seed"),
    workers: int = typer.Option(1, "--workers", help="cells trained in parallel processes (1 torch thread each)"),
    real: str = typer.Option("", "--real", help="also evaluate the tasks of these real databases, e.g. f1,chinook"),
):
    """Scaling sweep: one model per (N, S) cell, held-out loss, power-law fits and plots."""
    from relforge.experiments.scaling import SweepConfig, parse_list, run_sweep

    cfg = SweepConfig(model=config, ctx_len=ctx_len, batch_size=batch_size, lr=lr, mask_rate=mask_rate, peers=peers,
                      n_heldout=heldout, eval_batches=eval_batches, seed=seed, real=tuple(x.strip() for x in real.split(",") if x.strip()))
    r = run_sweep(out, parse_list(n, int, "--n value"), parse_list(tokens, float, "--tokens value"), cfg,
                  corpus_dir=corpus, generator_config=generator_config, workers=workers)
    fit = r["fits"]["by_n"]
    if fit and "error" not in fit:
        typer.echo(f"L(N) = {fit['a']:.3g} * N^-{fit['b']:.3g} + {fit['c']:.3g} "
                   f"(b in [{fit['ci']['b'][0]:.3g}, {fit['ci']['b'][1]:.3g}])")
    typer.echo(f"sweep of {len(r['cells'])} cells written to {out} (table.md, results.json, PNG plots) "
               f"in {r['seconds']:.1f} s")


@app.command("pretrain")
def pretrain_cmd(
    data: Path = typer.Argument(..., help="tokenized store or corpus of stores (from `relforge tokenize`)"),
    out: Path = typer.Option(..., "--out", help="run folder: metrics.jsonl, ckpt/, model.safetensors, best/"),
    model: str = typer.Option("tiny", "--model", help="RT preset: tiny, small or paper"),
    steps: int = typer.Option(200, "--steps", help="optimizer steps"),
    batch_size: int = typer.Option(8, "--batch-size", help="contexts per step (per rank)"),
    ctx_len: int = typer.Option(1024, "--ctx-len", help="cells per context"),
    lr: float = typer.Option(5e-4, "--lr", help="peak learning rate (one-cycle schedule)"),
    eval_data: Optional[list[Path]] = typer.Option(None, "--eval", help="held-out store/corpus, repeatable "
                                                   "(default: DATA, split val)"),
    eval_every: int = typer.Option(100, "--eval-every", help="steps between evaluations (0: none)"),
    eval_batches: int = typer.Option(4, "--eval-batches", help="batches per task per evaluation"),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="weights to continue from (continued pretraining / fine-tuning)"),
    task: Optional[list[str]] = typer.Option(None, "--task", help="train only this task (repeatable): fine-tuning"),
    qk_norm: bool = typer.Option(True, "--qk-norm/--no-qk-norm", help="QK-normalization in attention"),
    mask_rate: float = typer.Option(0.3, "--mask-rate", help="share of other number/datetime/boolean cells also masked "
                                    "per training context (0: only the seed target, as RT)"),
    peers: int = typer.Option(16, "--peers", help="labelled training rows of the seed's table added to each "
                              "autocomplete context as in-context examples (0: RT's contexts)"),
    name_shuffle: float = typer.Option(0.0, "--name-shuffle", help="share of training contexts whose column names are "
                                       "replaced by other columns' names (1 for synthetic pretraining: their names "
                                       "carry no meaning across databases; 0 for real data)"),
    task_share: Optional[float] = typer.Option(None, "--task-share", help="share of training contexts from forecast "
                                               "task tables, the rest from autocomplete tasks (default: the stores' "
                                               "recorded tasks as they come)"),
    history: int = typer.Option(LABEL_HISTORY, "--history", help="forecast contexts: the entity's most recent closed labels "
                                "(0: all of them); recorded with the weights"),
    history_dropout: float = typer.Option(0.0, "--history-dropout", help="share of forecast training contexts shown no "
                                          "label history, so that the entity's own rows must answer them"),
    own_history: bool = typer.Option(False, "--own-history", help="forecast contexts: only the seed's own entity shows "
                                     "its labels, not other entities the walk reaches; recorded with the weights"),
    recent: int = typer.Option(0, "--recent", help="every context: the seed row and its parents show their this many "
                               "most recent children first (a forecast entity's latest events); recorded with the weights"),
    peer_mask: float = typer.Option(0.0, "--peer-mask", help="autocomplete contexts: share of peer rows whose target "
                                    "cell is also masked (more in-context regression labels per context)"),
    copy_skip: bool = typer.Option(False, "--copy-skip", help="predict a number target as the mean of its column's "
                                   "visible cells in the context plus the model's output (RTConfig.copy_skip)"),
    seed: int = typer.Option(0, "--seed", help="init and data-order seed"),
    workers: int = typer.Option(0, "--workers", help="DataLoader workers (0: build batches in-process)"),
    threads: int = typer.Option(0, "--threads", help="torch threads (0: torch's default)"),
    compile_: bool = typer.Option(False, "--compile", help="torch.compile the model"),
    tensorboard: bool = typer.Option(False, "--tensorboard", help="also write TensorBoard events to OUT/tb"),
    resume: bool = typer.Option(False, "--resume", help="continue the run in OUT from its last checkpoint"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace a non-empty OUT"),
):
    """Pretrain a Relational Transformer (scratch, --init-from: continued, --task: fine-tune); torchrun for DDP."""
    from relforge.train.config import TrainConfig
    from relforge.train.loop import pretrain

    cfg = TrainConfig(preset=model, steps=steps, batch_size=batch_size, ctx_len=ctx_len, lr=lr, eval_every=eval_every,
                      eval_batches=eval_batches, tasks=tuple(task or ()), qk_norm=qk_norm, mask_rate=mask_rate, peers=peers,
                      name_shuffle=name_shuffle, task_share=task_share, history=history,
                      history_dropout=history_dropout, own_history=own_history, recent=recent, peer_mask=peer_mask,
                      copy_skip=copy_skip,
                      seed=seed, num_workers=workers, threads=threads, compile=compile_,
                      tensorboard=tensorboard, ckpt_every=max(1, min(steps, 500)))
    r = pretrain(data, out, cfg, eval_data=eval_data or None, init_from=init_from, resume=resume, overwrite=overwrite)
    if r:
        typer.echo(f"trained {r['steps']} steps in {r['wall_s']:.1f} s; weights {out / 'model.safetensors'}, "
                   f"metrics {out / 'metrics.jsonl'}, best per task {out / 'best.json'}")


@app.command("evaluate")
def evaluate_cmd(
    weights: Path = typer.Argument(..., help="model.safetensors, or a run / checkpoint folder ('default': the packaged model)"),
    data: Path = typer.Argument(..., help="tokenized store or corpus to evaluate on (zero-shot)"),
    split: str = typer.Option("val", "--split", help="val or test"),
    batches: int = typer.Option(4, "--batches", help="batches per task"),
    batch_size: int = typer.Option(16, "--batch-size", help="contexts per batch"),
    task: Optional[list[str]] = typer.Option(None, "--task", help="only this task (repeatable)"),
    max_tasks: int = typer.Option(10, "--max-tasks", help="tasks per database: half classification, half regression"),
    out: Optional[Path] = typer.Option(None, "--out", help="also write the JSON report here"),
):
    """Evaluate a model zero-shot: loss, ROC AUC (classification), R2 (regression) per task."""
    import json

    from relforge.train.loop import evaluate_path

    if str(weights) == "default" and not weights.exists():
        from relforge.model.checkpoint import default_path

        weights = default_path()
    r = evaluate_path(weights, data, split=split, batches=batches, batch_size=batch_size, tasks=tuple(task or ()),
                      max_tasks=max_tasks)
    for t in r["tasks"]:
        m = f"roc_auc {t['roc_auc']:.3f}" if "roc_auc" in t else f"r2 {t.get('r2', float('nan')):.3f}"
        prior = f", training-rate constant {t['prior_loss']:.4f}" if "prior_loss" in t else ""
        typer.echo(f"{t['task']:40s} {t['split']:5s} loss {t['loss']:.4f} (baseline {t['baseline_loss']:.4f}{prior}) {m}")
    typer.echo(json.dumps(r["mean"]))
    if out is not None:
        from relforge.db.io import atomic_file

        with atomic_file(out) as tmp:
            tmp.write_text(json.dumps(r, indent=1))
        typer.echo(f"report written to {out}")


@app.command("predict")
def predict_cmd(
    db: Path = typer.Option(..., "--db", help="SQLite/DuckDB file or Parquet/relforge folder"),
    out: Optional[Path] = typer.Option(None, "--out", help="predictions file (.csv or .parquet, written atomically)"),
    table: Optional[str] = typer.Option(None, "--table", help="autocomplete: the table"),
    target: Optional[str] = typer.Option(None, "--target", help="autocomplete: the number/boolean column to fill"),
    task: Optional[Path] = typer.Option(None, "--task", help="forecast: a TOML task file (see examples/chinook_task.toml)"),
    checkpoint: Optional[Path] = typer.Option(None, "--checkpoint", help="RT weights (default: the packaged model)"),
    holdout_after: Optional[str] = typer.Option(None, "--holdout-after", help="predict rows after this time and score them"),
    embedder: Optional[str] = typer.Option(None, "--embedder", help="text embedder (default: the checkpoint's)"),
    ctx_len: Optional[int] = typer.Option(None, "--ctx-len", help="cells per context (default: the checkpoint's)"),
    seed: int = typer.Option(0, "--seed", help="context sampling seed"),
    time_col: Optional[list[str]] = typer.Option(None, "--time-col", help=_TIME_COL_HELP),
    holdout_frac: Optional[float] = typer.Option(None, "--holdout-frac",
                                                 help="predict a random share of the labelled rows and score them"),
    finetune_steps: int = typer.Option(0, "--finetune-steps",
                                       help="first train the model N steps on the labelled rows before the cut-off"),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines",
                                   help="when scored, also score a constant and LightGBM on the same rows"),
    threads: int = typer.Option(0, "--threads", help="torch CPU threads (0: the model on one, text embedding on all cores)"),
    history: Optional[int] = typer.Option(None, "--history",
                                          help="forecast: the entity's most recent closed labels each context shows "
                                               f"(default {LABEL_HISTORY}; 0: all of them)"),
    quiet: bool = typer.Option(False, "--quiet", help="no stage lines on stderr"),
):
    """Predict on your own database: fill a column (autocomplete) or a TOML forecast task."""
    from relforge.predict import run_predict
    from relforge.progress import Progress

    r = run_predict(db, out=out, table=table, target=target, taskfile=task, checkpoint=checkpoint, embedder=embedder,
                    holdout_after=holdout_after, ctx_len=ctx_len, seed=seed, holdout_frac=holdout_frac, time_cols=time_col,
                    finetune_steps=finetune_steps, baselines=baselines, threads=threads, history=history,
                    progress=Progress(enabled=not quiet))
    m = ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in r["metrics"].items())
    typer.echo(f"{r['rows']} predictions ({r['task_type']})" + (f"; {m}" if m else "")
               + (f"; written to {r['out']}" if "out" in r else ""))
    if "line" in r:
        typer.echo(r["line"] + (f"  (scores in {r['scores']})" if "scores" in r else ""))


@app.command("transfer")
def transfer_cmd(
    out: Path = typer.Option(..., "--out", help="folder for results.json, table.md and cached stores"),
    quick: bool = typer.Option(False, "--quick", help="a few-minute run (hash embedder, a handful of steps)"),
    preset: Optional[str] = typer.Option(None, "--model", help="RT preset: tiny, small or paper"),
    ctx_len: Optional[int] = typer.Option(None, "--ctx-len", help="cells per context"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="contexts per step"),
    synth_dbs: Optional[int] = typer.Option(None, "--synth-dbs", help="synthetic databases for the synthetic checkpoint"),
    synth_steps: Optional[int] = typer.Option(None, "--synth-steps", help="synthetic pretraining steps"),
    real_steps: Optional[int] = typer.Option(None, "--real-steps", help="real (continued) pretraining steps per held-out db"),
    eval_rows: Optional[int] = typer.Option(None, "--eval-rows", help="test rows per task (0: the full test sets)"),
    embedder: Optional[str] = typer.Option(None, "--embedder", help="minilm or hash"),
    synthetic_checkpoint: Optional[str] = typer.Option(None, "--synthetic-checkpoint",
                                                       help="reuse a synthetic checkpoint ('default': the packaged model; "
                                                            "'{seed}' in a path is replaced by the run's seed)"),
    lightgbm: Optional[bool] = typer.Option(None, "--lightgbm/--no-lightgbm", help="LightGBM baseline"),
    peers: Optional[int] = typer.Option(None, "--peers", help="labelled peer rows per autocomplete training context"),
    copy_skip: Optional[bool] = typer.Option(None, "--copy-skip", help="models built here (Real only, the synthetic "
                                             "pretraining) predict numbers as their column's visible mean + output"),
    seed: int = typer.Option(0, "--seed", help="seed of everything"),
    seeds: Optional[str] = typer.Option(None, "--seeds", help="comma-separated seeds: one run each (OUT/seed-<s>, "
                                        "reused when finished), then mean ± sd over them"),
):
    """Zero-shot transfer table: Real only (leave-one-DB-out), Synth + Real, Synth only, and baselines."""
    from relforge.experiments.transfer import QUICK, TransferConfig, run_transfer, run_transfer_seeds

    cfg = QUICK if quick else TransferConfig()
    over = dict(preset=preset, ctx_len=ctx_len, batch_size=batch_size, synth_dbs=synth_dbs, synth_steps=synth_steps,
                real_steps=real_steps, eval_rows=eval_rows, embedder=embedder, synthetic_checkpoint=synthetic_checkpoint,
                lightgbm=lightgbm, peers=peers, copy_skip=copy_skip)
    cfg = cfg.replace(seed=seed, **{k: v for k, v in over.items() if v is not None})
    if seeds is not None:
        try:
            picked = [int(x) for x in seeds.split(",") if x.strip()]
        except ValueError:
            raise RelforgeError(f"--seeds must be comma-separated integers, got {seeds!r}") from None
        r = run_transfer_seeds(cfg, picked, out)
        typer.echo(f"transfer table of {len(r['rows'])} tasks over {len(picked)} seeds in {r['seconds']:.0f} s: "
                   f"{out / 'table.md'}, {out / 'results.json'}")
        return
    r = run_transfer(cfg, out)
    typer.echo(f"transfer table of {len(r['rows'])} tasks in {r['seconds']:.0f} s: {out / 'table.md'}, {out / 'results.json'}")


def main(argv: Optional[list[str]] = None) -> None:
    """Entry point: run the app, turning RelforgeError into one line and exit code 2."""
    try:
        app(args=argv, standalone_mode=True)
    except RelforgeError as e:
        fail(str(e))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise SystemExit(130)


if __name__ == "__main__":
    main()
