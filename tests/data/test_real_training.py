"""Training through a file-backed loader: determinism, resume, skipped-clip count, and synth → CLI smoke."""

import json
import shutil

import pandas as pd
import pytest
import yaml

from hdfbench.cli import main
from hdfbench.config import DatasetSpec, ModelSpec, SelectionSpec, StrategySpec, TrainingSpec
from hdfbench.data import build_dataset
from hdfbench.data.synthetic import SyntheticDFER, SyntheticOptions
from hdfbench.data.synthetic_export import export_dfew
from hdfbench.training.rundir import RunDir
from hdfbench.training.spec import RunSpec
from hdfbench.training.trainer import train
from tests.helpers import interrupt_after_epoch, run_cli, tiny_config

SMALL = SyntheticOptions(n_clips=84, frames=6, size=32, n_subjects=8)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("dfew-synth")
    export_dfew(SMALL, root, tmp_path_factory.mktemp("syncache"))
    return root


def spec(root, epochs=3, **options) -> RunSpec:
    return RunSpec(
        experiment="t",
        dataset=DatasetSpec(
            name="dfew", options={"root": str(root), "frames_dir": "all", "frames": 4, "size": 32, **options}
        ),
        fold=1,
        seed=0,
        strategy=StrategySpec(name="erm", variant="erm"),
        model=ModelSpec(backbone="x3d_tiny", options={"head_dim_out": 64}),
        training=TrainingSpec(epochs=epochs, batch_size=8, max_steps_per_epoch=3, device="cpu"),
        selection=SelectionSpec(rule="best_val_uar"),
    )


def same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def metrics(run: RunDir) -> list[dict]:
    return [{k: v for k, v in r.items() if "time" not in k and "per_s" not in k} for r in run.read_metrics()]


def test_synth_tree_matches_the_synthetic_folds(tree, tmp_path):
    synthetic = SyntheticDFER(SMALL, tmp_path)
    synthetic.prepare()
    ds = build_dataset("dfew", {"root": str(tree), "frames_dir": "all", "frames": 6, "size": 32}, tmp_path)
    for fold in ds.folds:
        (train, test), (s_train, s_test) = ds.split(fold), synthetic.split(fold)
        assert test["label"].tolist() == s_test["label"].tolist()
        assert len(train) == len(s_train)
    assert (tree / "Clip" / "clip_224x224" / "00001" / "00001_00006.jpg").is_file()


def test_same_seed_same_metrics_and_resume_equals_uninterrupted(tree, tmp_path):
    straight, again = RunDir(tmp_path / "a"), RunDir(tmp_path / "b")
    expected = train(spec(tree), straight)
    assert same(train(spec(tree), again), expected) and same(metrics(straight), metrics(again))

    resumed = RunDir(tmp_path / "r")
    interrupt_after_epoch(spec(tree), resumed, 0)
    assert same(train(spec(tree), resumed), expected) and same(metrics(resumed), metrics(straight))
    predictions = straight.read_predictions()
    assert "n_frames" in predictions.columns and (predictions["n_frames"] == 6).all()


def test_skipped_clips_reach_the_run_results(tree, tmp_path):
    broken = tmp_path / "tree"
    shutil.copytree(tree, broken)
    shutil.rmtree(broken / "Clip" / "clip_224x224" / "00003")
    (broken / "Clip" / "clip_224x224" / "00005" / "00005_00002.jpg").write_bytes(b"broken")
    run = RunDir(tmp_path / "run")
    final = train(spec(broken, epochs=1, on_bad_clip="skip"), run)
    assert final["bad_clips_skipped"] == 2 and run.read_done()["bad_clips_skipped"] == 2
    assert run.read_config()["bad_clips_skipped"] == 2
    assert not {"00003", "00005"} & set(run.read_predictions()["clip_id"])


@pytest.mark.slow
def test_synth_then_dfew_loader_then_smoke_run_via_the_cli(tmp_path, capsys):
    out = tmp_path / "DFEW"
    assert main(["synth", "--format", "dfew", "--out", str(out), "--n-clips", "84", "--set", "n_subjects=8"]) == 0
    capsys.readouterr()
    assert main(["inspect", "dfew", "--root", str(out), "--set", "frames_dir=all", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["n_clips"] == 84 and info["bad_clips"]["count"] == 0
    assert sum(info["folds"]["1"]["test"].values()) == 17
    dataset = {"name": "dfew", "options": {"root": str(out), "frames_dir": "all", "frames": 8, "size": 32}}
    path = tiny_config(tmp_path, datasets=[dataset], tracking={"enabled": False})
    result = run_cli("run", str(path), "--smoke")
    assert result.returncode == 0, result.stdout + result.stderr
    summary = pd.read_csv(tmp_path / "results" / "tiny" / "summary.csv")
    assert summary["dataset"].tolist() == ["dfew"] and summary["n_test"].tolist() == [17]
    assert yaml.safe_load(path.read_text())["datasets"][0]["name"] == "dfew"
