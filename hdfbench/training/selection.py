"""Model selection rules: which epoch's weights a run keeps, judged on inner validation only."""

from __future__ import annotations

import math
from typing import Literal

#: The selection rules (``selection.rule``); ``SELECTION_METRIC`` says what each maximises.
SelectionRule = Literal[
    "best_val_uar", "best_val_war", "best_val_worst_class_recall", "best_val_worst_group", "last_epoch"
]

#: rule → the validation metric it maximises (None: keep the last epoch).
SELECTION_METRIC: dict[SelectionRule, str | None] = {
    "best_val_uar": "val_uar",
    "best_val_war": "val_war",
    "best_val_worst_class_recall": "val_worst_class_recall",
    "best_val_worst_group": "val_worst_group_acc",
    "last_epoch": None,
}


def improves(rule: SelectionRule, record: dict, best_score: float | None) -> bool:
    """Return whether the epoch ``record`` beats ``best_score`` under ``rule`` (ties keep the earlier)."""
    metric = SELECTION_METRIC[rule]
    if metric is None or best_score is None:
        return True
    return record[metric] > best_score


def score(rule: SelectionRule, record: dict) -> float:
    """Return the value ``rule`` ranks epochs by (the epoch index for ``last_epoch``)."""
    metric = SELECTION_METRIC[rule]
    return float(record["epoch"]) if metric is None else float(record[metric])


def objective(rule: SelectionRule, records: list[dict]) -> float:
    """Return the validation score of the epoch ``rule`` selects among ``records`` (search objective).

    For ``last_epoch`` that is the last epoch's validation UAR.
    """
    metric = SELECTION_METRIC[rule]
    if metric is None:
        return float(records[-1]["val_uar"])
    scores = [float(r[metric]) for r in records if not math.isnan(float(r[metric]))]
    return max(scores) if scores else float("nan")
