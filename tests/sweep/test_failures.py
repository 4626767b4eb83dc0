"""A run that fails for its own reason is reported, recorded and not retried, whatever max_failures says."""

import json

import pytest

from tests.helpers import run_cli, tiny_config


@pytest.mark.slow
def test_own_failures_are_not_retried(tmp_path):
    path = tiny_config(
        tmp_path,
        strategies=[
            {"name": "tests.sweep.failing:NaNLoss", "variant": "nan"},
            {"name": "tests.sweep.failing:Bug", "variant": "bug"},
            {"name": "erm"},
        ],
        ray={"max_failures": 2},
    )
    result = run_cli("run", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 runs finished" in result.stdout and "retried" not in result.stdout
    assert "non-finite training loss" in result.stderr and "ValueError: a bug in the strategy" in result.stderr
    failed_lines = [line for line in result.stderr.splitlines() if line.startswith("FAILED ")]
    assert len(failed_lines) == 2 and all(line.endswith("/failed.json)") for line in failed_lines)
    assert "Traceback" not in result.stdout + result.stderr  # one line per failure; the traceback is in its file
    runs = tmp_path / "results" / "tiny" / "runs"
    for variant in ("nan", "bug"):
        (run,) = runs.glob(f"*-{variant}-*")
        assert len((run / "attempts.jsonl").read_text().splitlines()) == 1  # one attempt: no retry
        failure = json.loads((run / "failed.json").read_text())
        assert failure["sweep_id"] and "Traceback" in failure["traceback"]
        assert not (run / "done").exists()

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}")
    statuses = {
        r.data.tags["variant"]: r.info.status
        for r in client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
    }
    assert statuses == {"nan": "FAILED", "bug": "FAILED", "erm": "FINISHED"}
