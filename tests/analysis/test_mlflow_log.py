"""Logging the analysis to the sweep's MLflow experiment, and skipping cleanly when there is none."""

import pytest

from hdfbench.analysis.mlflow_log import log_analysis, tracking_uri


def test_disabled_tracking_is_skipped(known_analysis):
    assert tracking_uri({"tracking": {"enabled": False}}, known_analysis.experiment.path) is None
    assert "not logged" in log_analysis(known_analysis)


def test_unreachable_store_does_not_fail(known_analysis, monkeypatch):
    monkeypatch.setitem(known_analysis.experiment.config, "tracking", {"enabled": True, "uri": "http://127.0.0.1:9"})
    message = log_analysis(known_analysis)
    assert "unreachable" in message and "not logged" in message


@pytest.mark.slow
def test_logged_as_an_analysis_run(known_analysis, tmp_path, monkeypatch):
    from mlflow import MlflowClient

    from hdfbench.sweep.tracking import init_experiment

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    init_experiment(uri, "known", tmp_path / "mlartifacts")
    monkeypatch.setitem(known_analysis.experiment.config, "tracking", {"enabled": True, "uri": uri})
    for _ in range(2):  # re-analysing replaces the analysis run
        assert "logged as run" in log_analysis(known_analysis)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("known")
    runs = client.search_runs([experiment.experiment_id])
    assert [r.info.run_name for r in runs] == ["analysis"]
    paths = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert {"tables", "figures", "report.html", "report.md"} <= paths
