"""Ablation families: variants of one strategy compared to that strategy's full model.

A family is every variant sharing a ``strategy``, when there are at least two. Its full model is
the variant named with ``--full`` (if it belongs to the family), else the variant equal to the
strategy name, else the one ending in ``full``; a family without one is reported and skipped.
"""

from __future__ import annotations

import pandas as pd

from hdfbench.analysis import stats
from hdfbench.analysis.comparisons import cell_matrix, compare, finish
from hdfbench.analysis.load import Experiment
from hdfbench.analysis.tables import main_table


def families(summary: pd.DataFrame, variants: list[str], full: list[str] | None = None) -> dict[str, tuple[str | None, list[str]]]:
    """Return strategy → (full variant or None, its variants in order) for strategies with ≥ 2 variants."""
    out = {}
    for strategy, rows in summary.groupby("strategy", sort=True):
        members = [v for v in variants if v in set(rows["variant"])]
        if len(members) < 2:
            continue
        chosen = [v for v in members if v in (full or [])]
        chosen = chosen or [v for v in members if v == strategy] or [v for v in members if v.endswith("full")]
        out[strategy] = (chosen[0] if chosen else None, members)
    return out


def ablation_table(experiment: Experiment, metric: str, full: list[str] | None = None, confidence: float = 0.95,
                   alpha: float = 0.05, seed: int = 0, pair_by: str = "cell") -> tuple[pd.DataFrame, list[str]]:
    """Return (ablation table, notes).

    One row per (dataset, family variant): its headline means and stds, and for non-full variants
    the paired difference (variant − full) on ``metric``: NB-corrected t estimate, CI, raw and
    Holm-adjusted p (Holm over all rows), plus the paired bootstrap CI. Notes name skipped families.
    """
    summary = experiment.summary
    found = families(summary, experiment.variants, full)
    notes = [f"strategy '{s}' has variants {m} but none is marked full (use --full)"
             for s, (f, m) in found.items() if f is None]
    found = {s: (f, m) for s, (f, m) in found.items() if f is not None}
    if not found:
        return pd.DataFrame(), notes
    members = [v for _, m in found.values() for v in m]
    means = main_table(summary[summary["variant"].isin(members)], experiment.variants)
    rows, matrix = [], cell_matrix(summary, metric)
    for strategy, (full_variant, variants) in found.items():
        for dataset in experiment.datasets:
            for variant in variants:
                if variant != full_variant:
                    rows += compare(matrix, experiment.splits, dataset, variant, full_variant, metric, confidence,
                                    seed, pair_by)
    tests = finish(rows, alpha)
    nb = tests[tests["test"] == stats.NB_T].set_index(["dataset", "variant"])
    boot = tests[tests["test"] == stats.BOOTSTRAP].set_index(["dataset", "variant"])
    table = means.assign(family=means["strategy"], full=means["strategy"].map(lambda s: found[s][0]))
    key = pd.MultiIndex.from_frame(table[["dataset", "variant"]])
    table["delta_metric"] = metric
    table["n_paired"] = nb["n"].reindex(key).to_numpy()
    for column in ("estimate", "ci_low", "ci_high", "p", "p_holm", "significant"):
        table[f"delta_{column}"] = nb[column].reindex(key).to_numpy()
    table["delta_boot_ci_low"] = boot["ci_low"].reindex(key).to_numpy()
    table["delta_boot_ci_high"] = boot["ci_high"].reindex(key).to_numpy()
    table["delta_test"] = f"{stats.NB_T}, Holm over the table; CI of {stats.BOOTSTRAP}"
    return table, notes
