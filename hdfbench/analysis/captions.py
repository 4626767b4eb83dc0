"""One-sentence factual captions generated from the analysis numbers."""

from __future__ import annotations

import pandas as pd

from hdfbench.analysis import stats
from hdfbench.analysis.formatting import ci, number, pct, pvalue, signed, title


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
        text = (
            f"on {dataset} the highest mean test {title(metric)} is {best['variant']} "
            f"({pct(best[f'{metric}_mean'], best[f'{metric}_std'])} %, n = {best['n']} runs)"
        )
        ref = rows[rows["variant"] == reference]
        if len(ref) and reference != best["variant"]:
            text += f" vs {reference} {pct(ref[f'{metric}_mean'].iloc[0], ref[f'{metric}_std'].iloc[0])} %"
        parts.append(text)
    return ("Mean ± std over folds × seeds; " + "; ".join(parts) + ".") if parts else "No finished runs."


def statistics_caption(table: pd.DataFrame, reference: str, alpha: float) -> str:
    """Return how many primary comparisons to the reference survive Holm, and what the other rows are."""
    if table.empty:
        return f"No comparison to {reference} could be made (reference absent or no other variant)."
    sentences = []
    is_primary = table["primary"].astype(bool)
    primary = table[is_primary & table["p"].notna()]
    if len(primary):
        hits = primary[primary["significant"] == True]  # noqa: E712 (nullable boolean)
        names = [
            f"{r.variant} ({title(r.metric)}, {r.dataset}, Δ = {signed(r.estimate)} pp, Holm p = {pvalue(r.p_holm)})"
            for r in hits.itertuples()
        ]
        sentences.append(
            f"Primary test {stats.NB_T} over folds (seeds averaged within each fold; n = "
            f"{_range(primary['n'])} folds): {len(hits)} of {len(primary)} comparisons to {reference} "
            f"survive Holm at α = {alpha} (one family per metric over the report): {_join(names)}"
        )
    untested = table[is_primary & table["p"].isna()]
    if len(untested):
        sentences.append(f"{len(untested)} comparison(s) on fewer than {stats.MIN_T_CELLS} folds: no test")
    for design, rows in table[~is_primary].groupby("design", sort=True):
        if design == "one split":
            sentences.append(
                f"{len(rows)} comparison(s) on a single split: no test of generalisation; the "
                "two-level bootstrap interval (seeds × test clips) is conditional on that split"
            )
        elif design == "folds":
            sentences.append(f"{len(rows)} comparison(s) paired by (fold, seed) cell: descriptive only")
        else:
            sentences.append(f"{len(rows)} comparison(s) without paired runs")
    if table["p_rope"].notna().any():
        sentences.append(
            "P(worse / ≈ / better) is the Bayesian correlated t-test's posterior on the same folds, "
            "with the ROPE given in its header"
        )
    return "; ".join(sentences) + "."


def ablation_caption(table: pd.DataFrame, alpha: float) -> str:
    """Return the largest drop relative to the full model, its interval and how many differences survive Holm."""
    rows = table[table["variant"] != table["full"]].dropna(subset=["delta_estimate"])
    if rows.empty:
        return "No ablation difference could be estimated (no paired runs)."
    worst = rows.loc[rows["delta_estimate"].idxmin()]
    tested = rows[rows["delta_p_holm"].notna()]
    survive = tested[tested["delta_p_holm"] < alpha]
    metric = title(worst["delta_metric"])
    interval = (
        f"{ci(worst['delta_ci_low'], worst['delta_ci_high'])} pp, {worst['delta_interval']}"
        if pd.notna(worst["delta_ci_low"])
        else f"no interval: {worst['delta_interval']}"
    )
    tests = (
        f"{len(survive)} of {len(tested)} differences survive Holm at α = {alpha} (primary test "
        f"{stats.NB_T}, same family as the statistics table)"
        if len(tested)
        else "no difference has a test"
    )
    return (
        f"Largest change of test {metric} against the full model: {worst['variant']} "
        f"{signed(worst['delta_estimate'])} pp ({interval}); {tests}."
    )


def per_class_caption(difference: pd.DataFrame, per_class: pd.DataFrame, reference: str) -> str:
    """Return the lowest-recall class and the largest per-class gain and loss against the reference."""
    worst = per_class.loc[per_class["recall_mean"].idxmin()] if len(per_class) else None
    text = (
        (
            f"Lowest mean recall: {worst['class']} under {worst['variant']} ({pct(worst['recall_mean'])} %, "
            f"test support {worst['support']})"
        )
        if worst is not None
        else "No per-class recalls"
    )
    known = difference.dropna(subset=["difference_mean"])
    if len(known) and known["difference_mean"].max() > 0:
        gain = known.loc[known["difference_mean"].idxmax()]
        text += (
            f"; largest gain over {reference}: {gain['variant']} on {gain['class']} "
            f"({signed(gain['difference_mean'])} pp)"
        )
    if len(known) and known["difference_mean"].min() < 0:
        loss = known.loc[known["difference_mean"].idxmin()]
        text += f"; largest loss: {loss['variant']} on {loss['class']} ({signed(loss['difference_mean'])} pp)"
    return text + "."


def phenomena_caption(table: pd.DataFrame, alpha: float) -> str:
    """Return how many known phenomena hold on this sweep, and which do not."""
    tested = table[table["verdict"] != "no test"]
    holds = tested[tested["verdict"] == "holds"]
    others = [f"{r.check} ({r.dataset}): {r.verdict}" for r in tested.itertuples() if r.verdict != "holds"]
    return (
        f"Known phenomena checked with the primary test ({stats.NB_T} over folds), Holm over the "
        f"{len(tested)} tested checks at α = {alpha}: {len(holds)} hold"
        + (f"; {'; '.join(others)}" if others else "")
        + ". docs/results.md explains each."
    )


