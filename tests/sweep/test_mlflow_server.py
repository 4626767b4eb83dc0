"""A smoke sweep logs to a real `mlflow server` on 127.0.0.1; the runs read back through the client."""

import json
import os
import socket
import subprocess
import time
import urllib.request

import pandas as pd
import pytest

from tests.helpers import EXPERIMENTS, mlflow_server_command, run_cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def mlflow_server(tmp_path):
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    proc = subprocess.Popen(
        mlflow_server_command(tmp_path, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/health", timeout=2).status == 200:
                break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("mlflow server did not become healthy in 90 s")
    yield url
    os.killpg(proc.pid, 15)
    proc.wait(timeout=30)


@pytest.mark.slow
def test_smoke_sweep_logs_to_a_real_mlflow_server(mlflow_server, tmp_path):
    from mlflow import MlflowClient

    result = run_cli(
        "run",
        str(EXPERIMENTS / "quickstart.yaml"),
        "--smoke",
        "--set",
        f"output_dir={tmp_path / 'results'}",
        "--set",
        f"tracking.uri={mlflow_server}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warning" not in result.stderr.lower()

    client = MlflowClient(tracking_uri=mlflow_server)
    experiment = client.get_experiment_by_name("quickstart")
    runs = client.search_runs([experiment.experiment_id])
    summary = pd.read_csv(tmp_path / "results" / "quickstart" / "summary.csv")
    assert len(runs) == len(summary) == 5  # erm, focal, groupdro, sam, hdf
    sweep = json.loads((tmp_path / "results" / "quickstart" / "sweep.json").read_text())
    for run in runs:
        row = summary[summary["run_id"] == run.data.tags["run_id"]].iloc[0]
        assert run.info.status == "FINISHED"
        assert run.data.tags["sweep_id"] == sweep["sweep_id"]
        assert [run.data.tags[k] for k in ("dataset", "strategy", "variant")] == [
            "synthetic",
            row["strategy"],
            row["variant"],
        ]
        assert run.data.params["training.epochs"] == "2" and run.data.params["strategy.name"] == row["strategy"]
        history = client.get_metric_history(run.info.run_id, "val_uar")
        assert [m.step for m in history] == [0, 1]
        assert run.data.metrics["final_test_uar"] == pytest.approx(row["test_uar"])
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"predictions.parquet", "confusion_test.csv", "metrics.jsonl", "config.json"} <= artifacts
        local = client.download_artifacts(run.info.run_id, "predictions.parquet", str(tmp_path))
        assert len(pd.read_parquet(local)) > 0
