"""report.html opens in headless Chromium, and the page and every embedded figure render non-blank."""

import base64
import io
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

CHROMIUM = shutil.which("chromium") or shutil.which("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian chromium not installed (`apt-get install -y --no-install-recommends chromium`; .ci/run installs it)",
)


def _grey(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=float)


def screenshot(page, out, width=1280, height=6000) -> bytes:
    """Return the PNG screenshot of ``page`` taken by headless Chromium."""
    shot = out / "shot.png"
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
        f"--user-data-dir={out / 'profile'}",
        f"--screenshot={shot}",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
        page.resolve().as_uri(),
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    return shot.read_bytes()


def test_report_renders_in_chromium(known_analysis, tmp_path):
    page = known_analysis.out_dir / "report.html"
    grey = _grey(screenshot(page, tmp_path))
    assert grey.shape == (6000, 1280)
    assert grey.std() > 20, "screenshot is blank"
    ink = (grey < 200).mean(axis=1)  # share of dark pixels per row
    assert (ink > 0.05).mean() > 0.3, "most of the page is empty: figures did not render"
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page.read_text())
    assert len(images) == len(known_analysis.figures) > 0
    for data in images:
        figure = _grey(base64.b64decode(data))
        assert figure.std() > 10 and min(figure.shape) > 100, "an embedded figure is blank"
