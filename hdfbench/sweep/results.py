"""The experiment directory: run directories, the list of the current sweep's runs, summary.csv.

``results/<experiment>/runs/<run_id>/`` holds each run (see ``training.rundir``);
``runs.json`` lists the run ids of the latest ``hdfbench run`` of the experiment;
``summary.csv`` has one row per finished run among them, computed from its saved predictions.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from hdfbench.fileio import atomic_write, atomic_write_json
from hdfbench.metrics import evaluate_predictions
from hdfbench.training.rundir import RunDir

#: The leading columns of summary.csv (per-class recalls and group columns follow).
SUMMARY_COLUMNS = [
    "experiment", "dataset", "fold", "seed", "strategy", "variant", "selected_epoch",
    "val_uar", "val_war", "test_war", "test_uar", "worst_class_recall",
]


def run_dir(experiment_dir: Path, run_id: str) -> RunDir:
    """Return the run directory of ``run_id`` in ``experiment_dir``."""
    return RunDir(Path(experiment_dir) / "runs" / run_id)


def write_run_list(experiment_dir: Path, run_ids: list[str]) -> None:
    """Record the run ids that make up the experiment's current sweep."""
    atomic_write_json(Path(experiment_dir) / "runs.json", run_ids)


def read_run_list(experiment_dir: Path) -> list[str]:
    """Return the current sweep's run ids (all run directories if no list was written)."""
    path = Path(experiment_dir) / "runs.json"
    if path.exists():
        return json.loads(path.read_text())
    runs = Path(experiment_dir) / "runs"
    return sorted(p.name for p in runs.iterdir() if p.is_dir()) if runs.exists() else []


def summary_row(run: RunDir) -> dict:
    """Return the summary row of a finished run, computed from its saved predictions."""
    config = run.read_config()
    spec, classes, fields = config["spec"], config["classes"], config["group_fields"]
    predictions, done = run.read_predictions(), run.read_done()
    val = evaluate_predictions(predictions[predictions["split"] == "val"], classes, fields, prefix="val_")
    test = evaluate_predictions(predictions[predictions["split"] == "test"], classes, fields, prefix="test_")
    row = {
        "experiment": spec["experiment"], "dataset": spec["dataset"]["name"], "fold": spec["fold"],
        "seed": spec["seed"], "strategy": spec["strategy"]["name"], "variant": spec["strategy"]["variant"],
        "selected_epoch": done["selected_epoch"], "val_uar": val["val_uar"], "val_war": val["val_war"],
        "test_war": test["test_war"], "test_uar": test["test_uar"],
        "worst_class_recall": test["test_worst_class_recall"],
    }
    row.update({f"recall_{c}": test[f"test_recall_{c}"] for c in classes})
    row.update({f"worst_group_acc_{f}": test[f"test_worst_group_acc_{f}"] for f in fields})
    row.update(n_test=test["test_n"], absent_classes=test["test_absent_classes"],
               bad_clips_skipped=done.get("bad_clips_skipped", 0), run_id=config["run_id"])
    return row


def collect_summary(experiment_dir: Path) -> tuple[pd.DataFrame, list[str]]:
    """Return (summary of the finished runs of the current sweep, ids of its unfinished runs)."""
    rows, missing = [], []
    for run_id in read_run_list(experiment_dir):
        run = run_dir(experiment_dir, run_id)
        if run.is_done:
            rows.append(summary_row(run))
        else:
            missing.append(run_id)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS), missing
    ordered = SUMMARY_COLUMNS + [c for c in frame.columns if c not in SUMMARY_COLUMNS]
    return frame[ordered].sort_values(["dataset", "variant", "fold", "seed"], ignore_index=True), missing


def write_summary(experiment_dir: Path) -> tuple[Path, pd.DataFrame, list[str]]:
    """Rewrite ``summary.csv`` (atomically) from the run directories; return (path, table, missing)."""
    frame, missing = collect_summary(experiment_dir)
    path = Path(experiment_dir) / "summary.csv"
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
    return path, frame, missing
