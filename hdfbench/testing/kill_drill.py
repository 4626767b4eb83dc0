"""The kill -9 drill: start a sweep, kill its driver with SIGKILL at random moments, rerun it until it
finishes, then check that nothing was lost, nothing counted twice and no process outlived its driver.

    python -m hdfbench.testing.kill_drill experiments/quickstart.yaml --kills 5 --output-dir /tmp/drill

Checks, after the last (undisturbed) invocation:

- ``summary.csv`` has every run of the sweep exactly once;
- every run directory is finished and its ``metrics.jsonl`` has every epoch exactly once;
- MLflow has exactly one run per run id, FINISHED, with every epoch exactly once in its ``epoch``
  history and the final metrics;
- a few seconds after each kill (and after the end), no process started by the killed driver is alive.
  The driver is started with a marker in its environment, which every process it starts inherits.

Exit status 0 when every check holds, 1 otherwise; ``--report`` writes the details as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from hdfbench.config import ExperimentConfig, load_config
from hdfbench.sweep import reaper
from hdfbench.sweep.grid import expand
from hdfbench.sweep.reaper import marked
from hdfbench.training.rundir import RunDir

#: The environment variable that marks every process of one drill invocation.
MARK = "HDFBENCH_DRILL_MARK"


@dataclass
class Kill:
    """One SIGKILL of the driver: seconds after its start, how far the sweep had got, what was left running
    afterwards (``exited_before``: the invocation ended by itself before the moment came)."""

    after_s: float
    runs_done: int
    epochs_done: int
    survivors: list[str] = field(default_factory=list)
    exited_before: bool = False


@dataclass
class DrillReport:
    """What the drill did and found; ``problems`` is empty when every check held."""

    config: str
    output_dir: str
    runs: int
    epochs_per_run: int
    kills: list[Kill] = field(default_factory=list)
    final_seconds: float = 0.0
    final_exit: int | None = None
    problems: list[str] = field(default_factory=list)


def marked_processes(mark: str) -> list[str]:
    """Return ``"pid command"`` for every live process whose environment carries ``MARK=mark``."""
    return [f"{pid} {command[:120]}" for pid in marked(mark, MARK) if (command := reaper.command(pid)) is not None]


def _progress(config: ExperimentConfig, run_ids: list[str]) -> tuple[int, int]:
    """Return (runs finished, epochs recorded across all runs) in the run directories."""
    runs = [RunDir(config.experiment_dir / "runs" / run_id) for run_id in run_ids]
    return (sum(run.is_done for run in runs), sum(len(run.read_metrics()) for run in runs if run.metrics.exists()))


def _epochs_reached(config: ExperimentConfig, run_ids: list[str], target: int) -> Callable[[], bool]:
    """Return a check of whether the run directories hold at least ``target`` epochs."""
    return lambda: _progress(config, run_ids)[1] >= target


def _reaper_log(log: Path, mark: str) -> Path:
    """Return where the reaper of the invocation marked ``mark`` notes what it does."""
    return log.with_name(f"reaper-{mark}.log")


def _settle(mark: str, seconds: float) -> list[str]:
    """Wait up to ``seconds`` for the marked processes to end; return those still alive."""
    deadline = time.monotonic() + seconds
    while (alive := marked_processes(mark)) and time.monotonic() < deadline:
        time.sleep(0.5)
    return alive


def _launch(command: list[str], mark: str, log: Path) -> subprocess.Popen:
    env = os.environ | {MARK: mark, reaper.LOG: str(_reaper_log(log, mark))}
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def check_results(config: ExperimentConfig, run_ids: list[str]) -> list[str]:
    """Return what is wrong with the finished sweep's summary, run directories and MLflow runs."""
    problems = []
    epochs = list(range(config.training.epochs))
    summary = pd.read_csv(config.experiment_dir / "summary.csv")
    counts = Counter(summary["run_id"])
    problems += [f"summary.csv: {r} appears {counts[r]} times" for r in run_ids if counts[r] != 1]
    problems += [f"summary.csv: unexpected run {r}" for r in counts if r not in run_ids]
    for run_id in run_ids:
        run = RunDir(config.experiment_dir / "runs" / run_id)
        got = [r["epoch"] for r in run.read_metrics()] if run.metrics.exists() else []
        if not run.is_done or got != epochs:
            problems.append(f"{run.path}: done={run.is_done}, metrics.jsonl epochs {got}")
    if config.tracking.enabled:
        problems += _check_mlflow(config, run_ids, epochs)
    return problems


