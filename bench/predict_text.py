"""`relforge predict` on a text-heavy database: wall time per stage with MiniLM.

Builds a reproducible Q&A-like SQLite database (users, posts with long bodies, comments; about
25k rows, every text distinct) in a temporary folder, then runs ``relforge predict`` on it as a
user would (a subprocess of the CLI, the packaged default model, MiniLM, ``HF_HUB_OFFLINE=1``)
and prints one JSON line with the wall time, the CPU time (user + system of the predict process:
what the run costs whatever else the machine is doing), the stage lines predict printed, and the
machine's load. No anchor exists for this (it measures our own command against the issue's 2-minute bar).

    python bench/predict_text.py [--rows 25000] [--keep DIR] [--cold] [--json out/predict_text.json]

``--cold`` clears the embedding cache first (the figure a user gets on a first run); without it
the first of two runs is cold and the second warm, and both are reported.

The posts' self-reference (answer -> question) is acyclic: no accepted-answer key, so the
database has no row-level key cycle.
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WORDS = ("data model query index table join column value error python function return loop array string list "
         "dict class method object memory thread process file path cache build test version release install "
         "package import module network server client request response timeout retry token parse format encode "
         "decode schema key foreign primary row commit branch merge conflict deploy docker image container "
         "cluster node worker queue event stream batch window average median variance gradient loss learning "
         "rate epoch tensor shape dimension kernel compile link library header pointer reference type generic "
         "interface trait closure lambda iterator generator async await future promise callback handler").split()


def _texts(rng: np.random.Generator, n: int, lo: int, hi: int, tag: str) -> list[str]:
    """``n`` distinct pseudo-sentences of ``lo``..``hi`` words (a numbered tag keeps them distinct)."""
    lens = rng.integers(lo, hi + 1, n)
    idx = rng.integers(0, len(WORDS), int(lens.sum()))
    out, k = [], 0
    for i, m in enumerate(lens):
        out.append(f"{tag} {i}: " + " ".join(WORDS[j] for j in idx[k:k + m]))
        k += m
    return out


def build_db(path: Path, rows: int = 25_000, seed: int = 0) -> dict:
    """Write the Q&A database to ``path`` (SQLite); returns table sizes."""
    rng = np.random.default_rng(seed)
    n_users = rows // 12
    n_posts = rows // 3
    n_comments = rows - n_users - n_posts
    t0 = np.datetime64("2020-01-01T00:00:00")
    span = 4 * 365 * 86400
    u_time = np.sort(rng.integers(0, span // 2, n_users))
    rep = np.round(rng.lognormal(4, 1.5, n_users)).astype(int)
    p_time = np.sort(rng.integers(span // 20, span, n_posts))
    owner = np.array([rng.integers(0, max(1, np.searchsorted(u_time, t, "right"))) for t in p_time])
    is_q = rng.random(n_posts) < 0.4
    is_q[0] = True
    q_idx = np.flatnonzero(is_q)
    parent = np.full(n_posts, -1)
    for i in np.flatnonzero(~is_q):  # an answer points to an earlier question
        k = np.searchsorted(q_idx, i)
        parent[i] = q_idx[rng.integers(0, max(1, k))] if k > 0 else -1
    body_len = rng.integers(150, 600, n_posts)
    bodies = _texts(rng, n_posts, 150, 600, "post")
    # the score depends on the owner's reputation and the body length (a learnable signal)
    score = np.round(0.8 * np.log1p(rep[owner]) + 0.004 * body_len + rng.normal(0, 1.0, n_posts)).astype(int)
    titles = [f"question {i} about " + " ".join(WORDS[j] for j in rng.integers(0, len(WORDS), 6)) if q else None
              for i, q in enumerate(is_q)]
    c_time = np.sort(rng.integers(span // 10, span, n_comments))
    c_post = np.array([rng.integers(0, max(1, np.searchsorted(p_time, t, "right"))) for t in c_time])
    c_user = rng.integers(0, n_users, n_comments)
    c_text = _texts(rng, n_comments, 20, 80, "comment")
    c_score = rng.poisson(1.0, n_comments)

    def iso(s):
        return [str(t0 + np.timedelta64(int(x), "s")).replace("T", " ") for x in s]

    if path.exists():
        path.unlink()
    con = sqlite3.connect(path)
    con.executescript("""
    CREATE TABLE users (Id INTEGER PRIMARY KEY, DisplayName TEXT, AboutMe TEXT, Reputation INTEGER,
                        CreationDate TIMESTAMP);
    CREATE TABLE posts (Id INTEGER PRIMARY KEY, OwnerUserId INTEGER REFERENCES users(Id),
                        ParentId INTEGER REFERENCES posts(Id), PostTypeId INTEGER, Title TEXT, Body TEXT,
                        Score INTEGER, CreationDate TIMESTAMP);
    CREATE TABLE comments (Id INTEGER PRIMARY KEY, PostId INTEGER REFERENCES posts(Id),
                           UserId INTEGER REFERENCES users(Id), Text TEXT, Score INTEGER, CreationDate TIMESTAMP);
    """)
    about = _texts(rng, n_users, 10, 60, "about")
    con.executemany("INSERT INTO users VALUES (?,?,?,?,?)",
                    [(i, f"user{i}", about[i], int(rep[i]), d) for i, d in enumerate(iso(u_time))])
    con.executemany("INSERT INTO posts VALUES (?,?,?,?,?,?,?,?)",
                    [(i, int(owner[i]), None if parent[i] < 0 else int(parent[i]), 1 if is_q[i] else 2, titles[i],
                      bodies[i], int(score[i]), d) for i, d in enumerate(iso(p_time))])
    con.executemany("INSERT INTO comments VALUES (?,?,?,?,?,?)",
                    [(i, int(c_post[i]), int(c_user[i]), c_text[i], int(c_score[i]), d)
                     for i, d in enumerate(iso(c_time))])
    con.commit()
    con.close()
    return {"users": n_users, "posts": n_posts, "comments": n_comments,
            "text_chars": int(sum(map(len, bodies)) + sum(map(len, c_text)) + sum(map(len, about)))}


def holdout_cut(path: Path) -> str:
    """The posts' time at 90 % of their rows: the last 10 % are predicted and scored."""
    con = sqlite3.connect(path)
    n = con.execute("SELECT COUNT(*) FROM posts").fetchone()[0]
    t = con.execute("SELECT CreationDate FROM posts ORDER BY CreationDate LIMIT 1 OFFSET ?", (int(n * 0.9),)).fetchone()[0]
    con.close()
    return t


