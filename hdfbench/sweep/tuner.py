"""Ray start-up and the Tune run of a list of runs (a grid) or of one searched base run.

On a cluster (``ray.address``) the driver attaches to the running head and ships the hdfbench
package (plus ``ray.py_modules``) to every node through Ray's runtime environment, so a node needs
the dependencies but no checkout. Trials that lose their process or node are retried
``ray.max_failures`` times; each retry resumes from the run directory on the shared ``output_dir``.
"""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

import ray
from ray import tune

from hdfbench._quiet import QUIET_ENV
from hdfbench.config import ExperimentConfig
from hdfbench.sweep import reaper
from hdfbench.sweep.errors import ClusterError
from hdfbench.sweep.progress import Progress
from hdfbench.sweep.provenance import package_dir
from hdfbench.sweep.trial import run_trial
from hdfbench.training.spec import RunSpec

#: Seconds the driver waits for a TCP connection to a cluster's head before saying it is unreachable.
CONNECT_TIMEOUT_S = 10


class ClusterUnreachable(ClusterError):
    """``ray.address`` does not answer; the message names the address."""


def runtime_env(config: ExperimentConfig) -> dict[str, Any] | None:
    """Return the job's runtime environment: the shipped packages and quiet settings (None when local)."""
    if not config.ray.address:
        return None
    env: dict[str, Any] = {"env_vars": dict(QUIET_ENV)}
    if config.ray.ship_code:
        env["py_modules"] = [str(package_dir()), *config.ray.py_modules]
        env["excludes"] = ["__pycache__/", "*.pyc"]
    return env


def _check_reachable(address: str) -> None:
    """Raise ``ClusterUnreachable`` if nothing listens at ``HOST:PORT`` (``auto`` is left to Ray)."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ClusterUnreachable(
            f"ray.address {address}: no Ray head answers there ({exc}); start it with "
            f"`ray start --head --port {port}` or fix the address"
        ) from None


def _not_tune_restore_hint(record: logging.LogRecord) -> bool:
    """Return False for Tune's "resume with Tuner.restore(...)" hint: hdfbench resumes by re-running the command."""
    return "Tuner.restore" not in record.getMessage()


def _not_experiment_state_sync(record: logging.LogRecord) -> bool:
    """Return False for Tune's "Saving experiment state ... failed" traceback: hdfbench never reads Tune's
    experiment state, and the storage error behind it (a full disk) reaches the user as one line anyway."""
    return not record.getMessage().startswith("Saving experiment state")


def init_ray(config: ExperimentConfig) -> None:
    """Start a local Ray instance, or attach to the cluster at ``ray.address`` (shipping the code)."""
    if ray.is_initialized():
        return
    logging.getLogger("ray.tune.tune").addFilter(_not_tune_restore_hint)
    logging.getLogger("ray.tune.execution.experiment_state").addFilter(_not_experiment_state_sync)
    kwargs: dict[str, Any] = dict(
        include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING, configure_logging=True
    )
    if config.ray.address:
        _check_reachable(config.ray.address)
        ray.init(address=config.ray.address, runtime_env=runtime_env(config), **kwargs)
    else:
        # address "local": a new node of our own, never the cluster a `ray start` on this machine recorded
        reaper.local_node(
            lambda: ray.init(address="local", num_cpus=os.cpu_count(), object_store_memory=512 * 2**20, **kwargs)
        )


def trial_base(spec: RunSpec, run_root: Path, tracking: dict | None, stage: str, sweep_id: str) -> dict[str, Any]:
    """Return the ``run`` entry of a trial's config: the spec, where its run directory goes, tracking."""
    return {
        "spec": spec.model_dump(mode="json"),
        "run_root": str(run_root.resolve()),
        "tracking": tracking,
        "stage": stage,
        "sweep_id": sweep_id,
    }


def trial_run_id(result: Any) -> str:
    """Return the run id of a Tune result: its trial folder's name (set to the run id for grid trials)."""
    return Path(result.path).name


def run_tuner(
    config: ExperimentConfig,
    name: str,
    storage: Path,
    runs: dict[str, Any] | list[dict[str, Any]],
    search_alg: Any = None,
    num_samples: int = 1,
) -> tune.ResultGrid:
    """Run trials on Ray Tune and return Tune's ``ResultGrid``; ``runs`` is a list (a grid, one trial each)
    or one base (searched, ``num_samples`` trials). A progress bar (``progress.Progress``) counts the trials'
    runs and epochs of ``training.epochs`` each."""
    init_ray(config)
    trainable = tune.with_resources(run_trial, {"cpu": config.resources.cpu, "gpu": config.resources.gpu})
    is_grid = isinstance(runs, list)
    n_trials = len(runs) if isinstance(runs, list) else num_samples

    def trial_name(trial) -> str:
        return trial.config["run"].get("run_id") or f"trial-{trial.trial_id}"

    tuner = tune.Tuner(
        trainable,
        param_space={"run": tune.grid_search(runs) if is_grid else runs},
        tune_config=tune.TuneConfig(
            search_alg=search_alg,
            num_samples=num_samples,
            reuse_actors=True,
            max_concurrent_trials=None if search_alg else config.ray.max_concurrent_trials,
            trial_name_creator=trial_name,
            trial_dirname_creator=trial_name,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(storage.resolve()),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=config.ray.max_failures),
            callbacks=[Progress(n_trials, config.training.epochs, name="search" if search_alg else "sweep")],
        ),
    )
    return tuner.fit()
