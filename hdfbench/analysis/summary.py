"""The compact summary table of a sweep: mean ± std over folds × seeds per dataset and variant.

Kept for scripts that read ``summary_table.csv``; ``tables.main_table`` is the full version.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hdfbench.fileio import atomic_write, atomic_write_text

METRICS = ("test_war", "test_uar", "worst_class_recall")


def aggregate(main: pd.DataFrame) -> pd.DataFrame:
    """Return the compact columns of ``tables.main_table``'s output (n runs, mean and std of each
    metric in ``METRICS``), one row per (dataset, variant) sorted by name."""
    if main.empty:
        return pd.DataFrame(columns=["dataset", "variant", "n"])
    columns = ["dataset", "variant", "n", *(f"{m}_{s}" for m in METRICS for s in ("mean", "std"))]
    return main[columns].sort_values(["dataset", "variant"], ignore_index=True)


def to_markdown(table: pd.DataFrame) -> str:
    """Return the aggregated table as Markdown with ``mean ± std`` cells (in %)."""
    header = ["dataset", "variant", "n", *METRICS]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for _, row in table.iterrows():
        cells = [str(row["dataset"]), str(row["variant"]), str(int(row["n"]))]
        for metric in METRICS:
            mean, std = 100 * row[f"{metric}_mean"], 100 * row[f"{metric}_std"]
            cells.append(f"{mean:.1f} ± {std:.1f}" if pd.notna(std) else f"{mean:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_summary_table(main: pd.DataFrame, out_dir: Path) -> pd.DataFrame:
    """Write ``summary_table.{csv,md}`` (the compact table of earlier versions) to ``out_dir``; return it.

    ``main`` is ``tables.main_table``'s output (empty when no run has finished).
    """
    table = aggregate(main)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / "summary_table.csv", lambda tmp: table.to_csv(tmp, index=False))
    atomic_write_text(out_dir / "summary_table.md", to_markdown(table))
    return table
