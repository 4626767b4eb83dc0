"""Training-split class counts per run cell, for the recall-vs-frequency (imbalance) plot.

Every run records the class counts of its training split (after the inner validation split) as
``train_class_counts`` in its config.json; cells without them are left out of the plot.
"""

from __future__ import annotations

import pandas as pd

from hdfbench.analysis.load import Experiment


def train_class_counts(experiment: Experiment) -> pd.DataFrame:
    """Return training clips per class per (dataset, fold, seed) cell: dataset, fold, seed, class, count.

    Cells whose runs did not record their counts are left out (the frame may be empty).
    """
    rows = []
    cells = experiment.summary.drop_duplicates(["dataset", "fold", "seed"])
    for _, cell in cells.iterrows():
        config = experiment.run_config(cell["run_id"])
        counts = config.get("train_class_counts")
        if not counts:
            continue
        rows += [
            {"dataset": cell["dataset"], "fold": cell["fold"], "seed": cell["seed"], "class": c, "count": int(n)}
            for c, n in zip(config["classes"], counts, strict=True)
        ]
    return pd.DataFrame(rows, columns=["dataset", "fold", "seed", "class", "count"])
