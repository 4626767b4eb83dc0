"""Descriptive tables computed from summary rows: the main table, per-class recall and its differences, the
probability-calibration table and the best-on-test (oracle) table.

Every table is a numeric DataFrame (fractions, not %); ``formatting.py`` formats and writes them.
"""

from __future__ import annotations

import pandas as pd

from hdfbench.analysis.load import CELL

#: Headline metrics of every run, in table order (worst-group columns are appended per field).
HEADLINE = ("test_war", "test_uar", "worst_class_recall")
#: The best-on-test columns (``selection.report_oracle``), shown beside the headline ones, never tested or ranked.
ORACLE = ("oracle_test_war", "oracle_test_uar")
#: The probability-calibration columns of summary.csv (``metrics.probability_calibration`` of the test split).
CALIBRATION = ("test_ece", "test_nll", "test_brier")


def headline_metrics(summary: pd.DataFrame) -> list[str]:
    """Return the headline metric columns present: WAR, UAR, worst-class recall, worst-group accuracies."""
    groups = [c for c in summary.columns if c.startswith("worst_group_acc_")]
    return [m for m in HEADLINE if m in summary] + groups


def present(summary: pd.DataFrame, columns: tuple[str, ...]) -> list[str]:
    """Return those of ``columns`` that ``summary`` has with at least one value (older runs lack the newer ones)."""
    return [c for c in columns if c in summary and summary[c].notna().any()]


def ordered(
    frame: pd.DataFrame, variants: list[str], column: str = "variant", keys: list[str] | None = None
) -> pd.DataFrame:
    """Return ``frame`` with rows sorted by ``keys`` (default: dataset, then ``column``), where
    ``column`` follows the ``variants`` order."""
    rank = {v: i for i, v in enumerate(variants)}
    keys = keys or (["dataset", column] if "dataset" in frame else [column])
    return frame.sort_values(keys, key=lambda s: s.map(rank) if s.name == column else s, ignore_index=True)


def main_table(summary: pd.DataFrame, variants: list[str]) -> pd.DataFrame:
    """Return per (dataset, variant): strategy, n runs, n folds, n seeds, ``<metric>_mean`` and ``_std`` of the
    headline metrics and of the best-on-test ``ORACLE`` columns when the runs recorded them."""
    metrics = headline_metrics(summary) + present(summary, ORACLE)
    grouped = summary.groupby(["dataset", "variant"], sort=False)
    table = pd.DataFrame(
        {
            "strategy": grouped["strategy"].first(),
            "n": grouped.size(),
            "n_folds": grouped["fold"].nunique(),
            "n_seeds": grouped["seed"].nunique(),
        }
    )
    for metric in metrics:
        table[f"{metric}_mean"] = grouped[metric].mean()
        table[f"{metric}_std"] = grouped[metric].std(ddof=1)
    return ordered(table.reset_index(), variants)


def _recall_long(summary: pd.DataFrame, classes: list[str]) -> pd.DataFrame:
    columns = {f"recall_{c}": c for c in classes}
    long = summary.melt(id_vars=[*CELL, "variant"], value_vars=list(columns), var_name="class", value_name="recall")
    return long.assign(**{"class": long["class"].map(columns)})


def per_class_table(
    summary: pd.DataFrame, classes: list[str], support: pd.DataFrame, variants: list[str]
) -> pd.DataFrame:
    """Return per (dataset, class, variant): test support (summed over folds), n runs, recall mean and std."""
    long = _recall_long(summary, classes)
    table = (
        long.groupby(["dataset", "class", "variant"], sort=False)["recall"]
        .agg(n="count", recall_mean="mean", recall_std="std")
        .reset_index()
    )
    total = support.groupby(["dataset", "class"], as_index=False)["support"].sum()
    table = table.merge(total, on=["dataset", "class"], how="left")
    table["class"] = pd.Categorical(table["class"], classes, ordered=True)
    table = ordered(table, variants, keys=["dataset", "class", "variant"])
    return table[["dataset", "class", "support", "variant", "n", "recall_mean", "recall_std"]]


def per_class_difference(
    summary: pd.DataFrame, classes: list[str], reference: str, variants: list[str]
) -> pd.DataFrame:
    """Return per (dataset, class, variant ≠ reference): mean paired recall difference to the reference.

    Differences are taken within each (dataset, fold, seed) cell both variants ran; ``n`` counts them.
    """
    long = _recall_long(summary, classes)
    ref = long[long["variant"] == reference].drop(columns="variant").rename(columns={"recall": "reference_recall"})
    paired = long[long["variant"] != reference].merge(ref, on=[*CELL, "class"])
    paired["difference"] = paired["recall"] - paired["reference_recall"]
    table = (
        paired.groupby(["dataset", "class", "variant"], sort=False)["difference"]
        .agg(n="count", difference_mean="mean", difference_std="std")
        .reset_index()
    )
    table.insert(3, "reference", reference)
    table["class"] = pd.Categorical(table["class"], classes, ordered=True)
    return ordered(table, variants, keys=["dataset", "variant", "class"])


def calibration_table(summary: pd.DataFrame, variants: list[str]) -> pd.DataFrame:
    """Return per (dataset, variant): n runs with calibration, and ``<metric>_mean`` / ``_std`` of the test
    ECE, NLL and Brier score (empty when summary.csv has no calibration column)."""
    metrics = present(summary, CALIBRATION)
    if not metrics:
        return pd.DataFrame(columns=["dataset", "variant", "n"])
    grouped = summary.dropna(subset=metrics, how="all").groupby(["dataset", "variant"], sort=False)
    table = pd.DataFrame({"n": grouped.size()})
    for metric in metrics:
        table[f"{metric}_mean"] = grouped[metric].mean()
        table[f"{metric}_std"] = grouped[metric].std(ddof=1)
    return ordered(table.reset_index(), variants)


def oracle_table(summary: pd.DataFrame, variants: list[str]) -> pd.DataFrame:
    """Return per (dataset, variant) with best-on-test numbers: n runs, and for UAR and WAR the mean ± std of
    the selected epoch's test value (``test_<m>``), of the best-on-test value (``oracle_test_<m>``) and of
    their per-run difference ``gap_<m>`` (oracle − selected, ≥ 0), plus the mean selected and oracle
    epochs. Empty without oracle columns."""
    if not present(summary, ORACLE):
        return pd.DataFrame(columns=["dataset", "variant", "n"])
    rows = summary.dropna(subset=list(ORACLE), how="all")
    rows = rows.assign(**{f"gap_{m}": rows[f"oracle_test_{m}"] - rows[f"test_{m}"] for m in ("uar", "war")})
    grouped = rows.groupby(["dataset", "variant"], sort=False)
    table = pd.DataFrame({"n": grouped.size(), "selected_epoch_mean": grouped["selected_epoch"].mean()})
    for m in ("uar", "war"):
        for column in (f"test_{m}", f"oracle_test_{m}", f"gap_{m}"):
            table[f"{column}_mean"] = grouped[column].mean()
            table[f"{column}_std"] = grouped[column].std(ddof=1)
        table[f"oracle_test_{m}_epoch_mean"] = grouped[f"oracle_test_{m}_epoch"].mean()
    return ordered(table.reset_index(), variants)
