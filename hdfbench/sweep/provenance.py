"""Where a result came from: the source commit and digest, library versions, pretrained weights, the sweep record.

The digest of the hdfbench package's Python files identifies the code exactly, with or without a
git checkout: the driver computes it from its source tree, and every node of a cluster from the
package it imports (a checkout, an installed copy or the one Ray shipped), so the preflight can tell
whether all of them run the same code.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import subprocess
import time
from pathlib import Path

import yaml

import hdfbench
from hdfbench.config import ExperimentConfig
from hdfbench.fileio import atomic_write_json, atomic_write_text
from hdfbench.training import results
from hdfbench.training.spec import RunSpec

#: Versions that must be equal on the driver and every node (hdfbench's, and what checkpoints and Ray need).
REQUIRED_EQUAL = ("hdfbench", "hdfbench_source", "python", "torch", "ray")


def package_dir() -> Path:
    """Return the folder of the imported hdfbench package."""
    return Path(hdfbench.__file__).resolve().parent


def source_digest(root: Path | None = None) -> str:
    """Return a short hash of every ``.py`` file (path and content) in the hdfbench package."""
    root = root or package_dir()
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def git_commit() -> str:
    """Return the hdfbench source commit (with ``-dirty`` if modified), or ``unknown``."""
    src = package_dir().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _public(version: str) -> str:
    """Return a version without its local part (``2.13.0+cpu`` → ``2.13.0``)."""
    return version.split("+", 1)[0]


def versions() -> dict[str, str]:
    """Return the versions this process runs: hdfbench (and its source digest), Python, torch, Ray and friends.

    ``torch`` is the public version (a CPU and a CUDA build of one release are the same code for
    checkpoints); ``torch_build`` keeps the full string.
    """
    import numpy
    import ray
    import torch

    out = {
        "hdfbench": hdfbench.__version__,
        "hdfbench_source": source_digest(),
        "python": ".".join(platform.python_version_tuple()[:2]),
        "torch": _public(torch.__version__),
        "torch_build": torch.__version__,
        "ray": ray.__version__,
        "numpy": numpy.__version__,
    }
    for name in ("mlflow", "pytorchvideo"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "missing"
    return out


def pretrained_weights(config: ExperimentConfig) -> dict[str, str | None]:
    """Return the backbone's pretrained weights file (absolute path) → its sha256 (None where no file is), or {}."""
    from hdfbench.models.checkpoints import file_sha256
    from hdfbench.schema import absolute_path

    path = config.model.options.get("pretrained")
    if not path:
        return {}
    path = absolute_path(str(path))
    return {path: file_sha256(path) if Path(path).is_file() else None}


def record_sweep(config: ExperimentConfig, source: str, sweep_id: str, specs: list[RunSpec], smoke: bool) -> None:
    """Save the resolved config, the git commit, versions and the run list of this sweep invocation."""
    experiment_dir = config.experiment_dir
    resolved = config.model_dump(mode="json")
    sweep_dir = experiment_dir / "sweeps" / sweep_id
    atomic_write_text(sweep_dir / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
    info = {
        "sweep_id": sweep_id,
        "source": source,
        "commit": git_commit(),
        "versions": versions(),
        "pretrained": pretrained_weights(config),  # file → sha256 of the weights every run starts from
        "started_at": time.time(),
        "smoke": smoke,
        "run_ids": [s.run_id for s in specs],
    }
    atomic_write_json(sweep_dir / "sweep.json", info)
    atomic_write_text(experiment_dir / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
    atomic_write_json(experiment_dir / "sweep.json", info)
    results.write_run_list(experiment_dir, [s.run_id for s in specs])
