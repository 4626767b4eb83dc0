"""Significance tests, intervals, a Bayesian comparison and rank statistics for comparing strategies.

Every test returns a :class:`TestResult` that carries the test's name, n, the estimate in the metric's
units with its interval, and a standardised effect size, so a table never shows a p-value without them.

What is computed here and what comes from libraries:

* scipy / statsmodels: the plain paired t (``ttest_1samp``), Friedman, Student's t and F
  distributions, Holm (``multipletests``), the studentized range.
* in-house: the Nadeau–Bengio variance correction, the Bayesian correlated t-test (checked against
  ``baycomp``), the two-level (seeds × clips) bootstrap of one split, the critical-difference layout
  (cliques) and the effect sizes.

Conventions: a difference is ``a − b`` (positive: ``a`` scores higher); all p-values are two-sided;
NaN inputs (missing runs) are dropped and the result's ``note`` says how many.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from functools import lru_cache

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.multitest import multipletests

NB_T = "Nadeau-Bengio corrected t"
PAIRED_T = "paired t"
BAYES_T = "Bayesian correlated t"
TWO_LEVEL_BOOTSTRAP = "two-level bootstrap (seeds × test clips, percentile)"
FRIEDMAN = "Friedman"
IMAN_DAVENPORT = "Iman-Davenport F"

COHEN_DZ = "Cohen's d_z"
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
        return TestResult(
            test,
            _NAN,
            _NAN,
            n,
            estimate,
            _NAN,
            _NAN,
            cohens_dz(d),
            COHEN_DZ,
            _join(note, f"n = {n} < {MIN_T_CELLS} cells: too few for a t-test (descriptive only)"),
        )
    mean, var = float(d.mean()), float(d.var(ddof=1))
    se = np.sqrt(var * var_factor)
    df = n - 1
    dz = cohens_dz(d)
    if se == 0:
        if mean == 0:
            return TestResult(test, _NAN, 1.0, n, 0.0, 0.0, 0.0, dz, COHEN_DZ, _join(note, "all differences zero"))
        return TestResult(
            test,
            float(np.sign(mean) * np.inf),
            0.0,
            n,
            mean,
            mean,
            mean,
            dz,
            COHEN_DZ,
            _join(note, "all differences equal (zero variance): t is infinite"),
        )
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
    return TestResult(
        PAIRED_T,
        float(res.statistic),
        float(res.pvalue),
        len(d),
        float(d.mean()),
        float(ci.low),
        float(ci.high),
        cohens_dz(d),
        COHEN_DZ,
        note,
    )


@dataclass(frozen=True)
class BayesResult:
    """The posterior probabilities that the mean difference is below −rope, inside ±rope, above +rope."""

    p_worse: float
    p_rope: float
    p_better: float
    rope: float
    n: int
    note: str = ""


def bayes_correlated_ttest(differences, test_train_ratio: float, rope: float) -> BayesResult:
    """Return the Bayesian correlated t-test of the mean paired difference (Corani & Benavoli 2015;
    Benavoli et al. 2017, JMLR 18(77)).

    With J differences from splits that share training data (correlation ρ = n_test/n_total, so
    ρ/(1 − ρ) = ``test_train_ratio``), the posterior of the mean difference under a flat prior is
    Student's t with J − 1 df, location mean(d) and scale s·sqrt(1/J + ρ/(1 − ρ)) — the
    Nadeau–Bengio variance. ``p_worse`` = P(μ < −rope), ``p_rope`` = P(|μ| ≤ rope), ``p_better`` =
    P(μ > rope). Below ``MIN_T_CELLS`` differences: NaN. Zero variance: all mass at the mean.
    """
    if rope < 0:
        raise ValueError(f"rope must be >= 0, got {rope}")
    d, dropped = _clean(differences)
    n, note = len(d), _dropped_note(dropped)
    if n < MIN_T_CELLS:
        return BayesResult(_NAN, _NAN, _NAN, rope, n, _join(note, f"n = {n} < {MIN_T_CELLS}: no posterior"))
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd == 0:
        worse, better = float(mean < -rope), float(mean > rope)
    else:
        scale = sd * np.sqrt(1.0 / n + test_train_ratio)
        worse = float(sps.t.cdf(-rope, n - 1, loc=mean, scale=scale))
        better = float(sps.t.sf(rope, n - 1, loc=mean, scale=scale))
    return BayesResult(worse, max(0.0, 1.0 - worse - better), better, rope, n, note)


#: Metrics the two-level bootstrap can recompute from per-clip predictions.
CLIP_METRICS = ("test_uar", "test_war", "worst_class_recall")


def _joint_counts(labels: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Return per class the clip counts (both right, only a right, only b right, both wrong): (C, 4)."""
    a, b = pred_a == labels, pred_b == labels
    out = np.zeros((len(classes), 4), dtype=np.int64)
    for i, c in enumerate(classes):
        m = labels == c
        out[i] = [(a & b & m).sum(), (a & ~b & m).sum(), (~a & b & m).sum(), (~a & ~b & m).sum()]
    return out


