"""Generated results directories with known effects, analysed once per session."""

from __future__ import annotations

import pytest

from hdfbench.analysis.pipeline import Options, analyze
from hdfbench.testing.fake_results import make_results
from tests.helpers import KNOWN


@pytest.fixture(scope="session")
def known_dir(tmp_path_factory):
    """Return the results directory of ``KNOWN``."""
    return make_results(tmp_path_factory.mktemp("known"), KNOWN)


@pytest.fixture(scope="session")
def known_analysis(known_dir, tmp_path_factory):
    """Return the full analysis (tables, figures, report; no MLflow) of ``known_dir``."""
    return analyze(known_dir, tmp_path_factory.mktemp("analysis") / "known", Options(mlflow=False))
