"""Contract tests, parameterised over the strategy registry: a new strategy is tested automatically.

The checks themselves live in ``hdfbench.testing`` so that plugin packages run the same contract.
"""

import pytest
import torch

from hdfbench.models.memory_format import channels_last_problem
from hdfbench.strategies import STRATEGIES, Strategy
from hdfbench.testing import (
    StrategyContractError,
    check_hparams_and_search_space,
    check_loss_decreases,
    check_no_cuda,
    check_predict,
    check_resume_is_exact,
    check_strategy,
)
from hdfbench.testing.contract import EPOCHS, STAGE_POINTS, learnable_batches, make

NAMES = STRATEGIES.names()


@pytest.mark.parametrize("name", NAMES)
def test_steps_reduce_the_loss(name):
    check_loss_decreases(STRATEGIES.get(name))


@pytest.mark.parametrize("name", NAMES)
def test_predict_shape_and_eval_mode(name):
    check_predict(STRATEGIES.get(name))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("balance", ["none", "reweight"])
@pytest.mark.parametrize("point", STAGE_POINTS)
def test_save_load_then_next_step_is_identical(name, balance, point):
    cls = STRATEGIES.get(name)
    if point != "first_stage" and len(make(cls).stages(EPOCHS)) < 2:  # the check would return at once
        pytest.skip(f"{name} has one stage: no stage boundary or second stage to resume in")
    check_resume_is_exact(cls, balance=balance, point=point)


@pytest.mark.parametrize("name", NAMES)
def test_strategy_file_declares_hparams_search_space_and_no_cuda(name):
    check_hparams_and_search_space(STRATEGIES.get(name))
    check_no_cuda(STRATEGIES.get(name))


@pytest.mark.parametrize("name", NAMES)
def test_bf16_autocast_and_channels_last_keep_losses_in_float32(name):
    strategy = make(STRATEGIES.get(name))
    strategy.configure_compute("cpu", torch.bfloat16, channels_last=True)
    seen = []
    compute_loss = strategy.compute_loss

    def spy(logits, features, batch):
        seen.append((logits.dtype, features.dtype))
        return compute_loss(logits, features, batch)

    strategy.compute_loss = spy
    strategy.on_epoch_start(0, 10)
    batch = learnable_batches(1)[0]
    logs = strategy.training_step(batch)
    assert seen and set(seen) == {(torch.float32, torch.float32)}  # SAM's second pass and DSM included
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())
    conv = next(m for m in strategy.model.modules() if isinstance(m, torch.nn.Conv3d))
    # channels_last_3d unless this machine's kernels give wrong gradients in it (then contiguous)
    layout_ok = channels_last_problem("cpu", torch.bfloat16) is None
    assert conv.weight.is_contiguous(memory_format=torch.channels_last_3d) == layout_ok
    assert strategy.predict(batch.clips).dtype == torch.float32


class ForgetsItsState(Strategy):
    """A strategy whose step depends on a counter it leaves out of its checkpoint."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps = 0

    def compute_loss(self, logits, features, batch):
        self.steps += 1
        loss, logs = super().compute_loss(logits, features, batch)
        return loss * (1.0 + 0.1 * self.steps), logs


class NeverLearns(Strategy):
    """A strategy whose loss ignores the model."""

    def compute_loss(self, logits, features, batch):
        return (logits * 0.0).sum() + 1.0, {}


def test_check_strategy_passes_a_sound_strategy_and_names_each_broken_promise():
    check_strategy(STRATEGIES.get("erm"))
    with pytest.raises(
        StrategyContractError,
        match=r"ForgetsItsState: after loading a checkpoint \(first_stage, "
        r"balance none\) the next step logged loss=",
    ):
        check_strategy(ForgetsItsState)
    with pytest.raises(StrategyContractError, match="NeverLearns: the loss did not decrease"):
        check_strategy(NeverLearns)


class FreeLunch(Strategy):
    """Claims its steps cost nothing."""

    @classmethod
    def relative_cost(cls, hparams):
        return 0.0


def test_a_relative_cost_that_is_not_positive_breaks_the_contract():
    with pytest.raises(StrategyContractError, match="FreeLunch: relative_cost returned 0.0"):
        check_hparams_and_search_space(FreeLunch)
