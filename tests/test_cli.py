"""The command line end to end: list, every experiment under --smoke, analyze. Commands that start Ray run
in a subprocess (run_cli); the others in this process (main)."""

import pandas as pd
import pytest
import yaml

from hdfbench.cli import main
from hdfbench.config import load_config
from tests.helpers import EXPERIMENTS, run_cli, tiny_config


@pytest.mark.parametrize("kind,expected", [("strategies", "erm"), ("datasets", "synthetic"), ("backbones", "x3d_tiny")])
def test_list(kind, expected, capsys):
    assert main(["list", kind]) == 0
    assert expected in capsys.readouterr().out.split()


#: Experiments whose data `hdfbench synth` makes (dataset layout per file): smoke-run on a tiny tree.
SYNTH_MADE = {"dfew_synthetic.yaml": "dfew"}


def needs_external_data(path) -> bool:
    return path.name not in SYNTH_MADE and any(
        d["name"] != "synthetic" for d in yaml.safe_load(path.read_text())["datasets"]
    )


def synth_root_overrides(path, tmp_path) -> list[str]:
    """Write a tiny synthetic tree for a synth-made experiment; return the --set overrides pointing at it."""
    if path.name not in SYNTH_MADE:
        return []
    tree = tmp_path / "tree"
    assert (
        main(
            ["synth", "--format", SYNTH_MADE[path.name], "--out", str(tree), "--n-clips", "84", "--set", "n_subjects=8"]
        )
        == 0
    )
    return ["--set", f"datasets.0.options.root={tree}"]


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(EXPERIMENTS.glob("*.yaml")), ids=lambda p: p.name)
def test_every_experiment_runs_under_smoke(path, tmp_path):
    result = run_cli(
        "run", str(path), "--smoke", "--set", f"output_dir={tmp_path}", *synth_root_overrides(path, tmp_path)
    )
    config = yaml.safe_load(path.read_text())
    if needs_external_data(path):
        assert result.returncode == 2, result.stderr
        assert "data root" in result.stderr and "does not exist" in result.stderr
        assert "Traceback" not in result.stderr
        return
    assert result.returncode == 0, result.stdout + result.stderr
    summary = pd.read_csv(tmp_path / config["experiment"] / "summary.csv")
    assert len(summary) == len(config["strategies"]) * len(config["datasets"])
    assert set(summary["variant"]) == {s.label for s in load_config(path).strategies}


@pytest.mark.slow
def test_analyze_writes_the_summary_table(tmp_path):
    path = tiny_config(tmp_path, seeds=[0, 1], tracking={"enabled": False})
    assert run_cli("run", str(path)).returncode == 0
    out = tmp_path / "analysis"
    assert main(["analyze", str(tmp_path / "results" / "tiny"), "--out", str(out)]) == 0
    table = pd.read_csv(out / "summary_table.csv")
    assert table["n"].tolist() == [2] and "| synthetic | erm | 2 |" in (out / "summary_table.md").read_text()


def test_analyze_rejects_a_folder_without_runs(tmp_path, capsys):
    assert main(["analyze", str(tmp_path)]) == 2
    assert "not an experiment results directory" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv,message",
    [
        (["synth", "--format", "nosuch", "--out", "x"], "unknown export format 'nosuch'; allowed: dfew"),
        (["inspect", "nosuch", "--root", "."], "unknown dataset 'nosuch'; allowed: dfew"),
    ],
)
def test_unknown_names_on_the_command_line_exit_2_without_a_traceback(argv, message, capsys):
    assert main(argv) == 2  # an exception would fail the test with its traceback
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_dry_run_gives_config_errors_as_run_does(tmp_path, capsys):
    path = tiny_config(tmp_path, training={"epochs": 0})
    assert main(["run", str(path), "--dry-run"]) == 2
    assert "training.epochs" in capsys.readouterr().err
    assert main(["run", str(tiny_config(tmp_path)), "--measure"]) == 2
    assert "only apply with --dry-run" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()


def test_a_dry_run_of_the_smoke_config_prints_the_plan(tmp_path, capsys):
    path = tiny_config(tmp_path, strategies=[{"name": "erm"}, {"name": "sam"}])
    assert main(["run", str(path), "--smoke", "--dry-run", "--gpus", "2"]) == 0
    out = capsys.readouterr().out
    assert "smoke run; changed:" in out and "2 runs (1 dataset × 1 fold × 1 seed × 2 strategies)" in out
    assert "--gpus does not apply: the runs train on the CPU" in out and not (tmp_path / "results").exists()
