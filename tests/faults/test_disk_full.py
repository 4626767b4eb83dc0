"""A full disk under output_dir: the sweep ends with one line naming the storage, exit 1, and the
results written before the disk filled are intact. Runs in a mount namespace of its own with a
1 MiB tmpfs over the output folder (needs unshare and tmpfs mounts, as root)."""

import shutil
import subprocess
import sys

import pytest

from tests.conftest import tiny_config

if shutil.which("unshare") is None:
    pytest.skip("needs unshare", allow_module_level=True)


def in_small_tmpfs(folder, command: list[str], size: str = "1m") -> subprocess.CompletedProcess:
    """Run ``command`` with a fresh tmpfs of ``size`` mounted over ``folder`` (invisible outside)."""
    script = f'mount -t tmpfs -o size={size} tmpfs "{folder}" && exec "$@"'
    return subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh", *command], capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_a_full_disk_ends_the_sweep_with_one_line_naming_the_storage(tmp_path):
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("mount namespaces are not permitted here")
    results = tmp_path / "results"
    results.mkdir()
    path = tiny_config(tmp_path)
    result = in_small_tmpfs(results, [sys.executable, "-m", "hdfbench.cli", "run", str(path)])
    assert result.returncode == 1, result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: no space left on the storage of {results}") and "run the same command" in last
    assert "Traceback" not in result.stderr.split("\n")[-3:]
