"""Atomic file output shared by every stage: write to a temporary sibling, rename into place.

A crash, a full disk or an error never leaves a half-written file or folder under the final name,
and an existing non-empty output folder is replaced only when the caller says so.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from relforge.errors import RelforgeError

__all__ = ["check_output_dir", "atomic_dir", "atomic_file"]


def check_output_dir(path: str | Path, overwrite: bool) -> Path:
    """Refuse an existing non-empty output folder unless ``overwrite``; return the resolved path."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RelforgeError(f"output path {str(path)!r} exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise RelforgeError(f"output folder {str(path)!r} is not empty (pass --overwrite to replace it)")
    return path


def _umask() -> int:
    """The process umask, read without changing it where Linux allows (os.umask is set-and-get)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_dir(path: str | Path, overwrite: bool = False):
    """Yield a temporary folder next to ``path``; on success it replaces ``path`` atomically."""
    path = check_output_dir(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private; publish with the usual mode
        if path.exists():
            old = path.parent / f".{path.name}.old-{os.getpid()}"
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_file(path: str | Path):
    """Yield a temporary file path next to ``path``; renamed onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        if os.path.exists(tmp):
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private; publish with the usual mode
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def write_results(out: str | Path, res: dict, table_md: str) -> Path:
    """A study's ``OUT/results.json`` (``res``) and ``OUT/table.md`` (``table_md``), each written
    atomically; returns ``OUT``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_file(out / "results.json") as tmp:
        tmp.write_text(json.dumps(res, indent=1, sort_keys=True))
    with atomic_file(out / "table.md") as tmp:
        tmp.write_text(table_md + "\n")
    return out


def source_fingerprint(*modules) -> str:
    """Short hash of the source files of ``modules`` (a package counts with every ``.py`` file under
    it). Cache keys of derived data carry it, so a cache made by other code is never reused."""
    import hashlib

    h = hashlib.sha256()
    for m in modules:
        files = sorted(Path(m.__file__).parent.rglob("*.py")) if hasattr(m, "__path__") else [Path(m.__file__)]
        for f in files:
            h.update(f"{m.__name__}:{f.name}\0".encode() + f.read_bytes())
    return h.hexdigest()[:16]
