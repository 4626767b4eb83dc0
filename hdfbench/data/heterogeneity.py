"""Heterogeneity groups derived from what the real data sets carry: clip length and annotator agreement.

DFEW and MAFW have no group metadata beyond the class, so GroupDRO's groups and the worst-group metrics
reduce to the class there. Their clips do differ in length (DFEW: 11 to 847 frames) and in how far the
annotators agreed (DFEW's 10 votes per clip). Each becomes a group field of k bins at the quantiles of the
listed clips' values (all folds together: the bins use no label and are the same in every fold), named
``<bin>:<low>-<high>`` so that they sort in order.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def quantile_bins(values: pd.Series, k: int, digits: int = 0) -> pd.Series:
    """Return each value's bin of ``k`` at the quantiles of ``values`` (ties kept together, so fewer bins
    where values repeat), labelled ``<b>:<min>-<max>`` by the smallest and largest value in the bin, with
    ``digits`` decimals."""
    numbers = values.to_numpy(dtype=float)
    edges = np.unique(np.quantile(numbers, np.arange(1, k) / k)) if k > 1 else np.array([])
    index = np.searchsorted(edges, numbers, side="left")  # bin b holds edges[b-1] < v <= edges[b]
    labels: dict[int, str] = {}
    for b in np.unique(index):
        inside = numbers[index == b]
        labels[b] = f"{len(labels) + 1}:{inside.min():.{digits}f}-{inside.max():.{digits}f}"
    return pd.Series([labels[b] for b in index], index=values.index, dtype=str)


def vote_entropy(votes: np.ndarray) -> np.ndarray:
    """Return the normalised entropy (0: unanimous, 1: uniform) of each row of annotator vote counts (N, C)."""
    counts = np.asarray(votes, dtype=float)
    p = counts / counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p), 0.0)
    return -terms.sum(axis=1) / np.log(counts.shape[1])
