"""Shared fixtures: a session-wide data cache, a tiny run spec, and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hdfbench.training.trainer import Hooks, train

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"


@pytest.fixture(scope="session", autouse=True)
def data_cache(tmp_path_factory) -> Path:
    """Point the data cache at one temporary folder for the whole session (set for subprocesses too)."""
    cache = tmp_path_factory.mktemp("hdfbench-cache")
    os.environ["HDFBENCH_CACHE"] = str(cache)
    return cache


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``hdfbench ARGS`` in a subprocess; return the completed process (output captured)."""
    return subprocess.run([sys.executable, "-m", "hdfbench.cli", *args], cwd=cwd or REPO, capture_output=True,
                          text=True, timeout=timeout, env=os.environ.copy())


def tiny_config(tmp_path: Path, **overrides) -> Path:
    """Write a small, fast experiment YAML under ``tmp_path``; return its path."""
    import yaml

    config = {
        "experiment": "tiny",
        "datasets": [{"name": "synthetic", "options": {"n_clips": 84, "frames": 4, "size": 32, "n_subjects": 8}}],
        "folds": [1], "seeds": [0],
        "strategies": [{"name": "erm"}],
        "model": {"backbone": "x3d_tiny", "options": {"head_dim_out": 64}},
        "training": {"epochs": 2, "batch_size": 8, "max_steps_per_epoch": 2, "device": "cpu"},
        "output_dir": str(tmp_path / "results"),
    }
    for key, value in overrides.items():
        config[key] = value
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class Interrupt(Exception):
    """Raised by a hook to stop training the way Ctrl-C would."""


def interrupt_after_epoch(run_spec, run_dir, epoch: int) -> None:
    """Train ``run_spec`` into ``run_dir`` and stop it once ``epoch`` is checkpointed."""
    def stop(record):
        if record["epoch"] == epoch:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(run_spec, run_dir, Hooks(on_epoch=stop))
