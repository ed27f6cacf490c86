"""File-level tokenization: read a database (and its tasks), tokenize, embed, save a store.

I/O lives here and in the CLI; :func:`relforge.tokenize.cells.build_cells` stays pure.
"""
from __future__ import annotations

import time
from pathlib import Path

from relforge.errors import RelforgeError
from relforge.tokenize.cells import build_cells, embed_store
from relforge.tokenize.store import CORPUS_INDEX, save_store, write_store


def load_source(source: str | Path):
    """(Database, tasks) from a database path (relforge/relbench folder, .sqlite, .duckdb; forecast
    tasks from ``PATH/tasks/<name>/*.parquet`` in relbench layout) or a real database name
    (``f1``, ``chinook``, ``movielens``; with its defined tasks)."""
    from relforge.db.io import load_database
    from relforge.tokenize.tasks import read_relbench_tasks

    p = Path(source)
    if p.exists():
        return load_database(p), read_relbench_tasks(p) if p.is_dir() else []
    from relforge import realdata

    if str(source) in realdata.list_databases():
        db = realdata.load(str(source))
        return db, [realdata.get_task(str(source), t, db=db) for t in realdata.list_tasks(str(source))]
    raise RelforgeError(f"no such database: {str(source)!r} (a path, or one of {', '.join(realdata.list_databases())})")


def with_synthetic_tasks(db, tasks: list, forecast_tasks: int) -> list:
    """``tasks``, or, when a database comes without tasks and ``forecast_tasks`` > 0, up to that many
    synthetic forecast tasks (:func:`relforge.generate.tasks.forecast_tasks`, seeded by the
    database's generator seed)."""
    if forecast_tasks <= 0 or tasks:
        return list(tasks)
    from relforge.generate.tasks import ForecastTaskConfig, forecast_tasks as draw, seed_of

    return draw(db, seed_of(db), ForecastTaskConfig(n_tasks=forecast_tasks))


def tokenize_source(source: str | Path, out: str | Path, *, embedder="minilm", overwrite: bool = False,
                    with_tasks: bool = True, forecast_tasks: int = 0) -> dict:
    """Tokenize ``source`` into the store folder ``out`` (a folder of databases into a corpus, see
    :func:`tokenize_corpus`); returns a summary with timings. ``forecast_tasks`` > 0 gives every
    database without tasks of its own that many synthetic forecast tasks (:func:`with_synthetic_tasks`)."""
    from relforge.db.io import check_output_dir
    from relforge.tokenize.embed import get_embedder

    check_output_dir(out, overwrite)
    folders = database_folders(source)
    if folders is not None:
        return tokenize_corpus(folders, out, embedder=embedder, overwrite=overwrite, with_tasks=with_tasks,
                               forecast_tasks=forecast_tasks)
    emb = get_embedder(embedder)  # fail early on a missing text extra
    t0 = time.perf_counter()
    db, tasks = load_source(source)
    t1 = time.perf_counter()
    cells = build_cells(db, with_synthetic_tasks(db, tasks if with_tasks else [], forecast_tasks))
    t2 = time.perf_counter()
    store = embed_store(cells, emb)
    t3 = time.perf_counter()
    save_store(store, out, overwrite=overwrite)
    return dict(store=str(out), name=store.name, nodes=store.n_nodes, cells=store.n_cells,
                columns=len(store.columns), texts=len(store.get_texts()), tasks=[t["name"] for t in store.index["tasks"]],
                embedder=store.index["embedder"]["name"], load_s=round(t1 - t0, 4), tokenize_s=round(t2 - t1, 4),
                embed_s=round(t3 - t2, 4), save_s=round(time.perf_counter() - t3, 4))


def _is_database_dir(p: Path) -> bool:
    return p.is_dir() and ((p / "db").is_dir() or (p / "metadata.json").is_file() or any(p.glob("*.parquet")))


def database_folders(source: str | Path) -> list[Path] | None:
    """The database subfolders of a folder of databases (e.g. ``relforge generate --num-dbs K``),
    sorted by name; None when ``source`` is itself one database."""
    p = Path(source)
    if not p.is_dir() or _is_database_dir(p):
        return None
    subs = sorted(q for q in p.iterdir() if not q.name.startswith(".") and _is_database_dir(q))
    return subs or None


def tokenize_corpus(folders: list[Path], out: str | Path, *, embedder="minilm", overwrite: bool = False,
                    with_tasks: bool = True, forecast_tasks: int = 0) -> dict:
    """Tokenize every database folder into one corpus (``OUT/<name>/`` stores + ``stores.json``),
    atomically; one embedder instance (and its string cache) serves all databases."""
    import json

    from relforge.db.io import atomic_dir, load_database
    from relforge.tokenize.embed import get_embedder
    from relforge.tokenize.tasks import read_relbench_tasks

    emb = get_embedder(embedder)
    names, t_tok, t_emb, cells = [], 0.0, 0.0, 0
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for f in folders:
            db = load_database(f)
            t0 = time.perf_counter()
            tasks = with_synthetic_tasks(db, read_relbench_tasks(f) if with_tasks else [], forecast_tasks)
            c = build_cells(db, tasks, name=f.name)
            t1 = time.perf_counter()
            st = embed_store(c, emb)
            t_tok, t_emb = t_tok + t1 - t0, t_emb + time.perf_counter() - t1
            if f.name in names:
                raise RelforgeError(f"two databases named {f.name!r}")
            write_store(st, tmp / f.name)
            names.append(f.name)
            cells += st.n_cells
        (tmp / CORPUS_INDEX).write_text(json.dumps({"format": "relforge-corpus", "stores": names}))
    return dict(corpus=str(out), stores=len(names), cells=cells, embedder=emb.describe()["name"],
                tokenize_s=round(t_tok, 3), embed_s=round(t_emb, 3))
