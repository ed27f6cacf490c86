"""File-level tokenization: read a database (and its tasks), tokenize, embed, save a store.

I/O lives here and in the CLI; :func:`relforge.tokenize.cells.build_cells` stays pure.
"""
from __future__ import annotations

import time
from pathlib import Path

from relforge.db.io import atomic_dir, check_output_dir, load_database
from relforge.errors import RelforgeError
from relforge.tokenize.cells import build_cells, embed_store
from relforge.tokenize.embed import get_embedder
from relforge.tokenize.store import CORPUS_INDEX, save_store, write_store
from relforge.tokenize.tasks import read_relbench_tasks


def load_source(source):
    """(Database, tasks) from a database path (relforge/relbench folder, .sqlite, .duckdb; forecast
    tasks from ``PATH/tasks/<name>/*.parquet`` in relbench layout), or ``source`` itself when it is
    already a ``(Database, tasks)`` pair (a real database: ``relforge.realdata.load_with_tasks``; the
    tokenizer knows no catalogue)."""
    if isinstance(source, tuple):
        return source
    p = Path(source)
    if p.exists():
        return load_database(p), read_relbench_tasks(p) if p.is_dir() else []
    raise RelforgeError(f"no such database: {str(source)!r}")


def tokenize_source(source, out: str | Path, *, embedder="minilm", overwrite: bool = False,
                    with_tasks: bool = True) -> dict:
    """Tokenize ``source`` (a path, or a ``(Database, tasks)`` pair such as a real database from
    ``relforge.realdata.load_with_tasks``) into the store folder ``out`` (a folder of databases into a
    corpus, see :func:`tokenize_corpus`); returns a summary with timings."""
    check_output_dir(out, overwrite)
    folders = None if isinstance(source, tuple) else database_folders(source)
    if folders is not None:
        return tokenize_corpus(folders, out, embedder=embedder, overwrite=overwrite, with_tasks=with_tasks)
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
                    with_tasks: bool = True) -> dict:
    """Tokenize every database folder into one corpus (``OUT/<name>/`` stores + ``stores.json``),
    atomically; one embedder instance (and its string cache) serves all databases."""
    import json

    emb = get_embedder(embedder)
    names, t_tok, t_emb, cells = [], 0.0, 0.0, 0
    with atomic_dir(out, overwrite=overwrite) as tmp:
        for f in folders:
            db = load_database(f)
            t0 = time.perf_counter()
            c = build_cells(db, read_relbench_tasks(f) if with_tasks else (), name=f.name)
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
