"""The analysis report: ``report.md`` and a self-contained ``report.html`` (figures embedded as base64).

Both are rendered from one list of blocks (heading, paragraph, table, figure, code), so they carry
the same sections in the same order: setup, main table (with the published numbers beside it and the
best-on-test numbers when recorded), calibration, ablation, per-class, heterogeneity, distribution
shift, imbalance, statistics, known phenomena, training, notes.
"""

from __future__ import annotations

import base64
import html
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import cast

import pandas as pd
import yaml

from hdfbench.analysis import stats
from hdfbench.analysis.figure_style import Figure
from hdfbench.analysis.formatting import WrittenTable, title
from hdfbench.fileio import atomic_write_text

#: Report sections in order: (key, heading).
SECTIONS = [
    ("setup", "Setup"),
    ("main", "Main results"),
    ("calibration", "Calibration"),
    ("ablation", "Ablation"),
    ("per_class", "Per-class recall"),
    ("heterogeneity", "Heterogeneity"),
    ("shift", "Distribution shift"),
    ("imbalance", "Imbalance"),
    ("statistics", "Statistics"),
    ("phenomena", "Known phenomena"),
    ("training", "Training"),
    ("notes", "Notes"),
]


@dataclass
class Block:
    """One report element: ``kind`` in heading/paragraph/table/figure/code/list, which says what ``content``
    is: the text (heading, paragraph, code), a list of item texts, a ``WrittenTable`` or a ``Figure``."""

    kind: str
    content: object
    level: int = 2


def _designs(analysis) -> list[str]:
    """Return one line per dataset: its design, the primary test it gets and why."""
    experiment, options = analysis.experiment, analysis.options
    lines = []
    for dataset in experiment.datasets:
        rows = experiment.summary[experiment.summary["dataset"] == dataset]
        folds, seeds = rows["fold"].nunique(), rows["seed"].nunique()
        k = experiment.partition_folds(dataset)
        head = f"{dataset}: {folds} of {k} fold(s) × {seeds} seed(s) — "
        if folds == 1:
            lines.append(
                head + "one split: no test of generalisation (training and test data never change); "
                f"a {stats.TWO_LEVEL_BOOTSTRAP} interval conditional on the split when there are ≥ "
                f"{stats.MIN_T_CELLS} seeds"
            )
            continue
        ratio = experiment.design_ratio(dataset, rows["fold"].unique())
        sources = sorted(set(experiment.splits.loc[experiment.splits["dataset"] == dataset, "ratio_source"]))
        pairing = (
            "seeds averaged within each fold, J = folds, df = J − 1 (the folds are fixed: seeds are not resamples)"
            if options.pair_by == "fold"
            else "every (fold, seed) cell (--pair-by cell): descriptive, never significant"
        )
        lines.append(
            head + f"primary test {stats.NB_T}: {pairing}; n_test/n_train = {ratio:.3f} of the "
            f"{k}-fold partition ({', '.join(sources) or 'design'}); {stats.BAYES_T} on the same units"
        )
    return lines


def _oracle_on(experiment) -> bool:
    """Return whether the sweep recorded the best-on-test numbers (``selection.report_oracle``)."""
    return bool(experiment.config.get("selection", {}).get("report_oracle"))


