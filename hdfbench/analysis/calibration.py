"""Type-I error and power of the report's significance decisions, measured on simulated sweeps.

A simulated comparison of two variants on a design of k folds × r seeds gives cell (f, s) the
difference

    d_fs = δ + g + h_f + e_fs,

with g shared by every fold (the training data all k-fold training sets have in common), h_f
particular to fold f, and e_fs the seed noise. g's variance makes the correlation of two folds'
seed-averaged differences equal to the partition's n_test / (n_test + n_train) = 1/k, the
dependence the Nadeau–Bengio correction models; the seeds of a fold are much more alike than two
folds are. Each simulated comparison goes through ``comparisons.test_units`` — the function the
report uses — or, for one split, through nothing that can be called significant; a rejection is a
comparison the report would call significant at α (one comparison, so Holm changes nothing).
Across datasets, the scores of k variants on N datasets are drawn with no difference, and a
rejection is the Iman–Davenport F rejecting at α (which alone licenses Nemenyi's CD).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hdfbench.analysis import stats
from hdfbench.analysis.comparisons import Settings, test_units


@dataclass(frozen=True)
class Design:
    """A sweep design: folds × seeds, fold-specific and seed noise (metric units)."""

    name: str
    folds: int
    seeds: int
    fold_sd: float = 0.012
    seed_sd: float = 0.012

    @property
    def ratio(self) -> float:
        """Return the Nadeau–Bengio ratio n_test/n_train of the k-fold partition (NaN for one split)."""
        return 1.0 / (self.folds - 1) if self.folds > 1 else float("nan")

    def shared_sd(self) -> float:
        """Return the sd of the component shared by all folds: fold means correlate at 1/k."""
        if self.folds < 2:
            return 0.0
        rho = 1.0 / self.folds
        return float(np.sqrt(rho / (1 - rho) * (self.fold_sd**2 + self.seed_sd**2 / self.seeds)))


#: The designs of the calibration table (issue 10): within-fold correlation above across-fold.
DESIGNS = (
    Design("5 folds × 3 seeds, correlated cells", 5, 3, fold_sd=0.012, seed_sd=0.006),
    Design("5 folds × 1 seed", 5, 1),
    Design("1 fold × 3 seeds", 1, 3),
    Design("10 folds × 2 seeds", 10, 2),
)


def simulate_cells(design: Design, effect: float, rng: np.random.Generator) -> pd.DataFrame:
    """Return one simulated comparison's paired cells: fold, seed, a, b (b around 0.5, a = b + d)."""
    folds, seeds = np.meshgrid(np.arange(1, design.folds + 1), np.arange(design.seeds), indexing="ij")
    shared = rng.normal(0, design.shared_sd())
    per_fold = rng.normal(0, design.fold_sd, size=(design.folds, 1))
    noise = rng.normal(0, design.seed_sd, size=(design.folds, design.seeds))
    d = effect + shared + per_fold + noise
    b = 0.5 + rng.normal(0, 0.02, size=(design.folds, 1)) + rng.normal(0, 0.01, size=d.shape)
    return pd.DataFrame({"fold": folds.ravel(), "seed": seeds.ravel(), "a": (b + d).ravel(), "b": b.ravel()})


def significant(cells: pd.DataFrame, design: Design, settings: Settings) -> bool:
    """Return whether the report would call this comparison significant (on one split nothing is)."""
    if cells["fold"].nunique() < 2:
        return False
    row = test_units(cells, design.ratio, settings)
    return bool(row["primary"]) and np.isfinite(row["p"]) and row["p"] < settings.alpha


def rejection_rate(design: Design, effect: float, n_sweeps: int, settings: Settings, seed: int = 0) -> float:
    """Return the share of ``n_sweeps`` simulated comparisons called significant."""
    rng = np.random.default_rng(seed)
    return float(np.mean([significant(simulate_cells(design, effect, rng), design, settings) for _ in range(n_sweeps)]))


def omnibus_rate(n_datasets: int, n_variants: int, n_sweeps: int, alpha: float = 0.05, seed: int = 0) -> float:
    """Return how often Iman–Davenport's F rejects at ``alpha`` when no variant differs (N datasets, k variants)."""
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(n_sweeps):
        base = rng.normal(0.5, 0.05, size=(n_datasets, 1))
        scores = pd.DataFrame(base + rng.normal(0, 0.01, size=(n_datasets, n_variants)))
        hits += stats.iman_davenport(scores).pvalue < alpha
    return hits / n_sweeps


def calibration_table(
    n_sweeps: int = 2000,
    effect: float = 0.03,
    settings: Settings | None = None,
    seed: int = 0,
    across: tuple[int, int] = (5, 4),
) -> pd.DataFrame:
    """Return, per design, the rejection rate under no difference and the power at ``effect``.

    Rows: each design's primary test (fold pairing), the same cells paired by cell (descriptive, for
    comparison: never called significant by the report), and the across-dataset omnibus test.
    """
    settings = settings or Settings()
    cell = Settings(pair_by="cell", rope=settings.rope, confidence=settings.confidence, alpha=settings.alpha)
    rows = []
    for design in DESIGNS:
        test = stats.NB_T + " over folds (primary)" if design.folds > 1 else "none (one split: no test)"
        rows.append(
            {
                "design": design.name,
                "statistic": test,
                "can_be_significant": design.folds > 1,
                "null_rate": rejection_rate(design, 0.0, n_sweeps, settings, seed),
                "power": rejection_rate(design, effect, n_sweeps, settings, seed + 1),
                "n_sweeps": n_sweeps,
            }
        )
        if design.folds > 1 and design.seeds > 1:
            rng = np.random.default_rng(seed + 2)
            raw = [
                test_units(simulate_cells(design, 0.0, rng), design.ratio, cell)["p"] < settings.alpha
                for _ in range(n_sweeps)
            ]
            rows.append(
                {
                    "design": design.name,
                    "statistic": stats.NB_T + " over (fold, seed) cells (descriptive)",
                    "can_be_significant": False,
                    "null_rate": float(np.mean(raw)),
                    "power": np.nan,
                    "n_sweeps": n_sweeps,
                }
            )
    n, k = across
    rows.append(
        {
            "design": f"{n} datasets × {k} variants",
            "statistic": stats.IMAN_DAVENPORT + " (omnibus)",
            "can_be_significant": True,
            "null_rate": omnibus_rate(n, k, n_sweeps, settings.alpha, seed),
            "power": np.nan,
            "n_sweeps": n_sweeps,
        }
    )
    return pd.DataFrame(rows)
