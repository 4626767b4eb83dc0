"""Metrics against hand-computed values."""

import math

import numpy as np
import pandas as pd
import pytest

from hdfbench import metrics

# 3 classes; class 0: 3 clips (2 right), class 1: 2 clips (0 right), class 2: 1 clip (1 right)
Y = [0, 0, 0, 1, 1, 2]
P = [0, 0, 1, 0, 2, 2]


def test_war_is_accuracy():
    assert metrics.war(Y, P) == pytest.approx(3 / 6)


def test_per_class_recall_and_uar():
    assert metrics.per_class_recall(Y, P, 3) == pytest.approx([2 / 3, 0.0, 1.0])
    assert metrics.uar(Y, P, 3) == pytest.approx((2 / 3 + 0 + 1) / 3)
    assert metrics.worst_class_recall(Y, P, 3) == 0.0


def test_absent_classes_are_excluded_and_reported():
    # 4 classes declared; class 3 has no clip in y_true (it is predicted once, wrongly)
    y, p = [0, 0, 1, 2], [0, 3, 1, 1]
    recalls = metrics.per_class_recall(y, p, 4)
    assert recalls[:3] == pytest.approx([0.5, 1.0, 0.0]) and math.isnan(recalls[3])
    assert metrics.uar(y, p, 4) == pytest.approx(0.5)
    assert metrics.absent_classes(y, 4) == [3]
    assert metrics.worst_class_recall(y, p, 4) == 0.0


def test_confusion_counts_and_normalised():
    c = metrics.confusion(Y, P, 3)
    assert c.tolist() == [[2, 1, 0], [1, 0, 1], [0, 0, 1]]
    n = metrics.confusion(Y, P, 3, normalize=True)
    assert n[0].tolist() == pytest.approx([2 / 3, 1 / 3, 0])


def test_group_accuracy_and_worst_group():
    groups = ["a", "a", "b", "b", "b", "c"]
    table = metrics.group_accuracy(Y, P, groups)
    assert table["group"].tolist() == ["a", "b", "c"]
    assert table["n"].tolist() == [2, 3, 1]
    assert table["accuracy"].tolist() == pytest.approx([1.0, 0.0, 1.0])
    assert metrics.worst_group_accuracy(Y, P, groups) == ("b", 0.0)


def test_mismatched_lengths_raise():
    with pytest.raises(ValueError, match="equal length"):
        metrics.war([0, 1], [0])


def test_evaluate_predictions_keys():
    frame = pd.DataFrame({"label": Y, "pred": P, "source": ["x", "x", "y", "y", "y", "y"]})
    out = metrics.evaluate_predictions(frame, ["A", "B", "C"], ["source"], prefix="test_")
    assert out["test_war"] == pytest.approx(0.5)
    assert out["test_recall_B"] == 0.0
    assert out["test_worst_group_acc_source"] == pytest.approx(0.25)
    assert out["test_n"] == 6 and out["test_absent_classes"] == ""
    assert np.isfinite(out["test_uar"])


def test_worst_group_over_class_and_field_by_brute_force():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"label": rng.integers(0, 3, 300), "pred": rng.integers(0, 3, 300), "source": rng.choice(["a", "b"], 300)}
    )
    out = metrics.evaluate_predictions(frame, ["x", "y", "z"], ["source"])
    accuracies = [((g["label"] == g["pred"]).mean()) for _, g in frame.groupby(["label", "source"])]
    assert out["worst_group_acc_class_x_source"] == pytest.approx(min(accuracies))
    assert out["worst_group_acc"] == out["worst_group_acc_class_x_source"]
    assert out["worst_group_acc_source"] == pytest.approx(
        min((g["label"] == g["pred"]).mean() for _, g in frame.groupby("source"))
    )


def test_worst_group_metrics_by_plain_loops():
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "label": rng.integers(0, 3, 200),
            "pred": rng.integers(0, 3, 200),
            "source": rng.choice(["a", "b", "c"], 200),
            "subject": rng.integers(0, 5, 200),
        }
    )
    frame["pred"] = np.where(rng.random(200) < 0.7, frame["label"], frame["pred"])
    out = metrics.worst_group_metrics(frame, ["x", "y", "z"], ["source", "subject"])
    assert list(out) == [
        "worst_group_acc_source",
        "worst_group_acc_class_x_source",
        "worst_group_acc_subject",
        "worst_group_acc_class_x_subject",
    ]
    for field in ("source", "subject"):
        for key, by_class in ((f"worst_group_acc_{field}", False), (f"worst_group_acc_class_x_{field}", True)):
            hits: dict = {}
            for y, p, v in zip(frame["label"], frame["pred"], frame[field]):
                group = (y, str(v)) if by_class else str(v)
                right, n = hits.get(group, (0, 0))
                hits[group] = (right + (y == p), n + 1)
            assert out[key] == pytest.approx(min(right / n for right, n in hits.values()))


