"""Known phenomena of imbalanced and shifted DFER, checked on any sweep that has the runs they need.

1. **Frequency**: under the reference strategy, a class's test recall tracks its training frequency
   (Spearman ρ between training count and recall, per run; expected ρ > 0).
2. **Balanced sampling**: class-balanced batches of the reference strategy raise UAR and lower WAR
   (the trade-off the DFER literature reports).
3. **GroupDRO**: GroupDRO on class × field raises worst-group accuracy over the reference (the
   direction of Sagawa et al. 2020), over class × field and over the field alone.
4. **Shift**: the reference's worst-group accuracy (over every group definition the runs report)
   drops from the fold's in-distribution clips to the shifted test side (runs of a shifted protocol,
   ``id_*`` columns).

Each check is a paired comparison under the report's primary test (NB-corrected t over folds,
seeds averaged, ``comparisons.test_units``); per-run quantities (ρ, the id − shifted gap) are
tested against 0 the same way. Holm runs over the checks present. A check holds when it is
significant in the expected direction; otherwise the table says "not significant" or "opposite".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from hdfbench.analysis import stats
from hdfbench.analysis.comparisons import Settings, cell_matrix, paired_cells, test_units
from hdfbench.analysis.load import CELL, Experiment
from hdfbench.analysis.train_counts import train_class_counts
from hdfbench.metrics import worst_group_metric

COLUMNS = [
    "check",
    "dataset",
    "comparison",
    "metric",
    "expected",
    "n",
    "estimate",
    "ci_low",
    "ci_high",
    "interval",
    "p",
    "p_holm",
    "verdict",
    "note",
]


def _row(
    check: str,
    dataset: str,
    comparison: str,
    metric: str,
    expected: int,
    cells: pd.DataFrame,
    experiment: Experiment,
    settings: Settings,
) -> dict:
    """Return one check's row from paired cells (fold, seed, a, b) where ``expected`` is the sign of a − b."""
    base = {
        "check": check,
        "dataset": dataset,
        "comparison": comparison,
        "metric": metric,
        "expected": "higher" if expected > 0 else "lower",
        "n": cells["fold"].nunique() if len(cells) else 0,
    }
    if cells.empty or cells["fold"].nunique() < 2:
        return {**base, "verdict": "no test", "note": "needs runs on at least 2 folds (one split: no test)"}
    if np.allclose(cells["a"], cells["b"]) and cells["a"].nunique() == 1:
        return {
            **base,
            "verdict": "no test",
            "note": f"degenerate: {cells['a'].iloc[0]:.3g} on both sides of every "
            "run (e.g. every worst group empty of correct clips)",
        }
    result = test_units(cells, experiment.design_ratio(dataset, cells["fold"].unique()), settings)
    return {
        **base,
        **{k: result[k] for k in ("estimate", "ci_low", "ci_high", "interval", "p")},
        "n": result["n"],
        "note": result["note"],
        "_sign": expected,
    }


def frequency_check(experiment: Experiment, reference: str, settings: Settings) -> list[dict]:
    """Return check 1: Spearman ρ(training count, test recall) of the reference's runs, against 0."""
    counts = train_class_counts(experiment)
    rows: list[dict] = []
    if counts.empty:
        return rows
    summary = experiment.summary[experiment.summary["variant"] == reference]
    for dataset, runs in summary.groupby("dataset", sort=True):
        cells = []
        for run in runs.to_dict("records"):
            cell = counts[
                (counts["dataset"] == dataset) & (counts["fold"] == run["fold"]) & (counts["seed"] == run["seed"])
            ]
            recalls = np.array([run.get(f"recall_{c}", np.nan) for c in cell["class"]], dtype=float)
            keep = ~np.isnan(recalls)
            if keep.sum() > 2:
                rho = spearmanr(cell["count"].to_numpy()[keep], recalls[keep]).statistic
                cells.append({"fold": run["fold"], "seed": run["seed"], "a": rho, "b": 0.0})
        rows.append(
            _row(
                "recall tracks training class frequency",
                dataset,
                f"{reference}: Spearman ρ",
                "ρ(train count, recall)",
                +1,
                pd.DataFrame(cells, columns=["fold", "seed", "a", "b"]),
                experiment,
                settings,
            )
        )
    return rows