def run_predict(db: Path, out: Path, extra: list[str]) -> dict:
    cut = holdout_cut(db)
    cmd = [sys.executable, "-m", "relforge.cli", "predict", "--db", str(db), "--table", "posts", "--target", "Score",
           "--holdout-after", cut, "--out", str(out), *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    import resource

    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if p.returncode != 0:
        sys.exit(f"predict failed ({p.returncode}): {p.stderr[-3000:]}")
    return {"wall_s": round(wall, 1), "cpu_s": round(cpu, 1), "load_avg_after": [round(x, 2) for x in os.getloadavg()],
            "stdout": _redact(p.stdout, db.parent).strip().splitlines(),
            "stderr": _redact(p.stderr, db.parent).strip().splitlines(),
            "cmd": _redact(" ".join(["relforge", *cmd[3:]]), db.parent)}


def _redact(text: str, tmp) -> str:
    """``text`` with this run's temporary folder written as ``$TMP`` (no machine paths in docs)."""
    return text.replace(str(tmp), "$TMP")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=25_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", default=None, help="build the database in this folder and keep it")
    ap.add_argument("--cold", action="store_true", help="one run, with an empty embedding cache")
    ap.add_argument("--json", default=None, help="also write the result JSON here")
    ap.add_argument("extra", nargs="*", help="extra predict options (after --)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(a.keep) if a.keep else Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        db = folder / "qa.sqlite"
        t = time.perf_counter()
        sizes = build_db(db, a.rows, a.seed)
        build_s = time.perf_counter() - t
        cache = Path(tmp) / "cache"
        os.environ["RELFORGE_CACHE_DIR"] = str(cache)  # a fresh, private embedding cache
        runs = {"cold": run_predict(db, folder / "pred.csv", a.extra)}
        if not a.cold:
            runs["warm"] = run_predict(db, folder / "pred.csv", a.extra)
    res = {"bench": "predict_text", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "load_avg": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(), "db": sizes,
           "build_s": round(build_s, 1), **runs}
    line = json.dumps(res)
    print(line)
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(line + "\n")


if __name__ == "__main__":
    main()
