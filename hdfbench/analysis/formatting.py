"""Formatting analysis tables for people and writing each as CSV (numbers), Markdown and LaTeX.

Metric values are fractions in the CSVs and percentages (or percentage points, "pp", for
differences) in the Markdown and LaTeX versions. Differences are always signed, with a fixed number
of decimals and a true minus sign ("+4.83", "−0.40"), so no renderer can drop a sign or a zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hdfbench.analysis.published import PUBLISHED_LABEL
from hdfbench.fileio import atomic_write, atomic_write_text

#: Short column titles of the metrics.
TITLES = {
    "test_war": "WAR",
    "test_uar": "UAR",
    "worst_class_recall": "worst-class recall",
    "val_uar": "val UAR",
    "oracle_test_war": "WAR selected on test",
    "oracle_test_uar": "UAR selected on test",
    "test_ece": "ECE",
    "test_nll": "NLL",
    "test_brier": "Brier",
}


def title(metric: str) -> str:
    """Return a short human title of a metric column."""
    if metric.startswith("worst_group_acc_"):
        return f"worst-{metric.removeprefix('worst_group_acc_').replace('class_x_', 'class×')} acc"
    return TITLES.get(metric, metric)


def pct(mean: float, std: float | None = None, digits: int = 1) -> str:
    """Return ``mean ± std`` in % (``mean`` alone when std is missing; "–" when mean is)."""
    if mean is None or pd.isna(mean):
        return "–"
    return f"{100 * mean:.{digits}f}" + (f" ± {100 * std:.{digits}f}" if std is not None and pd.notna(std) else "")


def pvalue(p: float) -> str:
    """Return a p-value for display: 3 significant digits, scientific below 0.001, "–" if missing."""
    if p is None or pd.isna(p):
        return "–"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.3f}"


#: Decimals of differences in percentage points.
DIFF_DIGITS = 2


def signed(value: float, scale: float = 100, digits: int = DIFF_DIGITS) -> str:
    """Return ``value × scale`` with an explicit sign (+ or the minus sign −), "–" if missing."""
    if value is None or pd.isna(value):
        return "–"
    text = f"{scale * value:+.{digits}f}"
    if float(text) == 0:  # ±0.00 after rounding: no sign to show
        return f"{0:.{digits}f}"
    return text.replace("-", "−")


def ci(low: float, high: float, scale: float = 100) -> str:
    """Return ``[low, high]`` scaled (pp by default) and signed, "–" if missing."""
    if pd.isna(low) or pd.isna(high):
        return "–"
    return f"[{signed(low, scale)}, {signed(high, scale)}]"


def probability(value: float) -> str:
    """Return a probability with two decimals, "–" if missing."""
    return "–" if value is None or pd.isna(value) else f"{value:.2f}"


def number(value: float, digits: int = 2) -> str:
    """Return a plain number, "–" if missing or infinite shown as ±inf."""
    if value is None or pd.isna(value):
        return "–"
    return f"{value:.{digits}f}" if np.isfinite(value) else ("+inf" if value > 0 else "-inf")


def _metric_cells(out: pd.DataFrame, table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Return ``out`` with a ``mean ± std`` (%) column per metric, from ``table``'s _mean/_std columns."""
    for metric in metrics:
        out[f"{title(metric)} (%)"] = [pct(m, s) for m, s in zip(table[f"{metric}_mean"], table[f"{metric}_std"])]
    return out


def display_main(table: pd.DataFrame, metrics: list[str], published: pd.DataFrame | None = None) -> pd.DataFrame:
    """Return the main table with ``mean ± std`` (%) cells; with ``published`` rows (``published.published_beside``)
    those follow the measured rows of their dataset, labelled as published and why they are not comparable,
    with their UAR and WAR (as published, %) and no other cell."""
    out = _metric_cells(table[["dataset", "variant", "n", "n_folds", "n_seeds"]].copy(), table, metrics)
    if published is None or published.empty:
        return out
    out = out.astype(str)
    out["source"] = "measured here (epoch selected on inner validation)"
    blocks = []
    for dataset, rows in out.groupby("dataset", sort=False):
        blocks.append(rows)
        theirs = published[published["dataset"] == dataset]
        if theirs.empty:
            continue
        extra = pd.DataFrame("", index=range(len(theirs)), columns=out.columns)
        extra["dataset"] = dataset
        names = zip(theirs["method"], theirs["venue"], strict=True)
        extra["variant"] = [f"[published] {m}" + (f" ({v})" if v else "") for m, v in names]
        for metric in ("test_war", "test_uar"):
            if f"{title(metric)} (%)" in extra:
                extra[f"{title(metric)} (%)"] = [pct(v, digits=2) for v in theirs[metric.removeprefix("test_")]]
        extra["source"] = [
            f"{PUBLISHED_LABEL}, not comparable ({d}): {s}" for d, s in zip(theirs["differs"], theirs["source"])
        ]
        blocks.append(extra)
    return pd.concat(blocks, ignore_index=True)


