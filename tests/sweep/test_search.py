"""The Optuna search stage: trials on inner validation, best params into the final grid, resumable."""

import json

import pandas as pd
import pytest

from hdfbench.config import ConfigError, load_config
from tests.helpers import run_cli, tiny_config

SPACE = {
    "label_smoothing": {"low": 0.0, "high": 0.3},
    "training.optimizer.lr": {"low": 1e-4, "high": 1e-2, "log": True},
}


@pytest.mark.slow
def test_search_then_grid_with_the_best_params(tmp_path):
    path = tiny_config(
        tmp_path,
        seeds=[0, 1],
        tracking={"enabled": False},
        strategies=[{"name": "erm", "search": {"n_trials": 3, "space": SPACE}}],
    )
    first = run_cli("run", str(path))
    assert first.returncode == 0, first.stdout + first.stderr
    search_dir = tmp_path / "results" / "tiny" / "hpo" / "synthetic-erm"
    trials = pd.read_csv(search_dir / "trials.csv")
    best = json.loads((search_dir / "best.json").read_text())
    assert len(trials) == 3 and trials["param.label_smoothing"].nunique() == 3
    assert best["objective"] == trials["objective"].max()
    for run_id in trials["run_id"]:  # every trial is a real run, scored on validation only
        records = [json.loads(x) for x in (search_dir / "runs" / run_id / "metrics.jsonl").read_text().splitlines()]
        assert not any(k.startswith("test_") for r in records for k in r)

    summary = pd.read_csv(tmp_path / "results" / "tiny" / "summary.csv")
    assert len(summary) == 2
    for run_id in summary["run_id"]:
        spec = json.loads((tmp_path / "results" / "tiny" / "runs" / run_id / "config.json").read_text())["spec"]
        assert spec["strategy"]["hparams"]["label_smoothing"] == best["params"]["label_smoothing"]
        assert spec["training"]["optimizer"]["lr"] == best["params"]["training.optimizer.lr"]

    again = run_cli("run", str(path))
    assert again.returncode == 0 and "searching" not in again.stdout
    assert "2 already done, 0 to run" in again.stdout


def test_search_space_names_are_checked(tmp_path):
    path = tiny_config(
        tmp_path,
        strategies=[
            {
                "name": "erm",
                "search": {
                    "n_trials": 2,
                    "space": {"gamma": {"low": 0, "high": 1}, "label_smoothing": {"low": 1, "high": 0}},
                },
            }
        ],
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert (
        "strategies[0].search.space.gamma: cannot search 'gamma' (allowed: label_smoothing, training.optimizer.lr"
    ) in message
    assert "strategies[0].search.space.label_smoothing: Value error, type 'float' needs low < high" in message
