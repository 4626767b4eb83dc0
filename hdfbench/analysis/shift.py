"""Distribution shift: what each variant loses from the training distribution to the shifted test side.

Computed only for runs of a shifted protocol (summary column ``protocol`` other than ``iid``, or
``test_prior`` other than ``dfew``):

- ``shift_gap``: per (dataset, protocol, variant) the inner-validation UAR (training distribution),
  the in-distribution test UAR (``id_*``, when the protocol evaluates one), the shifted test UAR, the
  gaps, and worst-group accuracy on both sides over each field with few values and class × it;
- ``group_recall``: per (dataset, variant, field, value) test UAR and accuracy within the value, for
  fields with at most ``MAX_VALUES`` values (``source``, ``scene``; not ``subject``);
- ``held_out``: under ``leave_source_out``, test UAR per held-out source;
- ``cell_accuracy``: accuracy per (class, value) cell pooled over runs (the heatmap's data).

Every spread is a standard deviation over runs (fold × seed cells) with n stated; the dependence-aware
tests of these gaps are the known-phenomena checks (``phenomena``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from hdfbench.analysis import plot_data
from hdfbench.analysis.load import Experiment
from hdfbench.metrics import uar, worst_group_metric

#: Fields with more values than this (subjects) get no per-value table.
MAX_VALUES = 12
#: Protocols whose test side is drawn from the training distribution.
UNSHIFTED = ("", "iid")
#: Test priors equal to the training prior.
UNSHIFTED_PRIORS = ("", "dfew")


def _option(summary: pd.DataFrame, column: str) -> pd.Series:
    if column not in summary:
        return pd.Series("", index=summary.index)
    return summary[column].astype(object).fillna("").astype(str)


def shifted_runs(summary: pd.DataFrame) -> pd.DataFrame:
    """Return the summary rows of runs evaluated under a shifted protocol or test prior, with ``protocol``
    naming both (e.g. ``iid, test_prior balanced``)."""
    protocol, prior = _option(summary, "protocol"), _option(summary, "test_prior")
    shifted = ~protocol.isin(UNSHIFTED) | ~prior.isin(UNSHIFTED_PRIORS)
    named = protocol + np.where(prior.isin(UNSHIFTED_PRIORS), "", ", test_prior " + prior)
    return summary[shifted].assign(protocol=named[shifted])


def _mean_std(runs: pd.DataFrame, columns: dict[str, pd.Series]) -> dict:
    out = {"n": len(runs)}
    for name, values in columns.items():
        out[f"{name}_mean"], out[f"{name}_std"] = values.mean(), values.std(ddof=1)
    return out


def shift_gap(experiment: Experiment, fields: list[str]) -> pd.DataFrame:
    """Return per (dataset, protocol, variant): val, in-distribution and shifted test UAR, their gaps and
    worst-group accuracy over each of ``fields`` and class × it, on both sides (``<name>_mean``/``_std`` over
    runs, ``n`` runs)."""
    runs, rows = shifted_runs(experiment.summary), []
    worst = [worst_group_metric(g) for f in fields for g in (f"class*{f}", f) if worst_group_metric(g) in runs]
    for (dataset, protocol, variant), group in runs.groupby(["dataset", "protocol", "variant"], sort=False):
        has_id = "id_test_uar" in group and group["id_test_uar"].notna().all()
        columns = {"val_uar": group["val_uar"]}
        if has_id:
            columns["id_test_uar"] = group["id_test_uar"]
        columns.update(test_uar=group["test_uar"], val_minus_test_uar=group["val_uar"] - group["test_uar"])
        if has_id:
            columns["id_minus_test_uar"] = group["id_test_uar"] - group["test_uar"]
        for metric in worst:
            if has_id and f"id_{metric}" in group:
                columns[f"id_{metric}"] = group[f"id_{metric}"]
            columns[metric] = group[metric]
        rows.append({"dataset": dataset, "protocol": protocol, "variant": variant, **_mean_std(group, columns)})
    return pd.DataFrame(rows)


def _value_fields(predictions: pd.DataFrame, fields: list[str]) -> list[str]:
    return [f for f in fields if f in predictions and predictions[f].nunique() <= MAX_VALUES]


def group_recall(predictions: pd.DataFrame, fields: list[str], num_classes: int) -> pd.DataFrame:
    """Return per (dataset, variant, field, value): test UAR and accuracy within the value, mean and std over
    runs (``n`` runs, ``clips`` test clips per run on average)."""
    rows = []
    for field in _value_fields(predictions, fields):
        for (dataset, variant, value, run_id), clips in predictions.groupby(
            ["dataset", "variant", field, "run_id"], sort=True
        ):
            y, p = clips["label"].to_numpy(), clips["pred"].to_numpy()
            rows.append(
                {
                    "dataset": dataset,
                    "variant": variant,
                    "field": field,
                    "value": value,
                    "run_id": run_id,
                    "uar": uar(y, p, num_classes),
                    "accuracy": float(np.mean(y == p)),
                    "clips": len(y),
                }
            )
    per_run = pd.DataFrame(rows, columns=["dataset", "variant", "field", "value", "run_id", "uar", "accuracy", "clips"])
    return (
        per_run.groupby(["dataset", "variant", "field", "value"], sort=False)
        .agg(
            n=("run_id", "size"),
            clips=("clips", "mean"),
            uar_mean=("uar", "mean"),
            uar_std=("uar", "std"),
            accuracy_mean=("accuracy", "mean"),
            accuracy_std=("accuracy", "std"),
        )
        .reset_index()
    )


def held_out(experiment: Experiment, predictions: pd.DataFrame, field: str = "source") -> pd.DataFrame:
    """Return, for ``leave_source_out`` runs, test UAR and WAR per (dataset, variant, held-out ``field``
    value): mean and std over the runs (seeds) that held it out."""
    runs = shifted_runs(experiment.summary)
    runs = runs[runs["protocol"] == "leave_source_out"]
    if runs.empty or field not in predictions:
        return pd.DataFrame()
    held = predictions.groupby("run_id")[field].agg(lambda v: ";".join(sorted(set(v)))).rename("held_out")
    runs = runs.merge(held, left_on="run_id", right_index=True)
    rows = [
        {
            "dataset": dataset,
            "variant": variant,
            "held_out": value,
            **_mean_std(group, {"test_uar": group["test_uar"], "test_war": group["test_war"]}),
        }
        for (dataset, variant, value), group in runs.groupby(["dataset", "variant", "held_out"], sort=False)
    ]
    return pd.DataFrame(rows)


def cell_accuracy(predictions: pd.DataFrame, fields: list[str], classes: list[str]) -> pd.DataFrame:
    """Return test accuracy per (dataset, variant, field, class, value) cell pooled over runs (``n`` clips)."""
    frames = []
    cells = predictions.assign(
        correct=predictions["label"] == predictions["pred"],
        cls=np.asarray(classes, dtype=object)[predictions["label"].to_numpy(int)],
    )
    for field in _value_fields(predictions, fields):
        frames.append(
            cells.groupby(["dataset", "variant", "cls", field], sort=False)["correct"]
            .agg(n="size", accuracy="mean")
            .reset_index()
            .rename(columns={"cls": "class", field: "value"})
            .assign(field=field)
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def shift_frames(experiment: Experiment) -> dict[str, pd.DataFrame]:
    """Return the shift tables that apply to the sweep (none when no run is of a shifted protocol)."""
    runs = shifted_runs(experiment.summary)
    if runs.empty:
        return {}
    fields = list(experiment.group_fields)
    predictions = plot_data.test_predictions(experiment, runs, fields)
    frames = {
        "shift_gap": shift_gap(experiment, _value_fields(predictions, fields)),
        "group_recall": group_recall(predictions, fields, len(experiment.classes)),
        "held_out": held_out(experiment, predictions),
        "cell_accuracy": cell_accuracy(predictions, fields, experiment.classes),
    }
    return {name: frame for name, frame in frames.items() if len(frame)}
