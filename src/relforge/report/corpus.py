"""Corpus-level summary: the diversity of many databases at a glance.

:func:`find_databases` lists the databases inside a folder (relforge/relbench/plurel folders and
SQLite/DuckDB files); :func:`database_row` reduces one database to a row of cheap structural
numbers; :func:`corpus_metrics` does both and summarises every field over the corpus.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from relforge.db.database import Database
from relforge.errors import RelforgeError
from relforge.report.metrics import (_f, _stats, link_metrics, missing_metrics, safe, schema_metrics,
                                     temporal_metrics)

DB_FILE_SUFFIXES = {".sqlite", ".sqlite3", ".db", ".duckdb", ".ddb"}


def is_database_dir(path: Path) -> bool:
    """A folder holding one database: ``metadata.json``, ``db/*.parquet`` or ``*.parquet``."""
    path = Path(path)
    if not path.is_dir():
        return False
    if (path / "metadata.json").is_file():
        return True
    if (path / "db").is_dir() and any((path / "db").glob("*.parquet")):
        return True
    return any(path.glob("*.parquet"))


def find_databases(path: str | Path) -> list[Path]:
    """Databases directly inside ``path`` (sub-folders and SQLite/DuckDB files), sorted by name."""
    path = Path(path)
    if not path.is_dir():
        raise RelforgeError(f"corpus folder {str(path)!r} does not exist or is not a folder")
    out = []
    for p in sorted(path.iterdir()):
        if p.name.startswith("."):
            continue
        if is_database_dir(p) or (p.is_file() and p.suffix.lower() in DB_FILE_SUFFIXES):
            out.append(p)
    return out


def database_row(db: Database, name: str | None = None) -> dict:
    """Cheap structural summary of one database (one row of the corpus table)."""
    sch = schema_metrics(db)
    links = link_metrics(db)
    disp = [v["dispersion"] for v in links.values() if isinstance(v, dict) and v.get("dispersion")]
    temp = temporal_metrics(db)
    lag = [c["lag1"] for t in temp.values() if isinstance(t, dict)
           for c in (t.get("columns") or {}).values() if c.get("lag1") is not None]
    miss = missing_metrics(db)
    return dict(name=name or db.name, n_tables=sch["n_tables"], n_rows=sch["n_rows"], n_columns=sch["n_columns"],
                n_features=sch["n_features"], n_fkeys=sch["n_fkeys"],
                n_activity=sum(1 for t in db.tables.values() if t.kind == "activity"),
                n_timed=sum(1 for t in db.tables.values() if t.time_col is not None),
                stype_counts=sch["stype_counts"],
                log10_dispersion_median=_f(np.median(np.log10(disp))) if disp else None,
                dispersion_max=_f(max(disp)) if disp else None,
                frac_links_overdispersed=_f(np.mean(np.asarray(disp) > 2.0)) if disp else None,
                lag1_median=_f(np.median(lag)) if lag else None,
                missing_mean_rate=miss["mean_feature_rate"])


SUMMARY_FIELDS = ("n_tables", "n_rows", "n_columns", "n_features", "n_fkeys", "n_activity",
                  "log10_dispersion_median", "dispersion_max", "frac_links_overdispersed", "lag1_median",
                  "missing_mean_rate")


def summarize_rows(rows: list[dict]) -> dict:
    """Per field: n, median, min, max (and mean) over the rows without errors."""
    out = {}
    for k in SUMMARY_FIELDS:
        v = [r[k] for r in rows if isinstance(r.get(k), (int, float)) and math.isfinite(r[k])]
        s = _stats(v)
        s["mean"] = _f(np.mean(v)) if v else None
        out[k] = s
    tot: dict[str, int] = {}
    for r in rows:
        for t, n in (r.get("stype_counts") or {}).items():
            tot[t] = tot.get(t, 0) + n
    all_cols = sum(tot.values())
    out["stype_share"] = {t: _f(n / all_cols) for t, n in sorted(tot.items())} if all_cols else {}
    return out


def corpus_metrics(path: str | Path) -> dict:
    """Load every database under ``path`` and summarise the corpus.

    Returns
    -------
    ``{"path", "n_databases", "rows": [database_row, ...], "errors": [{"name", "error"}], "summary"}``.
    A database that fails to load or summarise is listed under ``errors`` and skipped.
    """
    from relforge.db.io import load_database

    paths = find_databases(path)
    if not paths:
        raise RelforgeError(f"no databases found in {str(path)!r}")
    rows, errors = [], []
    for p in paths:
        r = safe(lambda p=p: database_row(load_database(p), p.name))
        if "error" in r:
            errors.append(dict(name=p.name, error=r["error"]))
        else:
            rows.append(r)
    return dict(path=str(path), n_databases=len(paths), rows=rows, errors=errors, summary=summarize_rows(rows))