def _metric_from_hits(hits: np.ndarray, support: np.ndarray, metric: str) -> np.ndarray:
    """Return ``metric`` from per-class correct counts ``hits`` (..., C) and class support (C,);
    classes without support are left out."""
    if metric == "test_war":
        return hits.sum(axis=-1) / support.sum()
    present = support > 0
    recall = hits[..., present] / support[present]
    return recall.mean(axis=-1) if metric == "test_uar" else recall.min(axis=-1)


def two_level_bootstrap(
    seeds: list[tuple], metric: str = "test_uar", n_resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> TestResult:
    """Return the paired two-level bootstrap of ``metric``(a) − ``metric``(b) over the runs of one split.

    ``seeds`` holds one ``(labels, pred_a, pred_b)`` per training seed, on that split's test clips.
    Each resample draws the seeds with replacement and, within every drawn seed, its test clips with
    replacement *within each class* (class-stratified: supports stay fixed, as UAR needs), the same
    clips for a and b; the difference of the resample is the mean over its drawn seeds. The
    percentile interval therefore reflects training-seed and test-sample variance, and is
    conditional on the one split (it says nothing about other splits): descriptive, no p-value.
    Classes without test clips are left out of every metric. ``estimate`` is the observed mean
    difference over seeds; ``n`` the number of seeds. Fewer than ``MIN_T_CELLS`` seeds: no interval.
    """
    _check_confidence(confidence)
    if metric not in CLIP_METRICS:
        raise ValueError(f"the two-level bootstrap recomputes {CLIP_METRICS}, not {metric}")
    seeds = [tuple(np.asarray(x).ravel() for x in run) for run in seeds]
    classes = np.unique(np.concatenate([labels for labels, _, _ in seeds])) if seeds else np.array([])
    counts = (
        np.stack([_joint_counts(labels, a, b, classes) for labels, a, b in seeds]) if seeds else np.zeros((0, 0, 4))
    )
    support = counts.sum(axis=2)  # (R, C)
    hits_a, hits_b = counts[:, :, 0] + counts[:, :, 1], counts[:, :, 0] + counts[:, :, 2]  # (R, C) each
    observed = np.array(
        [
            _metric_from_hits(a, n, metric) - _metric_from_hits(b, n, metric)
            for a, b, n in zip(hits_a, hits_b, support, strict=True)
        ]
    )
    r = len(seeds)
    estimate = float(observed.mean()) if r else _NAN
    note = f"{r} seeds × {int(support[0].sum()) if r else 0} test clips"
    if r < MIN_T_CELLS:
        return TestResult(
            TWO_LEVEL_BOOTSTRAP,
            _NAN,
            _NAN,
            r,
            estimate,
            _NAN,
            _NAN,
            _NAN,
            "",
            _join(note, f"n = {r} < {MIN_T_CELLS} seeds: no interval (run at least {MIN_T_CELLS} seeds)"),
        )
    rng = np.random.default_rng(seed)
    drawn = rng.integers(0, r, size=(n_resamples, r))  # seeds of each resample
    diffs = np.empty((n_resamples, r))
    for s in range(r):
        slots = drawn == s
        m = int(slots.sum())
        if not m:
            continue
        hits_a = np.empty((m, len(classes)))
        hits_b = np.empty((m, len(classes)))
        for i in range(len(classes)):
            n_c = int(support[s, i])
            draws = rng.multinomial(n_c, counts[s, i] / n_c, size=m) if n_c else np.zeros((m, 4))
            hits_a[:, i], hits_b[:, i] = draws[:, 0] + draws[:, 1], draws[:, 0] + draws[:, 2]
        diffs[slots] = _metric_from_hits(hits_a, support[s], metric) - _metric_from_hits(hits_b, support[s], metric)
    replicates = diffs.mean(axis=1)
    low, high = np.quantile(replicates, [0.5 - confidence / 2, 0.5 + confidence / 2])
    return TestResult(
        TWO_LEVEL_BOOTSTRAP,
        _NAN,
        _NAN,
        r,
        estimate,
        float(low),
        float(high),
        _NAN,
        "",
        _join(note, f"{n_resamples} resamples, seed {seed}"),
    )


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
        notes.append(
            f"{k} method(s): Friedman needs >= 3; use the Wilcoxon signed-rank (or sign) test on the paired differences"
        )
        return TestResult(FRIEDMAN, _NAN, _NAN, n, _NAN, _NAN, _NAN, _NAN, KENDALL_W, _join(*notes))
    if n < 2:
        notes.append(f"N = {n} block(s): nothing to test")
        return TestResult(FRIEDMAN, _NAN, _NAN, n, _NAN, _NAN, _NAN, _NAN, KENDALL_W, _join(*notes))
    if n < FRIEDMAN_MIN_BLOCKS:
        notes.append(f"N = {n} < {FRIEDMAN_MIN_BLOCKS} blocks: chi-square approximation is rough, treat as descriptive")
    values = complete.to_numpy(dtype=float)
    if (values == values[:, :1]).all():
        return TestResult(
            FRIEDMAN, 0.0, 1.0, n, _NAN, _NAN, _NAN, 0.0, KENDALL_W, _join(*notes, "all methods tied in every block")
        )
    res = sps.friedmanchisquare(*values.T)
    chi2 = float(res.statistic)
    return TestResult(
        FRIEDMAN, chi2, float(res.pvalue), n, _NAN, _NAN, _NAN, chi2 / (n * (k - 1)), KENDALL_W, _join(*notes)
    )


def _rank_permutation_pvalue(scores: pd.DataFrame, n_permutations: int, seed: int) -> float:
    """Return the permutation p of the Friedman statistic: ranks shuffled within each block (row).

    The statistic is Σ_j (mean rank_j − (k + 1)/2)², monotone in χ² (and F) for the fixed tie
    pattern of each block that the permutations keep. p = (1 + #{permuted ≥ observed}) / (P + 1).
    """
    ranks = scores.rank(axis=1).to_numpy(dtype=float)
    centre = (ranks.shape[1] + 1) / 2
    observed = ((ranks.mean(axis=0) - centre) ** 2).sum()
    rng = np.random.default_rng(seed)
    shuffled = rng.permuted(np.broadcast_to(ranks, (n_permutations, *ranks.shape)), axis=2)
    permuted = ((shuffled.mean(axis=1) - centre) ** 2).sum(axis=1)
    return float((1 + (permuted >= observed - 1e-12).sum()) / (n_permutations + 1))


def iman_davenport(scores: pd.DataFrame, n_permutations: int = 10_000, seed: int = 0) -> TestResult:
    """Return the Iman–Davenport F version of the Friedman test (Demšar 2006, preferred to χ²).

    F = (N − 1)χ² / (N(k − 1) − χ²) with df (k − 1, (k − 1)(N − 1)). Below ``FRIEDMAN_MIN_BLOCKS``
    blocks the F approximation is liberal (5 datasets × 4 methods rejected 7.1 % of true nulls at
    α = 0.05 in ``benchmarks/stats_calibration.py``), so the p-value there comes from
    ``n_permutations`` random permutations of the ranks within each block instead (seeded, exact in
    expectation). Other fields as :func:`friedman`.
    """
    base = friedman(scores)
    if not np.isfinite(base.statistic):
        return replace(base, test=IMAN_DAVENPORT)
    complete, _ = _complete_blocks(scores)
    n, k = base.n, scores.shape[1]
    denom = n * (k - 1) - base.statistic
    f_stat = np.inf if denom <= 0 else (n - 1) * base.statistic / denom  # W = 1: F is infinite
    if n < FRIEDMAN_MIN_BLOCKS:
        p = _rank_permutation_pvalue(complete, n_permutations, seed)
        note = _join(
            *(part for part in base.note.split("; ") if "chi-square approximation" not in part),
            f"p from {n_permutations} within-block rank permutations (N = {n} < {FRIEDMAN_MIN_BLOCKS})",
        )
    else:
        p = 0.0 if not np.isfinite(f_stat) else float(sps.f.sf(f_stat, k - 1, (k - 1) * (n - 1)))
        note = base.note
    return TestResult(IMAN_DAVENPORT, float(f_stat), p, n, _NAN, _NAN, _NAN, base.effect_size, KENDALL_W, note)


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
            cliques.append(tuple(names[start : end + 1]))
        last_end = max(last_end, end)
    return cliques
