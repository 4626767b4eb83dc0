"""JTT: two stages in one run, the error set up-weighted, and resuming identically after kill -9 in either stage."""

import json
import subprocess
import sys

import pytest
import torch

from hdfbench.config import DatasetSpec, ModelSpec, SelectionSpec, StrategySpec, TrainingSpec
from hdfbench.data.batch import Batch
from hdfbench.strategies import STRATEGIES, StageContext
from hdfbench.testing.contract import learnable_batches
from hdfbench.testing.contract import make as make_strategy
from hdfbench.training.rundir import RunDir
from hdfbench.training.spec import RunSpec
from hdfbench.training.trainer import RunFailed, train

JTT = STRATEGIES.get("jtt")


def make(**hparams):
    return make_strategy(JTT, hparams)


def test_second_stage_up_weights_the_errors_and_restarts_from_the_initial_model():
    strategy = make(lambda_up=5.0)
    initial = {k: v.clone() for k, v in strategy.model.state_dict().items()}
    for batch in learnable_batches(3):
        strategy.training_step(batch)
    assert any(not torch.equal(initial[k], v) for k, v in strategy.model.state_dict().items())
    labels = torch.tensor([0, 1, 2] * 6 + [0, 1])  # the 20 training clips of TASK
    logits = torch.nn.functional.one_hot(labels, 3).float()
    logits[[3, 7]] = torch.tensor([0.0, 0.0, 9.0])  # two clips misclassified (labels 0 and 1)
    old_optimizer = strategy.optimizer
    strategy.begin_stage(1, StageContext(epoch=2, train_labels=labels, predict_train=lambda: logits))
    assert all(torch.equal(initial[k], v) for k, v in strategy.model.state_dict().items())
    assert strategy.optimizer is not old_optimizer and not strategy.optimizer.state
    assert strategy.clip_weights[[3, 7]].tolist() == [5.0, 5.0] and float(strategy.clip_weights.sum()) == 18 + 10
    assert strategy.epoch_logs() == {"jtt/error_set_size": 2.0}

    batch = learnable_batches(1)[0]
    batch = Batch(batch.clips, batch.labels, batch.groups, index=torch.tensor([3, 0, 1, 2, 7, 4, 5, 6]))
    logits, features = strategy.model_outputs(batch.clips)
    losses = torch.nn.functional.cross_entropy(logits.detach(), batch.labels, reduction="none")
    weights = torch.tensor([5.0, 1, 1, 1, 5, 1, 1, 1])
    loss, _ = strategy.compute_loss(logits, features, batch)
    assert float(loss.detach()) == pytest.approx(float((weights * losses).sum() / weights.sum()), rel=1e-6)


def spec(epochs=4, **hparams) -> RunSpec:
    return RunSpec(
        experiment="t",
        dataset=DatasetSpec(name="synthetic", options={"n_clips": 84, "frames": 4, "size": 32, "n_subjects": 8}),
        fold=1,
        seed=0,
        strategy=StrategySpec(name="jtt", hparams={"identification_epochs": 2, **hparams}),
        model=ModelSpec(backbone="x3d_tiny", options={"head_dim_out": 64}),
        training=TrainingSpec(epochs=epochs, batch_size=8, max_steps_per_epoch=3, device="cpu"),
        selection=SelectionSpec(rule="best_val_uar"),
    )


def without_timings(run: RunDir) -> list[dict]:
    return [{k: v for k, v in r.items() if "time" not in k and "per_s" not in k} for r in run.read_metrics()]


def test_the_trainer_runs_both_stages_with_a_fresh_schedule_and_selection(tmp_path):
    run = RunDir(tmp_path / "run")
    final = train(spec(), run)
    records = run.read_metrics()
    assert [r["stage"] for r in records] == [0, 0, 1, 1]
    assert records[2]["lr"] == pytest.approx(records[0]["lr"])  # the schedule restarts with the second stage
    assert records[1]["jtt/error_set_size"] == 0 and records[2]["jtt/error_set_size"] > 0
    assert final["selected_epoch"] in (2, 3)  # the identification model is never the result
    with pytest.raises(RunFailed, match=r"identification_epochs \(4\) must be below training.epochs \(4\)"):
        train(spec(identification_epochs=4), RunDir(tmp_path / "bad"))


KILL_AFTER_EPOCH = """
import os, signal, sys
from hdfbench.training.rundir import RunDir
from hdfbench.training.spec import RunSpec
from hdfbench.training.trainer import Hooks, train

def kill(record):
    if record["epoch"] == int(sys.argv[3]):
        os.kill(os.getpid(), signal.SIGKILL)

train(RunSpec.model_validate_json(open(sys.argv[1]).read()), RunDir(sys.argv[2]), Hooks(on_epoch=kill))
"""


@pytest.mark.slow
@pytest.mark.parametrize("epoch", [0, 1, 2], ids=["in-stage-1", "at-the-stage-boundary", "in-stage-2"])
def test_resume_after_kill_minus_9_equals_the_uninterrupted_run(tmp_path, epoch):
    straight = RunDir(tmp_path / "straight")
    expected = train(spec(), straight)
    path = tmp_path / "spec.json"
    path.write_text(spec().model_dump_json())
    killed = subprocess.run(
        [sys.executable, "-c", KILL_AFTER_EPOCH, str(path), str(tmp_path / "killed"), str(epoch)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr
    resumed = RunDir(tmp_path / "killed")
    assert resumed.checkpoint.exists() and not resumed.is_done
    assert json.dumps(train(spec(), resumed), sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert without_timings(resumed) == without_timings(straight)
    assert resumed.read_done()["resumed_from_epochs"] == [epoch]
