"""Fixtures and hooks only (helpers live in tests/helpers.py): the quiet settings, and a session-wide
data cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hdfbench._quiet import IGNORED_WARNINGS, apply_quiet_settings


def pytest_configure(config: pytest.Config) -> None:
    """Apply hdfbench's quiet settings to this process and the subprocesses it starts (Ray nodes, the
    ``hdfbench`` command), and give pytest their warning filters: it resets the filters for every test."""
    apply_quiet_settings()
    for message in IGNORED_WARNINGS:
        config.addinivalue_line("filterwarnings", f"ignore:{message}")


@pytest.fixture(scope="session", autouse=True)
def data_cache(tmp_path_factory) -> Path:
    """Point the data cache at one temporary folder for the whole session (set for subprocesses too)."""
    cache = tmp_path_factory.mktemp("hdfbench-cache")
    os.environ["HDFBENCH_CACHE"] = str(cache)
    return cache
