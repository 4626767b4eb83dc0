"""Fixtures and hooks only (helpers live in tests/helpers.py): a session-wide data cache."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def data_cache(tmp_path_factory) -> Path:
    """Point the data cache at one temporary folder for the whole session (set for subprocesses too)."""
    cache = tmp_path_factory.mktemp("hdfbench-cache")
    os.environ["HDFBENCH_CACHE"] = str(cache)
    return cache
