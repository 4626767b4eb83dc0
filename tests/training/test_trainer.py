"""The trainer: same seed → same metrics, resume ≡ uninterrupted, clean failure on NaN, selection on val."""

import json

import pandas as pd
import pytest

from hdfbench.config import DatasetSpec, ModelSpec, SelectionSpec, StrategySpec, TrainingSpec
from hdfbench.strategies.erm import ERM
from hdfbench.training.rundir import RunDir, RunDirBusy
from hdfbench.training.spec import RunSpec
from hdfbench.training.trainer import RunFailed, Trainer, train
from tests.helpers import interrupt_after_epoch


def spec(seed=0, epochs=3, rule="best_val_uar") -> RunSpec:
    return RunSpec(
        experiment="t",
        dataset=DatasetSpec(name="synthetic", options={"n_clips": 84, "frames": 4, "size": 32, "n_subjects": 8}),
        fold=1,
        seed=seed,
        strategy=StrategySpec(name="erm", variant="erm"),
        model=ModelSpec(backbone="x3d_tiny", options={"head_dim_out": 64}),
        training=TrainingSpec(epochs=epochs, batch_size=8, max_steps_per_epoch=3, device="cpu"),
        selection=SelectionSpec(rule=rule),
    )


def same(a, b) -> bool:
    """Equality that treats NaN as equal to NaN (absent classes have NaN recall)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def metrics_without_timings(run: RunDir) -> list[dict]:
    return [{k: v for k, v in r.items() if "time" not in k and "per_s" not in k} for r in run.read_metrics()]


def test_same_seed_gives_identical_metrics_and_predictions(tmp_path):
    a, b = RunDir(tmp_path / "a"), RunDir(tmp_path / "b")
    final_a, final_b = train(spec(), a), train(spec(), b)
    assert same(final_a, final_b)
    assert same(metrics_without_timings(a), metrics_without_timings(b))
    pd.testing.assert_frame_equal(a.read_predictions(), b.read_predictions())
    other = RunDir(tmp_path / "c")
    train(spec(seed=1), other)
    assert not same(metrics_without_timings(other), metrics_without_timings(a))


def test_resume_after_interruption_equals_uninterrupted_run(tmp_path):
    straight = RunDir(tmp_path / "straight")
    expected = train(spec(epochs=4), straight)

    resumed = RunDir(tmp_path / "resumed")
    interrupt_after_epoch(spec(epochs=4), resumed, 1)
    assert resumed.checkpoint.exists() and not resumed.is_done
    # a record written after the last checkpoint (a crash between the two writes) is dropped on resume
    resumed.append_metrics({"epoch": 2, "train_loss": 123.0})
    assert same(train(spec(epochs=4), resumed), expected)
    assert same(metrics_without_timings(resumed), metrics_without_timings(straight))
    assert resumed.read_done()["resumed_from_epochs"] == [1]
    assert not resumed.checkpoint.exists()


def test_outputs_are_complete(tmp_path):
    run = RunDir(tmp_path / "run")
    train(spec(), run)
    config = run.read_config()
    assert config["classes"][5] == "Disgust" and config["group_fields"] == ["source", "subject"]
    assert config["memory_format"] == "channels_last_3d"  # channels_last: auto on the CPU in float32
    predictions = run.read_predictions()
    assert set(predictions["split"]) == {"val", "test"}
    assert {"clip_id", "label", "pred", "source", "subject"} <= set(predictions.columns)
    assert [c for c in predictions.columns if c.startswith("logit_")] == [f"logit_{k}" for k in range(7)]
    test = predictions[predictions["split"] == "test"]
    assert len(test) == config["n_test"]
    logits = test[[f"logit_{k}" for k in range(7)]].to_numpy()
    assert (logits.argmax(axis=1) == test["pred"].to_numpy()).all()


def test_selection_uses_validation_only(tmp_path):
    run = RunDir(tmp_path / "run")
    train(spec(epochs=4), run)
    records = run.read_metrics()
    assert not any(key.startswith("test_") for r in records for key in r)
    val = [r["val_uar"] for r in records]
    assert run.read_done()["selected_epoch"] == val.index(max(val))
    last = RunDir(tmp_path / "last")
    train(spec(epochs=4, rule="last_epoch"), last)
    assert last.read_done()["selected_epoch"] == 3


def test_non_finite_loss_fails_cleanly(tmp_path, monkeypatch):
    def nan_loss(self, logits, features, batch):
        return logits.sum() * float("nan"), {}

    monkeypatch.setattr(ERM, "compute_loss", nan_loss)
    run = RunDir(tmp_path / "run")
    with pytest.raises(RunFailed, match="non-finite training loss .* at epoch 0; lower the learning rate"):
        train(spec(), run)
    assert "non-finite" in json.loads(run.failed.read_text())["reason"]
    assert not run.is_done


def test_a_run_directory_in_use_is_refused(tmp_path):
    run = RunDir(tmp_path / "run")
    with run.lock(), pytest.raises(RunDirBusy, match="in use by another process"):
        with RunDir(tmp_path / "run").lock():
            pass


def test_no_cuda_calls_in_library_code():
    from pathlib import Path

    source = Path(__file__).resolve().parents[2] / "hdfbench"
    offenders = [p for p in source.rglob("*.py") if ".cuda()" in p.read_text()]
    assert offenders == []


def test_training_groups_come_from_the_training_split_only(tmp_path):
    # leave_source_out: fold 1 tests on the first source alone, which training never sees
    base = spec()
    options = {**base.dataset.options, "protocol": "leave_source_out", "n_sources": 3}
    held_out = spec().model_copy(
        update={
            "dataset": DatasetSpec(name="synthetic", options=options),
            "strategy": StrategySpec(name="groupdro", variant="g", hparams={"groups": "source"}),
        }
    )
    trainer = Trainer(held_out, RunDir(tmp_path / "run"))
    trainer._build()
    test_sources = set(trainer.splits.test["source"])
    train_sources = set(trainer.splits.train["source"])
    assert len(test_sources) == 1 and not test_sources & train_sources
    assert set(trainer.strategy.task.group_names["source"]) == train_sources
    assert trainer.strategy.group_names == sorted(train_sources)  # no empty GroupDRO group for the held-out one
