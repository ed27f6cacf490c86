"""Fidelity and realism report for generated (and real) relational databases.

>>> from relforge.report import build_report
>>> build_report("out/db0", "out/report", vs="f1")          # doctest: +SKIP

:func:`build_report` writes ``OUT/index.html`` (inline CSS, PNG plots in ``OUT/plots/``) and
``OUT/metrics.json``. With ``vs`` it adds side-by-side metrics and similarity scores; with a folder of
many databases (or ``corpus=True``) it writes the corpus-level summary instead. Metric definitions:
:mod:`relforge.report.metrics`; scores: :mod:`relforge.report.compare`; corpus: :mod:`relforge.report.corpus`.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from relforge import realdata
from relforge.db.database import Database
from relforge.db.io import load_database
from relforge.db.timecols import apply_time_cols
from relforge.errors import RelforgeError
from relforge.fileio import atomic_dir, check_output_dir
from relforge.report import html
from relforge.report.compare import compare_databases
from relforge.report.corpus import corpus_metrics, find_databases, is_database_dir
from relforge.report.metrics import database_metrics

__all__ = ["build_report", "resolve_database", "database_metrics", "compare_databases", "corpus_metrics"]


def resolve_database(spec, time_cols=None) -> tuple[Database, str]:
    """A Database and a label from ``spec``: a Database, a database path (folder, .sqlite, .duckdb),
    or the name of a real database (``"f1"``, also written ``"real:f1"``; see :mod:`relforge.realdata`).
    ``time_cols`` overrides time columns (:func:`relforge.db.timecols.apply_time_cols`)."""
    if isinstance(spec, Database):
        return apply_time_cols(spec, time_cols), spec.name
    s = str(spec)
    p = Path(s)
    if p.exists() and not s.startswith("real:"):
        return load_database(p, time_cols), p.name or s
    name = s[5:] if s.startswith("real:") else s
    if name in realdata.list_databases():
        return apply_time_cols(realdata.load(name), time_cols), f"real {name}"
    raise RelforgeError(f"no such database: {s!r} (not a path, nor a real database name: "
                        f"{', '.join(realdata.list_databases())})")


def _looks_like_corpus(spec) -> bool:
    if isinstance(spec, Database):
        return False
    p = Path(str(spec))
    return p.is_dir() and not is_database_dir(p) and len(find_databases(p)) >= 2


def build_report(db, out, *, vs=None, corpus: bool | None = None, overwrite: bool = False, seed: int = 0,
                 labels: tuple[str, str] | None = None, time_cols=None,
                 learnability: bool = False) -> Path:
    """Compute the realism metrics of ``db`` (and ``vs``) and write the report folder ``out``.

    Parameters
    ----------
    db : Database, database path, real database name (``"f1"``), or a folder of databases.
    out : output folder; written atomically (refused if non-empty unless ``overwrite``).
    vs : optional second database (same forms as ``db``) to compare against.
    corpus : True for a corpus summary of the folder ``db``; None (default) detects a folder that
        holds two or more databases and is not one itself.
    seed : seed of the row subsampling and classifier folds (results are deterministic per seed).
    labels : display names of the two databases (default: folder or real-database names).
    time_cols : ``{table: column or None}`` (or ``TABLE=COLUMN`` strings) overriding time columns of ``db``.
    learnability : add the learnability probe section (:mod:`relforge.report.learnability`; needs
        lightgbm; about a minute per database).

    Returns
    -------
    Path of ``out/index.html``.
    """
    out = Path(out)
    check_output_dir(out, overwrite)
    t0 = time.perf_counter()
    is_corpus = _looks_like_corpus(db) if corpus is None else corpus
    meta = dict(seed=seed, source=_describe(db), vs=_describe(vs) if vs is not None else None)
    if is_corpus:
        if vs is not None:
            raise RelforgeError("--vs cannot be combined with a corpus report")
        if time_cols:
            raise RelforgeError("--time-col applies to one database, not to a corpus report")
        cm = corpus_metrics(db)
        with atomic_dir(out, overwrite=overwrite) as tmp:
            _publish_dir(tmp)
            meta["seconds"] = round(time.perf_counter() - t0, 3)
            html.render_corpus_report(tmp, cm, meta)
        return out / "index.html"
    dbs, labs = [], []
    for i, spec in enumerate([db] + ([vs] if vs is not None else [])):
        d, lab = resolve_database(spec, time_cols if i == 0 else None)
        dbs.append(d)
        labs.append(lab)
    if labels is not None:
        labs = list(labels)[: len(dbs)]
    if len(labs) == 2 and labs[0] == labs[1]:
        labs = [labs[0] + " (A)", labs[1] + " (B)"]
    ms = [database_metrics(d, seed=seed) for d in dbs]
    cmp = compare_databases(dbs[0], dbs[1], ms[0], ms[1], seed=seed) if len(dbs) == 2 else None
    learn = None
    if learnability:
        from relforge.report.learnability import learnability as probe

        learn = [probe(d, seed=seed) for d in dbs]
    with atomic_dir(out, overwrite=overwrite) as tmp:
        _publish_dir(tmp)
        meta["seconds"] = round(time.perf_counter() - t0, 3)
        html.render_database_report(tmp, dbs, ms, labs, cmp, meta, learn)
    return out / "index.html"


def _describe(spec) -> str:
    return spec.name if isinstance(spec, Database) else str(spec)


def _publish_dir(tmp: Path) -> None:
    """mkdtemp makes a private folder; give the report folder the usual permissions."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o777 & ~mask)
