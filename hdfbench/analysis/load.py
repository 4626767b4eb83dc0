"""Reading an experiment results directory for analysis, partial sweeps included.

``summary.csv`` is the fast path: ``training.results.write_summary`` reuses a row while its run's
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

from hdfbench.config import StrategySpec
from hdfbench.training.results import write_summary

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
        order = [spec.label if spec else entry.get("variant") or entry.get("name") for entry, spec in self._entries()]
        known = [v for v in dict.fromkeys(order) if v is not None and v in present]
        return known + sorted(v for v in present if v not in known)

    def _entries(self) -> list[tuple[dict, StrategySpec | None]]:
        out: list[tuple[dict, StrategySpec | None]] = []
        for entry in self.config.get("strategies", []):
            try:
                out.append((entry, StrategySpec(**{k: v for k, v in entry.items() if k in StrategySpec.model_fields})))
            except ValueError:
                out.append((entry, None))
        return out

    def strategy_entries(self) -> list[StrategySpec]:
        """Return the strategy entries of the sweep's config that parse (their ``label`` is the variant)."""
        return [spec for _, spec in self._entries() if spec is not None]

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

    def partition_folds(self, dataset: str) -> int:
        """Return k, the number of folds of ``dataset``'s partition: the registered dataset's, else the
        number of folds in the sweep's config."""
        from hdfbench.data import DATASETS

        if dataset in DATASETS.names():
            return len(DATASETS.get(dataset).folds)
        return len(self.config.get("folds") or [1])

    def design_ratio(self, dataset: str, folds) -> float:
        """Return the Nadeau–Bengio ratio n_test/n_train of ``dataset``'s fold partition over ``folds``.

        The mean over the folds of ``splits`` (sizes before the inner-validation carve-out), else
        1/(k − 1) for a k-fold partition (NaN for a single split).
        """
        rows = self.splits[(self.splits["dataset"] == dataset) & self.splits["fold"].isin(list(folds))]
        if len(rows) and rows["test_train_ratio"].notna().all():
            return float(rows["test_train_ratio"].mean())
        k = self.partition_folds(dataset)
        return 1.0 / (k - 1) if k > 1 else float("nan")


def _read_yaml(path: Path) -> dict:
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def _read_json(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def _one_run_per_split(summary: pd.DataFrame) -> pd.DataFrame:
    return summary.drop_duplicates(["dataset", "fold"])[["dataset", "fold", "run_id", "n_test"]]


def read_splits(experiment: Experiment) -> pd.DataFrame:
    """Return one row per (dataset, fold): n_train, n_test and the NB ratio n_test / n_train.

    The sizes are the fold partition's, before the inner-validation carve-out: ``n_train`` is the
    run's training plus validation clips (config.json). Runs that lack them get the design value
    1/(k − 1) of the dataset's k-fold partition (``Experiment.partition_folds``), flagged in
    ``ratio_source``; a single-split dataset gets NaN (no test uses it).
    """
    rows = []
    for _, row in _one_run_per_split(experiment.summary).iterrows():
        config = experiment.run_config(row["run_id"])
        n_train, n_test = config.get("n_train"), config.get("n_test", row["n_test"])
        if n_train and config.get("n_val") is not None:
            n_train = n_train + config["n_val"]
            ratio, source = n_test / n_train, "run sizes: n_test/(n_train + n_val)"
        else:
            k = experiment.partition_folds(row["dataset"])
            ratio, source = (1 / (k - 1), f"{k}-fold design: 1/{k - 1}") if k > 1 else (np.nan, "single split")
        rows.append(
            {
                "dataset": row["dataset"],
                "fold": row["fold"],
                "n_train": n_train,
                "n_test": n_test,
                "test_train_ratio": ratio,
                "ratio_source": source,
            }
        )
    return pd.DataFrame(rows, columns=SPLIT_COLUMNS)


def load_experiment(experiment_dir: str | Path) -> Experiment:
    """Return the loaded experiment at ``experiment_dir`` (raises ``ResultsError`` if it is not one)."""
    path = Path(experiment_dir)
    if not (path / "runs").is_dir():
        raise ResultsError(f"{path} is not an experiment results directory (no runs/ inside)")
    _, summary, missing, refreshed = write_summary(path)
    experiment = Experiment(
        path=path,
        summary=summary,
        missing=missing,
        refreshed=refreshed,
        config=_read_yaml(path / "config.yaml"),
        sweep=_read_json(path / "sweep.json"),
    )
    if len(summary):
        first = experiment.run_config(summary["run_id"].iloc[0])
        experiment.classes = first.get("classes") or [
            c.removeprefix("recall_") for c in summary if c.startswith("recall_")
        ]
        experiment.group_fields = first.get("group_fields") or [
            c.removeprefix("worst_group_acc_") for c in summary if c.startswith("worst_group_acc_") and "_x_" not in c
        ]
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
        rows += [
            {"dataset": row["dataset"], "fold": row["fold"], "class": c, "support": int(n)} for c, n in counts.items()
        ]
    return pd.DataFrame(rows, columns=["dataset", "fold", "class", "support"])
