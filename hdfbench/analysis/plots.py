"""The analysis figures (seaborn/matplotlib, PNG + SVG), one function per figure.

Each function returns the written ``Figure`` records (none when its inputs are absent) and a
caption computed from the plotted numbers.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from hdfbench.analysis import plot_data
from hdfbench.analysis.cd_diagram import draw_cd
from hdfbench.analysis.figure_style import Figure, palette, plt, save, setup, sns
from hdfbench.analysis.formatting import pct, signed, title
from hdfbench.analysis.train_counts import train_class_counts
from hdfbench.metrics import CALIBRATION_BINS, binned_calibration_error, confidence_bins

log = logging.getLogger(__name__)


def _axes(n: int, width: float = 5.0, height: float = 3.6):
    fig, axes = plt.subplots(1, n, figsize=(width * n, height), squeeze=False)
    return fig, axes[0]


def recall_vs_frequency(analysis, out: Path, colours: dict) -> list[Figure]:
    """Per-class recall against training class frequency (log x), Spearman ρ per variant in the legend."""
    counts = train_class_counts(analysis.experiment)
    if counts.empty:
        analysis.notes.append("imbalance plot skipped: the runs did not record train_class_counts")
        return []
    freq = counts.groupby(["dataset", "class"], as_index=False)["count"].mean()
    recall = analysis.frames["per_class_recall"].merge(freq, on=["dataset", "class"])
    datasets = sorted(recall["dataset"].unique())
    fig, axes = _axes(len(datasets), 5.5, 4.0)
    rhos = []
    for ax, dataset in zip(axes, datasets):
        for variant, rows in recall[recall["dataset"] == dataset].groupby("variant", sort=False):
            rows = rows.dropna(subset=["recall_mean"]).sort_values("count")
            rho = spearmanr(rows["count"], rows["recall_mean"]).statistic if len(rows) > 2 else np.nan
            rhos.append((dataset, variant, rho))
            ax.plot(
                rows["count"],
                100 * rows["recall_mean"],
                "o-",
                color=colours[variant],
                ms=4,
                lw=1,
                label=f"{variant} (ρ = {rho:.2f})",
            )
        ax.set_xscale("log")
        ax.set(xlabel="training clips of the class (log)", ylabel="test recall (%)", title=dataset)
        ax.legend(fontsize=7)
    rhos = pd.DataFrame(rhos, columns=["dataset", "variant", "rho"]).dropna()
    caption = "Per-class test recall (mean over runs) against the class's training count. "
    if len(rhos):
        lo, hi = rhos.loc[rhos["rho"].idxmin()], rhos.loc[rhos["rho"].idxmax()]
        spread = (
            f"Spearman ρ is {lo['rho']:.2f} for every variant"
            if f"{lo['rho']:.2f}" == f"{hi['rho']:.2f}"
            else f"Spearman ρ ranges from {lo['rho']:.2f} ({lo['variant']}, {lo['dataset']}) to {hi['rho']:.2f} "
            f"({hi['variant']}, {hi['dataset']})"
        )
        caption += spread + "; lower ρ means recall depends less on class frequency."
    figures = [save(fig, out, "recall_vs_frequency", "imbalance", caption)]
    fig, axes = _axes(len(datasets), 6, 3.4)
    for ax, dataset in zip(axes, datasets):
        rows = (
            counts[counts["dataset"] == dataset].groupby(["fold", "class"], as_index=False, sort=False)["count"].mean()
        )
        sns.barplot(rows, x="class", y="count", hue="fold", ax=ax, palette="Greys")
        ax.set(title=dataset, xlabel="", ylabel="training clips")
        ax.tick_params(axis="x", rotation=30)
    ratio = counts.groupby(["dataset", "fold", "seed"])["count"].agg(lambda c: c.max() / max(c.min(), 1)).max()
    figures.append(
        save(
            fig,
            out,
            "class_counts",
            "imbalance",
            f"Training clips per class and fold (after the inner validation split); the largest "
            f"imbalance ratio (largest / smallest class) is {ratio:.1f}.",
        )
    )
    return figures


def group_accuracy(analysis, out: Path, colours: dict) -> list[Figure]:
    """Accuracy per group value and the worst-group gap (WAR − worst-group accuracy) per variant and field."""
    summary, figures = analysis.experiment.summary, []
    fields = [f for f in analysis.experiment.group_fields if f"worst_group_acc_{f}" in summary]
    accuracies = plot_data.group_accuracy(analysis.experiment, plot_data.sample_runs(summary), fields)
    for field in fields:
        column = f"worst_group_acc_{field}"
        acc = accuracies[field]
        gaps = summary.assign(gap=summary["test_war"] - summary[column])
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8), gridspec_kw={"width_ratios": [2.2, 1]})
        order = analysis.experiment.variants
        if acc["group"].nunique() <= 12:
            sns.barplot(
                acc, x="group", y="accuracy", hue="variant", hue_order=order, palette=colours, ax=left, errorbar=None
            )
            left.tick_params(axis="x", rotation=30)
        else:
            sns.stripplot(
                acc,
                x="variant",
                y="accuracy",
                hue="variant",
                order=order,
                palette=colours,
                ax=left,
                size=3,
                legend=False,
            )
        left.set(
            title=f"test accuracy per {field}", xlabel=field if acc["group"].nunique() <= 12 else "", ylabel="accuracy"
        )
        sns.boxplot(gaps, x="variant", y="gap", hue="variant", order=order, palette=colours, ax=right, fliersize=2)
        right.set(title=f"WAR − worst-{field} accuracy", xlabel="", ylabel="gap")
        right.tick_params(axis="x", rotation=30)
        mean_gap = gaps.groupby("variant")["gap"].mean()
        caption = (
            f"Test accuracy per {field} pooled over up to {plot_data.MAX_RUNS} runs per variant, and the "
            f"worst-{field} gap per run; smallest mean gap: {mean_gap.idxmin()} ({pct(mean_gap.min())} pp), "
            f"largest: {mean_gap.idxmax()} ({pct(mean_gap.max())} pp)."
        )
        figures.append(save(fig, out, f"group_accuracy_{field}", "heterogeneity", caption))
    return figures


def shift_cells(analysis, out: Path, colours: dict) -> list[Figure]:
    """Class × value test accuracy heatmaps, one panel per variant, per dataset and group field (shifted runs)."""
    cells = analysis.frames.get("cell_accuracy")
    figures: list[Figure] = []
    if cells is None:
        return figures
    for (dataset, field), rows in cells.groupby(["dataset", "field"], sort=True):
        variants = [v for v in analysis.experiment.variants if v in set(rows["variant"])]
        fig, axes = _axes(len(variants), 0.9 + 0.75 * rows["value"].nunique(), 3.6)
        lows = []
        for i, (ax, variant) in enumerate(zip(axes, variants)):
            grid = rows[rows["variant"] == variant].pivot_table(index="class", columns="value", values="accuracy")
            grid = grid.reindex([c for c in analysis.experiment.classes if c in grid.index])
            sns.heatmap(
                100 * grid,
                annot=True,
                fmt=".0f",
                cmap="viridis",
                vmin=0,
                vmax=100,
                ax=ax,
                cbar=False,
                yticklabels=i == 0,
            )
            ax.set(title=variant, xlabel=field, ylabel="")
            low = grid.stack().idxmin()
            lows.append(f"{variant} {low[0]}|{low[1]} ({pct(grid.loc[low])} %)")
        figures.append(
            save(
                fig,
                out,
                f"shift_cells_{dataset}_{field}",
                "shift",
                f"Shifted-test accuracy (%) per (class, {field}) cell on {dataset}, pooled over each "
                f"variant's runs; weakest cell per variant: {'; '.join(lows)}.",
            )
        )
    return figures


def seed_fold_variance(analysis, out: Path, colours: dict) -> list[Figure]:
    """Test UAR per run (strip + box, coloured by fold) and seed vs fold standard deviation per variant."""
    summary, metric, order = analysis.experiment.summary, analysis.metric, analysis.experiment.variants
    within = summary.groupby(["dataset", "variant", "fold"])[metric].std(ddof=1).groupby(["dataset", "variant"]).mean()
    between = summary.groupby(["dataset", "variant", "fold"])[metric].mean().groupby(["dataset", "variant"]).std(ddof=1)
    spread = pd.DataFrame({"seed sd (within fold)": within, "fold sd (of fold means)": between}).reset_index()
    long = spread.melt(id_vars=["dataset", "variant"], var_name="source", value_name="sd")
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.8))
    sns.boxplot(summary, x="variant", y=metric, order=order, color="white", ax=left, fliersize=0)
    sns.stripplot(summary, x="variant", y=metric, order=order, hue="fold", palette="viridis", ax=left, size=4)
    left.set(title=f"test {title(metric)} per run (colour: fold)", xlabel="", ylabel=title(metric))
    left.tick_params(axis="x", rotation=30)
    sns.barplot(long, x="variant", y="sd", hue="source", order=order, ax=right, palette="Set2", errorbar=None)
    right.set(title="seed vs fold variation", xlabel="", ylabel=f"sd of {title(metric)}")
    right.tick_params(axis="x", rotation=30)
    seed_sd, fold_sd = within.mean(), between.mean()
    caption = (
        f"Test {title(metric)} of every run; mean seed sd within a fold {pct(seed_sd)} pp, mean sd between "
        f"fold means {pct(fold_sd)} pp (NaN/– when there is only one seed or fold)."
    )
    return [save(fig, out, "uar_distribution", "heterogeneity", caption)]


def recall_heatmaps(analysis, out: Path, colours: dict) -> list[Figure]:
    """Variant × class heatmaps of mean recall and of the paired difference to the reference."""
    per_class, diff = analysis.frames["per_class_recall"], analysis.frames["per_class_difference"]
    order, figures = analysis.experiment.variants, []
    for dataset, rows in per_class.groupby("dataset", sort=True):
        grid = (
            rows.pivot_table(index="variant", columns="class", values="recall_mean", observed=True)
            .reindex(order)
            .dropna(how="all")
        )
        fig, ax = plt.subplots(figsize=(1.0 + 0.9 * grid.shape[1], 1.0 + 0.45 * grid.shape[0]))
        sns.heatmap(
            100 * grid, annot=True, fmt=".0f", cmap="viridis", vmin=0, vmax=100, ax=ax, cbar_kws={"label": "recall (%)"}
        )
        ax.set(title=f"{dataset}: test recall per class", xlabel="", ylabel="")
        worst = grid.stack().idxmin()
        figures.append(
            save(
                fig,
                out,
                f"recall_heatmap_{dataset}",
                "per_class",
                f"Mean test recall per class on {dataset}; lowest: {worst[1]} under {worst[0]} "
                f"({pct(grid.loc[worst])} %).",
            )
        )
        d = diff[diff["dataset"] == dataset]
        if d.empty:
            continue
        grid = d.pivot_table(index="variant", columns="class", values="difference_mean", observed=True)
        grid = grid.reindex([v for v in order if v in grid.index])
        bound = max(float(np.nanmax(np.abs(grid.to_numpy()))) * 100, 1.0)
        fig, ax = plt.subplots(figsize=(1.0 + 0.9 * grid.shape[1], 1.0 + 0.45 * grid.shape[0]))
        sns.heatmap(
            100 * grid,
            annot=True,
            fmt="+.0f",
            cmap="RdBu",
            center=0,
            vmin=-bound,
            vmax=bound,
            ax=ax,
            cbar_kws={"label": f"recall − {analysis.reference} (pp)"},
        )
        ax.set(title=f"{dataset}: recall difference to {analysis.reference}", xlabel="", ylabel="")
        best = grid.stack().idxmax()
        figures.append(
            save(
                fig,
                out,
                f"recall_difference_{dataset}",
                "per_class",
                f"Mean paired per-class recall difference to {analysis.reference} on {dataset}; largest "
                f"gain: {best[0]} on {best[1]} ({signed(grid.loc[best])} pp).",
            )
        )
    return figures


def confusion_matrices(analysis, out: Path, colours: dict) -> list[Figure]:
    """Row-normalised test confusion matrices of the reference and the best variant, per dataset."""
    main, metric, figures = analysis.frames["main_table"], analysis.metric, []
    classes = analysis.experiment.classes
    for dataset, rows in main.groupby("dataset", sort=True):
        best = rows.loc[rows[f"{metric}_mean"].idxmax(), "variant"]
        shown = list(dict.fromkeys([analysis.reference, best]))
        shown = [v for v in shown if v in set(rows["variant"])]
        fig, axes = _axes(len(shown), 4.8, 4.2)
        for ax, variant in zip(axes, shown):
            runs = plot_data.sample_runs(
                analysis.experiment.summary[analysis.experiment.summary["dataset"] == dataset], [variant]
            )
            matrix = plot_data.summed_confusion(analysis.experiment, runs).astype(float)
            with np.errstate(invalid="ignore", divide="ignore"):
                norm = matrix / matrix.sum(axis=1, keepdims=True)
            sns.heatmap(
                norm,
                annot=True,
                fmt=".2f",
                cmap="Blues",
                vmin=0,
                vmax=1,
                ax=ax,
                cbar=False,
                xticklabels=classes,
                yticklabels=classes,
                annot_kws={"size": 7},
            )
            ax.set(title=f"{variant} ({len(runs)} runs)", xlabel="predicted", ylabel="true")
        figures.append(
            save(
                fig,
                out,
                f"confusion_{dataset}",
                "per_class",
                f"Row-normalised test confusion on {dataset} of the reference ({analysis.reference}) and "
                f"the best variant by mean {title(metric)} ({best}), summed over runs.",
            )
        )
    return figures


def reliability_diagram(analysis, out: Path, colours: dict) -> list[Figure]:
    """Top-label reliability per dataset: test accuracy against mean confidence in 15 equal-width bins per
    variant (pooled over up to ``MAX_RUNS`` runs), the diagonal of perfect calibration, and the share of clips
    per bin below."""
    runs = plot_data.sample_runs(analysis.experiment.summary)
    clips = plot_data.test_confidence(analysis.experiment, runs)
    if clips.empty:
        return []
    datasets = sorted(clips["dataset"].unique())
    fig, axes = plt.subplots(
        2, len(datasets), figsize=(5.0 * len(datasets), 5.6), squeeze=False, gridspec_kw={"height_ratios": [3, 1]}
    )
    pooled = []
    for i, dataset in enumerate(datasets):
        top, bottom = axes[0][i], axes[1][i]
        top.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
        rows = clips[clips["dataset"] == dataset]
        order = [v for v in analysis.experiment.variants if v in set(rows["variant"])]
        for variant in order:
            these = rows[rows["variant"] == variant]
            bins = confidence_bins(these["confidence"], these["correct"], CALIBRATION_BINS)
            ece = binned_calibration_error(bins)
            pooled.append((dataset, variant, ece, these["run_id"].nunique()))
            full = bins[bins["n"] > 0]
            label = f"{variant} (pooled ECE {pct(ece)} %)"
            top.plot(full["confidence"], full["accuracy"], "o-", color=colours[variant], ms=3, lw=1, label=label)
            centres = (bins["lower"] + bins["upper"]) / 2
            bottom.plot(centres, bins["n"] / bins["n"].sum(), "-", color=colours[variant], lw=1, drawstyle="steps-mid")
        top.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean confidence in bin", ylabel="test accuracy in bin")
        top.set_title(dataset)
        top.legend(fontsize=7)
        bottom.set(xlim=(0, 1), xlabel="confidence", ylabel="share of clips")
    fig.tight_layout()
    table = pd.DataFrame(pooled, columns=["dataset", "variant", "ece", "runs"]).dropna()
    caption = (
        f"Reliability diagram of the test softmax: accuracy against mean confidence in {CALIBRATION_BINS} "
        f"equal-width bins, clips pooled over up to {plot_data.MAX_RUNS} runs per variant (the table's ECE is the "
        "mean of per-run values); below: the share of clips per bin. "
    )
    if len(table):
        lo, hi = table.loc[table["ece"].idxmin()], table.loc[table["ece"].idxmax()]
        caption += (
            f"Pooled ECE ranges from {pct(lo['ece'])} % ({lo['variant']}, {lo['dataset']}) to {pct(hi['ece'])} % "
            f"({hi['variant']}, {hi['dataset']}); points below the diagonal are over-confident."
        )
    return [save(fig, out, "reliability_diagram", "calibration", caption)]


def training_curves(analysis, out: Path, colours: dict) -> list[Figure]:
    """Validation UAR per epoch per variant (mean and sd over runs) and GroupDRO's q over training."""
    runs = plot_data.sample_runs(analysis.experiment.summary)
    curves = plot_data.training_curves(analysis.experiment, runs)
    if curves.empty or "val_uar" not in curves:
        return []
    order = [v for v in analysis.experiment.variants if v in set(curves["variant"])]
    fig, ax = plt.subplots(figsize=(7, 4))
    sns.lineplot(curves, x="epoch", y="val_uar", hue="variant", hue_order=order, palette=colours, errorbar="sd", ax=ax)
    ax.set(title="validation UAR per epoch (mean ± sd over runs)", ylabel="val UAR")
    last = curves.groupby("variant")["epoch"].max().max()
    final = curves[curves["epoch"] == last].groupby("variant")["val_uar"].mean()
    figures = [
        save(
            fig,
            out,
            "training_curves",
            "training",
            f"Validation UAR per epoch over up to {plot_data.MAX_RUNS} runs per variant; at the last epoch "
            f"({last}) the highest mean is {final.idxmax()} ({pct(final.max())} %).",
        )
    ]
    q_columns = [c for c in curves if c.startswith("q/")]
    if q_columns:
        q = (
            curves.dropna(subset=q_columns, how="all")
            .melt(id_vars=["variant", "epoch"], value_vars=q_columns, var_name="group", value_name="q")
            .dropna()
        )
        q["group"] = q["group"].str.removeprefix("q/")
        variants = list(dict.fromkeys(q["variant"]))
        fig, axes = _axes(len(variants), 6, 3.8)
        for ax, variant in zip(axes, variants):
            sns.lineplot(q[q["variant"] == variant], x="epoch", y="q", hue="group", ax=ax, errorbar=None)
            ax.set(title=f"{variant}: group weights q", ylabel="q")
            ax.legend(fontsize=7, ncol=2)
        end = q[q["epoch"] == q["epoch"].max()].groupby("group")["q"].mean()
        figures.append(
            save(
                fig,
                out,
                "groupdro_q",
                "training",
                f"GroupDRO group weights over training (mean over runs); at the last epoch the largest "
                f"weight is on {end.idxmax()} ({end.max():.2f}).",
            )
        )
    return figures