def pair_checks(experiment: Experiment, reference: str, settings: Settings) -> list[dict]:
    """Return checks 2 and 3: class-balanced sampling vs the reference (UAR up, WAR down), and GroupDRO
    on class × field vs the reference (worst-group accuracy over class × field and over the field up)."""
    entries, rows = experiment.strategy_entries(), []
    ref_entry = next((e for e in entries if e.label == reference), None)
    balanced = [
        e
        for e in entries
        if ref_entry
        and e.name == ref_entry.name
        and e.balance == "sample"
        and e.balance_groups == "class"
        and e.label != reference
    ]
    dro = [e for e in entries if e.name == "groupdro" and str(e.hparams.get("groups", "")).startswith("class*")]
    plans = [(e.label, "class-balanced sampling raises UAR", "test_uar", +1) for e in balanced]
    plans += [(e.label, "class-balanced sampling lowers WAR", "test_war", -1) for e in balanced]
    plans += [
        (e.label, f"GroupDRO on {e.hparams['groups']} raises worst-group accuracy", worst_group_metric(groups), +1)
        for e in dro
        for groups in (e.hparams["groups"], e.hparams["groups"].removeprefix("class*"))
    ]
    for variant, check, metric, sign in plans:
        if metric not in experiment.summary:
            continue
        matrix = cell_matrix(experiment.summary, metric)
        for dataset in experiment.datasets:
            cells = paired_cells(matrix, dataset, variant, reference)
            rows.append(_row(check, dataset, f"{variant} − {reference}", metric, sign, cells, experiment, settings))
    return rows


def shift_check(experiment: Experiment, reference: str, settings: Settings) -> list[dict]:
    """Return check 4: the reference's worst-group accuracies, in-distribution minus shifted test, against 0."""
    rows, summary = [], experiment.summary
    for column in [c for c in summary if c.startswith("id_worst_group_acc_")]:
        shifted = column.removeprefix("id_")
        runs = summary[(summary["variant"] == reference) & summary[column].notna()]
        for dataset, group in runs.groupby("dataset", sort=True):
            cells = group[[*CELL[1:]]].assign(a=group[column].to_numpy(), b=group[shifted].to_numpy())
            rows.append(
                _row(
                    "worst-group accuracy drops when the correlation breaks",
                    dataset,
                    f"{reference}: in-distribution − shifted test",
                    shifted,
                    +1,
                    cells,
                    experiment,
                    settings,
                )
            )
    return rows


def _verdict(row: dict, alpha: float) -> str:
    if row.get("verdict") == "no test" or not np.isfinite(row.get("p", np.nan)):
        return row.get("verdict") or "no test"
    direction = np.sign(row["estimate"]) == row["_sign"]
    if row["p_holm"] < alpha:
        return "holds" if direction else "opposite (significant)"
    return "not significant" + ("" if direction else " (opposite direction)")


def phenomena_table(experiment: Experiment, reference: str | None, settings: Settings) -> pd.DataFrame:
    """Return every check the sweep has the runs for, Holm-adjusted over the checks, with verdicts."""
    if reference is None or experiment.summary.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = (
        frequency_check(experiment, reference, settings)
        + pair_checks(experiment, reference, settings)
        + shift_check(experiment, reference, settings)
    )
    if not rows:
        return pd.DataFrame(columns=COLUMNS)
    p = np.array([r.get("p", np.nan) for r in rows], dtype=float)
    for row, adjusted in zip(rows, stats.holm(p), strict=True):
        row["p_holm"] = adjusted
        row["verdict"] = _verdict(row, settings.alpha)
    return pd.DataFrame(rows).reindex(columns=COLUMNS)
