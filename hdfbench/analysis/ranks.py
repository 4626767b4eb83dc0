"""Across-dataset comparison: Friedman test on mean ranks and the Nemenyi critical difference.

With few datasets (< ``DESCRIPTIVE_BELOW``) the Friedman test has almost no power and folds are
not independent blocks, so the ranks and CD diagram are labelled descriptive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from hdfbench.analysis import stats

#: Below this many datasets the across-dataset result is descriptive only.
DESCRIPTIVE_BELOW = 5


@dataclass
class RankResult:
    """Scores (datasets × variants, mean over folds × seeds), mean ranks, Friedman test and CD cliques."""

    metric: str
    scores: pd.DataFrame
    ranks: pd.Series
    friedman: stats.TestResult | None
    cd: float
    cliques: list[tuple[str, ...]] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    @property
    def descriptive(self) -> bool:
        """Return whether there are too few datasets for an inferential claim."""
        return len(self.scores) < DESCRIPTIVE_BELOW

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
    test = stats.friedman(scores) if len(complete) >= 3 else None
    cd = stats.nemenyi_critical_difference(len(complete), len(scores), alpha=alpha)
    return RankResult(metric, scores, ranks, test, cd, stats.cd_cliques(ranks, cd), dropped)
