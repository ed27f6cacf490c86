"""Where things are: the real-data folder and caches (overridable by environment variables)."""
from __future__ import annotations

import os
from pathlib import Path

from relforge.errors import RelforgeError

#: Environment variable naming the folder of real databases (f1/, chinook/, movielens_small/).
DATA_ENV = "RELFORGE_DATA"
#: Environment variable naming the cache folder (text embeddings of databases; default ~/.cache/relforge).
CACHE_ENV = "RELFORGE_CACHE_DIR"


def cache_dir() -> Path:
    """The cache folder: ``$RELFORGE_CACHE_DIR``, else ``$XDG_CACHE_HOME/relforge``, else
    ``~/.cache/relforge`` (created on first write by whoever writes)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "relforge"


def data_dir(override: str | Path | None = None, must_exist: bool = True) -> Path:
    """The real-data folder: ``override``, else ``$RELFORGE_DATA``, else ``../shared/data`` next to
    the repository (searched upwards from the current folder and from this package)."""
    if override is not None:
        p = Path(override)
    elif os.environ.get(DATA_ENV):
        p = Path(os.environ[DATA_ENV])
    else:
        p = None
        for start in (Path.cwd(), Path(__file__).resolve()):
            for parent in [start, *start.parents]:
                cand = parent / "shared" / "data"
                if cand.is_dir():
                    p = cand
                    break
                cand = parent.parent / "shared" / "data"
                if cand.is_dir():
                    p = cand
                    break
            if p is not None:
                break
        if p is None:
            p = Path("../shared/data")
    if must_exist and not p.is_dir():
        raise RelforgeError(f"real-data folder not found: {str(p)!r} (set {DATA_ENV} or pass --data-dir)")
    return p
