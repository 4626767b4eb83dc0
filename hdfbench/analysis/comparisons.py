"""Paired comparisons of two variants within one dataset: one primary test per design, a Bayesian view,
one Holm family per report and metric.

The design of the compared runs decides what is computed (docs/analysis.md explains why):

- **folds** (runs on ≥ 2 folds, pairing by fold — the default): the seeds of each fold are averaged
  and the J fold-level differences get the Nadeau–Bengio corrected t (df = J − 1, variance ×
  (1/J + n_test/n_train) with the ratio of the dataset's fold partition). It is the primary test,
  the only one whose result can be called significant. The Bayesian correlated t-test on the same
  units gives P(worse), P(equivalent), P(better) with a region of practical equivalence (ROPE).
- **cells** (``pair_by="cell"``): the same corrected t over every (fold, seed) cell treats the
  seeds of a fold as extra resamples. The folds of these datasets are fixed, so this is shown as
  descriptive, never as significant.
- **one split** (every compared run on one fold): training and test data never change, so no test
  of generalisation exists; a two-level bootstrap (seeds, then test clips) gives an interval for
  that split, with ≥ 3 seeds.

Each comparison is computed once per metric, whichever tables show it; Holm's correction runs over
every primary comparison of the report for that metric, so a comparison shows the same adjusted p
everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hdfbench.analysis import stats
from hdfbench.analysis.load import CELL, Experiment

#: Columns of a comparison table (one row per dataset, metric and pair of variants).
COLUMNS = [
    "dataset",
    "metric",
    "variant",
    "reference",
    "design",
    "test",
    "primary",
    "n",
    "unit",
    "estimate",
    "ci_low",
    "ci_high",
    "interval",
    "statistic",
    "p",
    "p_holm",
    "significant",
    "effect_size",
    "effect_size_name",
    "p_worse",
    "p_rope",
    "p_better",
    "rope",
    "test_train_ratio",
    "note",
]
#: How cells are paired: seeds averaged within each fold (default), or every (fold, seed) cell.
PAIR_BY = ("fold", "cell")


@dataclass(frozen=True)
class Settings:
    """How comparisons are computed: pairing, ROPE (metric units), confidence, α, bootstrap size and seed."""

    pair_by: str = "fold"
    rope: float = 0.01
    confidence: float = 0.95
    alpha: float = 0.05
    n_resamples: int = 2000
    seed: int = 0


def cell_matrix(summary: pd.DataFrame, metric: str) -> dict[str, pd.DataFrame]:
    """Return dataset → ``metric`` per (fold, seed) cell (rows) and variant (columns); NaN where not run."""
    wide = summary.set_index([*CELL, "variant"])[metric].unstack("variant")
    return {dataset: rows.droplevel("dataset") for dataset, rows in wide.groupby(level="dataset")}


def paired_cells(matrix: dict[str, pd.DataFrame], dataset: str, variant: str, reference: str) -> pd.DataFrame:
    """Return the cells of ``dataset`` where both ran: fold, seed, ``a`` (variant), ``b`` (reference)."""
    rows = matrix.get(dataset)
    if rows is None or variant not in rows or reference not in rows:
        return pd.DataFrame(columns=["fold", "seed", "a", "b"])
    return pd.DataFrame({"a": rows[variant], "b": rows[reference]}).dropna().reset_index()


def fold_units(cells: pd.DataFrame) -> pd.DataFrame:
    """Return one row per fold with the seeds of the fold averaged (``a``, ``b``, ``seeds``)."""
    folds, inverse, seeds = np.unique(cells["fold"].to_numpy(), return_inverse=True, return_counts=True)
    mean = {c: np.bincount(inverse, weights=cells[c].to_numpy(dtype=float)) / seeds for c in ("a", "b")}
    return pd.DataFrame({"fold": folds, **mean, "seeds": seeds})


def test_units(cells: pd.DataFrame, ratio: float, settings: Settings) -> dict:
    """Return the test fields of one comparison on ≥ 2 folds from its paired cells (fold, seed, a, b).

    Pure: the report and the calibration benchmark (``analysis.calibration``) call it alike.
    """
    by_fold = settings.pair_by == "fold"
    units = fold_units(cells) if by_fold else cells
    d = (units["a"] - units["b"]).to_numpy(dtype=float)
    unit = "folds (seeds averaged)" if by_fold else "(fold, seed) cells"
    nb = stats.nadeau_bengio_ttest(d, ratio, settings.confidence)
    bayes = stats.bayes_correlated_ttest(d, ratio, settings.rope) if by_fold else None
    interval = (
        f"{settings.confidence:.0%} CI of the corrected t, n = {nb.n} {unit.split(' ')[0]}"
        if np.isfinite(nb.ci_low)
        else f"none: n = {nb.n} < {stats.MIN_T_CELLS} {unit.split(' ')[0]}"
    )
    note = nb.note
    if not by_fold:
        note = stats._join(note, "descriptive: treats the seeds of a fixed fold as independent resamples")
    return {
        "design": "folds",
        "test": stats.NB_T,
        "primary": by_fold,
        "n": nb.n,
        "unit": unit,
        "estimate": nb.estimate,
        "ci_low": nb.ci_low,
        "ci_high": nb.ci_high,
        "interval": interval,
        "statistic": nb.statistic,
        "p": nb.pvalue,
        "effect_size": nb.effect_size,
        "effect_size_name": nb.effect_size_name,
        "p_worse": bayes.p_worse if bayes else np.nan,
        "p_rope": bayes.p_rope if bayes else np.nan,
        "p_better": bayes.p_better if bayes else np.nan,
        "rope": settings.rope,
        "test_train_ratio": ratio,
        "note": note,
    }


def _test_predictions(experiment: Experiment, run_id: str) -> pd.DataFrame:
    frame = pd.read_parquet(
        experiment.run_path(run_id) / "predictions.parquet", columns=["split", "clip_id", "label", "pred"]
    )
    return frame[frame["split"] == "test"].drop(columns="split")


def one_split(
    experiment: Experiment,
    dataset: str,
    cells: pd.DataFrame,
    variant: str,
    reference: str,
    metric: str,
    settings: Settings,
) -> dict:
    """Return the fields of a comparison whose runs all share one split: the two-level bootstrap interval."""
    base = {
        "design": "one split",
        "test": stats.TWO_LEVEL_BOOTSTRAP,
        "primary": False,
        "n": len(cells),
        "unit": "seeds",
        "estimate": float((cells["a"] - cells["b"]).mean()) if len(cells) else np.nan,
        "rope": settings.rope,
    }
    why = "one split: training and test data never change, so there is no test of generalisation"
    if metric not in stats.CLIP_METRICS:
        return {**base, "interval": "none", "note": f"{why}; no interval for {metric} (clip-level metrics only)"}
    run_ids = experiment.summary.set_index([*CELL, "variant"])["run_id"]
    runs = []
    for cell in cells.itertuples():
        a = _test_predictions(experiment, run_ids[(dataset, cell.fold, cell.seed, variant)])
        b = _test_predictions(experiment, run_ids[(dataset, cell.fold, cell.seed, reference)])
        both = a.merge(b, on=["clip_id", "label"], suffixes=("_a", "_b"))
        runs.append((both["label"].to_numpy(), both["pred_a"].to_numpy(), both["pred_b"].to_numpy()))
    result = stats.two_level_bootstrap(runs, metric, settings.n_resamples, settings.seed, settings.confidence)
    interval = (
        f"{settings.confidence:.0%} two-level bootstrap interval, n = {result.n} seeds, conditional on "
        f"fold {int(cells['fold'].iloc[0])}"
        if np.isfinite(result.ci_low)
        else f"none: n = {result.n} < {stats.MIN_T_CELLS} seeds (run at least {stats.MIN_T_CELLS} seeds, or "
        f"several folds for a test)"
    )
    return {
        **base,
        "estimate": result.estimate,
        "ci_low": result.ci_low,
        "ci_high": result.ci_high,
        "interval": interval,
        "note": stats._join(why, result.note),
    }


def compare(
    experiment: Experiment,
    matrix: dict[str, pd.DataFrame],
    dataset: str,
    variant: str,
    reference: str,
    metric: str,
    settings: Settings,
) -> dict:
    """Return the comparison row of ``variant`` − ``reference`` on ``metric`` in ``dataset``."""
    cells = paired_cells(matrix, dataset, variant, reference)
    row = {"dataset": dataset, "metric": metric, "variant": variant, "reference": reference}
    if cells.empty:
        return {**row, "design": "none", "primary": False, "n": 0, "note": "no cell where both ran"}
    if cells["fold"].nunique() == 1:
        return {**row, **one_split(experiment, dataset, cells, variant, reference, metric, settings)}
    ratio = experiment.design_ratio(dataset, cells["fold"].unique())
    return {**row, **test_units(cells, ratio, settings)}


def adjust(table: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Return ``table`` with ``p_holm`` (Holm over the primary rows of each metric) and ``significant``.

    Only primary rows get an adjusted p and a ``significant`` value; the others stay NaN / NA.
    """
    table = table.copy()
    table["p_holm"] = np.nan
    primary = table["primary"].astype(bool) & table["p"].notna()
    for _, index in table[primary].groupby("metric").groups.items():
        table.loc[index, "p_holm"] = stats.holm(table.loc[index, "p"].to_numpy(dtype=float))
    table["significant"] = pd.Series(pd.NA, index=table.index, dtype="boolean")
    table.loc[primary, "significant"] = table.loc[primary, "p_holm"] < alpha
    return table


