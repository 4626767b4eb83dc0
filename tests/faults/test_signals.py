"""Signals: kill -9 of a sweep's whole process group, then the same command again (done runs are skipped,
interrupted ones continue from their checkpoint, summary.csv has exactly one row per run); Ctrl-C and
SIGTERM (exit 130, the summary, every unfinished run listed, nothing left RUNNING in MLflow). kill -9
of the driver alone at random moments is test_kill_driver.py."""

import os
import re
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from tests.helpers import tiny_config


def wait_for_partial_sweep(runs_dir, proc, timeout=240):
    """Return once at least one run is done and another has a checkpoint but is not done."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        runs = [p for p in runs_dir.glob("*") if p.is_dir()] if runs_dir.exists() else []
        done = [r for r in runs if (r / "done").exists()]
        mid = [r for r in runs if not (r / "done").exists() and (r / "checkpoint.pt").exists()]
        if done and mid:
            return done, mid
        if proc.poll() is not None:
            pytest.fail(f"sweep ended before it could be interrupted:\n{proc.stdout.read()}")
        time.sleep(0.05)
    pytest.fail("no partial state reached in time")


@pytest.mark.slow
@pytest.mark.timeout(900)  # up to 240 s to the partial state, then up to 300 s for the rerun
def test_kill_minus_9_then_rerun_resumes(tmp_path):
    path = tiny_config(
        tmp_path,
        seeds=[0, 1, 2],
        ray={"max_concurrent_trials": 1},
        training={"epochs": 8, "batch_size": 8, "max_steps_per_epoch": 4, "device": "cpu"},
    )
    command = [sys.executable, "-m", "hdfbench.cli", "run", str(path)]
    runs_dir = tmp_path / "results" / "tiny" / "runs"
    proc = subprocess.Popen(
        command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        done, mid = wait_for_partial_sweep(runs_dir, proc)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    done_before = {r.name: (r / "done").read_text() for r in done}
    interrupted = mid[0].name

    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(done_before)} already done" in result.stdout

    summary = pd.read_csv(tmp_path / "results" / "tiny" / "summary.csv")
    assert len(summary) == 3 and summary["run_id"].is_unique and sorted(summary["seed"]) == [0, 1, 2]
    for name, content in done_before.items():
        assert (runs_dir / name / "done").read_text() == content  # finished runs were not re-run
    resumed = pd.read_json(runs_dir / interrupted / "done", typ="series")
    assert len(resumed["resumed_from_epochs"]) == 1
    records = pd.read_json(runs_dir / interrupted / "metrics.jsonl", lines=True)
    assert records["epoch"].tolist() == list(range(8))  # each epoch exactly once

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert len(runs) == 3 and {r.info.status for r in runs} == {"FINISHED"}


@pytest.mark.slow
@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_reports_finished_unfinished_and_unstarted_runs(tmp_path, sent):
    path = tiny_config(
        tmp_path,
        seeds=[0, 1, 2],
        ray={"max_concurrent_trials": 1},
        training={"epochs": 6, "batch_size": 8, "max_steps_per_epoch": 4, "device": "cpu"},
    )
    runs_dir = tmp_path / "results" / "tiny" / "runs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "hdfbench.cli", "run", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_for_partial_sweep(runs_dir, proc)
    proc.send_signal(sent)  # what Ctrl-C sends, or a scheduler's preemption
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert "1 runs finished" in output and "Tuner.restore" not in output
    assert "interrupted: run the same command again to resume" in output
    assert re.search(r"NOT FINISHED synthetic-f1-s1-erm-\w+: stopped after epoch \d+; the next run", output)
    assert re.search(r"NOT FINISHED synthetic-f1-s2-erm-\w+: not started", output)
    summary = pd.read_csv(tmp_path / "results" / "tiny" / "summary.csv")
    assert summary["seed"].tolist() == [0]

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    assert sorted(r.info.status for r in runs) == ["FINISHED", "KILLED"]  # nothing left RUNNING
