"""The search stage of a sweep: one Optuna study per (dataset, strategy with ``search``), run as Tune trials."""

from __future__ import annotations

import optuna
from ray.tune.search import ConcurrencyLimiter, Searcher
from ray.tune.search.optuna import OptunaSearch

from hdfbench.config import ExperimentConfig
from hdfbench.errortext import error_line
from hdfbench.sweep import search
from hdfbench.sweep.tuner import run_tuner, trial_base
from hdfbench.training.spec import RunSpec


def _trial_row(result) -> dict:
    """Return one row of trials.csv from a Tune result: run id, objective, params and the error if any."""
    metrics = result.metrics or {}
    error = error_line(result.error) if result.error is not None else metrics.get("failed")
    return {
        "run_id": metrics.get("run_id"),
        "objective": None if error else metrics.get("objective"),
        "params": {k: v for k, v in (result.config or {}).items() if k != "run"},
        "error": error,
    }


def run_searches(
    config: ExperimentConfig, specs: list[RunSpec], tracking: dict | None, sweep_id: str, echo=print
) -> list[RunSpec]:
    """Run the search stage of every strategy with a ``search`` block; return the grid with its results."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    chosen: dict[tuple[str, str], dict] = {}
    for dataset in config.datasets:
        for strategy in config.strategies:
            if strategy.search is None:
                continue
            directory = search.search_dir(config.experiment_dir, dataset.name, strategy)
            base = search.base_spec(config, specs, strategy, dataset.name)
            key = search.fingerprint(base, strategy.search)
            params = search.read_best(directory, key)
            if params is None:
                echo(
                    f"searching {strategy.label} on {dataset.name}: {strategy.search.n_trials} Optuna trials "
                    f"(fold {base.fold}, seed {base.seed}, scored on inner validation)"
                )
                searcher: Searcher = OptunaSearch(
                    space=search.define_by_run(strategy.search, strategy),
                    metric="objective",
                    mode="max",
                    seed=strategy.search.sampler_seed,
                )
                if strategy.search.max_concurrent:
                    searcher = ConcurrencyLimiter(searcher, max_concurrent=strategy.search.max_concurrent)
                grid = run_tuner(
                    config,
                    f"search-{directory.name}-{sweep_id}",
                    config.experiment_dir / "ray",
                    trial_base(base, directory / "runs", tracking, "search", sweep_id),
                    searcher,
                    strategy.search.n_trials,
                )
                rows = [_trial_row(r) for r in grid]  # type: ignore[attr-defined]  # ResultGrid iterates by index
                params = search.record_results(directory, key, rows, strategy.search.n_trials)
            echo(f"best {strategy.label} on {dataset.name}: {params}")
            chosen[(dataset.name, strategy.label)] = params
    return [
        search.apply_params(s, chosen[(s.dataset.name, s.strategy.label)])
        if (s.dataset.name, s.strategy.label) in chosen
        else s
        for s in specs
    ]
