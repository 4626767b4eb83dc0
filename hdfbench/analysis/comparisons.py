"""Inferential tables: paired comparisons to a reference, ablations, Friedman ranks, clip-level bootstrap.

Cell-level comparisons pair the runs of two variants over the (fold, seed) cells of one dataset
that both finished. Each comparison reports the Nadeau–Bengio corrected t-test (the cells share
training data; ratio n_test / n_train from the run configs), the Wilcoxon signed-rank test and a
paired bootstrap CI of the mean difference. Holm's correction is applied per test over all
comparisons of a table; ``significant`` is only ever set from Holm-adjusted p-values.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from hdfbench.analysis import stats
from hdfbench.analysis.load import CELL, Experiment

#: Column order of a statistics table (one row per comparison and test).
STAT_COLUMNS = ["dataset", "metric", "variant", "reference", "test", "n", "statistic", "p", "p_holm",
                "significant", "estimate", "ci_low", "ci_high", "effect_size", "effect_size_name",
                "test_train_ratio", "note"]
#: Test names of the keys of ``stats.compare_paired``.
TEST_LABELS = {"nb_t": stats.NB_T, "wilcoxon": stats.WILCOXON, "bootstrap": stats.BOOTSTRAP}
#: How cells are paired: every (fold, seed) cell, or seeds averaged within each fold first.
PAIR_BY = ("cell", "fold")


def cell_matrix(summary: pd.DataFrame, metric: str) -> dict[str, pd.DataFrame]:
    """Return dataset → ``metric`` per (fold, seed) cell (rows) and variant (columns); NaN where not run."""
    wide = summary.set_index([*CELL, "variant"])[metric].unstack("variant")
    return {dataset: rows.droplevel("dataset") for dataset, rows in wide.groupby(level="dataset")}


def paired_values(matrix: dict[str, pd.DataFrame], dataset: str, variant: str, reference: str,
                  pair_by: str = "cell") -> pd.DataFrame:
    """Return the cells of ``dataset`` where both ran: fold, seed, ``a`` (variant), ``b`` (reference).

    ``matrix`` is ``cell_matrix(summary, metric)``. With ``pair_by="fold"`` the paired seeds of each
    fold are averaged into one row (seed = NaN).
    """
    rows = matrix.get(dataset)
    if rows is None or variant not in rows or reference not in rows:
        return pd.DataFrame(columns=["fold", "seed", "a", "b"])
    cells = pd.DataFrame({"a": rows[variant], "b": rows[reference]}).dropna().reset_index()
    if pair_by == "fold":
        cells = cells.groupby("fold", as_index=False)[["a", "b"]].mean().assign(seed=np.nan)
    return cells


def nb_ratio(splits: pd.DataFrame, dataset: str, folds) -> float:
    """Return the mean n_test / n_train over the given folds of ``dataset`` (0.25 if unknown)."""
    rows = splits[(splits["dataset"] == dataset) & splits["fold"].isin(list(folds))]
    return float(rows["test_train_ratio"].mean()) if len(rows) else 0.25


def _rows(result: dict, base: dict) -> list[dict]:
    return [{**base, **asdict(r), "p": r.pvalue} for r in result.values()]


def compare(matrix: dict[str, pd.DataFrame], splits: pd.DataFrame, dataset: str, variant: str, reference: str,
            metric: str, confidence: float, seed: int, pair_by: str = "cell") -> list[dict]:
    """Return the statistics rows (one per test) of ``variant`` − ``reference`` in ``dataset``.

    ``matrix`` is ``cell_matrix(summary, metric)``.
    """
    cells = paired_values(matrix, dataset, variant, reference, pair_by)
    ratio = nb_ratio(splits, dataset, cells["fold"].unique())
    base = {"dataset": dataset, "metric": metric, "variant": variant, "reference": reference,
            "test_train_ratio": ratio}
    if len(cells) < 2:
        return [{**base, "test": TEST_LABELS[k], "n": len(cells),
                 "note": f"fewer than 2 paired {pair_by}s: no test"} for k in TEST_LABELS]
    result = stats.compare_paired(cells["a"].to_numpy(), cells["b"].to_numpy(), test_train_ratio=ratio,
                                  confidence=confidence, seed=seed)
    return _rows(result, base)


def adjust(table: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Return ``table`` with ``p_holm`` (Holm over all rows of the same test) and ``significant`` filled."""
    table = table.copy()
    table["p_holm"] = np.nan
    for _, index in table.groupby("test").groups.items():
        p = table.loc[index, "p"].to_numpy(dtype=float)
        if np.isfinite(p).any():
            table.loc[index, "p_holm"] = stats.holm(p)
    table["significant"] = table["p_holm"].map(lambda p: bool(p < alpha) if pd.notna(p) else pd.NA)
    return table


def finish(rows: list[dict], alpha: float) -> pd.DataFrame:
    """Return the rows as a statistics table with Holm-adjusted p-values."""
    table = pd.DataFrame(rows).reindex(columns=STAT_COLUMNS)
    return adjust(table, alpha) if len(table) else table


def statistics_table(experiment: Experiment, reference: str, metrics: list[str], confidence: float = 0.95,
                     alpha: float = 0.05, seed: int = 0, pair_by: str = "cell") -> pd.DataFrame:
    """Return every comparison of a variant to ``reference``, per dataset and metric, with all tests."""
    summary, variants = experiment.summary, experiment.variants
    rows, matrices = [], {}
    for dataset in experiment.datasets:
        present = set(summary.loc[summary["dataset"] == dataset, "variant"])
        if reference not in present:
            continue
        for metric in metrics:
            if metric not in matrices:
                matrices[metric] = cell_matrix(summary, metric)
            matrix = matrices[metric]
            for variant in [v for v in variants if v in present and v != reference]:
                rows += compare(matrix, experiment.splits, dataset, variant, reference, metric, confidence, seed,
                                pair_by)
    return finish(rows, alpha)
