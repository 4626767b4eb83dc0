"""A damaged MLflow store: one line naming it, exit 2, before any trial, and finished results untouched."""

import pytest

from tests.conftest import run_cli, tiny_config


@pytest.mark.slow
def test_a_corrupt_sqlite_store_is_named_in_one_line(tmp_path):
    path = tiny_config(tmp_path)
    assert run_cli("run", str(path)).returncode == 0
    summary = (tmp_path / "results" / "tiny" / "summary.csv").read_bytes()
    store = tmp_path / "results" / "mlflow.db"
    store.write_bytes(b"not a database, " * 64)
    result = run_cli("run", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"tracking.uri sqlite:///{store}: the MLflow store cannot be opened" in result.stderr
    assert f"move the damaged file {store} aside" in result.stderr
    assert (tmp_path / "results" / "tiny" / "summary.csv").read_bytes() == summary
