"""File-level tokenization: read a database (and its tasks), tokenize, embed, save a store.

I/O lives here and in the CLI; :func:`relforge.tokenize.cells.build_cells` stays pure.
"""
from __future__ import annotations

import time
from pathlib import Path

from relforge.errors import RelforgeError
from relforge.tokenize.cells import build_cells, embed_store
from relforge.tokenize.store import save_store


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


def tokenize_source(source: str | Path, out: str | Path, *, embedder="minilm", overwrite: bool = False,
                    with_tasks: bool = True) -> dict:
    """Tokenize ``source`` into the store folder ``out``; returns a summary with timings."""
    from relforge.db.io import check_output_dir
    from relforge.tokenize.embed import get_embedder

    check_output_dir(out, overwrite)
    emb = get_embedder(embedder)  # fail early on a missing text extra
    t0 = time.perf_counter()
    db, tasks = load_source(source)
    t1 = time.perf_counter()
    cells = build_cells(db, tasks if with_tasks else ())
    t2 = time.perf_counter()
    store = embed_store(cells, emb)
    t3 = time.perf_counter()
    save_store(store, out, overwrite=overwrite)
    return dict(store=str(out), name=store.name, nodes=store.n_nodes, cells=store.n_cells,
                columns=len(store.columns), texts=len(store.get_texts()), tasks=[t["name"] for t in store.index["tasks"]],
                embedder=store.index["embedder"]["name"], load_s=round(t1 - t0, 4), tokenize_s=round(t2 - t1, 4),
                embed_s=round(t3 - t2, 4), save_s=round(time.perf_counter() - t3, 4))