def _check_mlflow(config: ExperimentConfig, run_ids: list[str], epochs: list[int]) -> list[str]:
    """Return what is wrong with the sweep's MLflow runs: one FINISHED run per run id, every epoch once."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=config.tracking_uri())
    experiment = client.get_experiment_by_name(config.experiment)
    if experiment is None:
        return [f"MLflow: no experiment {config.experiment!r}"]
    found = client.search_runs([experiment.experiment_id], max_results=50_000)
    by_id: dict[str, list] = {}
    for run in found:
        by_id.setdefault(run.data.tags.get("run_id", "?"), []).append(run)
    problems = [f"MLflow: unexpected run {r}" for r in by_id if r not in run_ids]
    for run_id in run_ids:
        runs = by_id.get(run_id, [])
        if len(runs) != 1:
            problems.append(f"MLflow: {run_id} has {len(runs)} runs")
            continue
        (run,) = runs
        steps = sorted(m.step for m in client.get_metric_history(run.info.run_id, "epoch"))
        if run.info.status != "FINISHED" or steps != epochs or "final_test_uar" not in run.data.metrics:
            problems.append(
                f"MLflow: {run_id} status {run.info.status}, epoch steps {steps}, "
                f"final metrics {'present' if 'final_test_uar' in run.data.metrics else 'missing'}"
            )
    return problems


def _kill_when(driver: subprocess.Popen, reached: Callable[[], bool], delay: float) -> bool:
    """Wait until ``reached()`` and then ``delay`` seconds more, and SIGKILL the driver; return False if it
    exited by itself first."""
    while not reached():
        if driver.poll() is not None:
            return False
        time.sleep(0.2)
    try:
        driver.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
        return True


def drill(
    config_path: str,
    overrides: list[str],
    kills: int,
    seed: int,
    jitter_s: float = 5.0,
    settle_s: float = 15.0,
    log: Path | None = None,
    timeout_s: float = 6 * 3600,
) -> DrillReport:
    """Run the drill (see the module docstring); return its report.

    The moments are random in the sweep's progress, so they do not depend on the machine's speed:
    ``kills`` distinct epoch counts are drawn from the sweep's total, and the k-th invocation is killed
    once the run directories hold that many epochs, plus a uniform 0–``jitter_s`` seconds.
    """
    config = load_config(config_path, overrides)
    run_ids = [spec.run_id for spec in expand(config)]
    report = DrillReport(config_path, str(config.experiment_dir), len(run_ids), config.training.epochs)
    command = [sys.executable, "-m", "hdfbench.cli", "run", config_path, *[a for o in overrides for a in ("--set", o)]]
    log = log or config.experiment_dir.parent / "kill_drill.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    targets = sorted(rng.sample(range(len(run_ids) * config.training.epochs), kills))
    for target in targets:
        mark, delay = uuid.uuid4().hex, rng.uniform(0.0, jitter_s)
        start = time.monotonic()
        driver = _launch(command, mark, log)
        killed = _kill_when(driver, _epochs_reached(config, run_ids, target), delay)
        kill = Kill(round(time.monotonic() - start, 1), *_progress(config, run_ids), exited_before=not killed)
        kill.survivors = _settle(mark, settle_s)
        report.kills.append(kill)
        report.problems += [
            f"kill at {kill.after_s} s: still running {settle_s:.0f} s later: {s}" for s in kill.survivors
        ]
        if kill.survivors:
            reaper_log = _reaper_log(log, mark)
            noted = reaper_log.read_text() if reaper_log.exists() else "(none: no reaper was started)"
            report.problems.append(f"kill at {kill.after_s} s: the reaper's notes ({reaper_log}):\n{noted}")
        _settle(mark, 120.0)  # let stragglers end before the next invocation
    mark, start = uuid.uuid4().hex, time.monotonic()
    final = _launch(command, mark, log)
    report.final_exit = final.wait(timeout=timeout_s)
    report.final_seconds = round(time.monotonic() - start, 1)
    if report.final_exit != 0:
        report.problems.append(f"the final invocation exited {report.final_exit} (log: {log})")
    report.problems += [f"after the sweep ended: still running: {s}" for s in _settle(mark, settle_s)]
    report.problems += check_results(config, run_ids)
    return report


def main(argv: list[str] | None = None) -> int:
    """Run the drill from the command line; print the report; return 0 if every check held, else 1."""
    from hdfbench._quiet import apply_quiet_settings

    apply_quiet_settings()  # the drill reads MLflow itself; the sweeps it starts are `hdfbench` commands
    parser = argparse.ArgumentParser(
        prog="python -m hdfbench.testing.kill_drill",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--output-dir", help="shorthand for --set output_dir=DIR")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument(
        "--jitter",
        type=float,
        default=5.0,
        metavar="S",
        help="each kill comes 0–S seconds (uniform) after the drawn epoch count is reached",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", type=Path, help="write the report as JSON here")
    args = parser.parse_args(argv)
    overrides = args.set + ([f"output_dir={args.output_dir}"] if args.output_dir else [])
    report = drill(args.config, overrides, args.kills, args.seed, args.jitter)
    for i, kill in enumerate(report.kills, 1):
        what = "exited by itself after" if kill.exited_before else "killed after"
        print(
            f"kill {i}: {what} {kill.after_s} s; runs done {kill.runs_done}/{report.runs}, epochs recorded "
            f"{kill.epochs_done}/{report.runs * report.epochs_per_run}; left running: {len(kill.survivors)}"
        )
    print(f"final invocation: exit {report.final_exit} after {report.final_seconds} s")
    print(
        "\n".join(report.problems)
        or "all checks hold: every run once in summary.csv and MLflow, every epoch "
        "once in both, no process outlived its driver"
    )
    if args.report:
        args.report.write_text(json.dumps(asdict(report), indent=2) + "\n")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
