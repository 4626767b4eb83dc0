"""Known-phenomena checks and shift tables on generated results where each phenomenon is built in (or not)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from scipy.stats import t as student_t

from hdfbench.analysis import stats
from hdfbench.analysis.pipeline import Options, analyze
from hdfbench.analysis.shift import held_out, shifted_runs
from hdfbench.metrics import uar
from hdfbench.testing.fake_results import CLASSES, FakeSpec, make_results

#: ERM loses recall on the rare classes (so recall tracks frequency); class-balanced ERM gives a little on every
#: class to get the rare ones back (UAR up, WAR down); GroupDRO is better on every clip (worst groups up);
#: "dro_same" is a GroupDRO run identical in distribution to ERM (its checks must not hold); every run is
#: 15 points more accurate on in-distribution clips than on the shifted test side.
RARE = {"Disgust": -0.35, "Fear": -0.2, "Surprise": -0.1}
SPEC = FakeSpec(
    experiment="phenomena",
    datasets=("d1",),
    folds=(1, 2, 3, 4, 5),
    seeds=(0, 1, 2),
    n_test=4000,
    n_train=16000,
    variants={
        "erm": ("erm", 0.0, RARE),
        "erm_bal": ("erm", -0.08, {"Disgust": 0.15, "Fear": 0.1, "Surprise": 0.05}),
        "dro": ("groupdro", 0.1),
        "dro_same": ("groupdro", 0.0, RARE),
    },
    strategy_fields={
        "erm_bal": {"balance": "sample"},
        "dro": {"hparams": {"groups": "class*source"}},
        "dro_same": {"hparams": {"groups": "class*source"}},
    },
    id_effect=0.15,
)


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    results = make_results(tmp_path_factory.mktemp("phenomena"), SPEC)
    return analyze(results, tmp_path_factory.mktemp("out"), Options(mlflow=False))


def checks(analysis, comparison_start: str) -> pd.DataFrame:
    table = analysis.frames["phenomena"]
    return table[table["comparison"].str.startswith(comparison_start)].set_index("metric")


def test_every_built_in_phenomenon_holds(analysis):
    table = analysis.frames["phenomena"]
    held = table[~table["comparison"].str.startswith("dro_same")]
    assert set(held["check"]) == {
        "recall tracks training class frequency",
        "class-balanced sampling raises UAR",
        "class-balanced sampling lowers WAR",
        "GroupDRO on class*source raises worst-group accuracy",
        "worst-group accuracy drops when the correlation breaks",
    }
    dro = checks(analysis, "dro −")
    assert set(dro.index) == {"worst_group_acc_class_x_source", "worst_group_acc_source"}
    assert (dro["verdict"] == "holds").all()
    shift = checks(analysis, "erm: in-distribution")
    assert set(shift.index) == {
        "worst_group_acc_source",
        "worst_group_acc_class_x_source",
        "worst_group_acc_subject",
        "worst_group_acc_class_x_subject",
    }
    # ERM's worst class × source cell has ~12 clips at accuracy ~0.2: the built-in drop is there but floored
    assert shift.loc["worst_group_acc_class_x_source", "estimate"] > 0
    # 140 class × subject cells: the worst is 0 on both sides of every run, so there is nothing to test
    assert shift.loc["worst_group_acc_class_x_subject", "verdict"] == "no test"
    assert "degenerate" in shift.loc["worst_group_acc_class_x_subject", "note"]
    rest = held[
        ~held["metric"].isin(["worst_group_acc_class_x_source", "worst_group_acc_class_x_subject"])
        | ~held["comparison"].str.startswith("erm:")
    ]
    assert len(rest) == 7 and (rest["verdict"] == "holds").all(), rest[["check", "metric", "p_holm", "verdict"]]


def test_a_groupdro_identical_to_erm_does_not_hold(analysis):
    same = checks(analysis, "dro_same")
    assert len(same) == 2 and not (same["verdict"] == "holds").any()
    assert (same["p_holm"] > 0.05).all()


def test_estimates_p_values_and_holm_match_an_independent_computation(analysis):
    summary, table = analysis.experiment.summary, analysis.frames["phenomena"]
    wide = summary.pivot_table(index=["fold", "seed"], columns="variant", values="test_uar")
    per_fold = (wide["erm_bal"] - wide["erm"]).groupby("fold").mean()
    row = checks(analysis, "erm_bal").loc["test_uar"]
    assert row["estimate"] == pytest.approx(per_fold.mean())
    ratio, d = analysis.experiment.design_ratio("d1", per_fold.index), per_fold.to_numpy()
    t = d.mean() / np.sqrt((1 / len(d) + ratio) * d.var(ddof=1))  # Nadeau & Bengio's corrected t, by hand
    assert row["p"] == pytest.approx(2 * student_t.sf(abs(t), len(d) - 1)) and row["n"] == 5
    np.testing.assert_allclose(table["p_holm"], stats.holm(table["p"].to_numpy()))

    rhos = []
    for run in summary[summary["variant"] == "erm"].itertuples():
        config = analysis.experiment.run_config(run.run_id)
        recalls = [getattr(run, f"recall_{c}") for c in CLASSES]
        rhos.append((run.fold, spearmanr(config["train_class_counts"], recalls).statistic))
    rho = pd.DataFrame(rhos, columns=["fold", "rho"]).groupby("fold")["rho"].mean().mean()
    assert checks(analysis, "erm: Spearman").iloc[0]["estimate"] == pytest.approx(rho)


def test_shift_gap_table_is_the_mean_over_runs_of_each_gap(analysis):
    summary, gap = analysis.experiment.summary, analysis.frames["shift_gap"].set_index("variant")
    erm = summary[summary["variant"] == "erm"]
    assert gap.loc["erm", "n"] == 15 and gap.loc["erm", "protocol"] == "decorrelated_test"
    assert gap.loc["erm", "id_minus_test_uar_mean"] == pytest.approx((erm["id_test_uar"] - erm["test_uar"]).mean())
    assert gap.loc["erm", "val_minus_test_uar_std"] == pytest.approx((erm["val_uar"] - erm["test_uar"]).std())
    assert gap.loc["dro", "id_worst_group_acc_source_mean"] == pytest.approx(
        summary.loc[summary["variant"] == "dro", "id_worst_group_acc_source"].mean()
    )
    assert 0.1 < gap.loc["erm", "id_minus_test_uar_mean"] < 0.2  # the built-in 15 points


def test_per_source_recall_is_computed_from_the_saved_predictions(analysis):
    recall = analysis.frames["group_recall"]
    assert set(recall["field"]) == {"source"}  # subjects (20 values) get no per-value table
    run = analysis.experiment.summary.query("variant == 'erm'").iloc[0]
    frames = [
        pd.read_parquet(analysis.experiment.run_path(r) / "predictions.parquet")
        for r in analysis.experiment.summary.query("variant == 'erm'")["run_id"]
    ]
    per_run = [
        uar(f.loc[m, "label"], f.loc[m, "pred"], len(CLASSES))
        for f in frames
        for m in [(f["split"] == "test") & (f["source"] == "phone")]
    ]
    row = recall[(recall["variant"] == "erm") & (recall["value"] == "phone")].iloc[0]
    assert row["n"] == len(frames) and row["uar_mean"] == pytest.approx(np.mean(per_run))
    assert row["uar_std"] == pytest.approx(np.std(per_run, ddof=1))
    assert run["protocol"] == "decorrelated_test"


def test_report_has_the_shift_section_tables_and_heatmap(analysis):
    report = (analysis.out_dir / "report.md").read_text()
    shift = report[report.index("## Distribution shift") : report.index("## Imbalance")]
    assert "id − shifted UAR (pp)" in shift and "worst-class×source acc" in shift
    assert "shift_cells_d1_source" in shift
    for name in ("shift_gap", "group_recall", "phenomena"):
        assert (analysis.out_dir / "tables" / f"{name}.csv").exists()
    assert "hold" in analysis.captions["phenomena"]


def test_held_out_table_names_each_runs_held_out_source():
    summary = pd.DataFrame(
        {
            "dataset": "s",
            "variant": ["erm"] * 4,
            "fold": [1, 1, 2, 2],
            "seed": [0, 1, 0, 1],
            "run_id": list("abcd"),
            "protocol": "leave_source_out",
            "test_uar": [0.4, 0.5, 0.7, 0.9],
            "test_war": [0.5, 0.6, 0.8, 0.9],
        }
    )
    predictions = pd.DataFrame({"run_id": list("aabbccdd"), "source": ["cctv"] * 4 + ["studio"] * 4})
    table = held_out(SimpleNamespace(summary=summary), predictions).set_index("held_out")
    assert table.loc["cctv", "test_uar_mean"] == pytest.approx(0.45) and table.loc["cctv", "n"] == 2
    assert table.loc["studio", "test_uar_std"] == pytest.approx(np.std([0.7, 0.9], ddof=1))


def test_an_iid_sweep_has_no_shift_tables(tmp_path):
    results = make_results(tmp_path / "r", FakeSpec(folds=(1, 2), seeds=(0,)))
    out = analyze(results, tmp_path / "out", Options(mlflow=False, plots=False))
    assert not {"shift_gap", "group_recall", "held_out", "cell_accuracy"} & set(out.frames)
    assert "No run of a shifted protocol" in (tmp_path / "out" / "report.md").read_text()


def test_shifted_runs_are_those_of_a_shifted_protocol_or_test_prior():
    summary = pd.DataFrame(
        {
            "protocol": ["iid", "iid", "decorrelated_test", None, "subject_disjoint"],
            "test_prior": ["dfew", "balanced", "reversed", None, "dfew"],
        }
    )
    assert shifted_runs(summary)["protocol"].tolist() == [
        "iid, test_prior balanced",
        "decorrelated_test, test_prior reversed",
        "subject_disjoint",
    ]
    assert shifted_runs(summary.drop(columns=["protocol", "test_prior"])).empty
