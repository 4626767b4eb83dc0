"""``hdfbench analyze``: load a results directory, compute and write tables, plots, report, MLflow copy.

Stages are separate so the scale benchmark can time "tables + statistics" apart from plots.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from hdfbench.analysis import captions
from hdfbench.analysis.ablation import ablation_pairs, ablation_table
from hdfbench.analysis.comparisons import Settings, comparison_table, reference_pairs, select
from hdfbench.analysis.formatting import (
    WrittenTable,
    display_ablation,
    display_calibration,
    display_group_recall,
    display_held_out,
    display_main,
    display_oracle,
    display_per_class,
    display_per_class_difference,
    display_phenomena,
    display_published,
    display_ranks,
    display_shift_gap,
    display_statistics,
    write_table,
)
from hdfbench.analysis.load import Experiment, ResultsError, class_support, load_experiment
from hdfbench.analysis.phenomena import phenomena_table
from hdfbench.analysis.published import measured_protocol, published_beside
from hdfbench.analysis.ranks import RankResult, rank_datasets
from hdfbench.analysis.shift import shift_frames
from hdfbench.analysis.summary import write_summary_table
from hdfbench.analysis.tables import (
    ORACLE,
    calibration_table,
    headline_metrics,
    main_table,
    oracle_table,
    per_class_difference,
    per_class_table,
    present,
)
from hdfbench.training.selection import ORACLE_LABEL

log = logging.getLogger(__name__)


@dataclass
class Options:
    """What ``analyze`` compares and how."""

    reference: str | None = None  # default: "erm" if present, else the first variant
    metrics: tuple[str, ...] = ("test_uar",)  # metrics of the statistics table; the first drives ablation/ranks
    full: tuple[str, ...] = ()  # variants marked as the full model of their ablation family
    alpha: float = 0.05
    confidence: float = 0.95
    pair_by: str = "fold"  # "fold": seeds averaged per fold (primary); "cell": descriptive
    rope: float = 0.01  # region of practical equivalence, metric units (0.01 = 1 pp)
    plots: bool = True
    mlflow: bool = True
    seed: int = 0

    @property
    def settings(self) -> Settings:
        """Return the settings of the comparisons."""
        return Settings(
            pair_by=self.pair_by, rope=self.rope, confidence=self.confidence, alpha=self.alpha, seed=self.seed
        )


@dataclass
class Analysis:
    """Everything ``analyze`` computed: numeric frames, written tables, figures, captions and notes."""

    experiment: Experiment
    options: Options
    reference: str | None
    out_dir: Path
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)
    tables: dict[str, WrittenTable] = field(default_factory=dict)
    captions: dict[str, str] = field(default_factory=dict)
    ranks: RankResult | None = None
    figures: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def metric(self) -> str:
        """Return the primary metric (first of ``options.metrics``)."""
        return self.options.metrics[0]


def resolve_reference(experiment: Experiment, requested: str | None) -> str | None:
    """Return the reference variant: ``requested`` (must exist), else "erm" if present, else the first."""
    variants = experiment.variants
    if requested is not None:
        if requested not in variants:
            raise ResultsError(f"reference '{requested}' has no finished run; variants present: {variants}")
        return requested
    return "erm" if "erm" in variants else (variants[0] if variants else None)


def compute(experiment: Experiment, options: Options, out_dir: Path) -> Analysis:
    """Return the analysis with every table and statistic computed (nothing written)."""
    for metric in options.metrics:
        if len(experiment.summary) and metric not in experiment.summary:
            raise ResultsError(f"metric '{metric}' is not a summary.csv column")
    analysis = Analysis(experiment, options, resolve_reference(experiment, options.reference), out_dir)
    summary, variants, ref = experiment.summary, experiment.variants, analysis.reference
    frames, notes = analysis.frames, analysis.notes
    if summary.empty:
        notes.append("no finished run: nothing to analyse yet")
        return analysis
    assert ref is not None, "finished runs have variants, so there is a reference"
    frames["main_table"] = main_table(summary, variants)
    frames["published"] = published_beside(experiment.datasets, measured_protocols(experiment))
    frames["calibration"] = calibration_table(summary, variants)
    frames["oracle"] = oracle_table(summary, variants)
    support = class_support(experiment)
    frames["per_class_recall"] = per_class_table(summary, experiment.classes, support, variants)
    frames["per_class_difference"] = per_class_difference(summary, experiment.classes, ref, variants)
    # every comparison of the report once, so that each is Holm-adjusted once (one family per metric)
    to_reference = reference_pairs(experiment, ref)
    found, to_full, ablation_notes = ablation_pairs(experiment, list(options.full))
    notes += ablation_notes
    comparisons = comparison_table(experiment, to_reference + to_full, list(options.metrics), options.settings)
    frames["comparisons"] = comparisons
    frames["statistics"] = select(comparisons, to_reference)
    frames["ablation"] = ablation_table(experiment, found, comparisons, analysis.metric)
    frames["phenomena"] = phenomena_table(experiment, ref, options.settings)
    frames.update(shift_frames(experiment))
    analysis.ranks = rank_datasets(summary, analysis.metric, variants, options.alpha)
    if analysis.ranks is not None:
        frames["ranks"] = analysis.ranks.table()
    _caption(analysis)
    return analysis


def measured_protocols(experiment: Experiment) -> dict[str, dict[str, str]]:
    """Return dataset → how its runs were set up (``published.measured_protocol`` of its first run's config.json),
    which the published rows are compared against."""
    first = experiment.summary.drop_duplicates("dataset")
    return {row.dataset: measured_protocol(experiment.run_config(row.run_id)) for row in first.itertuples()}


def _caption(analysis: Analysis) -> None:
    frames, ref, alpha = analysis.frames, analysis.reference, analysis.options.alpha
    assert ref is not None, "called by compute once there are finished runs, hence a reference"
    analysis.captions.update(
        main_table=captions.main_caption(frames["main_table"], analysis.metric, ref),
        per_class_recall=captions.per_class_caption(frames["per_class_difference"], frames["per_class_recall"], ref),
        per_class_difference=(
            f"Mean paired per-class recall difference to {ref} over the (fold, seed) cells both ran (pp, ± std)."
        ),
        statistics=captions.statistics_caption(frames["statistics"], ref, alpha),
        ranks=captions.ranks_caption(analysis.ranks),
    )
    if present(analysis.experiment.summary, ORACLE):
        analysis.captions["main_table"] += (
            f" The 'selected on test' columns are {ORACLE_LABEL}: reported beside the honest selection, never used."
        )
    if len(frames["published"]):
        analysis.captions["main_table"] += (
            " Rows marked [published] are the literature's numbers as published, not comparable with this sweep "
            "(why: the source column and the published table below); they enter no statistic or rank."
        )
        analysis.captions["published"] = captions.published_caption(frames["published"])
    if len(frames["calibration"]):
        analysis.captions["calibration"] = captions.calibration_caption(frames["calibration"])
    if len(frames["oracle"]):
        analysis.captions["oracle"] = captions.oracle_caption(frames["oracle"], ORACLE_LABEL)
    if len(frames["ablation"]):
        analysis.captions["ablation"] = captions.ablation_caption(frames["ablation"], alpha)
    if len(frames["phenomena"]):
        analysis.captions["phenomena"] = captions.phenomena_caption(frames["phenomena"], alpha)
    shift = {
        "shift_gap": captions.shift_gap_caption,
        "group_recall": captions.group_recall_caption,
        "held_out": captions.held_out_caption,
    }
    analysis.captions.update({name: caption(frames[name]) for name, caption in shift.items() if name in frames})


def write_tables(analysis: Analysis) -> None:
    """Write every computed table as CSV + Markdown + LaTeX into the output folder."""
    out, frames = analysis.out_dir / "tables", analysis.frames
    write_summary_table(frames.get("main_table", pd.DataFrame()), analysis.out_dir)
    if "main_table" not in frames:
        return
    metrics = headline_metrics(analysis.experiment.summary)
    displays = {
        "main_table": display_main(
            frames["main_table"], metrics + present(analysis.experiment.summary, ORACLE), frames["published"]
        ),
        "published": display_published(frames["published"]) if len(frames["published"]) else None,
        "calibration": display_calibration(frames["calibration"]) if len(frames["calibration"]) else None,
        "oracle": display_oracle(frames["oracle"]) if len(frames["oracle"]) else None,
        "per_class_recall": display_per_class(frames["per_class_recall"]),
        "per_class_difference": display_per_class_difference(frames["per_class_difference"]),
        "statistics": display_statistics(frames["statistics"]) if len(frames["statistics"]) else None,
        "ablation": display_ablation(frames["ablation"], metrics) if len(frames["ablation"]) else None,
        "ranks": display_ranks(frames["ranks"]) if "ranks" in frames else None,
        "phenomena": display_phenomena(frames["phenomena"]) if len(frames["phenomena"]) else None,
        "shift_gap": display_shift_gap(frames["shift_gap"]) if "shift_gap" in frames else None,
        "group_recall": display_group_recall(frames["group_recall"]) if "group_recall" in frames else None,
        "held_out": display_held_out(frames["held_out"]) if "held_out" in frames else None,
    }
    for name, display in displays.items():
        if display is not None and len(display):
            caption = analysis.captions.get(name, "")
            analysis.tables[name] = write_table(out, name, frames[name], display, caption)


def analyze(experiment_dir: str | Path, out_dir: str | Path, options: Options | None = None) -> Analysis:
    """Analyse ``experiment_dir`` into ``out_dir`` (tables, figures, report, MLflow); return the analysis."""
    options = options or Options()
    experiment = load_experiment(experiment_dir)
    analysis = compute(experiment, options, Path(out_dir))
    write_tables(analysis)
    if options.plots and len(experiment.summary):
        from hdfbench.analysis.plots import make_figures

        analysis.figures = make_figures(analysis)
    from hdfbench.analysis.report import write_report

    write_report(analysis)
    if options.mlflow:
        from hdfbench.analysis.mlflow_log import log_analysis

        analysis.notes.append(log_analysis(analysis))
    return analysis