def _setup(analysis) -> list[Block]:
    experiment, options = analysis.experiment, analysis.options
    sweep, summary = experiment.sweep, experiment.summary
    n_listed = len(summary) + len(experiment.missing)
    started = sweep.get("started_at")
    started = datetime.fromtimestamp(started, timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if started else "unknown"
    facts = [
        f"Experiment: **{experiment.name}** (results: `{experiment.path}`)",
        f"Sweep: {sweep.get('sweep_id', 'unknown')}, source `{sweep.get('source', 'unknown')}`, "
        f"commit `{sweep.get('commit', 'unknown')}`, started {started}{', smoke run' if sweep.get('smoke') else ''}",
        f"Runs: {len(summary)} finished of {n_listed} in the sweep; datasets {experiment.datasets}; "
        f"variants {experiment.variants}",
        f"Missing (not finished): {', '.join(experiment.missing) if experiment.missing else 'none'}",
        f"Reference: **{analysis.reference}**; primary metric: test {title(analysis.metric)}; "
        f"checkpoint selection: {experiment.config.get('selection', {}).get('rule', 'unknown')} on inner validation"
        + ("; best-on-test numbers reported beside it, never used" if _oracle_on(experiment) else ""),
        *_designs(analysis),
        f"Multiplicity: one Holm family per metric over every primary comparison in this report (statistics and "
        f"ablation tables together: each comparison is adjusted once), α = {options.alpha}; only the primary test "
        "can be called significant",
        f"Bayesian view: {stats.BAYES_T} (Benavoli et al. 2017) with a region of practical equivalence of "
        f"±{100 * options.rope:g} pp: P(worse), P(equivalent), P(better)",
        f"Intervals: {options.confidence:.0%}, each with its n and method; none from fewer than "
        f"{stats.MIN_T_CELLS} paired units",
    ]
    config = yaml.safe_dump(experiment.config, sort_keys=False) if experiment.config else "(config.yaml not found)"
    return [Block("list", facts), Block("code", config)]


def _table(analysis, name: str) -> list[Block]:
    table = analysis.tables.get(name)
    return [Block("table", table)] if table is not None else []


def _figures(analysis, section: str) -> list[Block]:
    return [Block("figure", f) for f in analysis.figures if f.section == section]


def blocks(analysis) -> list[Block]:
    """Return the report as blocks, section by section."""
    body = {
        "setup": _setup(analysis),
        "main": _table(analysis, "main_table") + _table(analysis, "oracle") + _table(analysis, "published"),
        "calibration": _table(analysis, "calibration") + _figures(analysis, "calibration"),
        "ablation": (
            _table(analysis, "ablation")
            or [Block("paragraph", "No ablation family (a strategy with ≥ 2 variants and a full model) in this sweep.")]
        ),
        "per_class": _table(analysis, "per_class_recall")
        + _table(analysis, "per_class_difference")
        + _figures(analysis, "per_class"),
        "heterogeneity": _figures(analysis, "heterogeneity"),
        "shift": (
            _table(analysis, "shift_gap")
            + _table(analysis, "held_out")
            + _table(analysis, "group_recall")
            + _figures(analysis, "shift")
            or [Block("paragraph", "No run of a shifted protocol (synthetic protocol other than iid) in this sweep.")]
        ),
        "imbalance": _figures(analysis, "imbalance"),
        "statistics": _table(analysis, "statistics") + _table(analysis, "ranks") + _figures(analysis, "ranks"),
        "phenomena": _table(analysis, "phenomena"),
        "training": _figures(analysis, "training"),
        "notes": [Block("list", analysis.notes or ["none"])],
    }
    out = [Block("heading", f"Analysis of {analysis.experiment.name}", level=1)]
    for key, heading in SECTIONS:
        out.append(Block("heading", heading))
        out += body[key] or [Block("paragraph", "Nothing to show (no finished run with the data this needs).")]
    return out


def _md_block(block: Block, out_dir) -> str:
    if block.kind == "heading":
        return "#" * block.level + " " + cast(str, block.content)
    if block.kind == "paragraph":
        return cast(str, block.content)
    if block.kind == "list":
        return "\n".join(f"- {item}" for item in cast(list[str], block.content))
    if block.kind == "code":
        return f"<details><summary>resolved config</summary>\n\n```yaml\n{block.content}```\n\n</details>"
    if block.kind == "table":
        table = cast(WrittenTable, block.content)
        return f"*{table.caption}*\n\n{table.markdown}" if table.caption else table.markdown
    figure = cast(Figure, block.content)
    return f"![{figure.name}]({os.path.relpath(figure.png, out_dir)})\n\n*{figure.caption}*"


def to_markdown(analysis) -> str:
    """Return the report as Markdown (figures linked relative to the output folder)."""
    return "\n\n".join(_md_block(b, analysis.out_dir) for b in blocks(analysis)) + "\n"


CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:2px 6px}
th{background:#f0f0f0}figure{margin:1em 0 2em}img{max-width:100%}figcaption,.caption{font-style:italic;color:#444}
pre{background:#f7f7f7;padding:.5em;overflow:auto;font-size:12px}.scroll{overflow-x:auto}"""


def _html_inline(text: str) -> str:
    escaped = html.escape(text)
    parts = escaped.split("**")  # the few bold spans of the setup list
    return "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts)).replace("`", "")


def _html_block(block: Block) -> str:
    if block.kind == "heading":
        return f"<h{block.level}>{html.escape(cast(str, block.content))}</h{block.level}>"
    if block.kind == "paragraph":
        return f"<p>{_html_inline(cast(str, block.content))}</p>"
    if block.kind == "list":
        return "<ul>" + "".join(f"<li>{_html_inline(i)}</li>" for i in cast(list[str], block.content)) + "</ul>"
    if block.kind == "code":
        config = html.escape(cast(str, block.content))
        return f"<details><summary>resolved config</summary><pre>{config}</pre></details>"
    if block.kind == "table":
        table = cast(WrittenTable, block.content)
        frame = table.display.astype(object).where(pd.notna(table.display), "–")
        return (
            f"<p class='caption'>{html.escape(table.caption)}</p>"
            f"<div class='scroll'>{frame.to_html(index=False, border=0)}</div>"
        )
    figure = cast(Figure, block.content)
    data = base64.b64encode(figure.png.read_bytes()).decode("ascii")
    return (
        f"<figure><img alt='{html.escape(figure.name)}' src='data:image/png;base64,{data}'>"
        f"<figcaption>{html.escape(figure.caption)}</figcaption></figure>"
    )


def to_html(analysis) -> str:
    """Return the report as one self-contained HTML page (PNG figures embedded as base64)."""
    body = "\n".join(_html_block(b) for b in blocks(analysis))
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>hdfbench analysis: "
        f"{html.escape(analysis.experiment.name)}</title><style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )


def write_report(analysis) -> tuple:
    """Write ``report.md`` and ``report.html`` into the output folder; return their paths."""
    md, page = analysis.out_dir / "report.md", analysis.out_dir / "report.html"
    atomic_write_text(md, to_markdown(analysis))
    atomic_write_text(page, to_html(analysis))
    return md, page
