"""Significance tests, confidence intervals and rank statistics for comparing training strategies.

Every test returns a :class:`TestResult` that carries the test's name, n, the estimate in the metric's
units with its CI, and a standardised effect size, so a table never shows a p-value without them.

What is computed here and what comes from libraries:

* scipy / statsmodels: the plain paired t (``ttest_1samp``), Wilcoxon signed-rank, Friedman, the
  bootstrap of a mean (``scipy.stats.bootstrap``), Holm (``multipletests``), the studentized range.
* in-house: the Nadeau–Bengio variance correction, the critical-difference layout (cliques), the
  class-stratified clip-level bootstrap of a UAR difference, and the effect sizes.

Conventions: a difference is ``a − b`` (positive: ``a`` scores higher); all p-values are two-sided;
NaN inputs (missing runs) are dropped and the result's ``note`` says how many.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, replace
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

NB_T = "Nadeau-Bengio corrected t"
PAIRED_T = "paired t"
WILCOXON = "Wilcoxon signed-rank"
BOOTSTRAP = "paired bootstrap (BCa)"
FRIEDMAN = "Friedman"
IMAN_DAVENPORT = "Iman-Davenport F"
CLIP_BOOTSTRAP = "clip bootstrap (class-stratified, percentile)"

COHEN_DZ = "Cohen's d_z"
RANK_BISERIAL = "matched-pairs rank-biserial r"
KENDALL_W = "Kendall's W"

#: Below this many blocks the Friedman chi-square approximation is rough (Demšar 2006, §3.2.2).
FRIEDMAN_MIN_BLOCKS = 10

_NAN = float("nan")


@dataclass(frozen=True)
class TestResult:
    """One test's outcome; ``estimate`` is in the metric's units, ``effect_size`` is standardised."""

    __test__ = False  # not a pytest test class despite the name

    test: str
    statistic: float
    pvalue: float
    n: int
    estimate: float
    ci_low: float
    ci_high: float
    effect_size: float
    effect_size_name: str
    note: str = ""

    def as_dict(self) -> dict:
        """Return the fields as a plain dict (one row of a statistics table)."""
        return asdict(self)


# ---------------------------------------------------------------------------------------------
# helpers


def _clean(values) -> tuple[np.ndarray, int]:
    """Return (the finite values as a 1-d float array, the number of NaN values dropped)."""
    x = np.asarray(values, dtype=float).ravel()
    keep = ~np.isnan(x)
    if np.isinf(x[keep]).any():
        raise ValueError("differences must be finite or NaN (missing)")
    return x[keep], int((~keep).sum())


def _join(*notes: str) -> str:
    return "; ".join(n for n in notes if n)


def _dropped_note(dropped: int) -> str:
    return f"{dropped} NaN cell(s) dropped" if dropped else ""


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def cohens_dz(differences) -> float:
    """Return Cohen's d_z = mean / sd (ddof=1) of paired differences; 0 if all are 0, NaN if n < 2.

    ±inf when the differences are all equal and nonzero.
    """
    d, _ = _clean(differences)
    if len(d) < 2:
        return _NAN
    mean, sd = d.mean(), d.std(ddof=1)
    if sd == 0:
        return 0.0 if mean == 0 else float(np.sign(mean) * np.inf)
    return float(mean / sd)


#: The fewest paired differences for which the t-tests give a p-value.
MIN_T_CELLS = 3


def _t_from_se(d: np.ndarray, var_factor: float, confidence: float, test: str, note: str) -> TestResult:
    """Return the one-sample t-test of ``d`` against 0 with ``Var(mean) = s² · var_factor``.

    Below ``MIN_T_CELLS`` differences no p-value is given: with 1 df a near-constant pair of
    differences yields an arbitrarily large t, which would read as a strong result.
    """
    n = len(d)
    if n < MIN_T_CELLS:
        estimate = float(d.mean()) if n else _NAN
        return TestResult(test, _NAN, _NAN, n, estimate, _NAN, _NAN, cohens_dz(d), COHEN_DZ,
                          _join(note, f"n = {n} < {MIN_T_CELLS} cells: too few for a t-test (descriptive only)"))
    mean, var = float(d.mean()), float(d.var(ddof=1))
    se = np.sqrt(var * var_factor)
    df = n - 1
    dz = cohens_dz(d)
    if se == 0:
        if mean == 0:
            return TestResult(test, _NAN, 1.0, n, 0.0, 0.0, 0.0, dz, COHEN_DZ, _join(note, "all differences zero"))
        return TestResult(test, float(np.sign(mean) * np.inf), 0.0, n, mean, mean, mean, dz, COHEN_DZ,
                          _join(note, "all differences equal (zero variance): t is infinite"))
    t = mean / se
    half = sps.t.ppf(0.5 + confidence / 2, df) * se
    p = float(min(1.0, 2 * sps.t.sf(abs(t), df)))
    return TestResult(test, float(t), p, n, mean, mean - half, mean + half, dz, COHEN_DZ, note)


# ---------------------------------------------------------------------------------------------
# paired tests within one dataset (cells = folds × seeds)


def nadeau_bengio_ttest(differences, test_train_ratio: float, confidence: float = 0.95) -> TestResult:
    """Return the Nadeau–Bengio (2003) corrected resampled t-test of the mean paired difference.

    ``differences`` holds one paired difference per train/test split (J of them); the splits share
    training data, so the variance of the mean is ``s² · (1/J + n_test/n_train)`` instead of
    ``s²/J``. ``test_train_ratio`` is ``n_test/n_train`` (1/4 for 5-fold CV; 0 gives the plain
    t-test). df = J − 1, two-sided p from Student's t, and the CI uses the same corrected variance.
    ``estimate`` is the mean difference; ``effect_size`` is Cohen's d_z (uncorrected sd).

    Zero variance: all differences 0 → statistic NaN, p = 1; all equal and nonzero → t = ±inf,
    p = 0 (as ``scipy.stats.ttest_1samp``). Fewer than ``MIN_T_CELLS`` cells → NaN statistic and p.

    Repeated k-fold with fixed folds (seeds only change initialisation) is not a re-drawn
    resampling: average the seeds within each fold first and pass one difference per fold.
    """
    _check_confidence(confidence)
    if not np.isfinite(test_train_ratio) or test_train_ratio < 0:
        raise ValueError(f"test_train_ratio must be finite and >= 0, got {test_train_ratio}")
    d, dropped = _clean(differences)
    factor = (1.0 / len(d) + test_train_ratio) if len(d) else 1.0
    return _t_from_se(d, factor, confidence, NB_T, _dropped_note(dropped))


def paired_ttest(differences, confidence: float = 0.95) -> TestResult:
    """Return the plain paired t-test (``scipy.stats.ttest_1samp`` against 0) of the differences.

    Assumes independent cells; for cross-validation cells that share training data use
    :func:`nadeau_bengio_ttest`. ``estimate`` is the mean difference with scipy's t CI;
    ``effect_size`` is Cohen's d_z. Zero variance is handled as in :func:`nadeau_bengio_ttest`.
    """
    _check_confidence(confidence)
    d, dropped = _clean(differences)
    note = _dropped_note(dropped)
    if len(d) < MIN_T_CELLS or d.std() == 0:
        return _t_from_se(d, 1.0 / max(len(d), 1), confidence, PAIRED_T, note)
    res = sps.ttest_1samp(d, 0.0)
    ci = res.confidence_interval(confidence)
    return TestResult(PAIRED_T, float(res.statistic), float(res.pvalue), len(d), float(d.mean()),
                      float(ci.low), float(ci.high), cohens_dz(d), COHEN_DZ, note)


def hodges_lehmann(differences) -> float:
    """Return the Hodges–Lehmann estimate: the median of the Walsh averages (d_i + d_j)/2, i ≤ j."""
    d, _ = _clean(differences)
    if not len(d):
        return _NAN
    i, j = np.triu_indices(len(d))
    return float(np.median((d[i] + d[j]) / 2))


def rank_biserial(differences) -> float:
    """Return the matched-pairs rank-biserial r = (W+ − W−)/(W+ + W−) over the nonzero differences.

    Ranks of |d| are averaged over ties; zeros are dropped (as in ``zero_method="wilcox"``).
    Range [−1, 1]; 0 when there is no nonzero difference.
    """
    d, _ = _clean(differences)
    d = d[d != 0]
    if not len(d):
        return 0.0
    ranks = sps.rankdata(np.abs(d))
    return float((ranks[d > 0].sum() - ranks[d < 0].sum()) / ranks.sum())


def wilcoxon_signed_rank(differences) -> TestResult:
    """Return the two-sided Wilcoxon signed-rank test of the differences (``scipy.stats.wilcoxon``).

    Choices (all scipy's defaults, so results reproduce in scipy and R's ``wilcox.test``):

    * ``zero_method="wilcox"``: zero differences are discarded before ranking; ``n`` still counts
      every cell and the note says how many zeros were dropped.
    * ties: ranks of equal |d| are averaged.
    * ``method="auto"``: the exact null distribution when n ≤ 50 and there are no ties or zeros;
      with ties or zeros an exhaustive sign-flip permutation for n ≤ 13; otherwise the normal
      approximation with tie correction, no continuity correction.

    ``statistic`` is scipy's: min(W+, W−). ``estimate`` is the Hodges–Lehmann pseudomedian of all
    differences (zeros included); no CI (NaN). ``effect_size`` is the matched-pairs rank-biserial r.
    All differences zero → statistic NaN, p = 1, estimate and effect 0. With fewer than 6 nonzero
    differences the test cannot reach p < 0.05 (smallest two-sided p = 2/2^n) and the note says so.
    """
    d, dropped = _clean(differences)
    nonzero = int((d != 0).sum())
    zeros = len(d) - nonzero
    notes = [_dropped_note(dropped), f"{zeros} zero difference(s) discarded" if zeros and nonzero else ""]
    if nonzero == 0:
        reason = "all differences zero" if len(d) else "no cells"
        return TestResult(WILCOXON, _NAN, 1.0 if len(d) else _NAN, len(d), 0.0 if len(d) else _NAN,
                          _NAN, _NAN, 0.0 if len(d) else _NAN, RANK_BISERIAL, _join(*notes, reason))
    if nonzero < 6:
        notes.append(f"n_nonzero = {nonzero} < 6: Wilcoxon cannot reach p < 0.05")
    res = sps.wilcoxon(d, zero_method="wilcox", alternative="two-sided", method="auto")
    return TestResult(WILCOXON, float(res.statistic), float(res.pvalue), len(d), hodges_lehmann(d),
                      _NAN, _NAN, rank_biserial(d), RANK_BISERIAL, _join(*notes))


def bootstrap_mean_ci(differences, confidence: float = 0.95, n_resamples: int = 9999,
                      seed: int = 0) -> tuple[float, float]:
    """Return the bootstrap CI (low, high) of the mean difference (``scipy.stats.bootstrap``).

    BCa by default; falls back to the percentile interval when BCa is degenerate (NaN, e.g. few
    distinct values). All differences equal → (mean, mean); fewer than 2 cells → (NaN, NaN).
    Deterministic for a given ``seed``. Each call costs ~n_resamples means plus an n-point
    jackknife: lower ``n_resamples`` (e.g. 1999) when calling it thousands of times.
    """
    _check_confidence(confidence)
    d, _ = _clean(differences)
    if len(d) < 2:
        return _NAN, _NAN
    if np.ptp(d) == 0:
        return float(d[0]), float(d[0])
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = sps.bootstrap((d,), np.mean, n_resamples=n_resamples, vectorized=True,
                                confidence_level=confidence, method=method, rng=np.random.default_rng(seed))
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            return low, high
    return _NAN, _NAN


def _aligned_differences(a, b) -> np.ndarray:
    """Return a − b per cell; two Series are aligned on their index (cells missing in one → NaN)."""
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        a, b = a.align(b, join="outer")
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"a and b must have one value per cell, got {a.shape} and {b.shape}")
    return a - b


def compare_paired(a, b, test_train_ratio: float, confidence: float = 0.95, seed: int = 0,
                   n_resamples: int = 9999) -> dict[str, TestResult]:
    """Return the paired comparison of ``a`` against ``b`` over the same cells (a − b).

    ``a`` and ``b`` hold one score per (fold, seed) cell, in the same order (or as two pandas
    Series, aligned on their index). Cells missing in either are dropped. Keys:

    * ``"nb_t"``: :func:`nadeau_bengio_ttest` with ``test_train_ratio``;
    * ``"wilcoxon"``: :func:`wilcoxon_signed_rank`;
    * ``"bootstrap"``: the mean difference with :func:`bootstrap_mean_ci` (``statistic`` and
      ``pvalue`` NaN, ``effect_size`` Cohen's d_z).
    """
    d = _aligned_differences(a, b)
    clean, dropped = _clean(d)
    low, high = bootstrap_mean_ci(clean, confidence, n_resamples=n_resamples, seed=seed)
    boot = TestResult(BOOTSTRAP, _NAN, _NAN, len(clean), float(clean.mean()) if len(clean) else _NAN,
                      low, high, cohens_dz(clean), COHEN_DZ,
                      _join(_dropped_note(dropped), f"{n_resamples} resamples, seed {seed}"))
    return {
        "nb_t": nadeau_bengio_ttest(d, test_train_ratio, confidence),
        "wilcoxon": wilcoxon_signed_rank(d),
        "bootstrap": boot,
    }


# ---------------------------------------------------------------------------------------------
# multiplicity


def holm(pvalues) -> np.ndarray:
    """Return Holm-adjusted p-values (statsmodels ``multipletests``, method ``"holm"``).

    Same shape as the input; NaN entries stay NaN and do not count towards the number of tests m.
    """
    p = np.asarray(pvalues, dtype=float)
    flat = p.ravel()
    finite = ~np.isnan(flat)
    if ((flat[finite] < 0) | (flat[finite] > 1)).any():
        raise ValueError("p-values must lie in [0, 1]")
    adjusted = np.full(flat.shape, np.nan)
    if finite.any():
        adjusted[finite] = multipletests(flat[finite], method="holm")[1]
    return adjusted.reshape(p.shape)


# ---------------------------------------------------------------------------------------------
# across datasets: Friedman, mean ranks, Nemenyi critical difference


def _complete_blocks(scores: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Return (the rows without NaN, the number of rows dropped)."""
    complete = scores.dropna(axis=0, how="any")
    return complete, len(scores) - len(complete)


def friedman(scores: pd.DataFrame) -> TestResult:
    """Return the Friedman test over ``scores`` (rows = datasets/blocks, columns = methods).

    Uses ``scipy.stats.friedmanchisquare`` (chi-square with tie correction); rows with a missing
    method are dropped. ``n`` is the number of blocks; ``estimate`` and CI are NaN (no effect in
    metric units); ``effect_size`` is Kendall's W = χ²/(N(k − 1)) (tie-corrected with χ²).
    With 2 methods Friedman is not defined here: NaN with a note to use the Wilcoxon/sign test on
    the paired differences. Fewer than ``FRIEDMAN_MIN_BLOCKS`` blocks are flagged as descriptive.
    """
    complete, dropped = _complete_blocks(scores)
    n, k = complete.shape
    notes = [f"{dropped} block(s) with missing methods dropped" if dropped else ""]
    if k < 3:
        notes.append(f"{k} method(s): Friedman needs >= 3; use the Wilcoxon signed-rank (or sign) test on the paired differences")
        return TestResult(FRIEDMAN, _NAN, _NAN, n, _NAN, _NAN, _NAN, _NAN, KENDALL_W, _join(*notes))
    if n < 2:
        notes.append(f"N = {n} block(s): nothing to test")
        return TestResult(FRIEDMAN, _NAN, _NAN, n, _NAN, _NAN, _NAN, _NAN, KENDALL_W, _join(*notes))
    if n < FRIEDMAN_MIN_BLOCKS:
        notes.append(f"N = {n} < {FRIEDMAN_MIN_BLOCKS} blocks: chi-square approximation is rough, treat as descriptive")
    values = complete.to_numpy(dtype=float)
    if (values == values[:, :1]).all():
        return TestResult(FRIEDMAN, 0.0, 1.0, n, _NAN, _NAN, _NAN, 0.0, KENDALL_W,
                          _join(*notes, "all methods tied in every block"))
    res = sps.friedmanchisquare(*values.T)
    chi2 = float(res.statistic)
    return TestResult(FRIEDMAN, chi2, float(res.pvalue), n, _NAN, _NAN, _NAN, chi2 / (n * (k - 1)),
                      KENDALL_W, _join(*notes))


def iman_davenport(scores: pd.DataFrame) -> TestResult:
    """Return the Iman–Davenport F version of the Friedman test (Demšar 2006, preferred to χ²).

    F = (N − 1)χ² / (N(k − 1) − χ²) with df (k − 1, (k − 1)(N − 1)); other fields as :func:`friedman`.
    """
    base = friedman(scores)
    if not np.isfinite(base.statistic):
        return replace(base, test=IMAN_DAVENPORT)
    n, k = base.n, scores.shape[1]
    denom = n * (k - 1) - base.statistic
    if denom <= 0:  # perfect agreement (W = 1): F is infinite
        f_stat, p = np.inf, 0.0
    else:
        f_stat = (n - 1) * base.statistic / denom
        p = float(sps.f.sf(f_stat, k - 1, (k - 1) * (n - 1)))
    return TestResult(IMAN_DAVENPORT, float(f_stat), p, n, _NAN, _NAN, _NAN, base.effect_size, KENDALL_W, base.note)


def mean_ranks(scores: pd.DataFrame, higher_is_better: bool = True) -> pd.Series:
    """Return each method's average rank over blocks (1 = best; ties get the average rank).

    Rows = datasets/blocks, columns = methods; rows with a missing method are dropped so all methods
    are ranked on the same blocks. The Series is indexed by method, in column order.
    """
    complete, _ = _complete_blocks(scores)
    ranks = complete.rank(axis=1, ascending=not higher_is_better, method="average")
    return ranks.mean(axis=0).rename("mean_rank")


@lru_cache(maxsize=256)
def _nemenyi_q(n_methods: int, alpha: float) -> float:
    return float(sps.studentized_range.ppf(1 - alpha, n_methods, np.inf) / np.sqrt(2))


def nemenyi_critical_difference(n_methods: int, n_datasets: int, alpha: float = 0.05) -> float:
    """Return the Nemenyi critical difference of mean ranks: q_α · sqrt(k(k + 1)/(6N)).

    q_α is the studentized range quantile (k groups, infinite df) divided by √2 (Demšar 2006,
    Table 5: k = 5 → q_0.05 = 2.728). Two methods differ significantly if their mean ranks differ
    by at least the CD.
    """
    if n_methods < 2 or n_datasets < 1:
        raise ValueError(f"need >= 2 methods and >= 1 dataset, got k={n_methods}, N={n_datasets}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return _nemenyi_q(int(n_methods), float(alpha)) * np.sqrt(n_methods * (n_methods + 1) / (6 * n_datasets))


def cd_cliques(ranks: pd.Series, cd: float) -> list[tuple[str, ...]]:
    """Return the bars of a CD diagram: maximal groups of ≥ 2 methods whose rank spread is < ``cd``.

    Methods are ordered by rank (best first, ties by name); each group is a run of consecutive
    methods, and no returned group is contained in another. A method that differs from every other
    by at least ``cd`` is in no group. NaN ranks are ignored.
    """
    clean = ranks.dropna()
    order = sorted(clean.items(), key=lambda kv: (kv[1], str(kv[0])))
    names = [name for name, _ in order]
    values = np.array([value for _, value in order], dtype=float)
    cliques: list[tuple[str, ...]] = []
    last_end = -1
    for start in range(len(values)):
        end = start + int((values[start:] - values[start] < cd).sum()) - 1  # last method with spread < cd
        if end > last_end and end > start:
            cliques.append(tuple(names[start:end + 1]))
        last_end = max(last_end, end)
    return cliques


# ---------------------------------------------------------------------------------------------
# clip level: one run cell, paired bootstrap over test clips


def clip_bootstrap_uar_difference(labels, pred_a, pred_b, n_resamples: int = 2000, seed: int = 0,
                                  confidence: float = 0.95, classes=None) -> TestResult:
    """Return the paired, class-stratified bootstrap of UAR(a) − UAR(b) over the test clips of one run.

    Clips are resampled with replacement within each class (so every class keeps its support and
    stays present), and the same clips are used for both predictors. UAR is the mean recall over the
    classes present in ``labels``; entries of ``classes`` with no clip are excluded (listed in the
    note). ``estimate`` is the observed UAR difference; the CI is the percentile interval; the
    two-sided p is ``min(1, 2 · (1 + #{resampled differences on the other side of 0, 0 included})
    / (n_resamples + 1))``, and p = 1 when the estimate is 0. ``statistic`` and ``effect_size`` are
    NaN (the difference is already in UAR units). ``n`` is the number of clips.

    Vectorised: a class's resampled mean of per-clip differences (−1, 0, +1) depends only on how
    many of each value are drawn, so it is drawn as one multinomial per class and resample; this is
    the same distribution as resampling clip indices, at O(classes × n_resamples) cost.
    """
    _check_confidence(confidence)
    labels, pred_a, pred_b = (np.asarray(x).ravel() for x in (labels, pred_a, pred_b))
    if not labels.shape == pred_a.shape == pred_b.shape:
        raise ValueError(f"labels and predictions must have equal length, got {labels.shape}, {pred_a.shape}, {pred_b.shape}")
    present = np.unique(labels)
    classes = present if classes is None else np.asarray(classes)
    unknown = np.setdiff1d(present, classes)
    if len(unknown):
        raise ValueError(f"labels contain classes not in `classes`: {unknown.tolist()}")
    absent = np.setdiff1d(classes, present)
    note = f"classes absent from labels, excluded from UAR: {absent.tolist()}" if len(absent) else ""
    if not len(present):
        return TestResult(CLIP_BOOTSTRAP, _NAN, _NAN, 0, _NAN, _NAN, _NAN, _NAN, "", _join(note, "no clips"))

    diff = (pred_a == labels).astype(np.int8) - (pred_b == labels).astype(np.int8)
    rng = np.random.default_rng(seed)
    observed = np.empty(len(present))
    resampled = np.zeros(n_resamples)
    for i, c in enumerate(present):
        d_c = diff[labels == c]
        counts = np.array([(d_c == 1).sum(), (d_c == -1).sum(), (d_c == 0).sum()])
        observed[i] = (counts[0] - counts[1]) / len(d_c)
        draws = rng.multinomial(len(d_c), counts / len(d_c), size=n_resamples)
        resampled += (draws[:, 0] - draws[:, 1]) / len(d_c)
    resampled /= len(present)
    # sums of ±1/n_c terms that cancel exactly can land at ±1e-17; count those as 0
    resampled[np.abs(resampled) < 1e-12] = 0.0
    estimate = float(observed.mean())
    estimate = 0.0 if abs(estimate) < 1e-12 else estimate
    low, high = np.quantile(resampled, [0.5 - confidence / 2, 0.5 + confidence / 2])
    if estimate == 0:
        p = 1.0
    else:
        other_side = int((resampled <= 0).sum() if estimate > 0 else (resampled >= 0).sum())
        p = min(1.0, 2 * (1 + other_side) / (n_resamples + 1))
    return TestResult(CLIP_BOOTSTRAP, _NAN, p, len(labels), estimate, float(low), float(high), _NAN, "",
                      _join(note, f"{n_resamples} resamples, seed {seed}"))