def shift_gap_caption(table: pd.DataFrame) -> str:
    """Return what the shift table compares and which variant loses most and least to the shift."""
    gap = "id_minus_test_uar_mean" if "id_minus_test_uar_mean" in table else "val_minus_test_uar_mean"
    side = "its in-distribution test clips" if gap.startswith("id") else "its inner validation split"
    text = (
        f"Mean ± std over n runs (fold × seed). The inner validation split follows the training distribution; "
        f"'id' is the fold's held-out in-distribution clips, 'shifted' the protocol's test side. UAR lost from "
        f"{side} to the shifted test"
    )
    known = table.dropna(subset=[gap])
    if len(known):
        most, least = known.loc[known[gap].idxmax()], known.loc[known[gap].idxmin()]
        text += (
            f": most {most['variant']} ({signed(most[gap])} pp, {most['dataset']}), least {least['variant']} "
            f"({signed(least[gap])} pp)"
        )
    return text + ". The known-phenomena table tests these gaps with the primary test."


def group_recall_caption(table: pd.DataFrame) -> str:
    """Return the lowest per-value UAR and the spread between values of the same variant."""
    worst = table.loc[table["uar_mean"].idxmin()]
    spread = table.groupby(["dataset", "variant", "field"])["uar_mean"].agg(lambda v: v.max() - v.min())
    widest = spread.idxmax()
    return (
        f"Test UAR within each value of the group field (mean ± std over the {int(table['n'].max())} runs of "
        f"a variant). Lowest: {worst['variant']} on {worst['field']} = {worst['value']} "
        f"({pct(worst['uar_mean'])} %); widest spread between values: {widest[1]} on {widest[2]} "
        f"({pct(spread.max())} pp)."
    )


def held_out_caption(table: pd.DataFrame) -> str:
    """Return the hardest held-out source and what each variant averages over the held-out sources."""
    hardest = table.groupby("held_out")["test_uar_mean"].mean().idxmin()
    means = table.groupby("variant", sort=False)["test_uar_mean"].mean()
    return (
        f"Leave-one-source-out: fold k trains on the other sources and tests on source k (mean ± std over the "
        f"n seeds). Hardest held-out source: {hardest}; mean over held-out sources: "
        + ", ".join(f"{v} {pct(m)} %" for v, m in means.items())
        + "."
    )


def ranks_caption(result) -> str:
    """Return the omnibus test and, when it licenses one, the Nemenyi CD; else say the ranks are descriptive."""
    if result is None:
        return "Fewer than 2 datasets (or variants run on all of them): no across-dataset ranking."
    best = result.ranks.idxmin()
    omnibus = (
        f"{stats.IMAN_DAVENPORT} = {number(result.omnibus.statistic)}, p = {pvalue(result.omnibus.pvalue)}"
        if result.omnibus is not None and pd.notna(result.omnibus.statistic)
        else "no omnibus test"
    )
    tail = (
        f"Nemenyi CD = {result.cd:.2f}."
        if not result.descriptive
        else f"Descriptive only ({result.reason}): no critical difference."
    )
    return (
        f"Mean ranks of test {title(result.metric)} over N = {len(result.scores)} datasets; best: {best} "
        f"({result.ranks[best]:.2f}); {omnibus}. {tail}"
    )


def published_caption(table: pd.DataFrame) -> str:
    """Return what the published rows are and that none is comparable with this sweep."""
    datasets = ", ".join(dict.fromkeys(table["published_dataset"]))
    return (
        f"Published UAR / WAR on {datasets} (% as published; shipped in hdfbench/analysis/published_results.csv, "
        f"{len(table)} rows, one per value and source where sources disagree), beside this sweep's runs. "
        "None is comparable: each row says why (epoch selection, backbone, pretraining, frames). They enter no "
        "statistic, rank or caption."
    )


def calibration_caption(table: pd.DataFrame) -> str:
    """Return the best- and worst-calibrated variant (mean test ECE) per dataset."""
    if "test_ece_mean" not in table or table["test_ece_mean"].isna().all():
        return "Calibration of the test softmax: NLL and Brier score per run (mean ± std)."
    parts = []
    for dataset, rows in table.dropna(subset=["test_ece_mean"]).groupby("dataset", sort=True):
        lo, hi = rows.loc[rows["test_ece_mean"].idxmin()], rows.loc[rows["test_ece_mean"].idxmax()]
        parts.append(
            f"on {dataset} the lowest mean ECE is {lo['variant']} ({pct(lo['test_ece_mean'])} %), the highest "
            f"{hi['variant']} ({pct(hi['test_ece_mean'])} %)"
        )
    return (
        "Calibration of the test softmax per run (mean ± std): top-label ECE over 15 equal-width confidence bins, "
        "NLL (nats) and Brier score (Σ over classes, 0–2); lower is better; " + "; ".join(parts) + "."
    )


def oracle_caption(table: pd.DataFrame, label: str) -> str:
    """Return what the best-on-test columns are and the largest mean UAR gap."""
    text = (
        f"Best-on-test numbers, {label}: the highest test UAR and the highest test WAR over the epochs, each "
        "at its own epoch, beside the epoch selected on inner validation; gap = best-on-test − selected "
        "(pp, per run). Reported only: never used to select."
    )
    gaps = table.dropna(subset=["gap_uar_mean"])
    if len(gaps):
        top = gaps.loc[gaps["gap_uar_mean"].idxmax()]
        text += f" Largest mean UAR gap: {top['variant']} on {top['dataset']} ({signed(top['gap_uar_mean'])} pp)."
    return text
