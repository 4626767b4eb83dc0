"""Reading an experiment results directory for analysis, partial sweeps included.

``summary.csv`` is the fast path: ``sweep.results.write_summary`` reuses a row while its run's
``done`` marker is not newer than the file and recomputes only the other finished runs.
Per-cell facts that are identical for every run of a (dataset, fold) — training and test sizes,
class support — are read from one run of that cell only.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from hdfbench.sweep.results import write_summary

log = logging.getLogger(__name__)

#: Keys of one paired cell: the runs of two variants with equal keys share train and test data.
CELL = ["dataset", "fold", "seed"]
#: Columns of the per-(dataset, fold) cell table.
SPLIT_COLUMNS = ["dataset", "fold", "n_train", "n_test", "test_train_ratio", "ratio_source"]


class ResultsError(ValueError):
    """The folder is not an analysable experiment results directory."""


@dataclass
class Experiment:
    """A loaded results directory: summary rows of finished runs plus what describes the sweep."""

    path: Path
    summary: pd.DataFrame
    missing: list[str]
    config: dict = field(default_factory=dict)
    sweep: dict = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)
    group_fields: list[str] = field(default_factory=list)
    splits: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=SPLIT_COLUMNS))
    refreshed: int = 0

    @property
    def name(self) -> str:
        """Return the experiment name (the folder name)."""
        return self.path.name

    @property
    def variants(self) -> list[str]:
        """Return the variants present, in config order (unknown ones last, sorted)."""
        present = list(dict.fromkeys(self.summary["variant"])) if len(self.summary) else []
        order = [s.get("variant") or s.get("name") for s in self.config.get("strategies", [])]
        known = [v for v in order if v in present]
        return known + sorted(v for v in present if v not in known)

    @property
    def datasets(self) -> list[str]:
        """Return the datasets present, sorted."""
        return sorted(self.summary["dataset"].unique()) if len(self.summary) else []

    def run_path(self, run_id: str) -> Path:
        """Return the folder of run ``run_id``."""
        return self.path / "runs" / run_id

    def run_config(self, run_id: str) -> dict:
        """Return the config.json of run ``run_id`` (empty if it has none)."""
        return _read_json(self.run_path(run_id) / "config.json")


def _read_yaml(path: Path) -> dict:
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _one_run_per_split(summary: pd.DataFrame) -> pd.DataFrame:
    return summary.drop_duplicates(["dataset", "fold"])[["dataset", "fold", "run_id", "n_test"]]


def read_splits(experiment: Experiment, folds_per_dataset: dict[str, int] | None = None) -> pd.DataFrame:
    """Return one row per (dataset, fold): n_train, n_test and the NB ratio n_test / n_train.

    ``n_train`` comes from a run's config.json (written by the trainer). Runs from before it was
    recorded fall back to the k-fold ratio 1 / (k - 1) with k the number of folds of the dataset
    (5 when unknown), flagged in ``ratio_source``.
    """
    rows = []
    for _, row in _one_run_per_split(experiment.summary).iterrows():
        config = experiment.run_config(row["run_id"])
        n_train, n_test = config.get("n_train"), config.get("n_test", row["n_test"])
        if n_train:
            ratio, source = n_test / n_train, "config.json n_test/n_train"
        else:
            k = (folds_per_dataset or {}).get(row["dataset"], 5)
            ratio, source = 1 / (k - 1), f"assumed {k}-fold: 1/{k - 1}"
        rows.append({"dataset": row["dataset"], "fold": row["fold"], "n_train": n_train, "n_test": n_test,
                     "test_train_ratio": ratio, "ratio_source": source})
    return pd.DataFrame(rows, columns=SPLIT_COLUMNS)


def load_experiment(experiment_dir: str | Path) -> Experiment:
    """Return the loaded experiment at ``experiment_dir`` (raises ``ResultsError`` if it is not one)."""
    path = Path(experiment_dir)
    if not (path / "runs").is_dir():
        raise ResultsError(f"{path} is not an experiment results directory (no runs/ inside)")
    _, summary, missing, refreshed = write_summary(path)
    experiment = Experiment(path=path, summary=summary, missing=missing, refreshed=refreshed,
                            config=_read_yaml(path / "config.yaml"), sweep=_read_json(path / "sweep.json"))
    if len(summary):
        first = experiment.run_config(summary["run_id"].iloc[0])
        experiment.classes = first.get("classes") or [c.removeprefix("recall_") for c in summary
                                                       if c.startswith("recall_")]
        experiment.group_fields = first.get("group_fields") or [
            c.removeprefix("worst_group_acc_") for c in summary if c.startswith("worst_group_acc_")]
        experiment.splits = read_splits(experiment)
    return experiment


def class_support(experiment: Experiment) -> pd.DataFrame:
    """Return test clips per class for each (dataset, fold): columns dataset, fold, class, support.

    Read from one run's confusion_test.csv per (dataset, fold) (row sums), else its predictions.
    """
    rows = []
    for _, row in _one_run_per_split(experiment.summary).iterrows():
        run = experiment.run_path(row["run_id"])
        if (run / "confusion_test.csv").exists():
            counts = pd.read_csv(run / "confusion_test.csv", index_col=0).sum(axis=1)
        else:
            labels = pd.read_parquet(run / "predictions.parquet", columns=["split", "label"])
            labels = labels.loc[labels["split"] == "test", "label"]
            counts = pd.Series(np.bincount(labels, minlength=len(experiment.classes)), index=experiment.classes)
        rows += [{"dataset": row["dataset"], "fold": row["fold"], "class": c, "support": int(n)}
                 for c, n in counts.items()]
    return pd.DataFrame(rows, columns=["dataset", "fold", "class", "support"])
