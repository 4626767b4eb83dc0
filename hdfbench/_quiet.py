"""The quiet settings: the one definition of what keeps Ray, Tune, MLflow and Optuna quiet and offline-friendly.

Nothing here runs on import. The entry points apply them: ``hdfbench.cli.main`` first thing, before
anything imports Ray or MLflow; ``hdfbench.sweep.trial.run_trial`` in each Ray worker; a cluster
job's runtime environment carries ``QUIET_ENV`` to the nodes; the test suite's ``conftest.py`` (its
``pytest_configure`` hook) applies them and hands ``IGNORED_WARNINGS`` to pytest's warning filters.
"""

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

#: Warnings from pinned third-party releases that say nothing actionable to a user: regular expressions
#: matched at the start of the message, any warning category. No colon in them, so that each also
#: works as the message field of a pytest ``filterwarnings`` line (``ignore:MESSAGE``).
IGNORED_WARNINGS = (
    r"`torch\.jit\.script` is deprecated",
    r"'saved_variables' is deprecated",
    r"The ``noload`` loader strategy is deprecated",
    r"starlette\.middleware\.wsgi is deprecated",
    r"vert. bool was deprecated",  # "vert: bool was deprecated" (matplotlib, through seaborn)
    r"The set_bad function will be deprecated",
)

#: Loggers lowered to WARNING: their INFO lines are progress chatter.
QUIET_LOGGERS = ("mlflow", "alembic", "optuna")


def apply_quiet_settings() -> None:
    """Set the quiet environment defaults (keeping values already set), warning filters and logger levels."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    for message in IGNORED_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
