"""MLflow mirroring of run directories: one experiment per sweep, one MLflow run per trial.

The driver creates the experiment (and with it a fresh sqlite database) once, before any trial
starts, because concurrent first use of a sqlite store corrupts it. Each trial then mirrors its
run directory: params and tags at start, metrics every epoch, predictions and the confusion
matrix as artifacts at the end. The MLflow run id is kept in the run directory, so a resumed run
continues the same MLflow run. A failing tracking server never fails training: the mirror logs a
warning and stops mirroring that run.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import pandas as pd

from hdfbench.metrics import confusion
from hdfbench.training.rundir import RunDir

log = logging.getLogger(__name__)

#: Written into a run directory when mirroring it to MLflow failed (the driver reports it).
MIRROR_ERROR_FILE = "mlflow_error.txt"


def _client(uri: str):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def init_experiment(uri: str, name: str, artifact_root: Path) -> str:
    """Return the id of MLflow experiment ``name`` at ``uri``, creating it (and the store) if needed.

    For local stores, artifacts go under ``artifact_root``; a tracking server keeps its own.
    """
    client = _client(uri)
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = None if uri.startswith(("http://", "https://")) else Path(artifact_root).resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


def flatten(obj: Any, prefix: str = "") -> dict[str, str]:
    """Return a nested mapping as dotted keys → string values (MLflow params)."""
    if isinstance(obj, dict):
        out: dict[str, str] = {}
        for key, value in obj.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): str(obj)}


class MlflowMirror:
    """Mirrors one run directory into one MLflow run (created, or resumed by its saved id)."""

    def __init__(self, uri: str, experiment_id: str, run_dir: RunDir, tags: dict[str, Any]):
        self.uri, self.experiment_id, self.run_dir, self.tags = uri, experiment_id, run_dir, tags
        self.client = None
        self.run_id: str | None = None

    @property
    def _id_file(self) -> Path:
        return self.run_dir.path / "mlflow_run_id"

    def _guard(self, action: str, fn, *args) -> None:
        if self.client is None and action != "start":
            return
        try:
            fn(*args)
        except Exception as exc:  # the mirror must never break training
            message = f"MLflow {action} failed for {self.uri} ({type(exc).__name__}: {exc}); mirroring stopped"
            log.warning("%s: %s", self.run_dir.path.name, message)
            self.run_dir.path.mkdir(parents=True, exist_ok=True)
            (self.run_dir.path / MIRROR_ERROR_FILE).write_text(message + "\n")
            self.client = None

    def start(self, params: dict[str, Any]) -> None:
        """Create (or reopen) the MLflow run and log params and tags."""
        self._guard("start", self._start, params)

    def _start(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        self.client = _client(self.uri)
        self.run_dir.path.mkdir(parents=True, exist_ok=True)
        (self.run_dir.path / MIRROR_ERROR_FILE).unlink(missing_ok=True)
        if self._id_file.exists():
            self.run_id = self._id_file.read_text().strip()
            self.client.update_run(self.run_id, status="RUNNING")
            return
        run = self.client.create_run(
            self.experiment_id, run_name=str(self.tags["run_id"]),
            tags={k: str(v) for k, v in self.tags.items()},
        )
        self.run_id = run.info.run_id
        self._id_file.write_text(self.run_id)
        items = [Param(k[:250], v[:6000]) for k, v in flatten(params).items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(self.run_id, params=items[i : i + 100])
        self.client.set_tag(self.run_id, "hdfbench.run_dir", str(self.run_dir.path.resolve()))

    def log_metrics(self, record: dict[str, Any], step: int) -> None:
        """Log the numeric entries of ``record`` at ``step``."""
        self._guard("log_metrics", self._log_metrics, record, step)

    def _log_metrics(self, record: dict[str, Any], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for k, v in record.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
        self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, final: dict[str, Any], classes: list[str]) -> None:
        """Log the final metrics and artifacts (predictions, confusion matrix, config) and close the run."""
        self._guard("finish", self._finish, final, classes)

    def _finish(self, final: dict[str, Any], classes: list[str]) -> None:
        self._log_metrics({f"final_{k}": v for k, v in final.items()}, step=0)
        predictions = self.run_dir.read_predictions()
        test = predictions[predictions["split"] == "test"]
        matrix = confusion(test["label"].to_numpy(), test["pred"].to_numpy(), len(classes))
        path = self.run_dir.path / "confusion_test.csv"
        pd.DataFrame(matrix, index=pd.Index(classes, name="true"), columns=classes).to_csv(path)
        for artifact in (self.run_dir.predictions, path, self.run_dir.config, self.run_dir.metrics):
            self.client.log_artifact(self.run_id, str(artifact))
        self.client.set_terminated(self.run_id, status="FINISHED")

    def fail(self, reason: str) -> None:
        """Mark the MLflow run failed, with the reason as a tag."""
        self._guard("fail", self._fail, reason)

    def _fail(self, reason: str) -> None:
        self.client.set_tag(self.run_id, "hdfbench.failure", reason[:5000])
        self.client.set_terminated(self.run_id, status="FAILED")
