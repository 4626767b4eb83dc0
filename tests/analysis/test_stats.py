"""Each statistic in hdfbench.analysis.stats against hand-worked values, scipy, or published tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from hdfbench import metrics
from hdfbench.analysis import stats

# ---------------------------------------------------------------------------------------------
# Nadeau–Bengio corrected t


def test_nb_ttest_worked_example():
    # d = [.02, .03, .01, .04, .00]: J = 5, mean = .02, s² = (0 + 1 + 1 + 4 + 4)e-4 / 4 = 2.5e-4.
    # Corrected Var(mean) = 2.5e-4 · (1/5 + 1/4) = 1.125e-4, se = 0.0106066, t = .02/se = 1.885618, df = 4.
    # t_{0.975, 4} = 2.776445 → half-width 0.0294486; d_z = .02 / sqrt(2.5e-4) = 1.264911.
    res = stats.nadeau_bengio_ttest([0.02, 0.03, 0.01, 0.04, 0.00], test_train_ratio=0.25)
    assert res.test == stats.NB_T and res.n == 5
    assert res.estimate == pytest.approx(0.02)
    assert res.statistic == pytest.approx(1.885618, abs=1e-6)
    assert res.pvalue == pytest.approx(0.132419, abs=1e-6)
    assert res.ci_low == pytest.approx(0.02 - 0.0294486, abs=1e-7)
    assert res.ci_high == pytest.approx(0.02 + 0.0294486, abs=1e-7)
    assert res.effect_size == pytest.approx(1.264911, abs=1e-6)
    assert res.effect_size_name == "Cohen's d_z"


def test_nb_ttest_with_ratio_zero_is_scipy_ttest_1samp():
    d = np.random.default_rng(1).normal(0.01, 0.02, size=12)
    res = stats.nadeau_bengio_ttest(d, test_train_ratio=0.0, confidence=0.9)
    ref = sps.ttest_1samp(d, 0.0)
    ci = ref.confidence_interval(0.9)
    assert res.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert res.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    assert (res.ci_low, res.ci_high) == pytest.approx((ci.low, ci.high), rel=1e-12)
    plain = stats.paired_ttest(d, confidence=0.9)
    assert (plain.statistic, plain.pvalue, plain.ci_low) == pytest.approx((res.statistic, res.pvalue, res.ci_low))


def test_nb_correction_widens_ci_and_raises_p():
    d = [0.02, 0.03, 0.01, 0.04, 0.00]
    plain, corrected = stats.paired_ttest(d), stats.nadeau_bengio_ttest(d, 0.25)
    assert corrected.pvalue > plain.pvalue
    assert corrected.ci_high - corrected.ci_low > plain.ci_high - plain.ci_low


def test_nb_ttest_zero_variance_and_tiny_inputs():
    zero = stats.nadeau_bengio_ttest([0.0, 0.0, 0.0], 0.25)
    assert math.isnan(zero.statistic) and zero.pvalue == 1.0 and zero.estimate == 0.0
    assert "all differences zero" in zero.note
    constant = stats.nadeau_bengio_ttest([0.01, 0.01, 0.01], 0.25)
    assert constant.statistic == np.inf and constant.pvalue == 0.0
    single = stats.nadeau_bengio_ttest([0.01], 0.25)
    assert math.isnan(single.pvalue) and single.n == 1
    # two nearly equal differences would give t ≈ 100 on 1 df: no p-value below MIN_T_CELLS = 3
    pair = stats.nadeau_bengio_ttest([0.090, 0.0901], 0.25)
    assert math.isnan(pair.pvalue) and pair.estimate == pytest.approx(0.09005) and "too few" in pair.note
    assert math.isnan(stats.paired_ttest([0.090, 0.0901]).pvalue)
    with_nan = stats.nadeau_bengio_ttest([0.02, np.nan, 0.03, 0.01, 0.04, 0.00], 0.25)
    assert with_nan.n == 5 and with_nan.statistic == pytest.approx(1.885618, abs=1e-6)
    assert "1 NaN cell(s) dropped" in with_nan.note
    with pytest.raises(ValueError):
        stats.nadeau_bengio_ttest([0.1, 0.2], test_train_ratio=-1)


def test_nb_ttest_power_and_size_on_generated_data():
    rng = np.random.default_rng(2024)
    j, ratio, sims = 10, 0.25, 400
    # Cells that share training data: equicorrelated differences (rho = 0.2 ≈ n_test/(n_train + n_test)).
    rho = 0.2
    noise = np.sqrt(rho) * rng.normal(size=(sims, 1)) + np.sqrt(1 - rho) * rng.normal(size=(sims, j))
    null_nb = np.mean([stats.nadeau_bengio_ttest(row, ratio).pvalue < 0.05 for row in noise])
    null_naive = np.mean([stats.paired_ttest(row).pvalue < 0.05 for row in noise])
    assert null_nb <= 0.07  # keeps its size under correlated cells
    assert null_naive > 0.15  # the naive t does not: this is why the correction exists
    power = np.mean([stats.nadeau_bengio_ttest(row + 2.0, ratio).pvalue < 0.05 for row in noise])
    assert power > 0.8
    # One fixed example each way: a clear 3 pp gain (sd 1 pp) is found, no gain is not.
    gain = stats.nadeau_bengio_ttest(0.03 + 0.01 * rng.normal(size=j), ratio)
    none = stats.nadeau_bengio_ttest(0.01 * np.random.default_rng(7).normal(size=j), ratio)
    assert gain.pvalue < 0.01 and gain.ci_low > 0
    assert none.pvalue > 0.05 and none.ci_low < 0 < none.ci_high


# ---------------------------------------------------------------------------------------------
# Holm


def test_holm_known_vector():
    # sorted 0.005·4 = .02, 0.01·3 = .03, 0.03·2 = .06, 0.04·1 = .04 → running max .02, .03, .06, .06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_holm_nan_stays_nan_and_is_not_counted():
    adjusted = stats.holm([0.01, np.nan, 0.04, 0.03, 0.005])
    assert np.isnan(adjusted[1])
    assert adjusted[[0, 2, 3, 4]] == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.9]).tolist() == [1.0, 1.0]  # capped at 1
    assert np.isnan(stats.holm([np.nan])).all() and stats.holm([]).shape == (0,)
    with pytest.raises(ValueError):
        stats.holm([0.5, 1.5])


# ---------------------------------------------------------------------------------------------
# Friedman, mean ranks, Nemenyi CD, cliques


def _scores() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    base = rng.uniform(0.4, 0.7, size=(8, 1))
    return pd.DataFrame(
        base + rng.normal(size=(8, 4)) * 0.02 + [0.0, 0.01, 0.03, 0.05],
        columns=["erm", "groupdro", "hdf_a", "hdf"],
        index=[f"d{i}" for i in range(8)],
    )


def test_friedman_matches_scipy_and_kendalls_w():
    scores = _scores()
    res = stats.friedman(scores)
    ref = sps.friedmanchisquare(*scores.to_numpy().T)
    assert res.statistic == pytest.approx(ref.statistic) and res.pvalue == pytest.approx(ref.pvalue)
    assert res.n == 8 and "descriptive" in res.note
    n, k = scores.shape  # no ties: W = 12 S / (N² (k³ − k)), S = Σ (R_j − N(k+1)/2)²
    rank_sums = scores.rank(axis=1).sum().to_numpy()
    s = ((rank_sums - n * (k + 1) / 2) ** 2).sum()
    assert res.effect_size == pytest.approx(12 * s / (n**2 * (k**3 - k)))
    f = stats.iman_davenport(scores)
    assert f.statistic == pytest.approx((n - 1) * ref.statistic / (n * (k - 1) - ref.statistic))
    assert "within-block rank permutations (N = 8 < 10)" in f.note


def test_iman_davenport_p_small_n_by_permutation_large_n_by_f():
    rng = np.random.default_rng(4)
    small = pd.DataFrame(rng.normal(size=(5, 4)) + [0.0, 0.3, 0.6, 0.9])

    def chi2(*columns):
        return sps.friedmanchisquare(*columns).statistic

    # scipy's within-pair ('samples') permutation of the same statistic, independently computed
    ref = sps.permutation_test(
        tuple(small.to_numpy().T), chi2, permutation_type="samples", n_resamples=20000, alternative="greater", rng=1
    )
    assert stats.iman_davenport(small, n_permutations=20000).pvalue == pytest.approx(ref.pvalue, abs=0.01)
    large = pd.DataFrame(rng.normal(size=(12, 4)) + [0.0, 0.3, 0.6, 0.9])
    f = stats.iman_davenport(large)
    assert f.pvalue == pytest.approx(sps.f.sf(f.statistic, 3, 3 * 11))
    perfect = pd.DataFrame([[1.0, 2.0, 3.0, 4.0]] * 2)
    assert stats.iman_davenport(perfect).pvalue == pytest.approx(1 / 24, abs=0.01)  # 2 datasets agree by chance


def test_friedman_edge_cases():
    perfect = pd.DataFrame([[1, 2, 3]] * 4, columns=list("abc"), dtype=float)
    assert stats.friedman(perfect).effect_size == pytest.approx(1.0)
    two = stats.friedman(perfect[["a", "b"]])
    assert math.isnan(two.pvalue) and "Wilcoxon" in two.note
    tied = stats.friedman(pd.DataFrame([[1, 1, 1]] * 3, columns=list("abc"), dtype=float))
    assert tied.pvalue == 1.0 and tied.effect_size == 0.0
    with_nan = perfect.copy()
    with_nan.iloc[0, 0] = np.nan
    assert stats.friedman(with_nan).n == 3 and "1 block(s)" in stats.friedman(with_nan).note


def test_mean_ranks_with_ties():
    scores = pd.DataFrame({"A": [0.9, 0.7], "B": [0.8, 0.9], "C": [0.8, 0.6]}, index=["d1", "d2"])
    # d1: A 1, B 2.5, C 2.5; d2: B 1, A 2, C 3
    assert stats.mean_ranks(scores).to_dict() == pytest.approx({"A": 1.5, "B": 1.75, "C": 2.75})
    # lower is better: d1: B 1.5, C 1.5, A 3; d2: C 1, A 2, B 3
    assert stats.mean_ranks(scores, higher_is_better=False).to_dict() == pytest.approx({"A": 2.5, "B": 2.25, "C": 1.25})


@pytest.mark.parametrize(
    ("k", "q05", "q10"), [(2, 1.960, 1.645), (3, 2.343, 2.052), (5, 2.728, 2.459), (10, 3.164, 2.920)]
)
def test_nemenyi_q_against_demsar_table_5(k, q05, q10):
    # CD = q · sqrt(k(k+1)/(6N)); with N = k(k+1)/6 the root is 1 and CD = q.
    n = k * (k + 1) / 6
    assert stats.nemenyi_critical_difference(k, n, alpha=0.05) == pytest.approx(q05, abs=1e-3)
    assert stats.nemenyi_critical_difference(k, n, alpha=0.10) == pytest.approx(q10, abs=1e-3)


def test_nemenyi_cd_k5_n10():
    # Demšar 2006: k = 5, q_0.05 = 2.728, N = 10 → CD = 2.728 · sqrt(30/60) = 1.929
    assert stats.nemenyi_critical_difference(5, 10) == pytest.approx(1.929, abs=1e-3)
    with pytest.raises(ValueError):
        stats.nemenyi_critical_difference(1, 10)


def test_cd_cliques_hand_example():
    ranks = pd.Series({"E": 3.9, "A": 1.0, "C": 2.2, "B": 1.5, "D": 3.45})
    # From A: B (0.5), C (1.2) < 1.3, D (2.45) no → ABC; from B: BC ⊂ ABC; C–D = 1.25 → CD; D–E = 0.45 → DE
    assert stats.cd_cliques(ranks, cd=1.3) == [("A", "B", "C"), ("C", "D"), ("D", "E")]
    assert stats.cd_cliques(ranks, cd=1.0) == [("A", "B"), ("B", "C"), ("D", "E")]
    assert stats.cd_cliques(ranks, cd=0.4) == []  # every method differs from every other
    assert stats.cd_cliques(ranks, cd=10.0) == [("A", "B", "C", "D", "E")]


# ---------------------------------------------------------------------------------------------
# Bayesian correlated t-test


@pytest.mark.parametrize("n, runs, rope, seed", [(5, 1, 0.01, 0), (10, 1, 0.0, 1), (15, 3, 0.02, 2), (4, 1, 0.05, 3)])
def test_bayes_correlated_t_equals_baycomp(n, runs, rope, seed):
    baycomp = pytest.importorskip("baycomp")
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.5, 0.7, n)
    y = x + rng.normal(0.01, 0.02, n)
    folds = n // runs  # baycomp's correction is 1/J + 1/(folds − 1): the k-fold ratio n_test/n_train
    ours = stats.bayes_correlated_ttest(y - x, 1 / (folds - 1), rope)
    theirs = baycomp.two_on_single(x, y, rope=rope, runs=runs)
    if rope == 0:
        assert (ours.p_worse, ours.p_better) == pytest.approx(theirs, abs=1e-12) and ours.p_rope == pytest.approx(0)
    else:
        assert (ours.p_worse, ours.p_rope, ours.p_better) == pytest.approx(theirs, abs=1e-12)


def test_bayes_correlated_t_by_hand_and_edge_cases():
    # d = [.02, .03, .01, .04, .00]: mean .02, s² = 2.5e-4, scale = sqrt(2.5e-4 · (1/5 + 1/4)) = 0.0106066, df 4;
    # P(μ > .01) = P(T_4 > (.01 − .02)/.0106066 = −0.942809) = 0.800419 (Student's t, 4 df)
    res = stats.bayes_correlated_ttest([0.02, 0.03, 0.01, 0.04, 0.00], 0.25, rope=0.01)
    assert res.p_better == pytest.approx(0.800419, abs=1e-6)
    assert res.p_worse + res.p_rope + res.p_better == pytest.approx(1.0)
    constant = stats.bayes_correlated_ttest([0.02, 0.02, 0.02], 0.25, rope=0.01)
    assert (constant.p_worse, constant.p_rope, constant.p_better) == (0.0, 0.0, 1.0)
    inside = stats.bayes_correlated_ttest([0.005] * 4, 0.25, rope=0.01)
    assert inside.p_rope == 1.0
    few = stats.bayes_correlated_ttest([0.02, 0.03], 0.25, rope=0.01)
    assert math.isnan(few.p_better) and "n = 2 < 3" in few.note
    with pytest.raises(ValueError):
        stats.bayes_correlated_ttest([0.1, 0.2, 0.3], 0.25, rope=-0.01)


# ---------------------------------------------------------------------------------------------
# two-level bootstrap (seeds × test clips) of one split


def _clips(n: int = 500, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(7, size=n, p=[0.3, 0.2, 0.15, 0.15, 0.1, 0.07, 0.03])


def _predict(labels: np.ndarray, accuracy: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    wrong = (labels + rng.integers(1, 7, size=len(labels))) % 7
    return np.where(rng.random(len(labels)) < accuracy, labels, wrong)


def _seeds(labels, acc_a, acc_b, n_seeds=3):
    return [(labels, _predict(labels, acc_a, 10 + s), _predict(labels, acc_b, 20 + s)) for s in range(n_seeds)]


@pytest.mark.parametrize(
    "metric, fn",
    [
        ("test_uar", lambda y, p: metrics.uar(y, p, 7)),
        ("test_war", lambda y, p: metrics.war(y, p)),
        ("worst_class_recall", lambda y, p: metrics.worst_class_recall(y, p, 7)),
    ],
)
def test_two_level_estimate_is_the_mean_metric_difference_over_seeds(metric, fn):
    runs = _seeds(_clips(), 0.7, 0.6)
    res = stats.two_level_bootstrap(runs, metric, n_resamples=500, seed=1)
    assert res.test == stats.TWO_LEVEL_BOOTSTRAP and res.n == 3 and math.isnan(res.pvalue)
    assert res.estimate == pytest.approx(np.mean([fn(y, a) - fn(y, b) for y, a, b in runs]), abs=1e-12)
    assert res.ci_low < res.estimate < res.ci_high


def test_two_level_identical_better_and_too_few_seeds():
    labels = _clips()
    same = [(labels, p, p) for p in (_predict(labels, 0.6, s) for s in range(3))]
    res = stats.two_level_bootstrap(same, n_resamples=300)
    assert (res.estimate, res.ci_low, res.ci_high) == (0.0, 0.0, 0.0)
    better = stats.two_level_bootstrap(_seeds(labels, 0.8, 0.5), n_resamples=1000, seed=2)
    assert better.ci_low > 0.15
    assert stats.two_level_bootstrap(_seeds(labels, 0.8, 0.5), n_resamples=1000, seed=2) == better
    two = stats.two_level_bootstrap(_seeds(labels, 0.8, 0.5, n_seeds=2))
    assert math.isnan(two.ci_low) and "n = 2 < 3 seeds: no interval" in two.note
    with pytest.raises(ValueError):
        stats.two_level_bootstrap(same, "worst_group_acc_source")


def test_two_level_spread_adds_seed_variance_to_clip_variance():
    labels = _clips(800)
    a, b = _predict(labels, 0.7, 1), _predict(labels, 0.6, 2)
    # three copies of one seed: each resample averages 3 independent class-stratified clip resamples, so
    # Var = Σ_c Var_c(per-clip difference) / n_c / C² / 3 (UAR over C classes)
    copies = stats.two_level_bootstrap([(labels, a, b)] * 3, n_resamples=20000, seed=3)
    d = (a == labels).astype(float) - (b == labels)
    classes = np.unique(labels)
    expected = sum(d[labels == c].var() / (labels == c).sum() for c in classes) / len(classes) ** 2 / 3
    half = 1.959964 * np.sqrt(expected)
    assert (copies.ci_high - copies.ci_low) / 2 == pytest.approx(half, rel=0.08)
    # seeds that disagree (+, 0, −) widen the interval beyond the clip variance
    spread = [(labels, a, b), (labels, b, b), (labels, b, a)]
    wide = stats.two_level_bootstrap(spread, n_resamples=5000, seed=3)
    assert wide.ci_high - wide.ci_low > 2 * (copies.ci_high - copies.ci_low)


def test_test_result_as_dict():
    res = stats.paired_ttest([0.1, 0.2, 0.3])
    row = res.as_dict()
    assert row["test"] == "paired t" and row["n"] == 3 and set(row) >= {"pvalue", "ci_low", "effect_size_name"}
