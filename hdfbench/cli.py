"""The ``hdfbench`` command line: run, validate, list, analyze.

Exit codes: 0 success; 1 a run failed; 2 bad input (config or data); 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from hdfbench.cli_registries import registries
from hdfbench.config import ConfigError, load_config, smoke

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
    print(f"{args.config}: OK — experiment '{config.experiment}', {n} runs "
          f"({len(config.datasets)} datasets × {len(config.folds)} folds × {len(config.seeds)} seeds × "
          f"{len(config.strategies)} strategies)")
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    """Run (or resume) a sweep, then write its summary."""
    from hdfbench.sweep.ray_runner import run_sweep

    config = load_config(args.config, args.set)
    if args.smoke:
        config = smoke(config)
    outcome = run_sweep(config, source=str(args.config), smoke=args.smoke)
    print(f"{len(outcome.finished)} runs finished, {outcome.skipped} skipped (already done), "
          f"{len(outcome.failed)} failed; summary: {outcome.summary_path}")
    for run_id, reason in outcome.mirror_errors.items():
        print(f"warning: {run_id}: {reason}", file=sys.stderr)
    for run_id, reason in outcome.failed.items():
        print(f"FAILED {run_id}: {reason}", file=sys.stderr)
    if outcome.interrupted:
        print("interrupted: run the same command again to resume", file=sys.stderr)
    return outcome.exit_code


def cmd_analyze(args: argparse.Namespace) -> int:
    """Summarise a finished (or partial) sweep's results directory."""
    from hdfbench.analysis.summary import summarize, to_markdown

    experiment_dir = Path(args.results_dir)
    if not (experiment_dir / "runs").is_dir():
        print(f"error: {experiment_dir} is not an experiment results directory (no runs/ inside)", file=sys.stderr)
        return EXIT_BAD_INPUT
    out_dir = Path(args.out) if args.out else Path("analysis") / experiment_dir.name
    table, missing = summarize(experiment_dir, out_dir)
    print(to_markdown(table), end="")
    if missing:
        print(f"{len(missing)} runs of the sweep are not finished: {', '.join(missing)}")
    print(f"written: {experiment_dir / 'summary.csv'}, {out_dir / 'summary_table.md'}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``hdfbench`` command."""
    parser = argparse.ArgumentParser(prog="hdfbench", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument("config", help="experiment YAML file")
        p.add_argument("--set", action="append", default=[], metavar="KEY.PATH=VALUE",
                       help="override a config value (YAML syntax), e.g. --set training.epochs=3")

    run = sub.add_parser("run", help="run or resume a sweep")
    with_config(run)
    run.add_argument("--smoke", action="store_true", help="shrink to a seconds-long CPU run (tiny data, 2 epochs)")
    run.set_defaults(func=cmd_run)
    validate = sub.add_parser("validate", help="check a config file without running anything")
    with_config(validate)
    validate.set_defaults(func=cmd_validate)
    lister = sub.add_parser("list", help="list registered components")
    lister.add_argument("kind", choices=["strategies", "datasets", "backbones"])
    lister.set_defaults(func=cmd_list)
    analyze = sub.add_parser("analyze", help="summarise a results directory")
    analyze.add_argument("results_dir", help="results/<experiment>")
    analyze.add_argument("--out", help="output folder (default analysis/<experiment>)")
    analyze.set_defaults(func=cmd_analyze)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from hdfbench.data import DataError
    from hdfbench.sweep.search import SearchFailed

    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except SearchFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("interrupted: run the same command again to resume", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
