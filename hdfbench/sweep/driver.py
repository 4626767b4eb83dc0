"""Run a sweep: preflight, data, tracking, the search stage, the grid of runs as Ray Tune trials, summary.

Resuming is independent of Tune's own experiment state: finished runs (``done`` marker) are
skipped, and every other run resumes from its run directory's last checkpoint, so re-running the
same command after Ctrl-C, kill -9 or a lost node finishes the sweep.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from hdfbench.config import ExperimentConfig
from hdfbench.errortext import error_line
from hdfbench.sweep.grid import cache_dir as resolved_cache_dir
from hdfbench.sweep.grid import costliest_first, expand
from hdfbench.sweep.tracking import MIRROR_ERROR_FILE
from hdfbench.training import results
from hdfbench.training.rundir import RunDir


@dataclass
class SweepOutcome:
    """What a sweep did: run counts, failures and unfinished runs (run id → reason), retries."""

    total: int
    skipped: int
    finished: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    unfinished: dict[str, str] = field(default_factory=dict)
    retried: dict[str, int] = field(default_factory=dict)
    summary_path: Path | None = None
    mirror_errors: dict[str, str] = field(default_factory=dict)

    @property
    def interrupted(self) -> bool:
        """Return whether some runs neither finished nor failed (the sweep was stopped)."""
        return bool(self.unfinished)

    @property
    def exit_code(self) -> int:
        """Return 0 on success, 1 if a run failed, 130 if the sweep was interrupted."""
        return 1 if self.failed else (130 if self.interrupted else 0)


def _unfinished_reason(run: RunDir) -> str:
    """Return why a run that neither finished nor failed stopped where it did."""
    epochs = run.read_metrics() if run.path.exists() else []
    if not epochs:
        return "not started (the sweep was stopped before this run began)"
    return f"stopped after epoch {epochs[-1]['epoch']}; the next run of the command resumes it"


def collect(experiment_dir: Path, pending: list[str], grid, sweep_id: str, outcome: SweepOutcome) -> None:
    """Fill ``outcome`` from the run directories of ``pending`` and Tune's results (errors of lost trials)."""
    from hdfbench.sweep.tuner import trial_run_id

    errors = {trial_run_id(r): r.error for r in grid if r.error is not None}
    reported = {trial_run_id(r): r.metrics["failed"] for r in grid if (r.metrics or {}).get("failed")}
    for run_id in pending:
        run = results.run_dir(experiment_dir, run_id)
        mirror_error = run.path / MIRROR_ERROR_FILE
        if mirror_error.exists():
            outcome.mirror_errors[run_id] = mirror_error.read_text().strip()
        attempts = [a for a in run.read_attempts() if a.get("sweep_id") == sweep_id]
        if len(attempts) > 1:
            outcome.retried[run_id] = len(attempts) - 1
        failure = run.read_failed()
        if run.is_done:
            outcome.finished.append(run_id)
        elif failure is not None and failure.get("sweep_id") == sweep_id:
            outcome.failed[run_id] = failure["reason"]
        elif run_id in reported:  # failed.json could not be written (a full disk)
            outcome.failed[run_id] = reported[run_id]
        elif run_id in errors:
            outcome.failed[run_id] = f"{error_line(errors[run_id])} (after {len(attempts)} attempts)"
        else:
            outcome.unfinished[run_id] = _unfinished_reason(run)


def treat_sigterm_as_ctrl_c() -> None:
    """Make SIGTERM (a scheduler's preemption, ``kill``) stop the sweep as Ctrl-C does: trials end, the
    summary is written, exit 130 with the resume hint. Installed after Ray's start-up, which sets its own."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: os.kill(os.getpid(), signal.SIGINT))


def run_sweep(config: ExperimentConfig, source: str = "<config>", smoke: bool = False, echo=print) -> SweepOutcome:
    """Run every unfinished run of ``config``; return what happened (see ``SweepOutcome``)."""
    from hdfbench.sweep import cluster
    from hdfbench.sweep.provenance import record_sweep
    from hdfbench.sweep.search_stage import run_searches
    from hdfbench.sweep.tuner import init_ray, run_tuner, trial_base

    experiment_dir = config.experiment_dir
    experiment_dir.mkdir(parents=True, exist_ok=True)
    specs = expand(config)
    sweep_id = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
    cache_dir = resolved_cache_dir(config)
    init_ray(config)
    treat_sigterm_as_ctrl_c()
    for line in cluster.preflight(config, cache_dir).lines():
        echo(line)
    cluster.prepare_data([(d.name, d.options) for d in config.datasets], cache_dir)
    prepared = cluster.prepare_on_nodes(config, cache_dir)
    if prepared:
        echo(f"data ready on {len(prepared)} more node{'s' * (len(prepared) > 1)}")
    tracking = None
    if config.tracking.enabled:
        from hdfbench.sweep.tracking import init_experiment

        uri = config.tracking_uri()
        experiment_id = init_experiment(uri, config.experiment, experiment_dir.parent / "mlartifacts")
        tracking = {"uri": uri, "experiment_id": experiment_id}
    specs = run_searches(config, specs, tracking, sweep_id, echo)
    record_sweep(config, source, sweep_id, specs, smoke)
    pending = [s for s in specs if not results.run_dir(experiment_dir, s.run_id).is_done]
    outcome = SweepOutcome(total=len(specs), skipped=len(specs) - len(pending))
    echo(
        f"{config.experiment}: {len(specs)} runs, {outcome.skipped} already done, {len(pending)} to run "
        f"(results in {experiment_dir})"
    )
    if pending:
        runs = [
            trial_base(s, experiment_dir / "runs", tracking, "final", sweep_id) | {"run_id": s.run_id}
            for s in costliest_first(pending)
        ]
        grid = run_tuner(config, f"sweep-{sweep_id}", experiment_dir / "ray", runs)
        collect(experiment_dir, [s.run_id for s in pending], grid, sweep_id, outcome)
    if tracking:  # every run, finished ones too: a kill between `done` and MLflow's update left it RUNNING
        from hdfbench.sweep.tracking import reconcile

        run_dirs = {s.run_id: results.run_dir(experiment_dir, s.run_id) for s in specs}
        outcome.mirror_errors.update(reconcile(tracking["uri"], run_dirs, outcome.failed))
    outcome.summary_path, *_ = results.write_summary(experiment_dir)
    return outcome
