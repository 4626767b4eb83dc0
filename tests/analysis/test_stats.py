"""Each statistic in hdfbench.analysis.stats against hand-worked values, scipy, or published tables."""

from __future__ import annotations

import math
import time

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
# Wilcoxon signed-rank


def test_wilcoxon_hand_worked_example():
    # Nonzero |d| ranks 1..7, negatives at ranks 2 and 5 → W− = 7, W+ = 21, T = min = 7; the zero is dropped.
    # Exact null with n = 7: #{subsets of 1..7 with sum ≤ 7} = 1+1+1+2+2+3+4+5 = 19 → p = 2·19/128.
    res = stats.wilcoxon_signed_rank([1.0, -2.0, 3.0, 4.0, -5.0, 6.0, 0.0, 7.0])
    assert res.statistic == 7.0
    assert res.pvalue == pytest.approx(2 * 19 / 128)
    assert res.n == 8 and "1 zero difference(s) discarded" in res.note
    assert res.effect_size == pytest.approx((21 - 7) / 28)
    assert res.effect_size_name == "matched-pairs rank-biserial r"
    assert math.isnan(res.ci_low) and math.isnan(res.ci_high)


def test_hodges_lehmann_estimate():
    # Walsh averages of [1, 2, 4]: 1, 1.5, 2.5, 2, 3, 4 → median 2.25.
    assert stats.hodges_lehmann([1.0, 2.0, 4.0]) == pytest.approx(2.25)
    assert stats.wilcoxon_signed_rank([1.0, 2.0, 4.0]).estimate == pytest.approx(2.25)


@pytest.mark.parametrize("n", [15, 40])  # exhaustive permutation (≤ 13 nonzero) and normal approximation
def test_wilcoxon_matches_scipy_with_ties_and_zeros(n):
    rng = np.random.default_rng(n)
    d = np.round(rng.normal(0.5, 1.0, size=n) * 2) / 2  # half-unit grid: many ties
    d[:3] = 0.0
    res = stats.wilcoxon_signed_rank(d)
    ref = sps.wilcoxon(d, zero_method="wilcox")
    assert res.statistic == pytest.approx(ref.statistic)
    assert res.pvalue == pytest.approx(ref.pvalue)
    nonzero = d[d != 0]
    ranks = sps.rankdata(np.abs(nonzero))
    w_plus, w_minus = ranks[nonzero > 0].sum(), ranks[nonzero < 0].sum()
    assert min(w_plus, w_minus) == pytest.approx(res.statistic)
    assert res.effect_size == pytest.approx((w_plus - w_minus) / (w_plus + w_minus))


def test_wilcoxon_all_zero_and_small_n():
    zero = stats.wilcoxon_signed_rank([0.0] * 5)
    assert zero.pvalue == 1.0 and math.isnan(zero.statistic) and zero.effect_size == 0.0
    assert "all differences zero" in zero.note
    small = stats.wilcoxon_signed_rank([0.1, 0.2, 0.3, 0.4, 0.5])
    assert small.pvalue == pytest.approx(2 / 32) and "cannot reach p < 0.05" in small.note
    assert stats.wilcoxon_signed_rank([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]).pvalue == pytest.approx(2 / 64)


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
# bootstrap CI of the mean and compare_paired


def test_bootstrap_ci_contains_mean_shrinks_and_is_deterministic():
    rng = np.random.default_rng(3)
    small, large = rng.normal(0.02, 0.03, 10), rng.normal(0.02, 0.03, 200)
    low, high = stats.bootstrap_mean_ci(small, n_resamples=2000, seed=5)
    assert low < small.mean() < high
    low_l, high_l = stats.bootstrap_mean_ci(large, n_resamples=2000, seed=5)
    assert low_l < large.mean() < high_l
    assert high_l - low_l < (high - low) / 2
    assert stats.bootstrap_mean_ci(small, n_resamples=2000, seed=5) == (low, high)
    assert stats.bootstrap_mean_ci(small, n_resamples=2000, seed=6) != (low, high)


def test_bootstrap_ci_degenerate_inputs():
    assert stats.bootstrap_mean_ci([0.01, 0.01, 0.01]) == (0.01, 0.01)
    assert all(math.isnan(v) for v in stats.bootstrap_mean_ci([0.01]))
    # Two distinct values: BCa's jackknife is degenerate, the percentile fallback still gives a CI.
    low, high = stats.bootstrap_mean_ci([0.0, 0.0, 0.0, 0.0, 1.0], n_resamples=500)
    assert np.isfinite(low) and np.isfinite(high) and low <= 0.2 <= high


def test_compare_paired_returns_three_results_on_the_differences():
    a = pd.Series([0.61, 0.63, 0.60, 0.64, 0.62], index=[(f, 0) for f in range(1, 6)])
    b = pd.Series([0.62, 0.60, 0.59, 0.60, 0.60], index=a.index[::-1])  # same cells, reversed order
    out = stats.compare_paired(a, b, test_train_ratio=0.25, n_resamples=999)
    assert set(out) == {"nb_t", "wilcoxon", "bootstrap"}
    d = (a - b).to_numpy()  # pandas aligns on the index: [.01, .03, .01, .04, .00] in some order
    assert sorted(d) == pytest.approx([0.0, 0.01, 0.01, 0.03, 0.04])
    assert out["nb_t"] == stats.nadeau_bengio_ttest(d, 0.25)
    assert out["wilcoxon"] == stats.wilcoxon_signed_rank(d)
    boot = out["bootstrap"]
    assert boot.estimate == pytest.approx(d.mean()) and math.isnan(boot.pvalue) and boot.n == 5
    assert (boot.ci_low, boot.ci_high) == stats.bootstrap_mean_ci(d, n_resamples=999, seed=0)


