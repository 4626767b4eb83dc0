"""Importing hdfbench changes nothing process-wide; the entry points (the command line, a Ray trial) apply
the quiet settings of hdfbench._quiet themselves, the command line before anything imports Ray; the
version comes from the package metadata."""

import importlib.metadata
import json
import os
import subprocess
import sys
import tomllib

import pytest

import hdfbench
from hdfbench._quiet import IGNORED_WARNINGS, QUIET_ENV
from tests.helpers import REPO

IMPORT_ONLY = """
import json, logging, os, sys, warnings
env, filters = dict(os.environ), list(warnings.filters)
levels = {name: logging.getLogger(name).level for name in ("mlflow", "alembic", "optuna")}
import hdfbench
print(json.dumps({
    "file": hdfbench.__file__,
    "env_changed": sorted(k for k in env.keys() | os.environ.keys() if env.get(k) != os.environ.get(k)),
    "filters_unchanged": warnings.filters == filters,
    "levels_unchanged": levels == {name: logging.getLogger(name).level for name in levels},
}))
"""

COMMAND_LINE = """
import contextlib, io, json, os, sys, warnings
from hdfbench.cli import main
imported = sorted(m for m in ("ray", "mlflow") if m in sys.modules)
with contextlib.redirect_stdout(io.StringIO()):
    code = main(["list", "strategies"])
print(json.dumps({"imported_before_main": imported, "code": code, "env": dict(os.environ),
                  "ignored": [f[1].pattern for f in warnings.filters if f[0] == "ignore" and f[1] is not None]}))
"""


def fresh_python(code: str, **env: str) -> dict:
    """Run ``code`` in a new interpreter with a clean environment (PATH and ``env`` only) in the repository
    root, so that it imports this tree's hdfbench; return the JSON it prints."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_importing_hdfbench_touches_no_environment_warning_filter_or_logger():
    seen = fresh_python(IMPORT_ONLY)
    assert seen["file"] == str(REPO / "hdfbench" / "__init__.py")
    assert seen["env_changed"] == []
    assert seen["filters_unchanged"] and seen["levels_unchanged"]


def test_the_command_line_applies_the_quiet_settings_before_ray_is_imported():
    seen = fresh_python(COMMAND_LINE, RAY_DEDUP_LOGS="1")
    assert seen["imported_before_main"] == []  # cli imports Ray and MLflow only inside the commands
    assert seen["code"] == 0
    assert {k: seen["env"].get(k) for k in QUIET_ENV} == QUIET_ENV | {"RAY_DEDUP_LOGS": "1"}  # the user's value won
    assert set(IGNORED_WARNINGS) <= set(seen["ignored"])


def test_a_ray_trial_applies_the_quiet_settings_before_anything_else(monkeypatch):
    from hdfbench.sweep import trial

    class Applied(Exception):
        pass

    def apply() -> None:
        raise Applied

    monkeypatch.setattr(trial, "apply_quiet_settings", apply)
    with pytest.raises(Applied):
        trial.run_trial({})  # an empty config: anything read before the settings would fail differently


def test_ignored_warnings_fit_a_pytest_filter_line():
    assert not [message for message in IGNORED_WARNINGS if ":" in message]


def test_the_version_is_the_installed_distributions_else_the_source_trees(monkeypatch):
    assert hdfbench.__version__ == importlib.metadata.version("hdfbench")

    def not_installed(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(hdfbench, "version", not_installed)
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert hdfbench._version() == pyproject["project"]["version"]
