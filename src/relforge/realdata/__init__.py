"""Real relational databases (Formula 1 as rel-f1, Chinook, MovieLens small) and their tasks.

The data files are never part of the repository: they are read from the real-data folder
(``relforge.settings.data_dir()``: ``--data-dir``, else ``$RELFORGE_DATA``, else ``../shared/data``).

>>> from relforge import realdata
>>> db = realdata.load("f1")                                  # doctest: +SKIP
>>> task = realdata.get_task("f1", "driver-dnf", db=db)       # doctest: +SKIP
>>> task.splits["train"].head()                               # doctest: +SKIP
"""
from __future__ import annotations

from pathlib import Path

from relforge.db.database import Database
from relforge.db.task import Task
from relforge.errors import RelforgeError
from relforge.realdata.tasks import list_tasks, make_task, task_def

__all__ = ["DATABASES", "load", "load_with_tasks", "list_databases", "get_task", "list_tasks", "make_task",
           "task_def", "describe", "fingerprint"]

#: name -> (module, loader function, one-line description)
DATABASES: dict[str, tuple[str, str, str]] = {
    "f1": ("relforge.realdata.f1", "load_f1", "Ergast Formula 1, cleaned as RelBench rel-f1 (9 tables)"),
    "chinook": ("relforge.realdata.chinook", "load_chinook", "Chinook music store (11 tables; sales synthetic)"),
    "movielens": ("relforge.realdata.movielens", "load_movielens", "MovieLens ml-latest-small (users, movies, ratings, tags)"),
}


def load_with_tasks(name: str, data_dir: str | Path | None = None) -> tuple[Database, list]:
    """(Database, its defined tasks with their split frames) of a real database by name."""
    db = load(name, data_dir=data_dir)
    return db, [get_task(name, t, db=db) for t in list_tasks(name)]


def list_databases() -> list[str]:
    """Names accepted by :func:`load`."""
    return list(DATABASES)


def load(name: str, data_dir: str | Path | None = None) -> Database:
    """Load a real database by name (``"f1"``, ``"chinook"``, ``"movielens"``).

    Parameters
    ----------
    name : database name; see :data:`DATABASES`.
    data_dir : the real-data folder; default ``relforge.settings.data_dir()``.

    Returns
    -------
    Database with primary keys ``0..n-1``, remapped foreign keys, time-sorted timed tables and
    ``val_timestamp``/``test_timestamp`` set. Validated.
    """
    import importlib

    if name not in DATABASES:
        raise RelforgeError(f"unknown real database {name!r} (known: {', '.join(DATABASES)})")
    mod, fn, _ = DATABASES[name]
    return getattr(importlib.import_module(mod), fn)(data_dir)


def describe(data_dir: str | Path | None = None, with_sizes: bool = False) -> list[dict]:
    """One record per real database: name, description, tasks, and (``with_sizes``) table/row counts
    (loading each database; the ones whose files are absent get ``error``)."""
    if with_sizes:
        from relforge.settings import data_dir as _data_dir

        data_dir = _data_dir(data_dir)  # a missing root folder is an error, a missing database is not
    out = []
    for name, (_, _, doc) in DATABASES.items():
        rec = dict(name=name, description=doc, tasks=list_tasks(name))
        if with_sizes:
            try:
                db = load(name, data_dir)
                rec.update(tables=len(db), rows=db.n_rows, val_timestamp=str(db.val_timestamp.date()),
                           test_timestamp=str(db.test_timestamp.date()))
            except RelforgeError as e:
                rec["error"] = str(e)
        out.append(rec)
    return out


def get_task(db_name: str, task_name: str, db: Database | None = None, data_dir=None) -> Task:
    """A task with its train/val/test frames.

    Parameters
    ----------
    db_name, task_name : see :func:`list_tasks`.
    db : the loaded database (loaded with :func:`relforge.realdata.load` when None).
    data_dir : real-data folder, used only when ``db`` is None.
    """
    d = task_def(db_name, task_name)
    if db is None:
        db = load(db_name, data_dir=data_dir)
    return make_task(d, db)


def fingerprint(name: str, data_dir: str | Path | None = None) -> str:
    """Short content hash of what ``load(name)`` and its tasks are made from: every file of the
    database's folder (names and bytes) and the source of the loader and task modules. Caches of
    derived data (tokenized stores) carry it, so edited data or loaders never reuse a stale cache."""
    import hashlib
    import importlib

    from relforge.fileio import source_fingerprint
    from relforge.realdata import _common, tasks
    from relforge.realdata._common import source_dir

    if name not in DATABASES:
        raise RelforgeError(f"unknown real database {name!r} (known: {', '.join(DATABASES)})")
    mod = importlib.import_module(DATABASES[name][0])
    h = hashlib.sha256()
    src = source_dir(mod.SUBDIR, data_dir)
    for f in sorted(p for p in src.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(src)).encode() + b"\0" + f.read_bytes() + b"\0")
    h.update(source_fingerprint(mod, _common, tasks).encode())
    return h.hexdigest()[:16]