def display_published(table: pd.DataFrame) -> pd.DataFrame:
    """Return the published rows beside this sweep's datasets: method, venue, UAR and WAR (% as published), how
    each was set up, its source and why it is not comparable."""
    out = table[["dataset", "method", "venue"]].copy()
    out["UAR (%)"] = table["uar"].map(lambda v: pct(v, digits=2))
    out["WAR (%)"] = table["war"].map(lambda v: pct(v, digits=2))
    out = out.assign(**{c: table[c] for c in ("backbone", "pretraining", "frames")})
    out["epoch selected on"] = table["selected_on"]
    out["source"] = table["source"] + [f" — {n}" if n else "" for n in table["note"]]
    out["comparable with this sweep"] = table["comparable"]
    return out


def display_calibration(table: pd.DataFrame) -> pd.DataFrame:
    """Return the calibration table: test ECE (%, mean ± std), NLL (nats) and Brier score (mean ± std, 3 decimals)."""
    out = table[["dataset", "variant", "n"]].copy()
    for metric in ("test_ece", "test_nll", "test_brier"):
        if f"{metric}_mean" not in table:
            continue
        means, stds = table[f"{metric}_mean"], table[f"{metric}_std"]
        if metric == "test_ece":
            out["ECE (%)"] = [pct(m, s) for m, s in zip(means, stds, strict=True)]
        else:
            name = "NLL (nats)" if metric == "test_nll" else "Brier"
            out[name] = [
                number(m, 3) + (f" ± {number(sd, 3)}" if pd.notna(sd) else "") if pd.notna(m) else "–"
                for m, sd in zip(means, stds, strict=True)
            ]
    return out


def display_oracle(table: pd.DataFrame) -> pd.DataFrame:
    """Return the honest-vs-best-on-test table: per metric the selected epoch's test value, the best-on-test
    value (%, mean ± std) and their gap (pp, mean ± std over runs), and the mean epochs."""
    out = table[["dataset", "variant", "n"]].copy()
    for m in ("uar", "war"):
        name = m.upper()
        out[f"{name}, selected on val (%)"] = [
            pct(a, b) for a, b in zip(table[f"test_{m}_mean"], table[f"test_{m}_std"], strict=True)
        ]
        out[f"{name}, selected on test (%)"] = [
            pct(a, b) for a, b in zip(table[f"oracle_test_{m}_mean"], table[f"oracle_test_{m}_std"], strict=True)
        ]
        out[f"{name} gap (pp)"] = [
            f"{signed(a)} ± {100 * b:.{DIFF_DIGITS}f}" if pd.notna(b) else signed(a)
            for a, b in zip(table[f"gap_{m}_mean"], table[f"gap_{m}_std"], strict=True)
        ]
    out["epoch: selected / best UAR / best WAR"] = [
        " / ".join(number(v, 1) for v in values)
        for values in zip(
            table["selected_epoch_mean"], table["oracle_test_uar_epoch_mean"], table["oracle_test_war_epoch_mean"]
        )
    ]
    return out


def _bayes(table: pd.DataFrame) -> list[str]:
    """Return "P(worse) / P(≈) / P(better)" cells of the Bayesian correlated t-test."""
    return [
        " / ".join(probability(v) for v in (w, r, b)) if pd.notna(r) else "–"
        for w, r, b in zip(table["p_worse"], table["p_rope"], table["p_better"], strict=True)
    ]


def _significance(table: pd.DataFrame) -> list[str]:
    return ["– (descriptive)" if pd.isna(s) else ("yes" if bool(s) else "no") for s in table["significant"]]


