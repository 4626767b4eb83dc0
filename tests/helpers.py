"""Helpers shared by test modules (fixtures live in conftest.py): commands run in a mount namespace of
their own, so a tmpfs or a read-only bind mount is seen by that command only (needs unshare, as root)."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path


@functools.cache
def mount_namespaces_permitted() -> bool:
    """Return whether ``unshare --mount`` works here (it needs the tool and the privilege)."""
    return shutil.which("unshare") is not None and subprocess.run(["unshare", "--mount", "true"],
                                                                  capture_output=True).returncode == 0


def _in_namespace(script: str, command: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(["unshare", "--mount", "sh", "-c", f"{script} && exec \"$@\"", "sh", *command],
                          capture_output=True, text=True, timeout=timeout)


def in_small_tmpfs(folder: Path, command: list[str], size: str = "1m", timeout: float = 300
                   ) -> subprocess.CompletedProcess:
    """Run ``command`` with a fresh tmpfs of ``size`` mounted over ``folder``; return the completed process."""
    return _in_namespace(f'mount -t tmpfs -o size={size} tmpfs "{folder}"', command, timeout)


def read_only(folder: Path, command: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``command`` with ``folder`` made read-only (a read-only bind mount); return the completed process."""
    return _in_namespace(f'mount --bind "{folder}" "{folder}" && mount -o remount,bind,ro "{folder}"', command,
                         timeout)


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Return every file under ``folder`` (relative path → content), to show a tree is byte-identical later."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
