"""HDF: ablation switches, the adaptive loss weights and when the gradient norm that sets them moves."""

import copy

import pytest
import torch
from torch import nn

from hdfbench.config import OptimizerSpec
from hdfbench.losses.dsm import RELEASED_FIXED_WEIGHTS, adaptive_loss_weights
from hdfbench.models import build_backbone
from hdfbench.models.dam import DAM
from hdfbench.optim import SAM
from hdfbench.strategies import STRATEGIES
from hdfbench.testing.contract import TASK, learnable_batches

HDF = STRATEGIES.get("hdf")


def make(**hparams):
    torch.manual_seed(0)
    model = build_backbone("x3d_tiny", 3, frames=4, size=32, options={"head_dim_out": 32, "dropout": 0.0})
    return HDF(model, HDF.Hparams(**hparams), TASK, OptimizerSpec(lr=1e-3, weight_decay=0.0))


def test_full_model_has_dam_sam_and_both_losses():
    strategy = make()
    assert all(isinstance(m, DAM) for m in strategy.model.after_stage)
    assert isinstance(strategy.optimizer, SAM)
    logs = strategy.training_step(learnable_batches(1)[0])
    assert {"ce", "dsm", "dsm_contrastive", "dsm_ib", "sam_loss", "grad_norm"} <= logs.keys()
    assert (logs["lambda_ce"], logs["lambda_sc"]) == pytest.approx(adaptive_loss_weights(1.0, 10.0, 0.1))


@pytest.mark.parametrize(
    "switch, check",
    [
        ("dam", lambda s, logs: all(isinstance(m, nn.Identity) for m in s.model.after_stage)),
        ("sam", lambda s, logs: not isinstance(s.optimizer, SAM) and "sam_loss" not in logs),
        ("dsm", lambda s, logs: logs["lambda_sc"] == 0.0 and "dsm" not in logs),
        ("adaptive_scaling", lambda s, logs: (logs["lambda_ce"], logs["lambda_sc"]) == RELEASED_FIXED_WEIGHTS),
    ],
)
def test_each_ablation_switch_removes_exactly_its_part(switch, check):
    strategy = make(**{switch: False})
    logs = strategy.training_step(learnable_batches(1)[0])
    assert check(strategy, logs)
    recorded = strategy.hparams.model_dump()[switch]
    assert (recorded["enabled"] if switch == "dsm" else recorded) is False  # dsm's switch is in its settings


def test_dsm_accepts_its_settings_mapping():
    strategy = make(dsm={"variant": "released", "temperature": 0.1})
    assert strategy.hparams.dsm.enabled and strategy.hparams.dsm.variant == "released"
    assert "dsm" in strategy.training_step(learnable_batches(1)[0])


@pytest.mark.parametrize("sam", [True, False])
def test_gradient_norm_moves_once_per_step_and_sets_the_next_steps_weights(sam):
    strategy = make(sam=sam)
    first, second = learnable_batches(2)
    probe = copy.deepcopy(strategy)  # the gradient at the unperturbed weights, computed independently
    probe.model.train()
    probe.forward_loss(first)[0].backward()
    first_pass_norm = float(torch.stack([p.grad.norm() for p in probe.parameters() if p.grad is not None]).norm())
    strategy.training_step(first)
    assert float(strategy.grad_norm) == pytest.approx(first_pass_norm, rel=1e-4)
    expected = adaptive_loss_weights(float(strategy.grad_norm), 10.0, 0.1)
    logs2 = strategy.training_step(second)
    assert (logs2["lambda_ce"], logs2["lambda_sc"]) == pytest.approx(expected)
    assert "grad_norm" in dict(strategy.named_buffers())


def test_dam_frames_must_match_the_clip():
    strategy = make()
    with pytest.raises(ValueError, match="built for 4 frames"):
        strategy.predict(torch.randn(1, 3, 8, 32, 32))


def test_dsm_feature_point_is_an_option_that_reaches_the_backbone():
    assert make().model.feature_point == "after_dropout"
    strategy = make(dsm={"features": "before_dropout"})
    assert strategy.model.feature_point == "before_dropout"
    assert "dsm" in strategy.training_step(learnable_batches(1)[0])
    with pytest.raises(ValueError, match="needs a backbone with a feature_point"):
        HDF(nn.Linear(2, 2), HDF.Hparams(dam=False, dsm={"features": "before_dropout"}), TASK, OptimizerSpec(lr=1e-3))
