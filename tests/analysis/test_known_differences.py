"""The statistics flag a difference built into the data and do not flag an absent one."""

import numpy as np
import pandas as pd

from hdfbench.analysis import stats
from hdfbench.analysis.fake_results import FakeSpec, make_results
from hdfbench.analysis.load import load_experiment
from hdfbench.analysis.pipeline import Options, compute


def _rows(table, variant, test):
    return table[(table["variant"] == variant) & (table["test"] == test)]


def test_better_is_flagged_and_same_is_not(known_analysis):
    table = known_analysis.frames["statistics"]
    assert set(table["dataset"]) == {"d1", "d2"} and set(table["reference"]) == {"erm"}
    for test in (stats.NB_T, stats.WILCOXON):
        better, same = _rows(table, "better", test), _rows(table, "same", test)
        assert len(better) == 2 and (better["n"] == 15).all()
        assert (better["p_holm"] < 0.05).all() and better["significant"].all()
        assert (better["estimate"] > 0.1).all()
        assert (same["p_holm"] >= 0.05).all() and not same["significant"].any()


def test_holm_is_over_all_comparisons_of_the_table(known_analysis):
    table = known_analysis.frames["statistics"]
    nb = table[table["test"] == stats.NB_T]
    assert len(nb) == 6  # 3 variants × 2 datasets
    np.testing.assert_allclose(nb["p_holm"], stats.holm(nb["p"].to_numpy()))
    assert (nb["p_holm"] >= nb["p"]).all()


def test_bootstrap_ci_and_nb_ratio(known_analysis):
    table = known_analysis.frames["statistics"]
    boot = _rows(table, "better", stats.BOOTSTRAP)
    assert (boot["ci_low"] > 0).all() and boot["p_holm"].isna().all() and boot["significant"].isna().all()
    assert np.allclose(table["test_train_ratio"], 800 / 2000)


def test_main_table_counts_runs(known_analysis):
    main = known_analysis.frames["main_table"]
    assert list(main["variant"][:4]) == ["erm", "better", "same", "groupdro"]
    assert (main["n"] == 15).all() and (main["n_folds"] == 5).all() and (main["n_seeds"] == 3).all()
    better = main.set_index(["dataset", "variant"])
    assert (better.loc[("d1", "better"), "test_war_mean"] > better.loc[("d1", "erm"), "test_war_mean"] + 0.1)


def test_per_class_has_support_and_difference(known_analysis):
    per_class = known_analysis.frames["per_class_recall"]
    assert (per_class.groupby(["dataset", "variant"])["support"].sum() == 5 * 800).all()
    diff = known_analysis.frames["per_class_difference"]
    assert "erm" not in set(diff["variant"])
    assert diff[diff["variant"] == "better"]["difference_mean"].mean() > 0.1


def test_friedman_is_descriptive_with_two_datasets(known_analysis):
    ranks = known_analysis.ranks
    assert ranks is not None and ranks.descriptive and ranks.ranks.idxmin() == "better"
    assert "Descriptive only" in known_analysis.captions["ranks"]


def test_ablation_against_the_full_model(tmp_path):
    spec = FakeSpec(experiment="abl", folds=(1, 2, 3, 4, 5), seeds=(0, 1), n_test=800,
                    variants={"hdf_full": ("hdf", 0.0), "hdf_no_dsm": ("hdf", -0.2), "hdf_no_sam": ("hdf", 0.0)})
    analysis = compute(load_experiment(make_results(tmp_path, spec)), Options(), tmp_path / "out")
    table = analysis.frames["ablation"].set_index("variant")
    assert set(table["full"]) == {"hdf_full"} and pd.isna(table.loc["hdf_full", "delta_p"])
    assert table.loc["hdf_no_dsm", "delta_estimate"] < -0.1 and table.loc["hdf_no_dsm", "delta_p_holm"] < 0.05
    assert table.loc["hdf_no_sam", "delta_p_holm"] >= 0.05
    assert table.loc["hdf_no_dsm", "delta_boot_ci_high"] < 0
    # no "erm": the reference defaults to the first variant
    assert analysis.reference == "hdf_full"


def test_clip_level_for_a_single_cell(tmp_path):
    spec = FakeSpec(experiment="one", folds=(1,), seeds=(0,), n_test=800,
                    variants={"erm": ("erm", 0.0), "better": ("better", 0.2), "same": ("same", 0.0)})
    analysis = compute(load_experiment(make_results(tmp_path, spec)), Options(), tmp_path / "out")
    clip = analysis.frames["clip_level"].set_index("variant")
    assert clip.loc["better", "significant"] and clip.loc["better", "n"] == 800
    assert not clip.loc["same", "significant"]
    assert "fewer than 2 paired" in analysis.frames["statistics"]["note"].iloc[0]


def test_pairing_by_fold_averages_seeds_and_still_separates_the_two(known_dir, tmp_path):
    analysis = compute(load_experiment(known_dir), Options(pair_by="fold", plots=False, mlflow=False), tmp_path)
    table = analysis.frames["statistics"]
    nb = table[table["test"] == stats.NB_T]
    assert (nb["n"] == 5).all()  # one seed-averaged difference per fold
    better, same = _rows(table, "better", stats.NB_T), _rows(table, "same", stats.NB_T)
    assert (better["p_holm"] < 0.05).all() and not same["significant"].any()
    by_cell = _rows(compute(load_experiment(known_dir), Options(plots=False, mlflow=False), tmp_path)
                    .frames["statistics"], "better", stats.NB_T)
    np.testing.assert_allclose(better["estimate"].to_numpy(), by_cell["estimate"].to_numpy())  # balanced cells
