"""The report page in a real headless browser (Debian's /usr/bin/chromium); skipped without it."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from relforge.report.browser import check_page, find_chromium

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(find_chromium() is None,
                                 reason="chromium not installed (Debian: apt-get install chromium; or set "
                                        "RELFORGE_CHROMIUM); .ci/run installs it and passes --require-browser")]


def _png_not_blank(path: Path) -> bool:
    from matplotlib.image import imread

    img = imread(str(path))
    return img.ndim == 3 and img.shape[0] > 100 and float(img[..., :3].std()) > 0.02


def test_report_page_loads_every_plot_without_console_errors(pair_report):
    res = check_page(pair_report)  # the screenshot is taken by test_screenshot_script
    n_img = (pair_report / "index.html").read_text().count("<img ")
    assert res["images_total"] == n_img > 5
    assert res["images_loaded"] == n_img, res
    assert res["console"] == [], res["console"]
    assert res["ok"] and res["screenshot"] is None


def test_checker_sees_broken_images_and_js_errors(tmp_path):
    # negative control: the same script as the report, a missing image and a JS error
    from relforge.report.html import SCRIPT

    (tmp_path / "index.html").write_text(
        "<!DOCTYPE html><html><head><title>t</title></head><body><img src='missing.png'>"
        f"<script>{SCRIPT}</script><script>undefinedFunction();</script></body></html>")
    res = check_page(tmp_path, None)
    assert (res["images_loaded"], res["images_total"]) == (0, 1)
    assert any("undefinedFunction" in line for line in res["console"])
    assert not res["ok"]


def test_screenshot_script(pair_report, tmp_path):
    script = Path(__file__).resolve().parents[2] / "scripts" / "screenshot_report.sh"
    out = tmp_path / "s.png"
    env = dict(os.environ, PYTHON=sys.executable)  # the interpreter running the tests (a .venv may not exist)
    r = subprocess.run(["bash", str(script), str(pair_report), str(out), "900x700"], capture_output=True, text=True,
                       timeout=180, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert '"ok": true' in r.stdout and _png_not_blank(out)
    r = subprocess.run(["bash", str(script), str(tmp_path / "nowhere")], capture_output=True, text=True, timeout=60,
                       env=env)
    assert r.returncode == 2 and "no report page" in r.stderr
