"""Ablation families: variants of one strategy compared to that strategy's full model.

A family is every variant sharing a ``strategy``, when there are at least two. Its full model is
the variant named with ``--full`` (if it belongs to the family), else the variant equal to the
strategy name, else the one ending in ``full``; a family without one is reported and skipped.
The differences come from the report's comparison table (``comparisons.comparison_table``), so an
ablation row shows the primary test, interval and Holm-adjusted p of that same comparison.
"""

from __future__ import annotations

import pandas as pd

from hdfbench.analysis.comparisons import select
from hdfbench.analysis.load import Experiment
from hdfbench.analysis.tables import main_table

Families = dict[str, tuple[str, list[str]]]

#: Comparison columns carried into the ablation table, as ``delta_<name>`` (the Bayesian ones as they are).
DELTA_COLUMNS = ("test", "design", "estimate", "ci_low", "ci_high", "interval", "p", "p_holm", "significant", "note")


def families(
    summary: pd.DataFrame, variants: list[str], full: list[str] | None = None
) -> dict[str, tuple[str | None, list[str]]]:
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


def ablation_pairs(
    experiment: Experiment, full: list[str] | None = None
) -> tuple[Families, list[tuple[str, str, str]], list[str]]:
    """Return (families with a full model, the (dataset, variant, full) pairs to compare, notes)."""
    found = families(experiment.summary, experiment.variants, full)
    notes = [
        f"strategy '{s}' has variants {m} but none is marked full (use --full)"
        for s, (f, m) in found.items()
        if f is None
    ]
    kept: Families = {s: (f, m) for s, (f, m) in found.items() if f is not None}
    pairs = [
        (dataset, variant, full_variant)
        for full_variant, members in kept.values()
        for dataset in experiment.datasets
        for variant in members
        if variant != full_variant
    ]
    return kept, pairs, notes


def ablation_table(experiment: Experiment, found: Families, comparisons: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Return one row per (dataset, family variant): its headline means and stds, and for non-full
    variants the comparison to the full model on ``metric`` (estimate, interval, p, Holm p, Bayesian
    probabilities) taken from ``comparisons``."""
    if not found:
        return pd.DataFrame()
    summary = experiment.summary
    members = [v for _, m in found.values() for v in m]
    means = main_table(summary[summary["variant"].isin(members)], experiment.variants)
    table = means.assign(family=means["strategy"], full=means["strategy"].map(lambda s: found[s][0]))
    pairs = list(zip(table["dataset"], table["variant"], table["full"], strict=True))
    rows = select(comparisons, pairs, metric).set_index(["dataset", "variant"])
    key = pd.MultiIndex.from_frame(table[["dataset", "variant"]])
    table["delta_metric"] = metric
    table["n_paired"] = rows["n"].reindex(key).to_numpy() if len(rows) else pd.NA
    for column in DELTA_COLUMNS:
        table[f"delta_{column}"] = rows[column].reindex(key).to_numpy() if len(rows) else pd.NA
    for column in ("p_worse", "p_rope", "p_better", "rope"):
        table[column] = rows[column].reindex(key).to_numpy() if len(rows) else pd.NA
    return table
