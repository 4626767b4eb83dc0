"""Time ``hdfbench analyze`` on a generated results directory of 10,000 runs.

The directory (2 datasets × 5 folds × 20 seeds × 50 variants; per run: config.json, metrics.jsonl,
predictions.parquet of 500 test clips, confusion_test.csv, done; plus a current summary.csv) is
generated first and not timed. Then two stages are timed separately:

* tables + statistics: loading (summary.csv is current, so no predictions file is read), the main,
  per-class, statistics (NB-t over folds, Bayesian correlated t; one Holm family), ablation and rank
  tables, written as CSV + Markdown + LaTeX. Target (issue #5): ≤ 10 s.
* figures + report: every figure (per-run files of up to 40 runs per variant) and report.md/html.

    python benchmarks/analysis_scale.py                   # generate under a temp dir, then time
    python benchmarks/analysis_scale.py --dir /tmp/scale  # reuse (or create) a generated dir
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from hdfbench.analysis.load import load_experiment
from hdfbench.analysis.pipeline import Options, compute, write_tables
from hdfbench.testing.fake_results import FakeSpec, make_results

TARGET_S = 10.0


def spec() -> FakeSpec:
    """Return the 10,000-run spec: erm plus 7 ablation families of 7 variants (one "full" each)."""
    variants = {"erm": ("erm", 0.0)}
    for family in range(7):
        variants[f"m{family}_full"] = (f"m{family}", 0.02 * family)
        for part in range(6):
            variants[f"m{family}_no_{part}"] = (f"m{family}", 0.02 * family - 0.01 * part)
    return FakeSpec(
        experiment="scale",
        datasets=("d1", "d2"),
        folds=(1, 2, 3, 4, 5),
        seeds=tuple(range(20)),
        variants=variants,
        n_test=500,
        epochs=3,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="folder holding (or to receive) the generated experiment")
    args = parser.parse_args()
    root = args.dir or Path(tempfile.mkdtemp(prefix="hdfbench-scale-"))
    experiment_dir = root / "scale"
    if not (experiment_dir / "summary.csv").exists():
        start = time.perf_counter()
        make_results(root, spec())
        print(f"generated {experiment_dir} in {time.perf_counter() - start:.1f} s (not counted)")
    out = root / "analysis"

    start = time.perf_counter()
    experiment = load_experiment(experiment_dir)
    loaded = time.perf_counter()
    analysis = compute(experiment, Options(mlflow=False), out)
    write_tables(analysis)
    tables_s = time.perf_counter() - start
    n_comparisons = len(analysis.frames["comparisons"])
    print(
        f"runs: {len(experiment.summary)} finished, {len(experiment.missing)} missing, "
        f"{experiment.refreshed} summary rows recomputed"
    )
    verdict = "OK" if tables_s <= TARGET_S else "MISSED"
    print(
        f"tables + statistics: {tables_s:.2f} s (load {loaded - start:.2f} s; {n_comparisons} paired comparisons, "
        f"each with its primary test and the Bayesian view) — target ≤ {TARGET_S:.0f} s: {verdict}"
    )

    from hdfbench.analysis.plots import make_figures
    from hdfbench.analysis.report import write_report

    start = time.perf_counter()
    analysis.figures = make_figures(analysis)
    figures_s = time.perf_counter() - start
    write_report(analysis)
    print(
        f"figures: {figures_s:.2f} s ({len(analysis.figures)} figures); "
        f"report: {time.perf_counter() - start - figures_s:.2f} s; output in {out}"
    )


if __name__ == "__main__":
    main()
