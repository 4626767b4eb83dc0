"""Logging the analysis (tables, figures, report) to the sweep's MLflow experiment.

The sweep's experiment is the one ``hdfbench run`` created: named after the experiment, at the
tracking URI of the resolved config (``tracking.uri``, else ``sqlite:///<output_dir>/mlflow.db``).
The analysis becomes one MLflow run named "analysis" (tag ``hdfbench.kind=analysis``), replaced
on every analysis of the same sweep. Tracking disabled, a missing store or any MLflow error is
reported in the returned message and never fails the analysis.
"""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlparse

from hdfbench.errortext import error_line
from hdfbench.fileio import sqlite_unwritable


def tracking_uri(config: dict, experiment_dir: Path) -> str | None:
    """Return the sweep's tracking URI, or None when tracking is disabled or the store does not exist."""
    tracking = config.get("tracking") or {}
    if not tracking.get("enabled", True):
        return None
    if tracking.get("uri"):
        return tracking["uri"]
    db = experiment_dir.parent / "mlflow.db"  # the default store sits in output_dir, which holds <experiment>/
    return f"sqlite:///{db.resolve()}" if db.exists() else None


def store_problem(uri: str, timeout: float = 3.0) -> str | None:
    """Return why the store cannot take the analysis (no TCP answer for http(s); a missing or read-only
    database file for sqlite), or None."""
    parsed = urlparse(uri)
    if parsed.scheme in ("http", "https"):
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
        try:
            socket.create_connection((parsed.hostname, port), timeout=timeout).close()
        except OSError:
            return f"tracking store {uri} is unreachable"
    if parsed.scheme == "sqlite":
        db = Path(uri.removeprefix("sqlite:///"))
        if not db.exists():
            return f"tracking store {db} does not exist"
        if unwritable := sqlite_unwritable(db):
            return f"tracking store {db}: {unwritable}"
    return None


def _log(uri: str, name: str, analysis) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        return f"MLflow: no experiment '{name}' at {uri}; analysis not logged"
    sweep_id = analysis.experiment.sweep.get("sweep_id", "")
    old = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`hdfbench.kind` = 'analysis' and tags.`hdfbench.sweep_id` = '{sweep_id}'",
    )
    for run in old:
        client.delete_run(run.info.run_id)
    run = client.create_run(
        experiment.experiment_id,
        run_name="analysis",
        tags={
            "hdfbench.kind": "analysis",
            "hdfbench.sweep_id": sweep_id,
            "hdfbench.reference": str(analysis.reference),
        },
    )
    run_id = run.info.run_id
    out = analysis.out_dir
    for table in analysis.tables.values():
        for path in table.paths:
            client.log_artifact(run_id, str(path), "tables")
    for figure in analysis.figures:
        client.log_artifact(run_id, str(figure.png), "figures")
        client.log_artifact(run_id, str(figure.svg), "figures")
    for name_ in ("report.md", "report.html"):
        if (out / name_).exists():
            client.log_artifact(run_id, str(out / name_))
    client.log_param(run_id, "n_runs", len(analysis.experiment.summary))
    client.log_param(run_id, "n_missing", len(analysis.experiment.missing))
    client.set_terminated(run_id, status="FINISHED")
    return f"MLflow: analysis logged as run {run_id} of experiment '{name}' at {uri}"


def log_analysis(analysis) -> str:
    """Log tables, figures and the report to the sweep's MLflow experiment; return what happened."""
    config = analysis.experiment.config
    uri = tracking_uri(config, analysis.experiment.path)
    if uri is None:
        return "MLflow: tracking disabled or no tracking store found; analysis not logged"
    if problem := store_problem(uri):  # MLflow's own HTTP retries would take minutes
        return f"MLflow: {problem}; analysis not logged"
    try:
        return _log(uri, config.get("experiment", analysis.experiment.name), analysis)
    except Exception as exc:  # the analysis on disk is complete; MLflow is a mirror
        return f"MLflow: logging to {uri} failed ({type(exc).__name__}: {error_line(exc, '')}); analysis not logged"