def comparison_table(
    experiment: Experiment, pairs: list[tuple[str, str, str]], metrics: list[str], settings: Settings
) -> pd.DataFrame:
    """Return one row per (dataset, variant, reference) of ``pairs`` and metric, Holm-adjusted per metric."""
    rows = []
    for metric in metrics:
        matrix = cell_matrix(experiment.summary, metric)
        rows += [compare(experiment, matrix, d, v, r, metric, settings) for d, v, r in dict.fromkeys(pairs)]
    table = pd.DataFrame(rows).reindex(columns=COLUMNS)
    return adjust(table, settings.alpha) if len(table) else table


def reference_pairs(experiment: Experiment, reference: str | None) -> list[tuple[str, str, str]]:
    """Return (dataset, variant, reference) for every other variant of every dataset the reference ran on."""
    summary, pairs = experiment.summary, []
    for dataset in experiment.datasets:
        present = set(summary.loc[summary["dataset"] == dataset, "variant"])
        if reference is not None and reference in present:
            pairs += [(dataset, v, reference) for v in experiment.variants if v in present and v != reference]
    return pairs


def select(table: pd.DataFrame, pairs: list[tuple[str, str, str]], metric: str | None = None) -> pd.DataFrame:
    """Return the rows of ``table`` for ``pairs`` (and ``metric`` if given), in the order of ``pairs``."""
    if table.empty:
        return table
    keys = pd.MultiIndex.from_tuples(list(dict.fromkeys(pairs)), names=["dataset", "variant", "reference"])
    rows = table if metric is None else table[table["metric"] == metric]
    indexed = rows.set_index(["dataset", "variant", "reference"])
    order = [k for k in keys if k in indexed.index]
    return indexed.loc[order].reset_index()[table.columns] if order else table.iloc[0:0]
