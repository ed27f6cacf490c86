"""End to end: build_report / `relforge report` on tiny databases, pairs and corpora."""
import json
import re
from pathlib import Path

import pytest

from relforge.cli import main
from relforge.errors import RelforgeError
from relforge.report import build_report
from relforge.report.corpus import corpus_metrics, find_databases


def _check_page(out: Path) -> dict:
    page = (out / "index.html").read_text()
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert srcs, "no plots on the page"
    for s in srcs:
        f = out / s
        assert f.is_file() and f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", s
    text = (out / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    return json.loads(text)


def test_vs_report(pair_report):
    js = _check_page(pair_report)
    assert set(js["databases"]) == {"left", "right"}
    assert js["databases"]["left"]["links"]["users->orders.user_id"]["dispersion"] == pytest.approx(7 / 6)
    assert js["comparison"]["matched"]["cardinality_shape"]["users->orders.user_id"] == pytest.approx(2 / 3)
    html = (pair_report / "index.html").read_text()
    for section in ("Similarity scores", "Schema", "Foreign keys", "Temporal", "Missing", "Cross-table"):
        assert section in html
    assert "Recorded errors" not in html
    assert not list(pair_report.parent.glob(".cmp.tmp-*"))  # atomic: no temp folder left behind


def test_single_report_refusals_and_plot_failure(tiny, tmp_path, monkeypatch):
    from relforge.report import plots

    out = tmp_path / "r"
    (out / "old").mkdir(parents=True)
    with pytest.raises(RelforgeError, match="not empty"):
        build_report(tiny, out)
    with pytest.raises(RelforgeError, match="no such database"):
        build_report(str(tmp_path / "missing"), tmp_path / "x")
    assert not (tmp_path / "x").exists()

    def boom(*a, **k):
        raise RuntimeError("no ink")

    monkeypatch.setattr(plots, "plot_ccdf", boom)
    page = build_report(tiny, out, overwrite=True)
    assert page == out / "index.html" and not (out / "old").exists()
    js = _check_page(out)
    assert js["comparison"] is None and list(js["databases"]) == ["tiny"]
    html = page.read_text()
    assert "plot ccdf failed" in html and "Recorded errors" in html
    assert js["plot_errors"]


def test_corpus_report_and_cli(tiny, make_tiny_db, tmp_path, capsys):
    corp = tmp_path / "corpus"
    for i in range(3):
        db = make_tiny_db()
        db.tables["orders"].df["user_id"] = [0, 0, i % 3, 1]
        db.save(corp / f"db_{i:06d}")
    (corp / "notes.txt").write_text("not a database")
    assert [p.name for p in find_databases(corp)] == ["db_000000", "db_000001", "db_000002"]
    cm = corpus_metrics(corp)
    assert cm["n_databases"] == 3 and not cm["errors"]
    assert cm["summary"]["n_tables"]["median"] == 3
    assert cm["summary"]["stype_share"]["numerical"] == pytest.approx(3 / 7)
    with pytest.raises(SystemExit) as e:
        main(["report", str(corp), "--out", str(tmp_path / "crep")])  # corpus detected automatically
    assert e.value.code == 0
    js = _check_page(tmp_path / "crep")
    assert len(js["corpus"]["rows"]) == 3
    assert "report written to" in capsys.readouterr().out
    # a bad path is one error line with exit code 2, and nothing is written
    with pytest.raises(SystemExit) as e:
        main(["report", str(tmp_path / "nope"), "--out", str(tmp_path / "bad")])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no such database") and "\n" not in err
    assert not (tmp_path / "bad").exists()


def test_generated_database_report(tmp_path):
    import relforge

    small = {"schema": {"n_tables": (3, 4), "entity_rows": (20, 40), "activity_rows": (50, 100), "n_features": (1, 4)}}
    db = relforge.synthesize(0, small)  # a generator failure is a failure of this test, not a skip
    build_report(db, tmp_path / "g")
    js = _check_page(tmp_path / "g")
    (m,) = js["databases"].values()
    assert m["headline"]["n_tables"] == len(db.tables)
    assert '"error"' not in json.dumps(m)


@pytest.mark.slow
def test_real_f1_vs_generated_report(real_data_dir, tmp_path):
    import relforge

    build_report(relforge.synthesize(0), tmp_path / "f1", vs="f1")
    js = _check_page(tmp_path / "f1")
    assert js["comparison"]["structural_c2st"]["auroc"] is not None
