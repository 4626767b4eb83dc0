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
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from hdfbench.errortext import error_line
from hdfbench.fileio import atomic_write_text
from hdfbench.metrics import confusion
from hdfbench.sweep.errors import TrackingError
from hdfbench.training.results import final_metrics
from hdfbench.training.rundir import RunDir

if TYPE_CHECKING:  # at run time mlflow is imported where it is used
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

#: Written into a run directory when mirroring it to MLflow failed (the driver reports it).
MIRROR_ERROR_FILE = "mlflow_error.txt"
#: The MLflow tag holding a run's directory (absolute path).
RUN_DIR_TAG = "hdfbench.run_dir"
#: Characters MLflow refuses in metric names.
_NOT_MLFLOW = re.compile(r"[^\w\-. :/]")


def mlflow_key(name: str) -> str:
    """Return ``name`` as an MLflow metric name: a GroupDRO weight ``q/Happy|cctv`` becomes ``q/Happy:cctv``;
    any other character MLflow refuses becomes '_'."""
    return _NOT_MLFLOW.sub("_", name.replace("|", ":"))


def _client(uri: str) -> MlflowClient:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=uri)


def init_experiment(uri: str, name: str, artifact_root: Path) -> str:
    """Return the id of MLflow experiment ``name`` at ``uri``, creating it (and the store) if needed.

    For local stores, artifacts go under ``artifact_root``; a tracking server keeps its own.
    """
    try:
        client = _client(uri)
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        location = None if uri.startswith(("http://", "https://")) else Path(artifact_root).resolve().as_uri()
        return client.create_experiment(name, artifact_location=location)
    except Exception as exc:  # whatever the store raises (sqlalchemy, REST, OS errors): one line naming it
        cause = error_line(exc, type(exc).__name__)
        store = uri.removeprefix("sqlite:///") if uri.startswith("sqlite:///") else uri
        raise TrackingError(
            f"tracking.uri {uri}: the MLflow store cannot be opened ({cause}); "
            f"{'move the damaged file ' + store + ' aside' if store != uri else 'check the server'} "
            "or set tracking.enabled: false; the run directories are unaffected"
        ) from None


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
        self.client: MlflowClient | None = None
        self.run_id: str | None = None

    @property
    def _id_file(self) -> Path:
        return self.run_dir.path / "mlflow_run_id"

    def _active_run(self) -> tuple[MlflowClient, str]:
        """Return the client and the MLflow run id of the run being mirrored (set together by ``_start`` or
        ``reopen``; ``_guard`` runs the other actions only while the client is set)."""
        assert self.client is not None and self.run_id is not None, "no MLflow run is being mirrored"
        return self.client, self.run_id

    def _guard(self, action: str, fn, *args) -> None:
        if self.client is None and action != "start":
            return
        try:
            fn(*args)
        except Exception as exc:  # the mirror must never break training
            cause = f"{type(exc).__name__}: {error_line(exc, '')}"
            message = f"MLflow {action} failed for {self.uri} ({cause}); mirroring stopped"
            log.warning("%s: %s", self.run_dir.path.name, message)
            self.client = None
            try:
                self.run_dir.path.mkdir(parents=True, exist_ok=True)
                (self.run_dir.path / MIRROR_ERROR_FILE).write_text(message + "\n")
            except OSError:  # a full or read-only disk: the warning above is all that can be kept
                pass

    def start(self, params: dict[str, Any]) -> None:
        """Create (or reopen) the MLflow run and log params and tags."""
        self._guard("start", self._start, params)

    def _start(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        client = self.client = _client(self.uri)
        self.run_dir.path.mkdir(parents=True, exist_ok=True)
        (self.run_dir.path / MIRROR_ERROR_FILE).unlink(missing_ok=True)
        if self._id_file.exists():
            self.run_id = self._id_file.read_text().strip()
            client.update_run(self.run_id, status="RUNNING")
            self._set_tags(self.tags)
            return
        tags = {k: str(v) for k, v in self.tags.items()} | {RUN_DIR_TAG: str(self.run_dir.path.resolve())}
        self.run_id = (
            self._unrecorded_run(client, tags)
            or client.create_run(self.experiment_id, run_name=str(self.tags["run_id"]), tags=tags).info.run_id
        )
        atomic_write_text(self._id_file, self.run_id)
        items = [Param(k[:250], v[:6000]) for k, v in flatten(params).items()]
        for i in range(0, len(items), 100):
            client.log_batch(self.run_id, params=items[i : i + 100])

    def _unrecorded_run(self, client: MlflowClient, tags: dict[str, str]) -> str | None:
        """Return the id of an unfinished MLflow run of this run directory whose id never reached the
        directory (the process was killed between creating it and writing ``mlflow_run_id``), or None."""
        found = client.search_runs([self.experiment_id], filter_string=f"tags.run_id = '{tags['run_id']}'")
        return next(
            (
                run.info.run_id
                for run in found
                if run.info.status != "FINISHED" and run.data.tags.get(RUN_DIR_TAG) == tags[RUN_DIR_TAG]
            ),
            None,
        )

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Set (or update) tags of the run."""
        self._guard("set_tags", self._set_tags, tags)

    def _set_tags(self, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        client, run_id = self._active_run()
        client.log_batch(run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])

    def log_metrics(self, record: dict[str, Any], step: int) -> None:
        """Log the numeric entries of ``record`` at ``step``."""
        self._guard("log_metrics", self._log_metrics, record, step)

    def _log_metrics(self, record: dict[str, Any], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [
            Metric(mlflow_key(k), float(v), now, step)
            for k, v in record.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ]
        client, run_id = self._active_run()
        client.log_batch(run_id, metrics=metrics)

    def backfill(self, records: list[dict[str, Any]]) -> None:
        """Log the epoch records that MLflow does not have yet (steps missing from its ``epoch`` history)."""
        self._guard("backfill", self._backfill, records)

    def _backfill(self, records: list[dict[str, Any]]) -> None:
        client, run_id = self._active_run()
        logged = {m.step for m in client.get_metric_history(run_id, "epoch")}
        for record in records:
            if record["epoch"] not in logged:
                self._log_metrics(record, step=record["epoch"])

    def finish(self) -> None:
        """Log the final metrics and artifacts (predictions, confusion matrix, config) and close the run.

        Everything comes from the finished run directory, so the driver can close a run whose trial
        died after writing ``done``.
        """
        self._guard("finish", self._finish)

    def _finish(self) -> None:
        self._backfill(self.run_dir.read_metrics())
        self._log_metrics({f"final_{k}": v for k, v in final_metrics(self.run_dir).items()}, step=0)
        classes = self.run_dir.read_config()["classes"]
        predictions = self.run_dir.read_predictions()
        test = predictions[predictions["split"] == "test"]
        matrix = confusion(test["label"].to_numpy(), test["pred"].to_numpy(), len(classes))
        path = self.run_dir.path / "confusion_test.csv"
        pd.DataFrame(matrix, index=pd.Index(classes, name="true"), columns=classes).to_csv(path)
        client, run_id = self._active_run()
        for artifact in (self.run_dir.predictions, path, self.run_dir.config, self.run_dir.metrics):
            client.log_artifact(run_id, str(artifact))
        client.set_terminated(run_id, status="FINISHED")

    def fail(self, reason: str, status: str = "FAILED") -> None:
        """End the MLflow run with ``status`` (FAILED or KILLED), the reason as a tag."""
        self._guard("fail", self._fail, reason, status)

    def _fail(self, reason: str, status: str) -> None:
        client, run_id = self._active_run()
        client.set_tag(run_id, "hdfbench.failure", reason[:5000])
        client.set_terminated(run_id, status=status)

    def reopen(self) -> str | None:
        """Attach to the run directory's existing MLflow run without changing it; return its status.

        Returns None when the run directory has no MLflow run (or the store cannot be read).
        """
        if not self._id_file.exists():
            return None
        self.client, self.run_id = _client(self.uri), self._id_file.read_text().strip()
        return self.client.get_run(self.run_id).info.status


def reconcile(uri: str, run_dirs: dict[str, RunDir], failed: dict[str, str]) -> dict[str, str]:
    """Bring the MLflow runs of a sweep in line with their run directories, after the trials ended.

    A finished run not yet FINISHED in MLflow is finished from its directory; a run in ``failed``
    still RUNNING is marked FAILED; any other unfinished run still RUNNING is marked KILLED.
    Returns run id → problem for runs whose MLflow state could not be read.
    """
    problems = {}
    for run_id, run_dir in run_dirs.items():
        mirror = MlflowMirror(uri, "", run_dir, {})
        try:
            status = mirror.reopen()
        except Exception as exc:  # a broken store must not hide the sweep's results
            problems[run_id] = f"MLflow state not reconciled ({type(exc).__name__}: {exc})"
            continue
        if status is None:
            continue
        if run_dir.is_done and status != "FINISHED":
            mirror.finish()
        elif not run_dir.is_done and status == "RUNNING":
            mirror.fail(
                failed.get(run_id, "the sweep ended before this run finished"),
                status="FAILED" if run_id in failed else "KILLED",
            )
    return problems
