"""Helpers shared by test modules; fixtures and hooks live in conftest.py. The ``hdfbench`` command in a
subprocess (for what needs a process of its own: a Ray sweep, a signal, a mount namespace), a tiny
experiment config, a training run stopped after an epoch, the analysis tests' known-effects results,
and commands run in a mount namespace of their own, so that a tmpfs or a read-only bind mount is seen
by that command only (needs unshare, as root)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hdfbench.testing.fake_results import FakeSpec
from hdfbench.training.trainer import Hooks, train

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"

#: 2 datasets × 5 folds × 3 seeds × 4 strategies, a DFEW-like 5-fold partition (n_test/n_train = 0.25):
#: "better" is 5 points better than the reference by construction, "same" identical in distribution
#: (a GroupDRO run, for its weight figure), "minority" worse on the minority class (Disgust) only.
KNOWN = FakeSpec(
    experiment="known",
    datasets=("d1", "d2"),
    folds=(1, 2, 3, 4, 5),
    seeds=(0, 1, 2),
    n_test=3000,
    n_train=10900,
    variants={
        "erm": ("erm", 0.0),
        "better": ("better", 0.05),
        "same": ("groupdro", 0.0),
        "minority": ("minority", 0.0, {"Disgust": -0.3}),
    },
)


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``hdfbench ARGS`` in a subprocess; return the completed process (output captured). For commands
    that need a process of their own (a Ray sweep); call ``hdfbench.cli.main([...])`` for the others."""
    return subprocess.run(
        [sys.executable, "-m", "hdfbench.cli", *args],
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=os.environ.copy(),
    )


def tiny_config(tmp_path: Path, **overrides) -> Path:
    """Write a small, fast experiment YAML under ``tmp_path``; return its path."""
    import yaml

    config = {
        "experiment": "tiny",
        "datasets": [{"name": "synthetic", "options": {"n_clips": 84, "frames": 4, "size": 32, "n_subjects": 8}}],
        "folds": [1],
        "seeds": [0],
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


@functools.cache
def mount_namespaces_permitted() -> bool:
    """Return whether ``unshare --mount`` works here (it needs the tool and the privilege)."""
    return (
        shutil.which("unshare") is not None
        and subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0
    )


def _in_namespace(script: str, command: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["unshare", "--mount", "sh", "-c", f'{script} && exec "$@"', "sh", *command],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def in_small_tmpfs(
    folder: Path, command: list[str], size: str = "1m", timeout: float = 300
) -> subprocess.CompletedProcess:
    """Run ``command`` with a fresh tmpfs of ``size`` mounted over ``folder``; return the completed process."""
    return _in_namespace(f'mount -t tmpfs -o size={size} tmpfs "{folder}"', command, timeout)


def read_only(folder: Path, command: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``command`` with ``folder`` made read-only (a read-only bind mount); return the completed process."""
    return _in_namespace(f'mount --bind "{folder}" "{folder}" && mount -o remount,bind,ro "{folder}"', command, timeout)


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Return every file under ``folder`` (relative path → content), to show a tree is byte-identical later."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def mlflow_server_command(workdir: Path, port: int) -> list[str]:
    """Return the command of a real `mlflow server` with a sqlite store and artifacts under ``workdir``."""
    return [
        str(Path(sys.executable).with_name("mlflow")),
        "server",
        "--backend-store-uri",
        f"sqlite:///{workdir / 'server.db'}",
        "--artifacts-destination",
        str(workdir / "server-artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
