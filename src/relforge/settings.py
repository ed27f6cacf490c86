"""Where things are and what the process may use: the real-data folder and caches (overridable by
environment variables), the CPU cores and torch's thread count."""
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


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class torch_threads:
    """Context manager: torch CPU threads set to ``n`` (restored on exit). Small RT models gain little
    from more threads, and on shared cores extra threads spin and slow everything down."""

    def __init__(self, n: int):
        self.n = int(n)

    def __enter__(self):
        import torch

        self.old = torch.get_num_threads()
        torch.set_num_threads(max(1, self.n))
        return self

    def __exit__(self, *exc):
        import torch

        torch.set_num_threads(self.old)
