"""Formatting analysis tables for people and writing each as CSV (numbers), Markdown and LaTeX.

Metric values are fractions in the CSVs and percentages (or percentage points, "pp", for
differences) in the Markdown and LaTeX versions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from hdfbench.fileio import atomic_write, atomic_write_text

#: Short column titles of the metrics.
TITLES = {"test_war": "WAR", "test_uar": "UAR", "worst_class_recall": "worst-class recall",
          "val_uar": "val UAR"}


def title(metric: str) -> str:
    """Return a short human title of a metric column."""
    if metric.startswith("worst_group_acc_"):
        return f"worst-{metric.removeprefix('worst_group_acc_')} acc"
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


def ci(low: float, high: float, scale: float = 100) -> str:
    """Return ``[low, high]`` scaled (pp by default), "–" if missing."""
    if pd.isna(low) or pd.isna(high):
        return "–"
    return f"[{scale * low:+.1f}, {scale * high:+.1f}]"


def signed(value: float, scale: float = 100, digits: int = 1) -> str:
    """Return ``value × scale`` with an explicit sign, "–" if missing."""
    return "–" if value is None or pd.isna(value) else f"{scale * value:+.{digits}f}"


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


def display_main(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Return the main table with ``mean ± std`` (%) cells."""
    return _metric_cells(table[["dataset", "variant", "n", "n_folds", "n_seeds"]].copy(), table, metrics)


def display_statistics(table: pd.DataFrame) -> pd.DataFrame:
    """Return a statistics table with differences and CIs in pp and readable p-values."""
    out = table[[c for c in ("dataset", "fold", "seed", "metric") if c in table]].copy()
    out["metric"] = table["metric"].map(title)
    out["comparison"] = table["variant"] + " − " + table["reference"]
    out["test"], out["n"] = table["test"], table["n"].astype("Int64")
    out["statistic"] = table["statistic"].map(number)
    out["Δ (pp)"] = table["estimate"].map(signed)
    out["CI (pp)"] = [ci(lo, hi) for lo, hi in zip(table["ci_low"], table["ci_high"])]
    out["p"] = table["p"].map(pvalue)
    out["p (Holm)"] = table["p_holm"].map(pvalue)
    out["significant"] = table["significant"].map(lambda s: "–" if pd.isna(s) else ("yes" if s else "no"))
    out["effect size"] = [f"{number(v)} ({name})" if pd.notna(v) else "–"
                          for v, name in zip(table["effect_size"], table["effect_size_name"])]
    out["note"] = table["note"].fillna("")
    return out


def display_ablation(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """Return the ablation table: metrics (%) and the paired Δ to the full model (pp, CI, p, Holm p)."""
    out = _metric_cells(table[["dataset", "family", "variant", "n"]].copy(), table, metrics)
    metric = title(table["delta_metric"].iloc[0])
    out[f"Δ {metric} vs full (pp)"] = table["delta_estimate"].map(signed)
    out["95% CI NB-t (pp)"] = [ci(lo, hi) for lo, hi in zip(table["delta_ci_low"], table["delta_ci_high"])]
    out["95% CI bootstrap (pp)"] = [ci(lo, hi) for lo, hi in zip(table["delta_boot_ci_low"], table["delta_boot_ci_high"])]
    out["n paired"] = table["n_paired"].astype("Int64")
    out["p"] = table["delta_p"].map(pvalue)
    out["p (Holm)"] = table["delta_p_holm"].map(pvalue)
    is_full = table["variant"] == table["full"]
    out.loc[is_full, [f"Δ {metric} vs full (pp)", "p", "p (Holm)"]] = ["full model", "", ""]
    return out


def _by_variant(table: pd.DataFrame, cells: list[str], index: list[str]) -> pd.DataFrame:
    """Return ``cells`` (one per row of ``table``) pivoted to one row per ``index`` and a column per
    variant, in the table's variant order."""
    wide = table.assign(cell=cells).pivot_table(index=index, columns="variant", values="cell", aggfunc="first",
                                                sort=False, observed=True)
    return wide[list(dict.fromkeys(table["variant"]))].reset_index().rename_axis(columns=None)


def display_per_class(table: pd.DataFrame) -> pd.DataFrame:
    """Return class × variant recall (%, mean ± std) with the class's test support, one row per class."""
    cells = [pct(m, s) for m, s in zip(table["recall_mean"], table["recall_std"])]
    return _by_variant(table, cells, ["dataset", "class", "support"])


def display_per_class_difference(table: pd.DataFrame) -> pd.DataFrame:
    """Return class × variant mean paired recall difference to the reference (pp)."""
    cells = [f"{signed(m)} ± {100 * s:.1f}" if pd.notna(s) else signed(m)
             for m, s in zip(table["difference_mean"], table["difference_std"])]
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
        return self.display.to_markdown(index=False)


def to_latex(display: pd.DataFrame, caption: str, label: str) -> str:
    """Return the display frame as a LaTeX table (booktabs), ± and Δ as math."""
    text = display.to_latex(index=False, escape=True, caption=caption, label=f"tab:{label}")
    return text.replace("±", r"$\pm$").replace("Δ", r"$\Delta$").replace("−", "--")


def write_table(out_dir: Path, name: str, numeric: pd.DataFrame, display: pd.DataFrame,
                caption: str) -> WrittenTable:
    """Write ``name``.csv (numbers), .md and .tex (display) to ``out_dir``; return what was written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv, md, tex = (out_dir / f"{name}.{ext}" for ext in ("csv", "md", "tex"))
    atomic_write(csv, lambda tmp: numeric.to_csv(tmp, index=False))
    written = WrittenTable(name, caption, display, [csv, md, tex])
    atomic_write_text(md, f"{caption}\n\n{written.markdown}\n")
    atomic_write_text(tex, to_latex(display, caption, name))
    return written
