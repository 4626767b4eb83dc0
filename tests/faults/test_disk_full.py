"""A full disk under output_dir: the sweep ends with one line naming the storage, exit 1, and the
results written before the disk filled are intact. Runs in a mount namespace of its own with a
1 MiB tmpfs over the output folder (needs unshare and tmpfs mounts, as root)."""

import sys

import pytest

from tests.helpers import in_small_tmpfs, mount_namespaces_permitted, tiny_config

if not mount_namespaces_permitted():
    pytest.skip("needs unshare and the privilege to mount", allow_module_level=True)


@pytest.mark.slow
def test_a_full_disk_ends_the_sweep_with_one_line_naming_the_storage(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    path = tiny_config(tmp_path)
    result = in_small_tmpfs(results, [sys.executable, "-m", "hdfbench.cli", "run", str(path)])
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith(f"error: no space left on the storage of {results}"), result.stderr
    assert "run the same command" in lines[-1] and "Saving experiment state" not in result.stderr, result.stderr
