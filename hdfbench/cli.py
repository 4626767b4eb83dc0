"""The ``hdfbench`` command line: run, validate, list, analyze, inspect, synth, cluster check.

Exit codes: 0 success; 1 a run failed; 2 bad input (config, data, or a cluster that fails its
preflight); 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from hdfbench._quiet import apply_quiet_settings
from hdfbench.config import ConfigError, changed_settings, load_config, smoke
from hdfbench.config.components import registries

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def _first_doc_line(obj) -> str:
    return (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""


def cmd_list(args: argparse.Namespace) -> int:
    """Print the registered names of one kind, one per line with a short description."""
    registry = registries()[args.kind]
    for name in registry.names():
        print(f"{name:<18} {_first_doc_line(registry.get(name))}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a config file and print a one-line description of the sweep it defines."""
    config = load_config(args.config, args.set)
    n = len(config.datasets) * len(config.folds) * len(config.seeds) * len(config.strategies)
    print(
        f"{args.config}: OK — experiment '{config.experiment}', {n} runs "
        f"({len(config.datasets)} datasets × {len(config.folds)} folds × {len(config.seeds)} seeds × "
        f"{len(config.strategies)} strategies)"
    )
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """Run (or resume) a sweep, then write its summary; under ``--dry-run`` print its plan (sweep/plan.py) instead."""
    from hdfbench.sweep.driver import run_sweep
    from hdfbench.training.results import run_dir

    config = load_config(args.config, args.set)
    if not args.dry_run and (args.measure or args.gpus is not None):
        print("error: --measure and --gpus only apply with --dry-run", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.gpus is not None and args.gpus < 1:
        print(f"error: --gpus must be at least 1, got {args.gpus}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.smoke:
        config, original = smoke(config), config
        print("smoke run; changed: " + "; ".join(changed_settings(original, config)))
    if args.dry_run:  # the plan alone: no Ray, nothing written
        from hdfbench.sweep.plan import make_plan

        print(make_plan(config, measure=args.measure, gpus=args.gpus).render())
        return EXIT_OK
    try:
        outcome = run_sweep(config, source=str(args.config), smoke=args.smoke)
    except OSError as exc:
        exc.filename = exc.filename or str(config.experiment_dir)  # named in main's one-line message
        raise
    print(
        f"{len(outcome.finished)} runs finished, {outcome.skipped} skipped (already done), "
        f"{len(outcome.failed)} failed; summary: {outcome.summary_path}"
    )
    for run_id, reason in outcome.mirror_errors.items():
        print(f"warning: {run_id}: {reason}", file=sys.stderr)
    for run_id, count in outcome.retried.items():
        print(
            f"note: {run_id} was retried {count} time{'s' * (count > 1)} (lost process or node; its "
            "attempts.jsonl says where)"
        )
    for run_id, reason in outcome.failed.items():
        record = run_dir(config.experiment_dir, run_id).failed
        where = f" (traceback: {record})" if record.exists() else ""
        print(f"FAILED {run_id}: {reason}{where}", file=sys.stderr)
    for run_id, reason in outcome.unfinished.items():
        print(f"NOT FINISHED {run_id}: {reason}", file=sys.stderr)
    if outcome.interrupted:
        print("interrupted: run the same command again to resume", file=sys.stderr)
    return outcome.exit_code


def cmd_cluster_check(args: argparse.Namespace) -> int:
    """Run the preflight of a config's Ray cluster (or local Ray) alone and print what it found."""
    from hdfbench.sweep.cluster import preflight
    from hdfbench.sweep.grid import cache_dir
    from hdfbench.sweep.tuner import init_ray

    config = load_config(args.config, args.set)
    init_ray(config)
    for line in preflight(config, cache_dir(config)).lines():
        print(line)
    return EXIT_OK


def cmd_analyze(args: argparse.Namespace) -> int:
    """Analyse a finished (or partial) sweep's results directory: tables, statistics, plots, report."""
    from hdfbench.analysis.load import ResultsError
    from hdfbench.analysis.pipeline import Options, analyze

    experiment_dir = Path(args.results_dir)
    out_dir = Path(args.out) if args.out else Path("analysis") / experiment_dir.name
    if args.rope < 0 or not 0 < args.alpha < 1:
        print(f"error: --rope must be >= 0 (got {args.rope}) and --alpha in (0, 1) (got {args.alpha})", file=sys.stderr)
        return EXIT_BAD_INPUT
    options = Options(
        reference=args.reference,
        metrics=tuple(args.metric or ["test_uar"]),
        full=tuple(args.full),
        alpha=args.alpha,
        pair_by=args.pair_by,
        rope=args.rope / 100,
        plots=not args.no_plots,
        mlflow=not args.no_mlflow,
    )
    try:
        analysis = analyze(experiment_dir, out_dir, options)
    except ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    experiment = analysis.experiment
    if "main_table" in analysis.tables:
        print(analysis.tables["main_table"].markdown)
    for name in ("statistics", "ablation", "shift_gap"):
        if name in analysis.captions:
            print(f"{name}: {analysis.captions[name]}")
    if "phenomena" in analysis.tables:  # the known phenomena, so a user sees at once whether they hold here
        print(f"known phenomena: {analysis.captions['phenomena']}\n{analysis.tables['phenomena'].markdown}")
    if experiment.missing:
        print(f"{len(experiment.missing)} runs of the sweep are not finished: {', '.join(experiment.missing)}")
    for note in analysis.notes:
        print(f"note: {note}")
    print(f"written: {experiment_dir / 'summary.csv'}, {out_dir / 'report.md'}, {out_dir / 'report.html'}")
    return EXIT_OK


def _options(root: str | None, overrides: list[str]) -> dict:
    """Return component options from ``root`` and ``--set KEY.PATH=VALUE`` items (values parsed as YAML)."""
    from hdfbench.config import apply_overrides

    return apply_overrides({"root": root} if root else {}, overrides)


def cmd_inspect(args: argparse.Namespace) -> int:
    """Print clip counts per fold, split and class, imbalance, frame counts, groups and bad clips."""
    import json

    from pydantic import ValidationError

    from hdfbench.data import DATASETS, build_dataset
    from hdfbench.data.describe import describe, render_text

    cls = DATASETS.get(args.dataset)
    options = _options(args.root, args.set)
    if "on_bad_clip" in cls.Options.model_fields:
        options.setdefault("on_bad_clip", "skip")  # count bad clips instead of stopping at them
    try:
        dataset = build_dataset(args.dataset, options)
    except ValidationError as exc:
        print(f"error: options of dataset '{args.dataset}': {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.fold is not None and args.fold not in dataset.folds:
        print(f"error: dataset '{args.dataset}' has folds {list(dataset.folds)}, not {args.fold}", file=sys.stderr)
        return EXIT_BAD_INPUT
    dataset.scan()
    info = describe(dataset, [args.fold] if args.fold is not None else None, args.seed, args.val_fraction)
    print(json.dumps(info, indent=2) if args.json else render_text(info), end="" if not args.json else "\n")
    return EXIT_OK


def cmd_synth(args: argparse.Namespace) -> int:
    """Write the synthetic benchmark in a real dataset's layout (JPEG frames and split files)."""
    from pydantic import ValidationError

    from hdfbench.data.synthetic import SyntheticOptions
    from hdfbench.data.synthetic_export import EXPORTERS

    try:
        opts = SyntheticOptions(
            **{
                **_options(None, args.set),
                "n_clips": args.n_clips,
                "frames": args.frames,
                "size": args.size,
                "seed": args.seed,
            }
        )
    except ValidationError as exc:
        print(f"error: synthetic options: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    n = EXPORTERS.get(args.format)(opts, Path(args.out), frames_dir=args.frames_dir)
    print(f"wrote {n} synthetic clips as a {args.format} tree in {args.out}")
    return EXIT_OK


def add_data_commands(sub) -> None:
    """Add the ``inspect`` and ``synth`` subcommands."""
    inspect = sub.add_parser("inspect", help="describe a dataset (counts, imbalance, frames, groups, bad clips)")
    inspect.add_argument("dataset", help="registered dataset name, e.g. dfew")
    inspect.add_argument("--root", help="data root (the dataset's root option)")
    inspect.add_argument("--fold", type=int, help="only this fold (default: all)")
    inspect.add_argument("--json", action="store_true", help="print JSON instead of tables")
    inspect.add_argument("--seed", type=int, default=0, help="seed of the inner validation split (default 0)")
    inspect.add_argument("--val-fraction", type=float, default=0.1, help="inner validation share (default 0.1)")
    inspect.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another dataset option (YAML value), e.g. --set frames_dir=all",
    )
    inspect.set_defaults(func=cmd_inspect)
    synth = sub.add_parser("synth", help="write the synthetic benchmark as a real dataset's tree")
    synth.add_argument("--format", required=True, help="layout to write: dfew")
    synth.add_argument("--out", required=True, help="output folder (the dataset root)")
    synth.add_argument("--n-clips", type=int, default=1500, help="clips to write (default 1500)")
    synth.add_argument("--frames", type=int, default=8, help="frames per clip (default 8)")
    synth.add_argument("--size", type=int, default=32, help="frame side in pixels (default 32)")
    synth.add_argument("--seed", type=int, default=0, help="generation seed (default 0)")
    synth.add_argument(
        "--frames-dir",
        choices=["all", "16f"],
        default="all",
        help="write Clip/clip_224x224 (all) or Clip/clip_224x224_16f (16f)",
    )
    synth.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="another synthetic option (YAML value), e.g. --set n_subjects=8",
    )
    synth.set_defaults(func=cmd_synth)


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``hdfbench`` command."""
    parser = argparse.ArgumentParser(prog="hdfbench", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument("config", help="experiment YAML file")
        p.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY.PATH=VALUE",
            help="override a config value (YAML syntax), e.g. --set training.epochs=3",
        )

    run = sub.add_parser("run", help="run or resume a sweep")
    with_config(run)
    run.add_argument("--smoke", action="store_true", help="shrink to a seconds-long CPU run (tiny data, 2 epochs)")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan instead: runs, epochs, clip-steps, evaluation clips and projected device-hours per "
        "strategy (done runs excluded); starts no Ray, writes nothing",
    )
    run.add_argument(
        "--measure",
        action="store_true",
        help="with --dry-run: time a few warm steps of each strategy on this machine instead of using the "
        "recorded benchmark",
    )
    run.add_argument(
        "--gpus",
        type=int,
        metavar="N",
        help="with --dry-run: GPUs the sweep runs on, for the wall-clock projection (default 1)",
    )
    run.set_defaults(func=cmd_run)
    validate = sub.add_parser("validate", help="check a config file without running anything")
    with_config(validate)
    validate.set_defaults(func=cmd_validate)
    lister = sub.add_parser("list", help="list registered components")
    lister.add_argument("kind", choices=["strategies", "datasets", "backbones"])
    lister.set_defaults(func=cmd_list)
    analyze = sub.add_parser("analyze", help="analyse a results directory: tables, statistics, plots, report")
    analyze.add_argument("results_dir", help="results/<experiment>")
    analyze.add_argument("--out", help="output folder (default analysis/<experiment>)")
    analyze.add_argument(
        "--reference", help="variant every other is compared to (default: erm if present, else the first)"
    )
    analyze.add_argument(
        "--metric",
        action="append",
        metavar="COLUMN",
        help="summary.csv column to test (repeatable; default test_uar; the first drives ablation and ranks)",
    )
    analyze.add_argument(
        "--full",
        action="append",
        default=[],
        metavar="VARIANT",
        help="mark VARIANT as the full model of its strategy's ablation family (repeatable)",
    )
    analyze.add_argument("--alpha", type=float, default=0.05, help="family-wise error rate for Holm (default 0.05)")
    analyze.add_argument(
        "--pair-by",
        choices=["fold", "cell"],
        default="fold",
        help="fold: average seeds within each fold, the primary test (default); cell: every "
        "(fold, seed) cell, shown as descriptive",
    )
    analyze.add_argument(
        "--rope",
        type=float,
        default=1.0,
        metavar="PP",
        help="region of practical equivalence of the Bayesian comparison, in percentage points "
        "of the metric (default 1)",
    )
    analyze.add_argument("--no-plots", action="store_true", help="skip the figures (tables and report only)")
    analyze.add_argument("--no-mlflow", action="store_true", help="do not log the analysis to MLflow")
    analyze.set_defaults(func=cmd_analyze)
    add_data_commands(sub)
    cluster = sub.add_parser("cluster", help="check the Ray cluster a config runs on")
    cluster_sub = cluster.add_subparsers(dest="cluster_command", required=True)
    check = cluster_sub.add_parser("check", help="run the preflight alone: storage, code, data, devices on every node")
    with_config(check)
    check.set_defaults(func=cmd_cluster_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    apply_quiet_settings()  # before any command imports Ray or MLflow (this module imports neither)
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from hdfbench.data import DataError
    from hdfbench.fileio import disk_full
    from hdfbench.registry import UnknownNameError
    from hdfbench.sweep.errors import ClusterError, TrackingError
    from hdfbench.sweep.search import SearchFailed

    try:
        return args.func(args)
    except (ConfigError, DataError, ClusterError, TrackingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except UnknownNameError as exc:  # a name given on the command line (config names fail as ConfigError)
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SearchFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except OSError as exc:
        if not disk_full(exc):
            raise
        print(
            f"error: no space left on the storage of {exc.filename or 'the output folder'}: free space there "
            "and run the same command again (finished runs are kept)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