def test_compare_paired_aligns_series_and_drops_missing_cells():
    a = pd.Series([0.7, 0.8, 0.9], index=["f1", "f2", "f3"])
    b = pd.Series([0.5, 0.6], index=["f2", "f1"])
    out = stats.compare_paired(a, b, test_train_ratio=0.25, n_resamples=999)
    assert out["nb_t"].n == 2 and out["nb_t"].estimate == pytest.approx(((0.7 - 0.6) + (0.8 - 0.5)) / 2)
    assert "1 NaN cell(s) dropped" in out["nb_t"].note
    with pytest.raises(ValueError):
        stats.compare_paired([0.1, 0.2], [0.1], test_train_ratio=0.25)


# ---------------------------------------------------------------------------------------------
# Friedman, mean ranks, Nemenyi CD, cliques


def _scores() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    base = rng.uniform(0.4, 0.7, size=(8, 1))
    return pd.DataFrame(base + rng.normal(size=(8, 4)) * 0.02 + [0.0, 0.01, 0.03, 0.05],
                        columns=["erm", "groupdro", "hdf_a", "hdf"], index=[f"d{i}" for i in range(8)])


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
    assert f.pvalue == pytest.approx(sps.f.sf(f.statistic, k - 1, (k - 1) * (n - 1)))


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


@pytest.mark.parametrize(("k", "q05", "q10"), [(2, 1.960, 1.645), (3, 2.343, 2.052), (5, 2.728, 2.459),
                                               (10, 3.164, 2.920)])
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
# clip-level paired bootstrap of the UAR difference


def _clips(n: int = 500, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(7, size=n, p=[0.3, 0.2, 0.15, 0.15, 0.1, 0.07, 0.03])


def _predict(labels: np.ndarray, accuracy: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    wrong = (labels + rng.integers(1, 7, size=len(labels))) % 7
    return np.where(rng.random(len(labels)) < accuracy, labels, wrong)


def test_clip_bootstrap_identical_predictions():
    labels = _clips()
    pred = _predict(labels, 0.6, seed=1)
    res = stats.clip_bootstrap_uar_difference(labels, pred, pred)
    assert res.estimate == 0.0 and res.pvalue == 1.0 and (res.ci_low, res.ci_high) == (0.0, 0.0)
    assert res.n == 500


def test_clip_bootstrap_clearly_better_predictor():
    labels = _clips()
    good, bad = _predict(labels, 0.9, seed=1), _predict(labels, 0.5, seed=2)
    res = stats.clip_bootstrap_uar_difference(labels, good, bad, n_resamples=2000, seed=0)
    expected = metrics.uar(labels, good, 7) - metrics.uar(labels, bad, 7)
    assert res.estimate == pytest.approx(expected)
    assert res.pvalue == pytest.approx(2 / 2001)  # smallest p with +1 smoothing
    assert res.ci_low < res.estimate < res.ci_high and res.ci_low > 0
    reverse = stats.clip_bootstrap_uar_difference(labels, bad, good, n_resamples=2000, seed=0)
    assert reverse.estimate == pytest.approx(-expected) and reverse.ci_high < 0


def test_clip_bootstrap_spread_matches_stratified_variance_and_is_deterministic():
    labels = _clips()
    a, b = _predict(labels, 0.62, seed=3), _predict(labels, 0.6, seed=4)
    res = stats.clip_bootstrap_uar_difference(labels, a, b, n_resamples=4000, seed=9)
    assert res.ci_low <= res.estimate <= res.ci_high and 0 < res.pvalue <= 1
    # Var(UAR* diff) under class-stratified resampling = Σ_c pop-var(d | c)/n_c / K²
    d = (a == labels).astype(float) - (b == labels)
    var = sum(d[labels == c].var() / (labels == c).sum() for c in range(7)) / 49
    half = sps.norm.ppf(0.975) * math.sqrt(var)
    assert res.ci_high - res.ci_low == pytest.approx(2 * half, rel=0.1)
    assert stats.clip_bootstrap_uar_difference(labels, a, b, n_resamples=4000, seed=9) == res


def test_clip_bootstrap_absent_classes():
    labels = np.array([0, 0, 1, 1, 2, 2, 2])
    a = np.array([0, 0, 1, 0, 2, 2, 1])
    b = np.array([0, 1, 1, 0, 2, 1, 1])
    res = stats.clip_bootstrap_uar_difference(labels, a, b, classes=[0, 1, 2, 3], n_resamples=500)
    # recalls a: 1, .5, 2/3; b: .5, .5, 1/3 → UAR diff = (.5 + 0 + 1/3) / 3 over the 3 present classes
    assert res.estimate == pytest.approx((0.5 + 1 / 3) / 3)
    assert "[3]" in res.note
    assert res.estimate == pytest.approx(metrics.uar(labels, a, 4) - metrics.uar(labels, b, 4))
    with pytest.raises(ValueError):
        stats.clip_bootstrap_uar_difference(labels, a, b, classes=[0, 1])


def test_clip_bootstrap_is_fast():
    labels = _clips()
    a, b = _predict(labels, 0.7, seed=1), _predict(labels, 0.6, seed=2)
    start = time.perf_counter()
    for seed in range(20):
        stats.clip_bootstrap_uar_difference(labels, a, b, n_resamples=2000, seed=seed)
    assert (time.perf_counter() - start) / 20 < 0.05


def test_test_result_as_dict():
    res = stats.paired_ttest([0.1, 0.2, 0.3])
    row = res.as_dict()
    assert row["test"] == "paired t" and row["n"] == 3 and set(row) >= {"pvalue", "ci_low", "effect_size_name"}