# --- probability calibration, against torchmetrics and torch (independent implementations) ------------------


def _sharp_logits(n: int, k: int = 7, scale: float = 3.0, seed: int = 0):
    """Logits of a classifier right about half the time, confident to various degrees."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k)) * scale
    labels = rng.integers(0, k, n)
    logits[np.arange(n // 2), labels[: n // 2]] += scale
    return logits, labels


@pytest.mark.parametrize("scale, seed", [(0.5, 0), (3.0, 1), (6.0, 2)])
def test_ece_equals_torchmetrics_multiclass_calibration_error(scale, seed):
    torch = pytest.importorskip("torch")
    from torchmetrics.classification import MulticlassCalibrationError
    from torchmetrics.functional.classification.calibration_error import _ce_compute

    logits, labels = _sharp_logits(2000, scale=scale, seed=seed)
    ours = metrics.expected_calibration_error(metrics.softmax(logits), labels, n_bins=15)
    metric = MulticlassCalibrationError(num_classes=7, n_bins=15, norm="l1")
    theirs = metric(torch.tensor(logits), torch.tensor(labels)).item()  # torchmetrics bins in float32
    assert abs(ours - theirs) < 1e-6
    confidence, correct = metrics.top_label(metrics.softmax(logits), labels)
    exact = _ce_compute(torch.tensor(confidence), torch.tensor(correct, dtype=torch.float64), 15, norm="l1").item()
    assert abs(ours - exact) < 1e-12  # the same binning in float64


def test_nll_equals_torch_cross_entropy_and_brier_the_direct_sum():
    torch = pytest.importorskip("torch")
    logits, labels = _sharp_logits(1500, scale=8.0)  # saturated softmax: the NLL must come from the logits
    z, y = torch.tensor(logits), torch.tensor(labels)
    assert abs(metrics.negative_log_likelihood(logits, labels) - torch.nn.functional.cross_entropy(z, y).item()) < 1e-9
    onehot = torch.nn.functional.one_hot(y, 7).double()
    brier = ((torch.softmax(z, dim=1) - onehot) ** 2).sum(dim=1).mean().item()
    assert abs(metrics.brier_score(metrics.softmax(logits), labels) - brier) < 1e-12


def test_reliability_bins_by_hand():
    # confidences 0.95 (right), 0.95 (wrong), 0.5 (right), 1.0 (right: the last bin is closed at 1)
    probabilities = np.array([[0.95, 0.05], [0.95, 0.05], [0.5, 0.5], [1.0, 0.0]])
    labels = np.array([0, 1, 0, 0])
    bins = metrics.reliability_bins(probabilities, labels, n_bins=10)
    assert bins["n"].tolist() == [0, 0, 0, 0, 0, 1, 0, 0, 0, 3]
    assert bins.loc[9, "confidence"] == pytest.approx((0.95 + 0.95 + 1.0) / 3)
    assert bins.loc[9, "accuracy"] == pytest.approx(2 / 3)
    expected = 3 / 4 * abs(2 / 3 - 2.9 / 3) + 1 / 4 * abs(1 - 0.5)
    assert metrics.expected_calibration_error(probabilities, labels, n_bins=10) == pytest.approx(expected)
    assert metrics.brier_score(probabilities, labels) == pytest.approx(
        (0.05**2 * 2 + (0.95**2 + 0.95**2) + 0.5**2 * 2 + 0) / 4
    )


def test_probability_calibration_of_a_predictions_table():
    logits, labels = _sharp_logits(300)
    frame = pd.DataFrame({"label": labels, **{f"logit_{k}": logits[:, k] for k in range(7)}})
    frame = frame[["label", *[f"logit_{k}" for k in (3, 0, 1, 2, 6, 4, 5)]]]  # column order does not matter
    out = metrics.probability_calibration(frame, prefix="test_")
    p = metrics.softmax(logits)
    assert out == pytest.approx(
        {
            "test_ece": metrics.expected_calibration_error(p, labels),
            "test_nll": metrics.negative_log_likelihood(logits, labels),
            "test_brier": metrics.brier_score(p, labels),
        }
    )
    missing = metrics.probability_calibration(pd.DataFrame({"label": [0, 1]}))
    assert set(missing) == {"ece", "nll", "brier"} and all(math.isnan(v) for v in missing.values())
