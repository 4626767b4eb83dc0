"""Reading results directories: partial sweeps, incremental summary refresh, split sizes."""

import json
import os
import time

import pandas as pd
import pytest

from hdfbench.analysis.load import ResultsError, load_experiment
from hdfbench.testing.fake_results import FakeSpec, make_results


def test_partial_sweep_reports_missing_runs(tmp_path):
    missing = ("fakeset-f2-s0-same-00000000", "fakeset-f1-s1-erm-00000000")
    experiment = load_experiment(make_results(tmp_path, FakeSpec(folds=(1, 2), seeds=(0, 1), missing=missing)))
    assert sorted(experiment.missing) == sorted(missing)
    assert len(experiment.summary) == 2 * 2 * 3 - 2
    assert experiment.refreshed == 0  # summary.csv was current


def test_summary_refresh_recomputes_only_stale_rows(tmp_path):
    path = make_results(tmp_path, FakeSpec(folds=(1,), seeds=(0, 1)))
    stale = "fakeset-f1-s0-better-00000000"
    summary = pd.read_csv(path / "summary.csv")
    summary = summary[summary["run_id"] != "fakeset-f1-s1-erm-00000000"]  # a run missing from summary.csv
    summary.loc[summary["run_id"] == stale, "test_uar"] = -1.0  # a stale row ...
    summary.to_csv(path / "summary.csv", index=False)
    earlier = time.time() - 60
    os.utime(path / "summary.csv", (earlier, earlier))
    for run in (path / "runs").iterdir():
        if run.name != stale:
            os.utime(run / "done", (earlier - 1, earlier - 1))  # ... only that run finished after the summary
    experiment = load_experiment(path)
    assert experiment.refreshed == 2 and len(experiment.summary) == 6
    row = experiment.summary.set_index("run_id").loc[stale]
    assert 0 < row["test_uar"] <= 1
    assert len(pd.read_csv(path / "summary.csv")) == 6  # written back
    assert load_experiment(path).refreshed == 0


def test_splits_give_the_nb_ratio_of_the_partition(tmp_path):
    experiment = load_experiment(make_results(tmp_path, FakeSpec(folds=(1, 2), seeds=(0,))))
    # 500 test clips against 2000 training + 200 inner-validation clips: the partition before the carve-out
    assert experiment.splits["test_train_ratio"].tolist() == [500 / 2200, 500 / 2200]
    assert experiment.design_ratio("fakeset", [1, 2]) == pytest.approx(500 / 2200)
    assert experiment.classes[0] == "Happy" and experiment.group_fields == ["source", "subject"]


def test_runs_without_sizes_get_the_design_ratio_not_a_guess(tmp_path):
    path = make_results(tmp_path, FakeSpec(folds=(1, 2, 3), seeds=(0,)))
    for config in (path / "runs").glob("*/config.json"):
        data = json.loads(config.read_text())
        del data["n_train"], data["n_val"]
        config.write_text(json.dumps(data))
    experiment = load_experiment(path)
    # the sweep's config lists 3 folds of an unregistered dataset: a 3-fold partition, ratio 1/2
    assert experiment.splits["test_train_ratio"].tolist() == [0.5] * 3
    assert set(experiment.splits["ratio_source"]) == {"3-fold design: 1/2"}
    assert experiment.partition_folds("synthetic") == 5  # a registered dataset: its own partition


def test_not_a_results_directory(tmp_path):
    with pytest.raises(ResultsError, match="no runs/ inside"):
        load_experiment(tmp_path)


def test_variants_follow_the_config_labels_once_each(tmp_path):
    """Two entries of one strategy (plain and class-balanced) are two variants, each listed once."""
    spec = FakeSpec(
        folds=(1,),
        seeds=(0,),
        variants={"hdf": ("hdf", 0.0), "erm": ("erm", 0.0), "erm+balanced_sampling": ("erm", 0.0)},
        strategy_fields={"erm": {"variant": None}, "erm+balanced_sampling": {"variant": None, "balance": "sample"}},
    )
    experiment = load_experiment(make_results(tmp_path, spec))
    assert experiment.variants == ["hdf", "erm", "erm+balanced_sampling"]
    assert [e.label for e in experiment.strategy_entries()] == ["hdf", "erm", "erm+balanced_sampling"]