def display_statistics(table: pd.DataFrame) -> pd.DataFrame:
    """Return a comparison table with differences and intervals in pp and readable p-values."""
    out = table[["dataset"]].copy()
    out["metric"] = table["metric"].map(title)
    out["comparison"] = table["variant"] + " − " + table["reference"]
    out["test"] = [
        f"{t} (primary)" if bool(p) else (t if isinstance(t, str) else "–")
        for t, p in zip(table["test"], table["primary"], strict=True)
    ]
    out["n"] = [
        f"{int(n)} {u.split(' ')[0]}" if pd.notna(n) and isinstance(u, str) else "–"
        for n, u in zip(table["n"], table["unit"], strict=True)
    ]
    out["Δ (pp)"] = table["estimate"].map(signed)
    out["interval (pp)"] = [ci(lo, hi) for lo, hi in zip(table["ci_low"], table["ci_high"], strict=True)]
    out["interval method"] = table["interval"].fillna("–")
    out["p"] = table["p"].map(pvalue)
    out["p (Holm)"] = table["p_holm"].map(pvalue)
    out["significant"] = _significance(table)
    rope = table["rope"].dropna()
    out[f"P(worse / ≈ / better), ROPE ±{100 * rope.iloc[0]:g} pp" if len(rope) else "P(worse / ≈ / better)"] = _bayes(
        table
    )
    out["note"] = table["note"].fillna("")
    return out


