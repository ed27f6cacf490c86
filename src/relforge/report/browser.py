"""Open a report page in headless Chromium: count loaded images, collect JS console messages, and
take a screenshot. Used by ``tests/report/test_browser.py`` and ``scripts/screenshot_report.sh``.

Usage::

    python -m relforge.report.browser REPORT_DIR_OR_HTML [--screenshot out.png] [--width 1400 --height 2400]

Exit status 0 when every ``<img>`` decoded and the console stayed silent, 1 otherwise, 2 when
Chromium is missing.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from relforge.errors import RelforgeError

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars"]


def find_chromium() -> str | None:
    """``$RELFORGE_CHROMIUM``, else ``/usr/bin/chromium`` when it exists; None otherwise."""
    p = os.environ.get("RELFORGE_CHROMIUM", CHROMIUM)
    return p if Path(p).is_file() and os.access(p, os.X_OK) else None


def _run(chromium: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="relforge-chromium-") as prof:
        cmd = [chromium, *FLAGS, f"--user-data-dir={prof}", *args]
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RelforgeError(f"chromium timed out after {timeout:.0f} s") from None


def check_page(page: str | Path, screenshot: str | Path | None = None, *, width: int = 1400, height: int = 2400,
               timeout: float = 120.0, chromium: str | None = None) -> dict:
    """Load ``page`` (an ``index.html`` or its folder) in headless Chromium.

    Returns
    -------
    ``{"title", "images_loaded", "images_total", "console": [console lines], "screenshot": path|None,
    "ok": all images decoded and no console message}``. The image counts come from the title the
    report's inline script sets after ``load`` (see :mod:`relforge.report.html`).
    """
    chromium = chromium or find_chromium()
    if chromium is None:
        raise RelforgeError(f"chromium not found at {CHROMIUM} (apt-get install -y chromium, or set RELFORGE_CHROMIUM)")
    page = Path(page)
    if page.is_dir():
        page = page / "index.html"
    if not page.is_file():
        raise RelforgeError(f"no report page at {str(page)!r}")
    url = page.resolve().as_uri()
    r = _run(chromium, ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000", "--dump-dom", url], timeout)
    m = re.search(r"<title>(.*?)</title>", r.stdout, re.S)
    title = m.group(1) if m else ""
    im = re.search(r"\[images (\d+)/(\d+)\]", title)
    loaded, total = (int(im.group(1)), int(im.group(2))) if im else (None, None)
    console = [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln]
    shot = None
    if screenshot is not None:
        shot = Path(screenshot).resolve()
        shot.parent.mkdir(parents=True, exist_ok=True)
        _run(chromium, [f"--screenshot={shot}", f"--window-size={width},{height}", "--virtual-time-budget=10000", url],
             timeout)
        if not shot.is_file() or shot.stat().st_size == 0:
            raise RelforgeError(f"chromium wrote no screenshot to {str(shot)!r}")
    ok = loaded is not None and loaded == total and not console
    return dict(title=title, images_loaded=loaded, images_total=total, console=console,
                screenshot=str(shot) if shot else None, ok=ok, returncode=r.returncode)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m relforge.report.browser", description=__doc__.splitlines()[0])
    ap.add_argument("page", help="report folder or its index.html")
    ap.add_argument("--screenshot", default=None, help="PNG file to write")
    ap.add_argument("--width", type=int, default=1400)
    ap.add_argument("--height", type=int, default=2400)
    a = ap.parse_args(argv)
    if find_chromium() is None:
        print(f"error: chromium not found at {CHROMIUM}", file=sys.stderr)
        return 2
    try:
        res = check_page(a.page, a.screenshot, width=a.width, height=a.height)
    except RelforgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(res, indent=1))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
