"""Selection rules: one list of rule names (the schema's), each with the metric it maximises."""

from typing import get_args

import pytest

from hdfbench.config import SelectionSpec
from hdfbench.training import selection


def test_every_rule_the_schema_accepts_has_a_metric_and_no_other():
    assert set(get_args(selection.SelectionRule)) == set(selection.SELECTION_METRIC)
    for rule in selection.SELECTION_METRIC:
        assert SelectionSpec(rule=rule).rule == rule


@pytest.mark.parametrize(
    "rule, records, expected",
    [
        ("best_val_uar", [{"epoch": 0, "val_uar": 0.5}, {"epoch": 1, "val_uar": 0.5}], 0),  # ties keep the earlier
        ("best_val_war", [{"epoch": 0, "val_war": 0.4}, {"epoch": 1, "val_war": 0.6}], 1),
        ("last_epoch", [{"epoch": 0}, {"epoch": 1}, {"epoch": 2}], 2),
    ],
)
def test_the_selected_epoch(rule, records, expected):
    best_score, best_epoch = None, None
    for record in records:
        if selection.improves(rule, record, best_score):
            best_score, best_epoch = selection.score(rule, record), record["epoch"]
    assert best_epoch == expected