def cd_figure(analysis, out: Path, colours: dict) -> list[Figure]:
    """The critical-difference diagram across datasets; mean ranks only when it is descriptive."""
    result = analysis.ranks
    if result is None:
        return []
    label = f" (descriptive: {result.reason})" if result.descriptive else ""
    fig = draw_cd(
        result.ranks,
        result.cd,
        result.cliques,
        colours,
        f"mean rank of test {title(result.metric)} over {len(result.scores)} datasets{label}",
    )
    caption = (
        "Critical-difference diagram: bars join variants whose mean ranks differ by less than the Nemenyi CD."
        if not result.descriptive
        else "Mean ranks across datasets (1 = best); no CD: " + result.reason + "."
    )
    return [save(fig, out, "cd_diagram", "ranks", caption)]


FIGURES = (
    recall_vs_frequency,
    group_accuracy,
    shift_cells,
    seed_fold_variance,
    recall_heatmaps,
    confusion_matrices,
    reliability_diagram,
    training_curves,
    cd_figure,
)


def make_figures(analysis) -> list[Figure]:
    """Write every figure under ``<out>/figures``; a failing figure becomes a note, not a crash."""
    setup()
    out = analysis.out_dir / "figures"
    colours = palette(analysis.experiment.variants)
    figures = []
    for make in FIGURES:
        try:
            figures += make(analysis, out, colours)
        except Exception as exc:  # one broken figure must not lose the tables and report
            log.warning("figure %s failed: %s", make.__name__, exc, exc_info=True)
            analysis.notes.append(f"figure {make.__name__} failed: {type(exc).__name__}: {exc}")
            plt.close("all")
    return figures
