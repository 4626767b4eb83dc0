"""Process-wide settings that keep Ray, Tune, MLflow and Optuna quiet and offline-friendly."""

import logging
import os
import warnings

#: Environment defaults applied before Ray or MLflow are imported (a user's own values win).
QUIET_ENV = {
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_DEDUP_LOGS": "0",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    "MLFLOW_LOGGING_LEVEL": "WARNING",
    "GIT_PYTHON_REFRESH": "quiet",
}

#: Warning messages from pinned third-party releases that say nothing actionable to a user.
_IGNORED_WARNINGS = (
    "`torch.jit.script` is deprecated",
    "'saved_variables' is deprecated",
    "The ``noload`` loader strategy is deprecated",
    "starlette.middleware.wsgi is deprecated",
    "vert: bool was deprecated",
)


def apply_quiet_settings() -> None:
    """Set the quiet environment defaults and warning filters; returns nothing."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    for message in _IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=message.replace("`", "."))
    for name in ("mlflow", "alembic", "optuna"):
        logging.getLogger(name).setLevel(logging.WARNING)