def display_ablation(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Return the ablation table: metrics (%) and the primary comparison to the full model (pp)."""
    out = _metric_cells(table[["dataset", "family", "variant", "n"]].copy(), table, metrics)
    metric = title(table["delta_metric"].iloc[0])
    out[f"Δ {metric} vs full (pp)"] = table["delta_estimate"].map(signed)
    out["interval (pp)"] = [ci(lo, hi) for lo, hi in zip(table["delta_ci_low"], table["delta_ci_high"], strict=True)]
    out["interval method"] = table["delta_interval"].fillna("–")
    out["p (Holm)"] = table["delta_p_holm"].map(pvalue)
    out["P(worse / ≈ / better)"] = _bayes(table)
    is_full = table["variant"] == table["full"]
    out.loc[
        is_full, [f"Δ {metric} vs full (pp)", "interval (pp)", "interval method", "p (Holm)", "P(worse / ≈ / better)"]
    ] = ["full model", "", "", "", ""]
    return out


def display_phenomena(table: pd.DataFrame) -> pd.DataFrame:
    """Return the known-phenomena checks: expected direction, estimate and interval (pp, or ρ), p, verdict."""
    out = table[["check", "dataset", "comparison"]].copy()
    out["metric"] = table["metric"].map(title)
    out["expected"] = table["expected"]
    scale = [1.0 if str(m).startswith("ρ") else 100.0 for m in table["metric"]]
    unit = ["ρ" if s == 1.0 else "pp" for s in scale]
    out["estimate"] = [
        f"{signed(v, s)} {u}" if pd.notna(v) else "–" for v, s, u in zip(table["estimate"], scale, unit, strict=True)
    ]
    out["interval"] = [
        f"{ci(lo, hi, s)} ({how})" if pd.notna(lo) else (how if isinstance(how, str) else "–")
        for lo, hi, s, how in zip(table["ci_low"], table["ci_high"], scale, table["interval"], strict=True)
    ]
    out["p (Holm)"] = table["p_holm"].map(pvalue)
    out["verdict"] = table["verdict"]
    return out


def _shift_title(name: str) -> str:
    if name == "val_uar":
        return "val UAR (train dist., %)"
    if name.endswith("_minus_test_uar"):
        return f"{'val' if name.startswith('val') else 'id'} − shifted UAR (pp)"
    side = "id" if name.startswith("id_") else "shifted"
    return f"{side} {title(name.removeprefix('id_')).replace('test_uar', 'UAR')} (%)"


def display_shift_gap(table: pd.DataFrame) -> pd.DataFrame:
    """Return the shift table: validation, in-distribution and shifted test metrics (%, mean ± std), gaps (pp)."""
    out = table[["dataset", "protocol", "variant", "n"]].copy()
    for name in [c.removesuffix("_mean") for c in table if c.endswith("_mean")]:
        cells = [pct(m, s) for m, s in zip(table[f"{name}_mean"], table[f"{name}_std"], strict=True)]
        out[_shift_title(name)] = cells
    return out


def display_group_recall(table: pd.DataFrame) -> pd.DataFrame:
    """Return value × variant test UAR (%, mean ± std over runs), one row per (dataset, field, value)."""
    cells = [pct(m, s) for m, s in zip(table["uar_mean"], table["uar_std"], strict=True)]
    return _by_variant(table, cells, ["dataset", "field", "value"])


def display_held_out(table: pd.DataFrame) -> pd.DataFrame:
    """Return held-out source × variant test UAR (%, mean ± std over the runs holding it out)."""
    cells = [
        f"{pct(m, s)} (n={n})"
        for m, s, n in zip(table["test_uar_mean"], table["test_uar_std"], table["n"], strict=True)
    ]
    return _by_variant(table, cells, ["dataset", "held_out"])


def display_ranks(table: pd.DataFrame) -> pd.DataFrame:
    """Return the rank table with per-dataset scores in % and mean ranks with two decimals."""
    out = table.copy()
    for column in out.columns[1:-1]:
        metric, _, dataset = column.partition(" ")
        out = out.rename(columns={column: f"{title(metric)} {dataset} (%)"})
        out[f"{title(metric)} {dataset} (%)"] = table[column].map(pct)
    out["mean_rank"] = table["mean_rank"].map(number)
    return out.rename(columns={"mean_rank": "mean rank"})


def _by_variant(table: pd.DataFrame, cells: list[str], index: list[str]) -> pd.DataFrame:
    """Return ``cells`` (one per row of ``table``) pivoted to one row per ``index`` and a column per
    variant, in the table's variant order."""
    wide = table.assign(cell=cells).pivot_table(
        index=index, columns="variant", values="cell", aggfunc="first", sort=False, observed=True
    )
    return wide[list(dict.fromkeys(table["variant"]))].reset_index().rename_axis(columns=None)


def display_per_class(table: pd.DataFrame) -> pd.DataFrame:
    """Return class × variant recall (%, mean ± std) with the class's test support, one row per class."""
    cells = [pct(m, s) for m, s in zip(table["recall_mean"], table["recall_std"])]
    return _by_variant(table, cells, ["dataset", "class", "support"])


def display_per_class_difference(table: pd.DataFrame) -> pd.DataFrame:
    """Return class × variant mean paired recall difference to the reference (pp)."""
    cells = [
        f"{signed(m)} ± {100 * s:.{DIFF_DIGITS}f}" if pd.notna(s) else signed(m)
        for m, s in zip(table["difference_mean"], table["difference_std"], strict=True)
    ]
    return _by_variant(table, cells, ["dataset", "class"])


@dataclass
class WrittenTable:
    """A table written to disk: its name, caption, display frame and file paths."""

    name: str
    caption: str
    display: pd.DataFrame
    paths: list[Path]

    @property
    def markdown(self) -> str:
        """Return the display frame as a Markdown table."""
        return self.display.to_markdown(index=False, disable_numparse=True)


def to_latex(display: pd.DataFrame, caption: str, label: str) -> str:
    """Return the display frame as a LaTeX table (booktabs), ± and Δ as math."""
    text = display.to_latex(index=False, escape=True, caption=caption, label=f"tab:{label}")
    return text.replace("±", r"$\pm$").replace("Δ", r"$\Delta$").replace("≈", r"$\approx$").replace("−", "$-$")


def write_table(out_dir: Path, name: str, numeric: pd.DataFrame, display: pd.DataFrame, caption: str) -> WrittenTable:
    """Write ``name``.csv (numbers), .md and .tex (display) to ``out_dir``; return what was written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv, md, tex = (out_dir / f"{name}.{ext}" for ext in ("csv", "md", "tex"))
    atomic_write(csv, lambda tmp: numeric.to_csv(tmp, index=False))
    written = WrittenTable(name, caption, display, [csv, md, tex])
    atomic_write_text(md, f"{caption}\n\n{written.markdown}\n")
    atomic_write_text(tex, to_latex(display, caption, name))
    return written
