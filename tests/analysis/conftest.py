"""Generated results directories with known effects, analysed once per session."""

from __future__ import annotations

import pytest

from hdfbench.analysis.pipeline import Options, analyze
from hdfbench.testing.fake_results import FakeSpec, make_results

#: 2 datasets × 5 folds × 3 seeds × 4 strategies, a DFEW-like 5-fold partition (n_test/n_train = 0.25):
#: "better" is 5 points better than the reference by construction, "same" identical in distribution
#: (a GroupDRO run, for its weight figure), "minority" worse on the minority class (Disgust) only.
KNOWN = FakeSpec(experiment="known", datasets=("d1", "d2"), folds=(1, 2, 3, 4, 5), seeds=(0, 1, 2), n_test=3000,
                 n_train=10900,
                 variants={"erm": ("erm", 0.0), "better": ("better", 0.05), "same": ("groupdro", 0.0),
                           "minority": ("minority", 0.0, {"Disgust": -0.3})})


@pytest.fixture(scope="session")
def known_dir(tmp_path_factory):
    """Return the results directory of ``KNOWN``."""
    return make_results(tmp_path_factory.mktemp("known"), KNOWN)


@pytest.fixture(scope="session")
def known_analysis(known_dir, tmp_path_factory):
    """Return the full analysis (tables, figures, report; no MLflow) of ``known_dir``."""
    return analyze(known_dir, tmp_path_factory.mktemp("analysis") / "known", Options(mlflow=False))
