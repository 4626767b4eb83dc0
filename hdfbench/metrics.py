"""Classification metrics as pure functions of labels and predictions.

WAR (weighted average recall) is plain accuracy; UAR (unweighted average recall) is the mean
per-class recall over the classes present in ``y_true``; absent classes have recall NaN and are
listed by ``absent_classes``. Group metrics follow WILDS: accuracy per group (``data.groups.Grouper``:
a metadata field's values, or class × value), and the worst group among the non-empty ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def _arrays(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-d of equal length, got {y_true.shape} and {y_pred.shape}")
    return y_true, y_pred


def war(y_true, y_pred) -> float:
    """Return the weighted average recall (= accuracy); NaN for empty input."""
    y_true, y_pred = _arrays(y_true, y_pred)
    return float(np.mean(y_true == y_pred)) if len(y_true) else float("nan")


def per_class_recall(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Return the recall of each class 0..num_classes-1 (NaN for classes absent from y_true)."""
    y_true, y_pred = _arrays(y_true, y_pred)
    support = np.bincount(y_true, minlength=num_classes)[:num_classes]
    hits = np.bincount(y_true[y_true == y_pred], minlength=num_classes)[:num_classes]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(support > 0, hits / np.maximum(support, 1), np.nan)


def absent_classes(y_true, num_classes: int) -> list[int]:
    """Return the class indices with no clip in ``y_true`` (excluded from UAR and worst class)."""
    support = np.bincount(np.asarray(y_true, dtype=int), minlength=num_classes)
    return [c for c in range(num_classes) if support[c] == 0]


def uar(y_true, y_pred, num_classes: int) -> float:
    """Return the unweighted average recall over the classes present in ``y_true``."""
    recalls = per_class_recall(y_true, y_pred, num_classes)
    return float(np.nanmean(recalls)) if np.isfinite(recalls).any() else float("nan")


def worst_class_recall(y_true, y_pred, num_classes: int) -> float:
    """Return the lowest recall among the classes present in ``y_true``."""
    recalls = per_class_recall(y_true, y_pred, num_classes)
    return float(np.nanmin(recalls)) if np.isfinite(recalls).any() else float("nan")


def confusion(y_true, y_pred, num_classes: int, normalize: bool = False) -> np.ndarray:
    """Return the confusion matrix C[true, pred] (counts, or rows normalised to sum to 1)."""
    y_true, y_pred = _arrays(y_true, y_pred)
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    if not normalize:
        return matrix
    with np.errstate(invalid="ignore", divide="ignore"):
        return matrix / matrix.sum(axis=1, keepdims=True)


def group_accuracy(y_true, y_pred, groups: Sequence | np.ndarray) -> pd.DataFrame:
    """Return one row per group value: ``group``, ``n`` and ``accuracy``, sorted by group."""
    y_true, y_pred = _arrays(y_true, y_pred)
    frame = pd.DataFrame({"group": np.asarray(groups), "correct": y_true == y_pred})
    out = frame.groupby("group", sort=True)["correct"].agg(n="size", accuracy="mean").reset_index()
    return out.astype({"n": int, "accuracy": float})


def worst_group_accuracy(y_true, y_pred, groups: Sequence | np.ndarray) -> tuple[object, float]:
    """Return (group, accuracy) of the non-empty group with the lowest accuracy."""
    table = group_accuracy(y_true, y_pred, groups)
    if table.empty:
        return None, float("nan")
    row = table.loc[table["accuracy"].idxmin()]
    return row["group"], float(row["accuracy"])


def worst_group_metric(definition: str) -> str:
    """Return the metric name of worst-group accuracy over groups ``definition`` (``class*source`` →
    ``worst_group_acc_class_x_source``: MLflow rejects '*' in metric names)."""
    return "worst_group_acc_" + definition.replace("*", "_x_")


def evaluate_predictions(
    predictions: pd.DataFrame, classes: Sequence[str], group_fields: Sequence[str] = (), prefix: str = ""
) -> dict[str, float | str]:
    """Return the standard metrics of one split's predictions (columns ``label``, ``pred``, fields).

    Keys: ``war``, ``uar``, ``worst_class_recall``, ``recall_<class>`` per class, ``absent_classes``
    (names joined by ';'), ``n``; per group field ``worst_group_acc_<field>`` (groups: the field's
    values) and ``worst_group_acc_class_x_<field>`` (groups: class × value, GroupDRO's ``class*<field>``); and
    ``worst_group_acc``, the class × first-field one (the selection rule ``best_val_worst_group``
    maximises it). All prefixed. Groups are those of the values ``predictions`` hold (a value unseen
    in training is a group of its own).
    """
    y, p, k = predictions["label"].to_numpy(), predictions["pred"].to_numpy(), len(classes)
    out: dict[str, float | str] = {
        "war": war(y, p),
        "uar": uar(y, p, k),
        "worst_class_recall": worst_class_recall(y, p, k),
        "n": int(len(y)),
        "absent_classes": ";".join(classes[c] for c in absent_classes(y, k)),
    }
    out.update({f"recall_{name}": float(r) for name, r in zip(classes, per_class_recall(y, p, k))})
    out.update(worst_group_metrics(predictions, classes, group_fields))
    if group_fields:
        out["worst_group_acc"] = out[worst_group_metric(f"class*{group_fields[0]}")]
    return {f"{prefix}{key}": value for key, value in out.items()}


def worst_group_metrics(predictions: pd.DataFrame, classes: Sequence[str], fields: Sequence[str]) -> dict[str, float]:
    """Return the worst-group accuracy of ``predictions`` (columns ``label``, ``pred``, ``fields``) over each
    field's values and over class × value, keyed by ``worst_group_metric`` (field, then class × field)."""
    from hdfbench.data.groups import Grouper  # the data package loads torch: not for the table-only callers

    y, p = predictions["label"].to_numpy(), predictions["pred"].to_numpy()
    out = {}
    for definition in (d for field in fields for d in (field, f"class*{field}")):
        groups = Grouper.for_tables(definition, classes, [predictions]).table_names(predictions)
        out[worst_group_metric(definition)] = worst_group_accuracy(y, p, groups)[1]
    return out
