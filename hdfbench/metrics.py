"""Classification metrics as pure functions of labels and predictions.

WAR (weighted average recall) is plain accuracy; UAR (unweighted average recall) is the mean
per-class recall over the classes present in ``y_true``; absent classes have recall NaN and are
listed by ``absent_classes``. Group metrics follow WILDS: accuracy per group (``data.groups.Grouper``:
a metadata field's values, or class × value), and the worst group among the non-empty ones.
Probability calibration (``probability_calibration``: top-label ECE over 15 equal-width bins, NLL, Brier) is
measured on the softmax of the saved logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hdfbench.data.groups import Grouper


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

    y, p = predictions["label"].to_numpy(), predictions["pred"].to_numpy()
    out = {}
    for definition in (d for field in fields for d in (field, f"class*{field}")):
        groups = Grouper.for_tables(definition, classes, [predictions]).table_names(predictions)
        out[worst_group_metric(definition)] = worst_group_accuracy(y, p, groups)[1]
    return out


# --- probability calibration (of the softmax of the saved logits) -------------------------------------------
# Not to be confused with ``hdfbench.analysis.calibration``, which calibrates the report's statistical tests
# (their type-I error); these functions measure how well a run's predicted probabilities match its accuracy.

#: Equal-width confidence bins of the expected calibration error and the reliability diagram.
CALIBRATION_BINS = 15
#: The probability-calibration metrics ``probability_calibration`` returns (lower is better for each).
CALIBRATION_METRICS = ("ece", "nll", "brier")


def logit_matrix(predictions: pd.DataFrame) -> np.ndarray | None:
    """Return the logits (N, C) in float64 from the columns ``logit_0`` … ``logit_<C-1>`` of a predictions
    table, or None when it has none."""
    names = [c for c in predictions.columns if str(c).startswith("logit_")]
    if not names:
        return None
    names.sort(key=lambda c: int(str(c).removeprefix("logit_")))
    return predictions[names].to_numpy(dtype=np.float64)


def softmax(logits) -> np.ndarray:
    """Return the row-wise softmax probabilities (N, C) of ``logits`` in float64 (max-shifted, so stable)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _probabilities_and_labels(probabilities, labels) -> tuple[np.ndarray, np.ndarray]:
    p, y = np.asarray(probabilities, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    if p.ndim != 2 or y.shape != (len(p),):
        raise ValueError(f"probabilities must be (N, C) and labels (N,), got {p.shape} and {y.shape}")
    return p, y


def top_label(probabilities, labels) -> tuple[np.ndarray, np.ndarray]:
    """Return (confidence, correct) per clip: the highest probability and whether its class is the label."""
    p, y = _probabilities_and_labels(probabilities, labels)
    if not len(y):
        return np.zeros(0), np.zeros(0, dtype=bool)
    return p.max(axis=1), p.argmax(axis=1) == y


def confidence_bins(confidence, correct, n_bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Return the reliability table of top-label ``confidence`` and ``correct`` per clip: one row per
    equal-width bin ``k`` of ``n_bins`` with ``bin``, ``lower``, ``upper``, ``n`` (clips), ``confidence``
    (their mean confidence) and ``accuracy`` (the fraction correct); NaN for an empty bin.

    Bin ``k`` holds confidences in [k/n, (k+1)/n); the last bin is closed at 1. (torchmetrics'
    ``MulticlassCalibrationError`` gives a confidence of exactly 1.0 a bin of its own; below 1.0 the two
    binnings are the same.)
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.searchsorted(edges, confidence, side="right") - 1, 0, n_bins - 1)
    n = np.bincount(index, minlength=n_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(index, weights=confidence, minlength=n_bins) / n
        accuracy = np.bincount(index, weights=correct, minlength=n_bins) / n
    return pd.DataFrame(
        {
            "bin": np.arange(n_bins),
            "lower": edges[:-1],
            "upper": edges[1:],
            "n": n.astype(np.int64),
            "confidence": mean_confidence,
            "accuracy": accuracy,
        }
    )


def reliability_bins(probabilities, labels, n_bins: int = CALIBRATION_BINS) -> pd.DataFrame:
    """Return the top-label reliability table (``confidence_bins``) of class probabilities (N, C) and labels."""
    return confidence_bins(*top_label(probabilities, labels), n_bins)


def binned_calibration_error(bins: pd.DataFrame) -> float:
    """Return Σ_k (n_k / N) · |accuracy_k − confidence_k| of a reliability table (NaN when it holds no clip)."""
    total = bins["n"].sum()
    if total == 0:
        return float("nan")
    full = bins[bins["n"] > 0]
    return float((full["n"] / total * (full["accuracy"] - full["confidence"]).abs()).sum())


def expected_calibration_error(probabilities, labels, n_bins: int = CALIBRATION_BINS) -> float:
    """Return the top-label ECE: Σ_k (n_k / N) · |accuracy_k − confidence_k| over ``reliability_bins``
    (a fraction in [0, 1]); NaN for no clip."""
    return binned_calibration_error(reliability_bins(probabilities, labels, n_bins))


def negative_log_likelihood(logits, labels) -> float:
    """Return the mean negative log-likelihood −log softmax(logits)[label] (nats, from the logits through a
    log-sum-exp, so no probability underflows to log 0); NaN for no clip."""
    z = np.asarray(logits, dtype=np.float64)
    z, y = _probabilities_and_labels(z, labels)
    if not len(y):
        return float("nan")
    shift = z.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z - shift).sum(axis=1)) + shift[:, 0]
    return float(np.mean(log_norm - z[np.arange(len(y)), y]))


def brier_score(probabilities, labels) -> float:
    """Return the multi-class Brier score: the mean over clips of Σ_c (p_c − 1[c = label])² (Brier 1950; in
    [0, 2], not divided by the number of classes); NaN for no clip."""
    p, y = _probabilities_and_labels(probabilities, labels)
    if not len(y):
        return float("nan")
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    return float(np.mean(((p - onehot) ** 2).sum(axis=1)))


def probability_calibration(
    predictions: pd.DataFrame, n_bins: int = CALIBRATION_BINS, prefix: str = ""
) -> dict[str, float]:
    """Return the calibration of one split's predictions (columns ``label`` and ``logit_<k>``): ``ece``
    (top-label, ``n_bins`` equal-width bins), ``nll`` and ``brier``, all of the softmax of the saved logits
    (as ``prefix`` + name); NaN for each when the table has no logits or no rows."""
    logits = logit_matrix(predictions)
    if logits is None or not len(logits):
        return {f"{prefix}{name}": float("nan") for name in CALIBRATION_METRICS}
    labels = predictions["label"].to_numpy()
    probabilities = softmax(logits)
    return {
        f"{prefix}ece": expected_calibration_error(probabilities, labels, n_bins),
        f"{prefix}nll": negative_log_likelihood(logits, labels),
        f"{prefix}brier": brier_score(probabilities, labels),
    }
