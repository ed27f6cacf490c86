"""What the bench scripts share: where the anchors are, their venv, the plurel databases they
compare on, the machine's load, and the ratio arithmetic (unit-tested on canned anchor output in
``tests/test_bench_ratios.py``).

No path of a particular machine is written here. The anchors folder is ``$RELFORGE_ANCHORS``, else
``shared/anchors`` found upwards from the repository (``../shared/anchors`` from a clone that sits
next to the shared folder). The anchor venv is whatever ``setup.sh`` prints (it builds the venv
when missing). plurel databases are made on demand into a cache folder chosen at run time
(``$RELFORGE_BENCH_CACHE``, else ``$XDG_CACHE_HOME/relforge/bench`` or ``~/.cache/relforge/bench``),
and scratch work goes into temporary folders made at run time.
"""
from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANCHORS_ENV = "RELFORGE_ANCHORS"
CACHE_ENV = "RELFORGE_BENCH_CACHE"


class BenchSetupError(RuntimeError):
    """The anchors (or their venv, or a plurel database) could not be prepared."""


# ---------------------------------------------------------------- locations


def anchors_dir(required: bool = True) -> Path | None:
    """``$RELFORGE_ANCHORS``, else the first ``shared/anchors`` upwards from the repository."""
    env = os.environ.get(ANCHORS_ENV)
    if env:
        p = Path(env)
        if p.is_dir():
            return p
        if required:
            raise BenchSetupError(f"{ANCHORS_ENV}={env!r} is not a folder")
        return None
    for parent in [REPO, *REPO.parents]:
        cand = parent / "shared" / "anchors"
        if (cand / "setup.sh").is_file():
            return cand
    if required:
        raise BenchSetupError(f"no shared/anchors folder above {REPO} (set {ANCHORS_ENV})")
    return None


def anchor_script(name: str) -> Path:
    return anchors_dir() / name


_VENV_PY: Path | None = None


def anchor_python() -> Path:
    """The anchor venv's python: ``setup.sh`` builds or re-checks the venv and prints its path
    on its last line (idempotent; a few seconds when the venv is up to date)."""
    global _VENV_PY
    if _VENV_PY is not None:
        return _VENV_PY
    setup = anchors_dir() / "setup.sh"
    p = subprocess.run(["bash", str(setup)], capture_output=True, text=True)
    lines = [ln.strip() for ln in p.stdout.splitlines() if ln.strip()]
    if p.returncode != 0 or not lines:
        tail = " | ".join((p.stderr or p.stdout).strip().splitlines()[-3:])
        raise BenchSetupError(f"anchor venv setup failed ({setup}): {tail}")
    py = Path(lines[-1]) / "bin" / "python"
    if not py.exists():
        raise BenchSetupError(f"anchor setup printed {lines[-1]!r}, which has no bin/python")
    _VENV_PY = py
    return py


def cache_dir() -> Path:
    """The bench cache folder (made now): ``$RELFORGE_BENCH_CACHE`` or the user cache."""
    env = os.environ.get(CACHE_ENV)
    if env:
        p = Path(env)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        p = base / "relforge" / "bench"
    p.mkdir(parents=True, exist_ok=True)
    return p


def scratch(prefix: str) -> Path:
    """A fresh temporary folder (the caller may delete it)."""
    return Path(tempfile.mkdtemp(prefix=f"relforge-{prefix}-"))


def plurel_dbs(seeds, root: Path | None = None) -> list[Path]:
    """``root/plurel-<seed>`` for every seed, made with the anchor script (plurel 1.1.0,
    ``plurel_generate.py --out``) when missing. ``root`` defaults to ``cache_dir()/plurel-dbs``."""
    root = Path(root) if root is not None else cache_dir() / "plurel-dbs"
    seeds = [int(s) for s in seeds]
    missing = [s for s in seeds if not (root / f"plurel-{s}" / "manifest.yaml").is_file()]
    if missing:
        root.mkdir(parents=True, exist_ok=True)
        print(f"[bench] making plurel databases {missing} under {root} (anchor venv, plurel 1.1.0)",
              file=sys.stderr, flush=True)
        cmd = [str(anchor_python()), str(anchor_script("plurel_generate.py")), "--seeds", *map(str, missing),
               "--out", str(root)]
        p = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, TQDM_DISABLE="1"))
        still = [s for s in missing if not (root / f"plurel-{s}" / "manifest.yaml").is_file()]
        if p.returncode != 0 or still:
            tail = " | ".join((p.stderr or p.stdout).strip().splitlines()[-3:])
            raise BenchSetupError(f"plurel_generate.py could not make seeds {still}: {tail}")
    return [root / f"plurel-{s}" for s in seeds]


# ---------------------------------------------------------------- conditions


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (what ``uptime`` shows)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine() -> dict:
    """Machine, date and load at the start of a run (goes into every JSON summary)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or None
    return dict(machine=f"{cpu}, {os.cpu_count()} CPUs", python=platform.python_version(),
                date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), load_start=load_average(),
                commit=commit, command=" ".join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]))


def json_lines(text: str, key: str | None = None) -> list[dict]:
    """Every line of ``text`` that is a JSON object (and contains ``key``, when given)."""
    out = []
    for ln in text.splitlines():
        ln = ln.strip()
        if ln.startswith("{") and (key is None or key in ln):
            try:
                out.append(json.loads(ln))
            except json.JSONDecodeError:
                continue
    return out


# ---------------------------------------------------------------- ratio arithmetic


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def geomean(xs):
    xs = [x for x in xs if x is not None]
    if not xs or any(x <= 0 for x in xs):
        return None
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def rate(amount, seconds):
    """amount / seconds, or None when either is missing or seconds is not positive."""
    if amount is None or not seconds or seconds <= 0:
        return None
    return amount / seconds


def ratio(ours, theirs):
    """ours / theirs, or None when either is missing or theirs is not positive."""
    if ours is None or theirs is None or theirs <= 0:
        return None
    return ours / theirs


def cells_ratio(relforge: dict, plurel: dict):
    """Generation speed ratio of one seed: (relforge cells / CPU s) / (plurel cells / CPU s)."""
    return ratio(rate(relforge.get("total_cells"), relforge.get("cpu_s")),
                 rate(plurel.get("total_cells"), plurel.get("cpu_s")))


def rounded(x, nd: int = 3):
    return None if x is None else round(x, nd)
