"""The report on results with known effects: the better strategy is found, the equal one is not, the
minority-class drop shows, and a single split gets an interval instead of a test."""

import numpy as np
import pandas as pd
import pytest

from hdfbench.analysis import stats
from hdfbench.analysis.load import load_experiment
from hdfbench.analysis.pipeline import Options, compute
from hdfbench.testing.fake_results import FakeSpec, make_results
from tests.helpers import KNOWN


def rows(table, variant):
    return table[table["variant"] == variant].set_index("dataset")


def test_better_is_significant_and_probably_better_equal_is_neither(known_analysis):
    table = known_analysis.frames["statistics"]
    assert set(table["dataset"]) == {"d1", "d2"} and set(table["reference"]) == {"erm"}
    assert (table["test"] == stats.NB_T).all() and table["primary"].all() and (table["n"] == 5).all()
    better, same = rows(table, "better"), rows(table, "same")
    assert (better["estimate"] > 0.03).all() and (better["p_holm"] < 0.05).all() and better["significant"].all()
    assert (better["p_better"] > 0.95).all()
    assert not same["significant"].any()
    assert (same["p_rope"] > same[["p_worse", "p_better"]].max(axis=1)).all()  # equivalence is the likeliest


def test_minority_class_drop_shows_in_the_per_class_table(known_analysis):
    diff = known_analysis.frames["per_class_difference"]
    minority = diff[diff["variant"] == "minority"].set_index(["dataset", "class"])["difference_mean"]
    assert (minority.xs("Disgust", level="class") < -0.2).all()
    others = minority.drop("Disgust", level="class")
    assert others.abs().max() < 0.05


def test_one_holm_family_per_metric_and_the_nb_ratio_of_the_design(known_analysis):
    table = known_analysis.frames["comparisons"]
    assert len(table) == 6  # 3 variants × 2 datasets (no ablation family here)
    np.testing.assert_allclose(table["p_holm"], stats.holm(table["p"].to_numpy()))
    assert np.allclose(table["test_train_ratio"], 3000 / (10900 + 1090))  # before the inner-validation carve-out


def test_seeds_are_averaged_within_folds(known_analysis):
    table = known_analysis.frames["statistics"]
    summary = known_analysis.experiment.summary
    wide = summary.pivot_table(index=["dataset", "fold"], columns="variant", values="test_uar")
    expected = (wide["better"] - wide["erm"]).groupby("dataset").mean()
    np.testing.assert_allclose(rows(table, "better")["estimate"], expected[["d1", "d2"]])


def test_pairing_by_cell_is_descriptive(known_dir, tmp_path):
    analysis = compute(load_experiment(known_dir), Options(pair_by="cell", plots=False, mlflow=False), tmp_path)
    table = analysis.frames["statistics"]
    assert (table["n"] == 15).all() and not table["primary"].any()
    assert table["significant"].isna().all() and table["p_holm"].isna().all()
    assert "descriptive" in table["note"].iloc[0]


def test_main_table_counts_runs(known_analysis):
    main = known_analysis.frames["main_table"]
    assert list(main["variant"][:4]) == ["erm", "better", "same", "minority"]
    assert (main["n"] == 15).all() and (main["n_folds"] == 5).all() and (main["n_seeds"] == 3).all()


def test_ranks_are_descriptive_with_two_datasets(known_analysis):
    ranks = known_analysis.ranks
    assert ranks is not None and ranks.descriptive and ranks.cd is None and ranks.cliques == []
    assert ranks.omnibus.test == stats.IMAN_DAVENPORT
    assert "Descriptive only (N = 2 < 5 datasets): no critical difference" in known_analysis.captions["ranks"]


def test_a_single_fold_gets_the_two_level_bootstrap_and_no_test(tmp_path):
    spec = FakeSpec(
        experiment="one",
        datasets=("d1", "d2"),
        folds=(1,),
        seeds=(0, 1, 2),
        n_test=3000,
        n_train=10900,
        variants=KNOWN.variants,
    )
    analysis = compute(
        load_experiment(make_results(tmp_path, spec)), Options(plots=False, mlflow=False), tmp_path / "out"
    )
    table = analysis.frames["statistics"]
    assert (table["test"] == stats.TWO_LEVEL_BOOTSTRAP).all() and (table["design"] == "one split").all()
    assert table["p"].isna().all() and table["significant"].isna().all() and table["p_better"].isna().all()
    assert (table["n"] == 3).all() and (table["ci_low"] < table["estimate"]).all()
    assert (table["estimate"] < table["ci_high"]).all()
    better = rows(table, "better")
    assert (better["estimate"] > 0.02).all() and "conditional on fold 1" in better["interval"].iloc[0]
    assert "no test of generalisation" in analysis.captions["statistics"]

    two = FakeSpec(experiment="two", folds=(1,), seeds=(0, 1), n_test=500, variants=KNOWN.variants)
    table = compute(
        load_experiment(make_results(tmp_path, two)), Options(plots=False, mlflow=False), tmp_path / "out2"
    ).frames["statistics"]
    assert table["ci_low"].isna().all() and table["interval"].str.contains("run at least 3 seeds").all()


def test_ablation_rows_are_the_same_comparisons_as_elsewhere(tmp_path):
    spec = FakeSpec(
        experiment="abl",
        folds=(1, 2, 3, 4, 5),
        seeds=(0, 1),
        n_test=2000,
        n_train=7300,
        variants={
            "erm": ("erm", 0.0),
            "hdf_full": ("hdf", 0.05),
            "hdf_no_dsm": ("hdf", -0.05),
            "hdf_no_sam": ("hdf", 0.05),
        },
    )
    analysis = compute(
        load_experiment(make_results(tmp_path, spec)), Options(plots=False, mlflow=False), tmp_path / "out"
    )
    table = analysis.frames["ablation"].set_index("variant")
    assert set(table["full"]) == {"hdf_full"} and pd.isna(table.loc["hdf_full", "delta_p"])
    assert table.loc["hdf_no_dsm", "delta_estimate"] < -0.05 and table.loc["hdf_no_dsm", "delta_significant"]
    assert (
        table.loc["hdf_no_dsm", "delta_ci_high"] < 0
        and "corrected t, n = 5 folds" in table.loc["hdf_no_dsm", "delta_interval"]
    )
    assert not table.loc["hdf_no_sam", "delta_significant"] and table.loc["hdf_no_sam", "p_rope"] > 0
    comparisons = analysis.frames["comparisons"]
    assert len(comparisons) == 3 + 2  # three to erm, two to the full model: one Holm family of 5
    np.testing.assert_allclose(comparisons["p_holm"], stats.holm(comparisons["p"].to_numpy()))


@pytest.mark.parametrize("generator_seed", [1, 2])
def test_the_verdicts_do_not_hang_on_one_draw_of_the_data(tmp_path, generator_seed):
    spec = FakeSpec(**{**KNOWN.__dict__, "experiment": f"known{generator_seed}", "seed": generator_seed})
    table = compute(
        load_experiment(make_results(tmp_path, spec)), Options(plots=False, mlflow=False), tmp_path / "out"
    ).frames["statistics"]
    assert rows(table, "better")["significant"].all() and not rows(table, "same")["significant"].any()
