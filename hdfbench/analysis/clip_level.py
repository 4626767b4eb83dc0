"""Clip-level paired bootstrap of the UAR difference within one (dataset, fold, seed) cell.

For users with a single fold (or very few cells) the cell-level tests have no power; resampling
the test clips of one cell jointly for both variants gives a CI for that cell's difference. It
says nothing about seed or fold variance, and the table says so.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hdfbench.analysis import stats
from hdfbench.analysis.comparisons import finish
from hdfbench.analysis.load import CELL, Experiment

#: Datasets with at most this many paired cells get clip-level tests under ``mode="auto"``.
AUTO_MAX_CELLS = 2


def _test_predictions(experiment: Experiment, run_id: str) -> pd.DataFrame:
    frame = pd.read_parquet(experiment.run_path(run_id) / "predictions.parquet",
                            columns=["split", "clip_id", "label", "pred"])
    return frame[frame["split"] == "test"].drop(columns="split")


def clip_level_table(experiment: Experiment, reference: str, mode: str = "auto", n_resamples: int = 2000,
                     confidence: float = 0.95, alpha: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """Return per (dataset, fold, seed, variant ≠ reference) the clip-bootstrap UAR difference, Holm-adjusted.

    ``mode``: "always", "never", or "auto" (datasets with ≤ ``AUTO_MAX_CELLS`` reference cells).
    """
    summary, rows = experiment.summary, []
    if mode == "never":
        return finish(rows, alpha)
    classes = np.arange(len(experiment.classes))
    for dataset, runs in summary.groupby("dataset", sort=True):
        ref = runs[runs["variant"] == reference].set_index(CELL)["run_id"]
        if ref.empty or (mode == "auto" and len(ref) > AUTO_MAX_CELLS):
            continue
        for _, run in runs[runs["variant"] != reference].iterrows():
            key = tuple(run[CELL])
            if key not in ref.index:
                continue
            a = _test_predictions(experiment, run["run_id"])
            b = _test_predictions(experiment, ref[key])
            both = a.merge(b, on=["clip_id", "label"], suffixes=("_a", "_b"))
            result = stats.clip_bootstrap_uar_difference(both["label"].to_numpy(), both["pred_a"].to_numpy(),
                                                         both["pred_b"].to_numpy(), n_resamples=n_resamples,
                                                         seed=seed, confidence=confidence, classes=classes)
            rows.append({"dataset": dataset, "fold": key[1], "seed": key[2], "metric": "test_uar",
                         "variant": run["variant"], "reference": reference, **result.__dict__, "p": result.pvalue,
                         "note": (result.note + "; " if result.note else "") + "one cell: clip resampling only"})
    table = finish(rows, alpha)
    if len(table):
        extra = pd.DataFrame(rows)[["fold", "seed"]]
        table.insert(1, "fold", extra["fold"].to_numpy())
        table.insert(2, "seed", extra["seed"].to_numpy())
    return table
