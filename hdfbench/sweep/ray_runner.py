"""Run a sweep's runs as Ray Tune trials, on a local Ray instance or an existing cluster.

Resuming is independent of Tune's own experiment state: finished runs (``done`` marker) are
skipped, and every other run resumes from its run directory's last checkpoint, so re-running the
same command after Ctrl-C or kill -9 finishes the sweep.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hdfbench.config import ExperimentConfig
from hdfbench.fileio import atomic_write_json, atomic_write_text
from hdfbench.sweep import results
from hdfbench.sweep.grid import expand
from hdfbench.sweep.tracking import MIRROR_ERROR_FILE
from hdfbench.training import selection
from hdfbench.training.spec import RunSpec

log = logging.getLogger(__name__)


@dataclass
class SweepOutcome:
    """What a sweep did: run counts, failures (run id → reason), whether it was interrupted."""

    total: int
    skipped: int
    finished: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    interrupted: bool = False
    summary_path: Path | None = None
    mirror_errors: dict[str, str] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        """Return 0 on success, 1 if a run failed, 130 if the sweep was interrupted."""
        return 1 if self.failed else (130 if self.interrupted else 0)


def git_commit() -> str:
    """Return the hdfbench source commit (with ``-dirty`` if modified), or ``unknown``."""
    src = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def run_trial(trial_config: dict[str, Any]) -> None:
    """Ray Tune trainable: train one run, reporting each epoch to Tune and mirroring to MLflow.

    ``trial_config["run"]`` holds the base spec, the folder of run directories and the tracking
    settings; any other key is a searched parameter applied to the spec first. Every report
    carries ``objective``, the validation score of the epoch the selection rule keeps so far.
    """
    from ray import tune

    from hdfbench.sweep.search import apply_params
    from hdfbench.sweep.tracking import MlflowMirror
    from hdfbench.training.rundir import RunDir
    from hdfbench.training.trainer import Hooks, train

    config = trial_config["run"]
    spec = RunSpec(**config["spec"])
    params = {k: v for k, v in trial_config.items() if k != "run"}
    if params:
        spec = apply_params(spec, params)
    run_dir = RunDir(Path(config["run_root"]) / spec.run_id)
    rule = spec.selection.rule
    if run_dir.is_done:  # a search trial that an earlier invocation finished
        tune.report({"objective": selection.objective(rule, run_dir.read_metrics()), "run_id": spec.run_id})
        return
    tracking = config.get("tracking")
    mirror = None
    if tracking:
        tags = {"dataset": spec.dataset.name, "fold": spec.fold, "seed": spec.seed, "strategy": spec.strategy.name,
                "variant": spec.strategy.label, "sweep_id": tracking["sweep_id"], "run_id": spec.run_id,
                "stage": config["stage"]}
        mirror = MlflowMirror(tracking["uri"], tracking["experiment_id"], run_dir, tags)
        mirror.start(spec.model_dump(mode="json"))
    records: list[dict] = []

    def on_epoch(record: dict) -> None:
        records.append(record)
        if mirror:
            mirror.log_metrics(record, step=record["epoch"])
        numbers = {k: v for k, v in record.items() if isinstance(v, (int, float))}
        tune.report(numbers | {"objective": selection.objective(rule, records), "run_id": spec.run_id})

    def on_done(final: dict) -> None:
        if mirror:
            mirror.finish(final, run_dir.read_config()["classes"])

    try:
        train(spec, run_dir, Hooks(on_epoch=on_epoch, on_done=on_done))
    except BaseException as exc:
        if mirror:
            mirror.fail(f"{type(exc).__name__}: {exc}")
        raise


def _init_ray(config: ExperimentConfig) -> None:
    import ray

    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False,
                                  logging_level=logging.WARNING, configure_logging=True)
    if config.ray.address:
        ray.init(address=config.ray.address, **kwargs)
    else:
        ray.init(num_cpus=os.cpu_count(), object_store_memory=512 * 2**20, **kwargs)


class _Progress:
    """A Tune callback that advances a progress bar by epochs and counts finished runs."""

    def __new__(cls, total_epochs: int, epochs_per_run: int):
        from ray.tune import Callback
        from tqdm.auto import tqdm

        class Progress(Callback):
            def __init__(self):
                self.bar = tqdm(total=total_epochs, desc="sweep", unit="epoch", disable=None)
                self.reported: dict[str, int] = {}

            def on_trial_result(self, iteration, trials, trial, result, **info):
                self.reported[trial.trial_id] = self.reported.get(trial.trial_id, 0) + 1
                self.bar.update(1)

            def on_trial_complete(self, iteration, trials, trial, **info):
                self.bar.update(max(0, epochs_per_run - self.reported.get(trial.trial_id, 0)))

            def on_experiment_end(self, trials, **info):
                self.bar.close()

        return Progress()


def _run_tuner(config: ExperimentConfig, name: str, storage: Path, runs: dict[str, Any] | list[dict[str, Any]],
               total_epochs: int, search_alg: Any = None, num_samples: int = 1) -> Any:
    """Run trials on Ray Tune; ``runs`` is a list (a grid, one trial each) or one base (searched)."""
    from ray import tune

    _init_ray(config)
    trainable = tune.with_resources(run_trial, {"cpu": config.resources.cpu, "gpu": config.resources.gpu})
    is_grid = isinstance(runs, list)

    def trial_name(trial) -> str:
        return trial.config["run"].get("run_id") or f"trial-{trial.trial_id}"

    tuner = tune.Tuner(
        trainable,
        param_space={"run": tune.grid_search(runs) if is_grid else runs},
        tune_config=tune.TuneConfig(
            search_alg=search_alg, num_samples=num_samples, reuse_actors=True,
            max_concurrent_trials=None if search_alg else config.ray.max_concurrent_trials,
            trial_name_creator=trial_name, trial_dirname_creator=trial_name,
        ),
        run_config=tune.RunConfig(
            name=name, storage_path=str(storage.resolve()), verbose=0,
            failure_config=tune.FailureConfig(max_failures=0),
            callbacks=[_Progress(total_epochs, config.training.epochs)],
        ),
    )
    return tuner.fit()


def _trial_base(spec: RunSpec, run_root: Path, tracking: dict | None, stage: str) -> dict[str, Any]:
    return {"spec": spec.model_dump(mode="json"), "run_root": str(run_root.resolve()),
            "tracking": tracking, "stage": stage}


def run_searches(config: ExperimentConfig, specs: list[RunSpec], tracking: dict | None, sweep_id: str,
                 echo=print) -> list[RunSpec]:
    """Run the search stage of every strategy with a ``search`` block; return the grid with its results."""
    import optuna
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from hdfbench.sweep import search

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    chosen: dict[tuple[str, str], dict] = {}
    for dataset in config.datasets:
        for strategy in (s for s in config.strategies if s.search):
            directory = search.search_dir(config.experiment_dir, dataset.name, strategy)
            base = search.base_spec(config, specs, strategy, dataset.name)
            key = search.fingerprint(base, strategy.search)
            params = search.read_best(directory, key)
            if params is None:
                echo(f"searching {strategy.label} on {dataset.name}: {strategy.search.n_trials} Optuna trials "
                     f"(fold {base.fold}, seed {base.seed}, scored on inner validation)")
                searcher = OptunaSearch(space=search.define_by_run(strategy.search, strategy), metric="objective",
                                        mode="max", seed=strategy.search.sampler_seed)
                if strategy.search.max_concurrent:
                    searcher = ConcurrencyLimiter(searcher, max_concurrent=strategy.search.max_concurrent)
                grid = _run_tuner(config, f"search-{directory.name}-{sweep_id}", config.experiment_dir / "ray",
                                  _trial_base(base, directory / "runs", tracking, "search"),
                                  strategy.search.n_trials * config.training.epochs, searcher,
                                  strategy.search.n_trials)
                rows = [{"run_id": (r.metrics or {}).get("run_id"), "objective": (r.metrics or {}).get("objective"),
                         "params": {k: v for k, v in r.config.items() if k != "run"},
                         "error": None if r.error is None else str(r.error).strip().splitlines()[-1]}
                        for r in grid]
                params = search.record_results(directory, key, rows, strategy.search.n_trials)
            echo(f"best {strategy.label} on {dataset.name}: {params}")
            chosen[(dataset.name, strategy.label)] = params
    return [search.apply_params(s, chosen[(s.dataset.name, s.strategy.label)])
            if (s.dataset.name, s.strategy.label) in chosen else s for s in specs]


def prepare_datasets(config: ExperimentConfig) -> None:
    """Check, generate or decode every dataset of the sweep once, in the driver, before any trial."""
    from hdfbench.data import build_dataset

    for spec in config.datasets:
        build_dataset(spec.name, spec.options, config.cache_dir).prepare()


def record_sweep(config: ExperimentConfig, source: str, sweep_id: str, specs: list[RunSpec], smoke: bool) -> None:
    """Save the resolved config, the git commit and the run list of this sweep invocation."""
    experiment_dir = config.experiment_dir
    resolved = config.model_dump(mode="json")
    sweep_dir = experiment_dir / "sweeps" / sweep_id
    atomic_write_text(sweep_dir / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
    info = {"sweep_id": sweep_id, "source": source, "commit": git_commit(), "started_at": time.time(),
            "smoke": smoke, "run_ids": [s.run_id for s in specs]}
    atomic_write_json(sweep_dir / "sweep.json", info)
    atomic_write_text(experiment_dir / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))
    atomic_write_json(experiment_dir / "sweep.json", info)
    results.write_run_list(experiment_dir, [s.run_id for s in specs])


def run_sweep(config: ExperimentConfig, source: str = "<config>", smoke: bool = False, echo=print) -> SweepOutcome:
    """Run every unfinished run of ``config``; return what happened (see ``SweepOutcome``)."""
    experiment_dir = config.experiment_dir
    experiment_dir.mkdir(parents=True, exist_ok=True)
    specs = expand(config)
    sweep_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    prepare_datasets(config)
    tracking = None
    if config.tracking.enabled:
        from hdfbench.sweep.tracking import init_experiment

        uri = config.tracking_uri()
        experiment_id = init_experiment(uri, config.experiment, experiment_dir.parent / "mlartifacts")
        tracking = {"uri": uri, "experiment_id": experiment_id, "sweep_id": sweep_id}
    specs = run_searches(config, specs, tracking, sweep_id, echo)
    record_sweep(config, source, sweep_id, specs, smoke)
    pending = [s for s in specs if not results.run_dir(experiment_dir, s.run_id).is_done]
    outcome = SweepOutcome(total=len(specs), skipped=len(specs) - len(pending))
    echo(f"{config.experiment}: {len(specs)} runs, {outcome.skipped} already done, {len(pending)} to run "
         f"(results in {experiment_dir})")
    if pending:
        runs = [_trial_base(s, experiment_dir / "runs", tracking, "final") | {"run_id": s.run_id} for s in pending]
        grid = _run_tuner(config, f"sweep-{sweep_id}", experiment_dir / "ray", runs,
                          len(pending) * config.training.epochs)
        for result in grid:
            run_id = result.config["run"]["run_id"]
            run = results.run_dir(experiment_dir, run_id)
            mirror_error = run.path / MIRROR_ERROR_FILE
            if mirror_error.exists():
                outcome.mirror_errors[run_id] = mirror_error.read_text().strip()
            if run.is_done:
                outcome.finished.append(run_id)
            elif result.error is not None:
                reason = run.failed.read_text() if run.failed.exists() else f"{type(result.error).__name__}: {result.error}"
                outcome.failed[run_id] = _first_line_reason(reason)
        outcome.interrupted = len(outcome.finished) + len(outcome.failed) < len(pending)
    outcome.summary_path, *_ = results.write_summary(experiment_dir)
    return outcome


def _first_line_reason(text: str) -> str:
    import json

    try:
        return json.loads(text)["reason"]
    except (ValueError, KeyError, TypeError):
        lines = [line for line in str(text).strip().splitlines() if line.strip()]
        return lines[-1] if lines else "unknown error"
