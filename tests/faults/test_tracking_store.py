"""The MLflow store: a damaged one is named in one line (exit 2, before any trial); a finished run that MLflow
never saw finish is completed from its run directory. Finished results stay untouched."""

import pytest

from tests.helpers import run_cli, tiny_config


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


@pytest.mark.slow
def test_a_finished_run_left_running_in_mlflow_is_completed_by_the_rerun(tmp_path):
    """A kill between a run's `done` marker and the mirror's finish: the rerun skips the run but completes
    its MLflow record from the run directory (missing epochs, final metrics, FINISHED)."""
    import sqlite3

    from mlflow import MlflowClient

    path = tiny_config(tmp_path)
    assert run_cli("run", str(path)).returncode == 0
    summary = (tmp_path / "results" / "tiny" / "summary.csv").read_bytes()
    store = tmp_path / "results" / "mlflow.db"
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    client.update_run(run.info.run_id, status="RUNNING")
    with sqlite3.connect(store) as db:  # as if MLflow never got epoch 1 nor the final metrics
        for table in ("metrics", "latest_metrics"):
            db.execute(
                f"DELETE FROM {table} WHERE run_uuid = ? AND (step = 1 OR key LIKE 'final_%')", (run.info.run_id,)
            )
    result = run_cli("run", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 already done, 0 to run" in result.stdout
    after = client.get_run(run.info.run_id)
    assert after.info.status == "FINISHED"
    assert [m.step for m in client.get_metric_history(run.info.run_id, "epoch")] == [0, 1]
    assert "final_test_uar" in after.data.metrics
    assert (tmp_path / "results" / "tiny" / "summary.csv").read_bytes() == summary
