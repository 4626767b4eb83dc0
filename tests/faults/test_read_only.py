"""Read-only storage: a sweep whose output_dir or MLflow store cannot be written is refused before Ray
starts (exit 2, one line naming the folder); finished results on read-only storage are still analysed,
with one line saying what could not be updated. Nothing already written changes. Each case runs in a
mount namespace of its own with a read-only bind mount (needs unshare and mounts, as root)."""

import os
import sys

import pytest

from hdfbench.testing.fake_results import FakeSpec, make_results
from tests.helpers import mount_namespaces_permitted, read_only, tiny_config, tree_bytes

if not mount_namespaces_permitted():
    pytest.skip("needs unshare and the privilege to mount", allow_module_level=True)

CLI = [sys.executable, "-m", "hdfbench.cli"]


@pytest.fixture
def results(tmp_path):
    """A finished (fake) experiment under tmp_path/results, with an MLflow store beside it."""
    spec = FakeSpec(folds=(1, 2), seeds=(0,), n_test=200, n_train=400)
    experiment = make_results(tmp_path / "results", spec)
    (tmp_path / "results" / "mlflow.db").write_bytes(b"")
    config = experiment / "config.yaml"
    config.write_text(config.read_text().replace("enabled: false", "enabled: true"))
    return experiment


def test_a_sweep_into_read_only_storage_is_refused_before_ray(tmp_path, results):
    path = tiny_config(tmp_path, experiment=results.name)
    before = tree_bytes(tmp_path / "results")
    result = read_only(tmp_path / "results", [*CLI, "run", str(path)])
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"output_dir: {tmp_path / 'results'} is on read-only storage" in result.stderr
    assert result.stderr.count("\n") == 2 and "Traceback" not in result.stderr  # the header and the problem
    assert tree_bytes(tmp_path / "results") == before


def test_an_mlflow_store_on_read_only_storage_is_refused_before_ray(tmp_path):
    store = tmp_path / "store"
    store.mkdir()
    path = tiny_config(tmp_path, tracking={"uri": f"sqlite:///{store / 'mlflow.db'}"})
    result = read_only(store, [*CLI, "run", str(path)])
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"tracking.uri: the MLflow store: {store} is on read-only storage" in result.stderr
    assert not (tmp_path / "results").exists() and not list(store.iterdir())


def test_finished_results_on_read_only_storage_are_still_analysed(tmp_path, results):
    run = next((results / "runs").iterdir())
    os.utime(run / "done", (run.stat().st_mtime + 60,) * 2)  # newer than summary.csv: its row is recomputed
    before = tree_bytes(tmp_path / "results")
    out = tmp_path / "analysis"
    result = read_only(tmp_path / "results", [*CLI, "analyze", str(results), "--out", str(out), "--no-plots"])
    assert result.returncode == 0, result.stdout + result.stderr
    warning = [line for line in result.stderr.splitlines() if "summary.csv" in line]
    assert len(warning) == 1 and "not updated: read-only storage" in warning[0], result.stderr
    assert f"MLflow: tracking store {tmp_path / 'results' / 'mlflow.db'}: " in result.stdout
    assert "is on read-only storage; analysis not logged" in result.stdout
    assert (out / "report.md").exists() and tree_bytes(tmp_path / "results") == before
