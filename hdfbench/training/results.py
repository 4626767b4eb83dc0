"""The experiment directory: run directories, the list of the current sweep's runs, summary.csv.

``results/<experiment>/runs/<run_id>/`` holds each run (see ``training.rundir``);
``runs.json`` lists the run ids of the latest ``hdfbench run`` of the experiment;
``summary.csv`` has one row per finished run among them, computed from its saved predictions.
"""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path

import pandas as pd

from hdfbench.fileio import atomic_write, atomic_write_json
from hdfbench.metrics import CALIBRATION_METRICS, evaluate_predictions, probability_calibration, worst_group_metric
from hdfbench.training.rundir import RunDir
from hdfbench.training.selection import ORACLE_COLUMNS, oracle_metrics

log = logging.getLogger(__name__)

#: The leading columns of summary.csv (per-class recalls and group columns follow).
SUMMARY_COLUMNS = [
    "experiment",
    "dataset",
    "fold",
    "seed",
    "strategy",
    "variant",
    "selected_epoch",
    "val_uar",
    "val_war",
    "test_war",
    "test_uar",
    "worst_class_recall",
]


def run_dir(experiment_dir: Path, run_id: str) -> RunDir:
    """Return the run directory of ``run_id`` in ``experiment_dir``."""
    return RunDir(Path(experiment_dir) / "runs" / run_id)


def write_run_list(experiment_dir: Path, run_ids: list[str]) -> None:
    """Record the run ids that make up the experiment's current sweep."""
    atomic_write_json(Path(experiment_dir) / "runs.json", run_ids)


def read_run_list(experiment_dir: Path) -> list[str]:
    """Return the current sweep's run ids (all run directories if no list was written)."""
    path = Path(experiment_dir) / "runs.json"
    if path.exists():
        return json.loads(path.read_text())
    runs = Path(experiment_dir) / "runs"
    return sorted(p.name for p in runs.iterdir() if p.is_dir()) if runs.exists() else []


def final_metrics(run: RunDir) -> dict:
    """Return a finished run's final metrics (selected epoch, val_* and test_*, the calibration of each split's
    softmax: ``<split>_ece``, ``_nll``, ``_brier``) from its saved predictions."""
    config, done = run.read_config(), run.read_done()
    classes, fields = config["classes"], config["group_fields"]
    predictions = run.read_predictions()
    metrics = {"selected_epoch": done["selected_epoch"]}
    for split in ("val", "test", "test_id"):  # test_id: the in-distribution test of a shifted protocol
        rows = predictions[predictions["split"] == split]
        if split != "test_id" or len(rows):
            metrics.update(evaluate_predictions(rows, classes, fields, prefix=f"{split}_"))
            metrics.update(probability_calibration(rows, prefix=f"{split}_"))
    return {**metrics, "bad_clips_skipped": done.get("bad_clips_skipped", 0)}


def summary_row(run: RunDir) -> dict:
    """Return the summary row of a finished run, computed from its saved predictions (and, for the
    best-on-test ``oracle_*`` columns of a run with ``selection.report_oracle``, from its metrics.jsonl)."""
    config = run.read_config()
    spec, classes, fields = config["spec"], config["classes"], config["group_fields"]
    done, final = run.read_done(), final_metrics(run)
    row = {
        "experiment": spec["experiment"],
        "dataset": spec["dataset"]["name"],
        "fold": spec["fold"],
        "seed": spec["seed"],
        "strategy": spec["strategy"]["name"],
        "variant": spec["strategy"]["variant"],
        "selected_epoch": final["selected_epoch"],
        "val_uar": final["val_uar"],
        "val_war": final["val_war"],
        "test_war": final["test_war"],
        "test_uar": final["test_uar"],
        "worst_class_recall": final["test_worst_class_recall"],
    }
    row.update({f"recall_{c}": final[f"test_recall_{c}"] for c in classes})
    row.update({worst_group_metric(f): final[f"test_{worst_group_metric(f)}"] for f in fields})
    products = [worst_group_metric(f"class*{f}") for f in fields]
    row.update({name: final.get(f"test_{name}") for name in products})
    options = spec["dataset"].get("options", {})
    row.update(protocol=options.get("protocol", ""), test_prior=options.get("test_prior", ""))
    if "test_id_uar" in final:  # a shifted protocol: the same run on held-out in-distribution clips
        row.update(id_test_uar=final["test_id_uar"], id_test_war=final["test_id_war"])
        for name in (worst_group_metric(d) for f in fields for d in (f, f"class*{f}")):
            row[f"id_{name}"] = final[f"test_id_{name}"]
    row.update({f"test_{name}": final[f"test_{name}"] for name in CALIBRATION_METRICS})
    if spec.get("selection", {}).get("report_oracle"):  # best-on-test, beside the selection (never used by it)
        oracle = oracle_metrics(run.read_metrics(), final["selected_epoch"])
        row.update({name: oracle.get(name, float("nan")) for name in ORACLE_COLUMNS})
    row.update(
        n_test=final["test_n"],
        absent_classes=final["test_absent_classes"],
        bad_clips_skipped=final["bad_clips_skipped"],
        device=done.get("device", ""),
        precision=done.get("precision", ""),
        node_id=done.get("placement", {}).get("node_id", ""),
        retries=done.get("retries", 0),
        run_id=config["run_id"],
    )
    return row


