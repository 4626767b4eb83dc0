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


# --- the best-on-test numbers (selection.report_oracle): reported, never selected on ---------------------------


def _records(uar, war, stages=None):
    out = [
        {"epoch": e, "val_uar": 0.1 * e, "oracle/test_uar": u, "oracle/test_war": w}
        for e, (u, w) in enumerate(zip(uar, war, strict=True))
    ]
    for record, stage in zip(out, stages or [], strict=False):
        record["stage"] = stage
    return out


def test_oracle_takes_the_best_uar_and_the_best_war_each_at_its_own_epoch():
    records = _records([0.30, 0.50, 0.45, 0.50], [0.60, 0.55, 0.70, 0.65])
    assert selection.oracle_metrics(records) == {
        "oracle_test_uar": 0.50,
        "oracle_test_uar_epoch": 1,  # ties keep the earlier epoch
        "oracle_test_war": 0.70,
        "oracle_test_war_epoch": 2,
    }
    assert set(selection.oracle_metrics(records)) == set(selection.ORACLE_COLUMNS)


def test_oracle_counts_only_the_selected_stage_and_needs_every_epoch():
    records = _records([0.9, 0.2, 0.4], [0.9, 0.3, 0.5], stages=[0, 1, 1])  # stage 0: JTT's identification model
    assert selection.oracle_metrics(records, selected_epoch=2)["oracle_test_uar"] == 0.4
    del records[1]["oracle/test_war"]  # an epoch trained without report_oracle (a resumed run)
    assert selection.oracle_metrics(records, selected_epoch=2) == {}


def test_oracle_keys_are_no_selection_metric():
    assert not set(selection.ORACLE_RECORD_KEYS) & {m for m in selection.SELECTION_METRIC.values() if m}
    assert "selected on test" in selection.ORACLE_LABEL and "each at its own epoch" in selection.ORACLE_LABEL


def test_report_oracle_keeps_default_run_ids_and_changes_the_id_when_on():
    from tests.training.test_trainer import spec

    base = spec()
    on = base.model_copy(update={"selection": SelectionSpec(report_oracle=True)})
    assert "report_oracle" not in base.identity()["selection"]
    assert base.run_id == spec().run_id and on.run_id != base.run_id


def test_report_oracle_never_changes_the_selected_epoch(tmp_path):
    import pandas as pd

    from hdfbench.training.results import summary_row
    from hdfbench.training.rundir import RunDir
    from hdfbench.training.trainer import train
    from tests.training.test_trainer import spec

    plain, oracle = RunDir(tmp_path / "plain"), RunDir(tmp_path / "oracle")
    train(spec(epochs=4), plain)
    with_oracle = spec(epochs=4).model_copy(update={"selection": SelectionSpec(report_oracle=True)})
    train(with_oracle, oracle)
    assert oracle.read_done()["selected_epoch"] == plain.read_done()["selected_epoch"]
    pd.testing.assert_frame_equal(oracle.read_predictions(), plain.read_predictions())
    for a, b in zip(plain.read_metrics(), oracle.read_metrics(), strict=True):
        assert {
            k: v for k, v in b.items() if k not in selection.ORACLE_RECORD_KEYS and "time" not in k and "per_s" not in k
        } == {k: v for k, v in a.items() if "time" not in k and "per_s" not in k}
    row = summary_row(oracle)
    test_uar = [r["oracle/test_uar"] for r in oracle.read_metrics()]
    assert row["oracle_test_uar"] == max(test_uar) and row["oracle_test_uar_epoch"] == test_uar.index(max(test_uar))
    selected = row["selected_epoch"]  # the per-epoch test pass is the final one at the selected epoch
    assert test_uar[selected] == pytest.approx(row["test_uar"], abs=1e-12) and row["oracle_test_uar"] >= row["test_uar"]
    assert "oracle_test_uar" not in summary_row(plain)
