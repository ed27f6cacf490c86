"""No absolute path of the development machine in the project's code, docs and examples: the
shared folder is ``../shared`` (or ``$RELFORGE_DATA`` / ``$RELFORGE_ANCHORS``), scratch folders are
made at run time (``tempfile``), caches come from settings."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHERE = ["src", "bench", "docs", "examples", "scripts", "README.md", "Makefile", ".ci"]
# the shared folder's absolute location on the development machine, and fixed scratch folders
# under the temp directory that earlier scripts used
FORBIDDEN = re.compile(r"/work/shared\b|/tmp/relforge-(anchors|bench)|/tmp/corpus\d")
TEXT = {".py", ".md", ".toml", ".sql", ".txt", ".sh", ".json", ".yaml", ".yml", ".cfg", ".ini", ""}


def _files():
    for w in WHERE:
        p = ROOT / w
        if p.is_file():
            yield p
        elif p.is_dir():
            for f in sorted(p.rglob("*")):
                generated = "__pycache__" in f.parts or any(x.endswith(".egg-info") for x in f.parts)  # install output
                if f.is_file() and f.suffix in TEXT and not generated:
                    yield f


def test_no_machine_paths():
    hits = []
    for f in _files():
        try:
            text = f.read_text()
        except UnicodeDecodeError:
            continue
        for i, line in enumerate(text.splitlines(), 1):
            if FORBIDDEN.search(line):
                hits.append(f"{f.relative_to(ROOT)}:{i}: {line.strip()[:120]}")
    assert not hits, "machine paths (use ../shared/..., settings or a temp dir made at run time):\n" + "\n".join(hits)


def test_the_pattern_catches_what_it_should():
    assert FORBIDDEN.search("see /work/shared/anchors/README.md")
    assert FORBIDDEN.search("--out /tmp/relforge-anchors/dbs")
    assert not FORBIDDEN.search("see ../shared/anchors/README.md and $TMPDIR")
