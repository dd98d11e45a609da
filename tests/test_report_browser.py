"""The HTML report in a real headless browser (Debian's chromium): the table and every image render offline.

Skipped, with the reason printed, where no chromium is installed (scripts/test.sh installs it when it can).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from report_helpers import make_run

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Written into the page (a copy; the report itself has no script) once everything has loaded.
RENDER_CHECK = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const check = document.createElement("div");
  check.id = "render-check";
  check.dataset.images = images.length;
  check.dataset.rendered = images.filter((image) => image.complete && image.naturalWidth > 0).length;
  check.dataset.rows = document.querySelectorAll("table.results tbody tr").length;
  check.dataset.cells = Array.from(document.querySelectorAll("table.results td .acc"))
    .map((cell) => cell.textContent).join(" ");
  document.body.appendChild(check);
});
</script>"""


def chromium(tmp_path: Path, page: Path, *args: str) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=5000",
        *args,
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium); the browser check cannot run")
    sweeps = {"k": [2, 8], "methods": ["integrated_gradients"]}
    return make_run(tmp_path_factory.mktemp("browser"), sweeps=sweeps).output_dir / "report" / "report.html"


def test_table_and_images_render(report, tmp_path):
    page = tmp_path / "checked.html"
    page.write_text(report.read_text().replace("</body>", RENDER_CHECK + "</body>"))
    dom = chromium(tmp_path, page, "--dump-dom").stdout
    check = re.search(r'<div id="render-check"([^>]*)>', dom)
    assert check, "the page did not finish loading"
    found = dict(re.findall(r'data-(\w+)="([^"]*)"', check.group(1)))
    assert int(found["images"]) == 3  # results chart, accuracy against k, methods
    assert found["rendered"] == found["images"]
    assert found["rows"] == "4"
    assert found["cells"] == "65.0 82.5 70.0 90.0"


def test_screenshot_is_not_blank(report, tmp_path):
    shot = tmp_path / "shot.png"
    chromium(tmp_path, report, f"--screenshot={shot}", "--window-size=1100,1400")
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == (1400, 1100)
    ink = (pixels < 0.9).any(axis=-1)  # anything clearly darker than the white page
    assert ink.mean() > 0.02
    blue_bars = (np.abs(pixels - np.array([0x4C, 0x72, 0xB0]) / 255).max(axis=-1) < 0.05).mean()
    assert blue_bars > 0.001  # the results chart (its bars are #4c72b0) is on screen
