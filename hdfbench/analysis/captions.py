"""One-sentence factual captions generated from the analysis numbers."""

from __future__ import annotations

import pandas as pd

from hdfbench.analysis import stats
from hdfbench.analysis.export import pct, pvalue, signed, title


def _join(items: list[str]) -> str:
    return ", ".join(items) if items else "none"


def _range(values: pd.Series) -> str:
    lo, hi = int(values.min()), int(values.max())
    return str(lo) if lo == hi else f"{lo}–{hi}"


def main_caption(table: pd.DataFrame, metric: str, reference: str | None) -> str:
    """Return which variant has the best mean ``metric`` per dataset, next to the reference."""
    parts = []
    for dataset, rows in table.groupby("dataset", sort=True):
        best = rows.loc[rows[f"{metric}_mean"].idxmax()]
        text = (f"on {dataset} the highest mean test {title(metric)} is {best['variant']} "
                f"({pct(best[f'{metric}_mean'], best[f'{metric}_std'])} %, n = {best['n']} runs)")
        ref = rows[rows["variant"] == reference]
        if len(ref) and reference != best["variant"]:
            text += f" vs {reference} {pct(ref[f'{metric}_mean'].iloc[0], ref[f'{metric}_std'].iloc[0])} %"
        parts.append(text)
    return ("Mean ± std over folds × seeds; " + "; ".join(parts) + ".") if parts else "No finished runs."


def statistics_caption(table: pd.DataFrame, reference: str, alpha: float,
                       tests: tuple[str, ...] = (stats.NB_T, stats.WILCOXON), unit: str = "paired cells") -> str:
    """Return how many comparisons to the reference survive Holm correction, per test in ``tests``."""
    if table.empty:
        return f"No comparison to {reference} could be made (reference absent or no other variant)."
    sentences = []
    for test in tests:
        rows = table[(table["test"] == test) & table["p"].notna()]
        if rows.empty:
            sentences.append(f"{test}: no testable comparison (too few paired cells; see the notes)")
            continue
        hits = rows[rows["significant"] == True]  # noqa: E712 (nullable boolean)
        names = [f"{r.variant} ({title(r.metric)}, {r.dataset}, Δ = {signed(r.estimate)} pp, "
                 f"Holm p = {pvalue(r.p_holm)})" for r in hits.itertuples()]
        sentences.append(f"{test}: {len(hits)} of {len(rows)} comparisons to {reference} survive Holm "
                         f"correction at α = {alpha} (n = {_range(rows['n'])} {unit}): {_join(names)}")
    return "; ".join(sentences) + "."


def clip_caption(table: pd.DataFrame, reference: str, alpha: float) -> str:
    """Return the clip-level bootstrap result: comparisons surviving Holm, with the caveat of one cell."""
    return ("Paired class-stratified bootstrap over the test clips of single (fold, seed) cells: it measures "
            "clip sampling variance only, not seed or fold variance. "
            + statistics_caption(table, reference, alpha, (stats.CLIP_BOOTSTRAP,), "test clips"))


def ablation_caption(table: pd.DataFrame, alpha: float) -> str:
    """Return the largest drop relative to the full model and how many differences survive Holm."""
    rows = table[table["variant"] != table["full"]].dropna(subset=["delta_estimate"])
    if rows.empty:
        return "No ablation difference could be estimated (fewer than 2 paired cells)."
    worst = rows.loc[rows["delta_estimate"].idxmin()]
    survive = rows[rows["delta_p_holm"] < alpha]
    metric = title(worst["delta_metric"])
    n = int(worst["n_paired"])
    interval = (f"NB-t 95 % CI {signed(worst['delta_ci_low'])} to {signed(worst['delta_ci_high'])} pp, n = {n}"
                if pd.notna(worst["delta_ci_low"]) else f"n = {n}: too few paired cells for a CI")
    return (f"Largest change of test {metric} against the full model: {worst['variant']} "
            f"{signed(worst['delta_estimate'])} pp ({interval}); {len(survive)} of {len(rows)} "
            f"differences survive Holm correction at α = {alpha}.")


def per_class_caption(difference: pd.DataFrame, per_class: pd.DataFrame, reference: str) -> str:
    """Return the lowest-recall class and the largest per-class gain and loss against the reference."""
    worst = per_class.loc[per_class["recall_mean"].idxmin()] if len(per_class) else None
    text = (f"Lowest mean recall: {worst['class']} under {worst['variant']} ({pct(worst['recall_mean'])} %, "
            f"test support {worst['support']})") if worst is not None else "No per-class recalls"
    if len(difference.dropna(subset=["difference_mean"])):
        gain = difference.loc[difference["difference_mean"].idxmax()]
        loss = difference.loc[difference["difference_mean"].idxmin()]
        text += (f"; largest gain over {reference}: {gain['variant']} on {gain['class']} "
                 f"({signed(gain['difference_mean'])} pp), largest loss: {loss['variant']} on {loss['class']} "
                 f"({signed(loss['difference_mean'])} pp)")
    return text + "."


def ranks_caption(result) -> str:
    """Return the Friedman result and CD, labelled descriptive when there are few datasets."""
    if result is None:
        return "Fewer than 2 datasets (or variants run on all of them): no across-dataset ranking."
    label = " Descriptive only: too few datasets for an inferential claim." if result.descriptive else ""
    best = result.ranks.idxmin()
    friedman = (f"Friedman χ² = {result.friedman.statistic:.2f}, p = {pvalue(result.friedman.pvalue)}"
                if result.friedman is not None and pd.notna(result.friedman.statistic) else "Friedman not computed")
    return (f"Mean ranks of test {title(result.metric)} over N = {len(result.scores)} datasets; best: {best} "
            f"({result.ranks[best]:.2f}); {friedman}; Nemenyi CD = {result.cd:.2f}.{label}")
