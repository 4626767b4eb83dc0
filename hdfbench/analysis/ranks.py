"""Across-dataset comparison: mean ranks, the Iman–Davenport omnibus test, and Nemenyi's critical difference.

Following Demšar (2006): the omnibus test is Iman–Davenport's F (less conservative than Friedman's
χ²); the Nemenyi critical difference and its cliques are computed only when the omnibus test
rejects at α and there are at least ``INFERENTIAL_FROM`` datasets. Otherwise only the mean ranks are
shown, labelled descriptive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hdfbench.analysis import stats

#: Fewer datasets than this: the across-dataset result is descriptive only.
INFERENTIAL_FROM = 5


@dataclass
class RankResult:
    """Scores (datasets × variants, mean over folds × seeds), mean ranks, the omnibus test and, when
    it licenses them, the Nemenyi CD and cliques."""

    metric: str
    scores: pd.DataFrame
    ranks: pd.Series
    omnibus: stats.TestResult | None
    alpha: float
    cd: float | None = None
    cliques: list[tuple[str, ...]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @property
    def descriptive(self) -> bool:
        """Return whether only mean ranks are shown (too few datasets, or the omnibus test did not reject)."""
        return self.cd is None

    @property
    def reason(self) -> str:
        """Return why the result is descriptive ("" when it is not)."""
        if len(self.scores) < INFERENTIAL_FROM:
            return f"N = {len(self.scores)} < {INFERENTIAL_FROM} datasets"
        if self.omnibus is None:
            return "fewer than 3 variants run on every dataset"
        if not np.isfinite(self.omnibus.pvalue) or self.omnibus.pvalue >= self.alpha:
            return f"{stats.IMAN_DAVENPORT} does not reject at α = {self.alpha}"
        return ""

    def table(self) -> pd.DataFrame:
        """Return one row per variant: mean rank and its score per dataset."""
        out = self.scores.T.add_prefix(f"{self.metric} ").assign(mean_rank=self.ranks)
        return out.sort_values("mean_rank").rename_axis("variant").reset_index()


def rank_datasets(summary: pd.DataFrame, metric: str, variants: list[str], alpha: float = 0.05) -> RankResult | None:
    """Return the across-dataset rank analysis on ``metric``, or None with fewer than 2 datasets.

    Only variants run on every dataset take part (the others are listed in ``dropped``).
    """
    scores = summary.pivot_table(index="dataset", columns="variant", values=metric, aggfunc="mean")
    complete = [v for v in variants if v in scores and scores[v].notna().all()]
    dropped = [v for v in variants if v in scores and v not in complete]
    scores = scores[complete]
    if len(scores) < 2 or len(complete) < 2:
        return None
    ranks = stats.mean_ranks(scores, higher_is_better=True)
    omnibus = stats.iman_davenport(scores) if len(complete) >= 3 else None
    result = RankResult(metric, scores, ranks, omnibus, alpha, dropped=dropped)
    if not result.reason:
        result.cd = stats.nemenyi_critical_difference(len(complete), len(scores), alpha=alpha)
        result.cliques = stats.cd_cliques(ranks, result.cd)
    return result
