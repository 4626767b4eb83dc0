"""Model selection rules: which epoch's weights a run keeps, judged on inner validation only.

The best-on-test numbers (``oracle_metrics``) are reported beside the selection when asked for, never used by it.
"""

from __future__ import annotations

import math

from hdfbench.selection_rules import SELECTION_METRIC, SelectionRule


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


# --- the best-on-test "oracle" (selection.report_oracle): reported beside the selection, never part of it ----

#: How the report labels the oracle numbers.
ORACLE_LABEL = (
    "selected on test (as most published DFER code does; the official HDF code even takes the best WAR and "
    "the best UAR each at its own epoch)"
)
#: Per-epoch record key → the test metric it holds (recorded only under ``selection.report_oracle``). The
#: ``oracle/`` prefix keeps them apart from every ``val_*`` key that ``SELECTION_METRIC`` names.
ORACLE_RECORD_KEYS = {"oracle/test_uar": "test_uar", "oracle/test_war": "test_war"}
#: The summary columns ``oracle_metrics`` returns: the best test value of each metric and its epoch.
ORACLE_COLUMNS = ("oracle_test_uar", "oracle_test_uar_epoch", "oracle_test_war", "oracle_test_war_epoch")


def oracle_record(test_metrics: dict) -> dict[str, float]:
    """Return the per-epoch oracle keys (``ORACLE_RECORD_KEYS``) from one epoch's test metrics (keys
    ``test_uar``, ``test_war`` as ``evaluate_predictions(..., prefix="test_")`` gives them)."""
    return {key: float(test_metrics[metric]) for key, metric in ORACLE_RECORD_KEYS.items()}


def oracle_metrics(records: list[dict], selected_epoch: int | None = None) -> dict[str, float]:
    """Return the best-on-test numbers of a run's epoch records: ``oracle_test_uar`` (the highest test UAR
    of any epoch) with ``oracle_test_uar_epoch``, and ``oracle_test_war`` with its own epoch
    ``oracle_test_war_epoch``, each maximised separately, as the official HDF code does (ties: the earlier
    epoch). Only the epochs of the selected epoch's stage count (a JTT run's first stage trains another
    model). Empty when any of those epochs lacks the oracle keys (the run did not record them)."""
    if selected_epoch is not None:
        stage = next((r.get("stage") for r in records if r["epoch"] == selected_epoch), None)
        records = [r for r in records if r.get("stage") == stage]
    if not records or any(key not in r for r in records for key in ORACLE_RECORD_KEYS):
        return {}
    out: dict[str, float] = {}
    for key, metric in ORACLE_RECORD_KEYS.items():
        values = [float(r[key]) for r in records]
        finite = [i for i, v in enumerate(values) if not math.isnan(v)]
        if not finite:
            out.update({f"oracle_{metric}": float("nan"), f"oracle_{metric}_epoch": float("nan")})
            continue
        best = max(finite, key=lambda i: (values[i], -i))
        out.update({f"oracle_{metric}": values[best], f"oracle_{metric}_epoch": int(records[best]["epoch"])})
    return out