def _mtime(path: Path) -> float | None:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return None


def _read_summary(path: Path) -> pd.DataFrame:
    """Return the rows of an existing summary.csv indexed by run id (empty if there is none, or if it
    is unreadable: it is derived from the run directories and rebuilt from them)."""
    try:
        cached = pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame()
    except (ValueError, UnicodeDecodeError, OSError) as exc:  # pandas' ParserError is a ValueError
        log.warning("%s is unreadable (%s); rebuilding it from the run directories", path, exc)
        return pd.DataFrame()
    if cached.empty:  # the header alone: a sweep whose runs all failed or are unfinished
        return pd.DataFrame()
    if "run_id" not in cached or not set(SUMMARY_COLUMNS) <= set(cached.columns):
        log.warning("%s is not a summary table; rebuilding it from the run directories", path)
        return pd.DataFrame()
    return cached.set_index("run_id", drop=False)


def _row_or_damage(run: RunDir) -> dict | str:
    """Return the summary row of a finished run, or, if its files cannot be read, why (after moving its
    ``done`` marker aside so that the next ``hdfbench run`` trains it again)."""
    try:
        return summary_row(run)
    except (OSError, ValueError, KeyError) as exc:  # a missing or corrupt predictions.parquet / config / done
        moved = run.quarantine(run.done)
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        log.warning(
            "run %s is damaged (%s); left out of summary.csv, its done marker moved to %s so that "
            "`hdfbench run` trains it again",
            run.path.name,
            reason,
            moved.name,
        )
        return reason


def write_summary(experiment_dir: Path) -> tuple[Path, pd.DataFrame, list[str], int]:
    """Bring ``summary.csv`` up to date; return (path, table, unfinished run ids, rows computed).

    The table has one row per finished run of the current sweep. A row of the existing file is
    reused while its run's ``done`` marker is not newer than the file; the other finished runs are
    computed from their saved predictions. The file is rewritten (atomically) only when a row was
    computed or dropped, or when it did not exist.
    """
    path = Path(experiment_dir) / "summary.csv"
    stamp, cached = _mtime(path), _read_summary(path)
    keep, fresh, missing = [], [], []
    for run_id in read_run_list(experiment_dir):
        run = run_dir(experiment_dir, run_id)
        done = _mtime(run.done)
        if done is None:
            missing.append(run_id)
        elif stamp is not None and run_id in cached.index and done <= stamp:
            keep.append(run_id)
        elif isinstance(row := _row_or_damage(run), dict):
            fresh.append(row)
        else:
            missing.append(run_id)
    frame = pd.concat([cached.loc[keep], pd.DataFrame(fresh)], ignore_index=True) if fresh else cached.loc[keep]
    if frame.empty:
        frame = pd.DataFrame(columns=SUMMARY_COLUMNS)
    else:
        ordered = SUMMARY_COLUMNS + [c for c in frame.columns if c not in SUMMARY_COLUMNS]
        frame = frame[ordered].sort_values(["dataset", "variant", "fold", "seed"], ignore_index=True)
    if stamp is None or fresh or len(keep) != len(cached):
        try:
            atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))
        except OSError as exc:
            if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            log.warning(
                "%s not updated: %s (%s); the table is computed from the run directories for now",
                path,
                "read-only storage" if exc.errno == errno.EROFS else "no write permission",
                exc.strerror,
            )
    return path, frame, missing, len(fresh)
