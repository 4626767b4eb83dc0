"""Generated results directories with known effects, analysed once per session."""

from __future__ import annotations

import pytest

from hdfbench.analysis.fake_results import FakeSpec, make_results
from hdfbench.analysis.pipeline import Options, analyze

#: "better" is better than the reference by construction; "same" is identical in distribution.
KNOWN = FakeSpec(experiment="known", datasets=("d1", "d2"), folds=(1, 2, 3, 4, 5), seeds=(0, 1, 2), n_test=800,
                 variants={"erm": ("erm", 0.0), "better": ("better", 0.2), "same": ("same", 0.0),
                           "groupdro": ("groupdro", 0.0)})


@pytest.fixture(scope="session")
def known_dir(tmp_path_factory):
    """Return a results directory where 'better' beats 'erm' by 20 pp of accuracy and 'same' does not differ."""
    return make_results(tmp_path_factory.mktemp("known"), KNOWN)


@pytest.fixture(scope="session")
def known_analysis(known_dir, tmp_path_factory):
    """Return the full analysis (tables, figures, report; no MLflow) of ``known_dir``."""
    return analyze(known_dir, tmp_path_factory.mktemp("analysis") / "known", Options(mlflow=False))
