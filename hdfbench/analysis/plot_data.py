"""Per-run files the figures need beyond summary.csv: group accuracies, confusion matrices, curves.

Large sweeps are subsampled: at most ``MAX_RUNS`` runs per (dataset, variant) are read, chosen
deterministically (first cells in (fold, seed) order); captions state how many were used.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd

from hdfbench.analysis.load import Experiment
from hdfbench.fileio import read_jsonl

#: Runs read per (dataset, variant) for figures that need per-run files.
MAX_RUNS = 40


def sample_runs(summary: pd.DataFrame, variants: list[str] | None = None, max_runs: int = MAX_RUNS) -> pd.DataFrame:
    """Return at most ``max_runs`` summary rows per (dataset, variant), optionally only ``variants``."""
    rows = summary if variants is None else summary[summary["variant"].isin(variants)]
    rows = rows.sort_values(["dataset", "variant", "fold", "seed"])
    return rows.groupby(["dataset", "variant"], sort=False).head(max_runs)


def _map(fn, items: list) -> list:
    with ThreadPoolExecutor(max_workers=4) as pool:  # parquet/CSV reads release the GIL
        return list(pool.map(fn, items))


def test_predictions(experiment: Experiment, runs: pd.DataFrame, fields: list[str]) -> pd.DataFrame:
    """Return the test predictions of ``runs`` pooled: dataset, variant, fold, seed, run_id, label, pred and
    ``fields`` (as strings), one row per clip and run."""

    def read(row) -> pd.DataFrame:
        path = experiment.run_path(row.run_id) / "predictions.parquet"
        frame = pd.read_parquet(path, columns=["split", "label", "pred", *fields])
        frame = frame[frame["split"] == "test"].drop(columns="split")
        return frame.astype({f: str for f in fields}).assign(
            dataset=row.dataset, variant=row.variant, fold=row.fold, seed=row.seed, run_id=row.run_id
        )

    frames = _map(read, list(runs.itertuples()))
    columns = ["label", "pred", *fields, "dataset", "variant", "fold", "seed", "run_id"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def group_accuracy(experiment: Experiment, runs: pd.DataFrame, fields: list[str]) -> dict[str, pd.DataFrame]:
    """Return field → test accuracy per (dataset, variant, group value), pooled over ``runs``: n, accuracy.

    Each predictions file is read once for all ``fields``.
    """
    pooled = test_predictions(experiment, runs, fields)
    pooled = pooled.assign(correct=pooled["label"].to_numpy() == pooled["pred"].to_numpy())
    return {
        field: (
            pooled.rename(columns={field: "group"})
            .groupby(["dataset", "variant", "group"], sort=True)["correct"]
            .agg(n="size", accuracy="mean")
            .reset_index()
        )
        for field in fields
    }


def summed_confusion(experiment: Experiment, runs: pd.DataFrame) -> np.ndarray:
    """Return the test confusion matrix summed over ``runs`` (rows: true class)."""

    def read(run_id: str) -> np.ndarray:
        path = experiment.run_path(run_id) / "confusion_test.csv"
        if path.exists():
            return pd.read_csv(path, index_col=0).to_numpy()
        frame = pd.read_parquet(experiment.run_path(run_id) / "predictions.parquet", columns=["split", "label", "pred"])
        frame = frame[frame["split"] == "test"]
        k = len(experiment.classes)
        matrix = np.zeros((k, k), dtype=int)
        np.add.at(matrix, (frame["label"], frame["pred"]), 1)
        return matrix

    return np.sum(_map(read, list(runs["run_id"])), axis=0)


def training_curves(experiment: Experiment, runs: pd.DataFrame) -> pd.DataFrame:
    """Return the per-epoch records of ``runs`` (metrics.jsonl) with dataset, variant, fold, seed added."""

    def read(row) -> pd.DataFrame:
        records = read_jsonl(experiment.run_path(row.run_id) / "metrics.jsonl")
        return pd.DataFrame(records).assign(dataset=row.dataset, variant=row.variant, fold=row.fold, seed=row.seed)

    frames = [f for f in _map(read, list(runs.itertuples())) if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def test_confidence(experiment: Experiment, runs: pd.DataFrame) -> pd.DataFrame:
    """Return the top-label confidence of every test clip of ``runs`` (the softmax of its saved logits):
    dataset, variant, run_id, confidence, correct; runs whose predictions hold no logits are left out."""
    from hdfbench.metrics import logit_matrix, softmax, top_label

    def read(row) -> pd.DataFrame:
        frame = pd.read_parquet(experiment.run_path(row.run_id) / "predictions.parquet")
        frame = frame[frame["split"] == "test"]
        logits = logit_matrix(frame)
        if logits is None:
            return pd.DataFrame()
        confidence, correct = top_label(softmax(logits), frame["label"].to_numpy())
        return pd.DataFrame({"confidence": confidence, "correct": correct}).assign(
            dataset=row.dataset, variant=row.variant, run_id=row.run_id
        )

    frames = [f for f in _map(read, list(runs.itertuples())) if len(f)]
    columns = ["confidence", "correct", "dataset", "variant", "run_id"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)
