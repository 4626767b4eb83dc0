"""The report's significance calls keep their error rate under no difference (a smaller run of
benchmarks/stats_calibration.py), and the across-dataset CD appears only when licensed."""

import math

import numpy as np
import pandas as pd
import pytest

from hdfbench.analysis import calibration
from hdfbench.analysis.comparisons import Settings
from hdfbench.analysis.ranks import rank_datasets

SWEEPS = 400
#: 0.07 plus three Monte-Carlo standard errors of a 5 % rate over SWEEPS sweeps.
BOUND = 0.07 + 3 * math.sqrt(0.05 * 0.95 / SWEEPS)


@pytest.mark.parametrize("design", calibration.DESIGNS, ids=lambda d: d.name)
def test_no_design_calls_a_true_null_significant_too_often(design):
    rate = calibration.rejection_rate(design, 0.0, SWEEPS, Settings(), seed=5)
    if design.folds == 1:
        assert rate == 0.0  # one split: nothing can be called significant
    else:
        assert rate <= BOUND
        assert calibration.rejection_rate(design, 0.03, SWEEPS, Settings(), seed=6) > 0.3  # and it has power


def test_the_simulated_folds_have_the_dependence_the_correction_models():
    design = calibration.DESIGNS[0]
    rng = np.random.default_rng(0)
    fold_means = np.stack(
        [
            calibration.simulate_cells(design, 0.0, rng)
            .assign(d=lambda t: t["a"] - t["b"])
            .groupby("fold")["d"]
            .mean()
            .to_numpy()
            for _ in range(4000)
        ]
    )
    across = np.corrcoef(fold_means.T)[np.triu_indices(design.folds, 1)].mean()
    assert across == pytest.approx(1 / design.folds, abs=0.03)
    cells = np.stack([calibration.simulate_cells(design, 0.0, rng).eval("a - b").to_numpy() for _ in range(4000)])
    within = np.corrcoef(cells[:, 0], cells[:, 1])[0, 1]  # two seeds of fold 1
    assert within > across + 0.3


def test_across_datasets_the_omnibus_test_keeps_its_level():
    assert calibration.omnibus_rate(5, 4, 300, seed=2) <= BOUND


def _scores(n_datasets: int, gap: float) -> pd.DataFrame:
    rng = np.random.default_rng(n_datasets)
    rows = []
    for d in range(n_datasets):
        base = rng.uniform(0.4, 0.6)
        for i, variant in enumerate(["a", "b", "c", "d"]):
            rows.append({"dataset": f"d{d}", "variant": variant, "test_uar": base + gap * i + rng.normal(0, 0.005)})
    return pd.DataFrame(rows)


def test_nemenyi_cd_only_when_the_omnibus_rejects_on_enough_datasets():
    licensed = rank_datasets(_scores(6, 0.05), "test_uar", ["a", "b", "c", "d"])
    assert not licensed.descriptive and licensed.cd is not None and licensed.omnibus.pvalue < 0.05
    few = rank_datasets(_scores(4, 0.05), "test_uar", ["a", "b", "c", "d"])
    assert few.descriptive and few.cd is None and "N = 4 < 5 datasets" in few.reason
    null = rank_datasets(_scores(6, 0.0), "test_uar", ["a", "b", "c", "d"])
    assert null.descriptive and "does not reject" in null.reason
