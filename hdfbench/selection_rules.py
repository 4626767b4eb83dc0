"""The names of the model-selection rules and the validation metric each maximises: below the config schema
(``selection.rule`` is typed by them) and the trainer (``training/selection.py`` applies them)."""

from __future__ import annotations

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
