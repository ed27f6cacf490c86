"""Privacy figures of ``relforge report GEN --vs SOURCE``: exact-match share and DCR, with a holdout baseline."""
import numpy as np
import pandas as pd

from relforge.report.privacy import privacy_figures, table_privacy


def test_table_privacy_by_hand():
    real = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 10.0], "k": list("abababab" + "ab")})
    copy = table_privacy(real, real.copy(), ["x"], ["k"])
    assert copy["exact_match_share"] == 1.0 and copy["dcr_median"] == 0.0
    far = pd.DataFrame({"x": [20.0, 30.0], "k": ["c", "c"]})
    f = table_privacy(real, far, ["x"], ["k"])
    # x is scaled by the source's range (0..10) and capped at 1; k mismatches: distance (1 + 1) / 2
    assert f["exact_match_share"] == 0.0 and f["dcr_median"] == 1.0
    near = pd.DataFrame({"x": [0.5], "k": ["a"]})  # 0.05 from row 0 on x, same k
    assert table_privacy(real, near, ["x"], ["k"])["dcr_median"] == 0.025
    nulls = pd.DataFrame({"x": [np.nan], "k": [None]})
    assert table_privacy(real, nulls, ["x"], ["k"])["dcr_median"] == 1.0


def test_privacy_figures_copy_vs_fitted_sample(real_data_dir):
    from relforge import realdata
    from relforge.generate.like import fit_like

    src = realdata.load("chinook", real_data_dir)
    same = privacy_figures(src, src)
    assert same["exact_match_share"] == 1.0 and same["dcr_median"] == 0.0
    gen = privacy_figures(src, fit_like(src).sample(0))
    assert gen["exact_match_share"] < gen["holdout_exact_match_share"]
    assert gen["dcr_median"] > 0
    assert set(gen["tables"]) == set(src.tables)


def test_compare_reports_privacy(tiny, make_tiny_db):
    from relforge.report.compare import compare_databases
    from relforge.report.metrics import database_metrics

    other = make_tiny_db()
    cmp = compare_databases(other, tiny, database_metrics(other), database_metrics(tiny))
    pv = cmp["matched"]["privacy"]
    assert pv["exact_match_share"] == 1.0  # an identical copy is flagged
