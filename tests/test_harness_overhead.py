"""benchmarks/harness_overhead.py runs end to end and writes both comparisons (its numbers are for
benchmarks/, never asserted here: machines are noisy)."""

import json
import subprocess
import sys

import pytest

from tests.helpers import REPO


@pytest.mark.slow
def test_harness_overhead_measures_steps_and_epochs(tmp_path):
    out = tmp_path / "overhead.json"
    tiny = ["--batch", "4", "--warmup", "1", "--steps", "1", "--rounds", "2", "--clips", "84", "--epochs", "2"]
    done = subprocess.run(
        [sys.executable, "benchmarks/harness_overhead.py", *tiny, "--threads", "1", "--out", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    steps, epochs = result["steps"], result["epochs"]
    assert set(steps["step_s"]) == {"bare", "bare_contiguous", "erm"} and steps["n_steps"] == 2
    assert steps["ratio"] == pytest.approx(steps["step_s"]["erm"] / steps["step_s"]["bare"])
    assert steps["erm_memory_format"] == "channels_last_3d"
    assert len(epochs["all_epochs_s"]["trainer"]) == len(epochs["all_epochs_s"]["bare"]) == 2
    assert epochs["ratio"] > 0 and epochs["n_train"] > 0
    assert "bare loop:" in done.stdout and "epoch: trainer" in done.stdout
