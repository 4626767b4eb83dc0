"""The Ray Tune trainable: one run per trial, recorded with where it ran and how often it was tried.

Failure policy. A trial whose process or node is lost is retried by Tune (``ray.max_failures``) and
resumes from its run directory's last checkpoint on whichever node it lands. An exception raised by
the run's own code (non-finite loss, bad data, an unusable device, a bug) would happen again: it is
recorded in the run's ``failed.json`` and the trial ends without asking for a retry. I/O errors
(shared storage hiccups) and a run directory still locked by a dying process are retried.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
import traceback
from pathlib import Path
from typing import Any

from hdfbench._quiet import apply_quiet_settings
from hdfbench.fileio import disk_full
from hdfbench.training import selection
from hdfbench.training.rundir import RunDir, RunDirBusy
from hdfbench.training.spec import RunSpec

#: Exceptions from a run that another attempt may not repeat: Tune retries them.
RETRYABLE = (OSError, RunDirBusy)


def placement(sweep_id: str) -> dict[str, Any]:
    """Return where this trial runs: Ray node id, host name, IP, the GPUs Ray gave it, the hdfbench
    package it imports (a checkout, an install or Ray's shipped copy), pid, sweep and start time."""
    import ray

    from hdfbench.sweep.provenance import package_dir

    return {
        "node_id": ray.get_runtime_context().get_node_id(),
        "hostname": socket.gethostname(),
        "ip": ray.util.get_node_ip_address(),
        "gpu_ids": [str(g) for g in ray.get_gpu_ids()],
        "code": str(package_dir()),
        "pid": os.getpid(),
        "sweep_id": sweep_id,
        "started_at": time.time(),
    }


def attempt_info(run_dir: RunDir, where: dict[str, Any]) -> dict[str, Any]:
    """Record this attempt in the run directory; return what the run's config, done and MLflow tags keep.

    ``retries`` counts the earlier attempts of the same sweep invocation (Tune's retries);
    ``attempts`` counts every attempt, resumed invocations included.
    """
    attempts = run_dir.record_attempt(where)
    retries = sum(a.get("sweep_id") == where["sweep_id"] for a in attempts) - 1
    return {"placement": where, "attempts": len(attempts), "retries": retries}


def run_trial(trial_config: dict[str, Any]) -> None:
    """Ray Tune trainable: train one run, reporting each epoch to Tune and mirroring it to MLflow.

    ``trial_config["run"]`` holds the base spec, the folder of run directories, the sweep id and the
    tracking settings; any other key is a searched parameter applied to the spec first. Every
    report carries ``objective``, the validation score of the epoch the selection rule keeps so far.
    """
    # A worker runs this without hdfbench's command line: the quiet settings (warning filters, logger
    # levels, MLflow's environment) before the trial imports MLflow, Optuna or the trainer. Ray's own
    # variables reach a worker before it starts: inherited from the driver's node, or from the job's
    # runtime environment on a cluster (tuner.runtime_env).
    apply_quiet_settings()
    from ray import tune

    from hdfbench.sweep.search import apply_params
    from hdfbench.sweep.tracking import MlflowMirror
    from hdfbench.training.device import resolve_device
    from hdfbench.training.trainer import Hooks, train

    config = trial_config["run"]
    spec = RunSpec(**config["spec"])
    params = {k: v for k, v in trial_config.items() if k != "run"}
    if params:
        spec = apply_params(spec, params)
    run_dir = RunDir(Path(config["run_root"]) / spec.run_id)
    rule = spec.selection.rule
    if run_dir.is_done:  # finished by an earlier attempt or invocation
        tune.report({"objective": selection.objective(rule, run_dir.read_metrics()), "run_id": spec.run_id})
        return
    info = attempt_info(run_dir, placement(config["sweep_id"]))
    tracking = config.get("tracking")
    mirror = None
    if tracking:
        tags = {
            "dataset": spec.dataset.name,
            "fold": spec.fold,
            "seed": spec.seed,
            "strategy": spec.strategy.name,
            "variant": spec.strategy.label,
            "sweep_id": config["sweep_id"],
            "run_id": spec.run_id,
            "stage": config["stage"],
        }
        mirror = MlflowMirror(tracking["uri"], tracking["experiment_id"], run_dir, tags)
        mirror.start(spec.model_dump(mode="json"))
    records: list[dict] = []

    def on_start(payload: dict) -> None:
        records.extend(run_dir.read_metrics())
        if mirror:
            mirror.set_tags(placement_tags(payload) | pretrained_tags(payload.get("pretrained")))
            mirror.backfill(records)

    def on_epoch(record: dict) -> None:
        records.append(record)
        if mirror:
            mirror.log_metrics(record, step=record["epoch"])
        numbers = {k: v for k, v in record.items() if isinstance(v, (int, float))}
        tune.report(numbers | {"objective": selection.objective(rule, records), "run_id": spec.run_id})

    def on_done(final: dict) -> None:
        if mirror:
            mirror.finish()

    try:
        device = resolve_device(spec.training.device, info["placement"]["gpu_ids"])
        train(spec, run_dir, Hooks(on_start=on_start, on_epoch=on_epoch, on_done=on_done), device, info)
    except Exception as exc:
        if isinstance(exc, RETRYABLE) and not disk_full(exc):  # retried by Tune; a full disk would fill again
            if mirror:
                mirror.fail(f"{type(exc).__name__}: {exc} (the trial may be retried)")
            raise
        # the run's own failure: recorded, not retried
        reason = _own_failure(run_dir, exc, config["sweep_id"])
        if mirror:
            mirror.fail(reason)
        tune.report({"failed": reason, "run_id": spec.run_id})
    except BaseException:
        if mirror:
            mirror.fail("interrupted", status="KILLED")
        raise


def pretrained_tags(report: dict[str, Any] | None) -> dict[str, str]:
    """Return the MLflow tags of what ``model.options.pretrained`` loaded (the ``LoadReport`` config.json holds:
    file, sha256, layout, tensors loaded, new, ignored and inserted); none when trained from scratch."""
    if not report:
        return {}
    lists = {k: ",".join(report[k]) for k in ("new", "ignored", "inserted")}
    picked = {"path": report["path"], "sha256": report["sha256"], "format": report["format"], **lists}
    return {f"pretrained.{k}": str(v) for k, v in {**picked, "loaded": report["loaded"]}.items()}


def placement_tags(run_info: dict[str, Any]) -> dict[str, str]:
    """Return the MLflow tags of a run's current attempt: node, host, GPUs, device, retries."""
    where = run_info.get("placement", {})
    return {
        "node_id": where.get("node_id", ""),
        "hostname": where.get("hostname", ""),
        "gpu_ids": ",".join(where.get("gpu_ids", [])),
        "device": run_info.get("device", ""),
        "precision": run_info.get("precision", ""),
        "retries": str(run_info.get("retries", 0)),
        "attempts": str(run_info.get("attempts", 1)),
    }


def _own_failure(run_dir: RunDir, exc: Exception, sweep_id: str) -> str:
    """Record a failure of the run's own code in failed.json (unless the trainer did); return its reason."""
    from hdfbench.training.trainer import RunFailed

    if isinstance(exc, RunFailed):
        reason = str(exc)
    elif isinstance(exc, OSError) and disk_full(exc):
        reason = disk_full_message(exc, run_dir.path)
    else:
        reason = f"{type(exc).__name__}: {exc}"
    try:
        run_dir.mark_failed(reason, sweep_id=sweep_id, traceback=traceback.format_exc())
    except OSError:
        pass  # a full disk: the reason still reaches the driver through Tune's report
    return reason


def disk_full_message(exc: OSError, where: Path) -> str:
    """Return one line naming the full storage, its free space, and what to do."""
    path = Path(exc.filename) if exc.filename else where
    folder = next((p for p in (path, *path.parents) if p.exists()), where)
    free = shutil.disk_usage(folder).free
    return (
        f"no space left on the storage of {path} ({free / 2**20:.1f} MiB free): free space there or move "
        "output_dir, then run the same command again (finished runs are kept)"
    )
