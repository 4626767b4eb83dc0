"""The fine-tuning recipe in the optimizer/schedule spec: classifier lr multiplier, linear warm-up, frozen
BatchNorm statistics; checked against hand-computed values, and run ids unchanged at the defaults."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from hdfbench.optim import OptimizerSpec, ScheduleSpec, build_optimizer, build_scheduler, freeze_bn_stats, param_groups
from hdfbench.optim.schedules import lr_factor
from hdfbench.strategies import STRATEGIES, TaskInfo
from hdfbench.training.spec import RunSpec


class Net(nn.Module):
    """A body (conv, BatchNorm) and a ``classifier``, the names a backbone has."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4))
        self.classifier = nn.Linear(4, 2)
        self.feature_dim = 4

    def forward(self, clips):
        features = self.body(clips).mean((2, 3, 4))
        return self.classifier(features), features


def task() -> TaskInfo:
    return TaskInfo(num_classes=2, class_counts=(3, 3), class_names=("a", "b"))


def test_the_classifier_gets_its_own_group_at_the_multiplied_lr():
    net = Net()
    assert param_groups(net.named_parameters(), OptimizerSpec()) == list(net.parameters())  # one group, as before
    groups = param_groups(net.named_parameters(), OptimizerSpec(lr=0.002, classifier_lr_mult=10))
    assert [len(g["params"]) for g in groups] == [4, 2] and "lr" not in groups[0] and groups[1]["lr"] == 0.02
    assert groups[1]["params"][0] is net.classifier.weight
    net.body[0].weight.requires_grad_(False)
    assert len(param_groups(net.named_parameters(), OptimizerSpec(classifier_lr_mult=3))[0]["params"]) == 3


def test_one_sgd_step_moves_the_classifier_ten_times_as_far():
    net = Net()
    spec = OptimizerSpec(name="sgd", lr=0.1, momentum=0.0, weight_decay=0.0, classifier_lr_mult=10)
    optimizer = build_optimizer(param_groups(net.named_parameters(), spec), spec)
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    for p in net.parameters():
        p.grad = torch.ones_like(p)
    optimizer.step()
    assert torch.equal(net.classifier.weight, before["classifier.weight"] - 1.0)  # 0.1 × 10 × 1
    assert torch.allclose(net.body[0].weight, before["body.0.weight"] - 0.1, atol=0, rtol=0)


def test_the_schedule_scales_both_groups_and_warms_up_linearly():
    """warmup_epochs 1.5 × 2 steps = 3 warm-up steps: factors 1/3, 2/3, 1; then cosine over the 5 steps left
    (step 3 + k: 0.5·(1 + cos(π·k/5))) down to min_lr_ratio 0; the classifier's lr is 10× at every step."""
    net = Net()
    spec = OptimizerSpec(name="sgd", lr=0.1, classifier_lr_mult=10)
    optimizer = build_optimizer(param_groups(net.named_parameters(), spec), spec)
    scheduler = build_scheduler(optimizer, ScheduleSpec(name="cosine", warmup_epochs=1.5), epochs=4, steps_per_epoch=2)

    expected = [1 / 3, 2 / 3, 1.0] + [0.5 * (1 + math.cos(math.pi * k / 5)) for k in range(5)]
    seen = []
    for _ in expected:
        seen.append([g["lr"] for g in optimizer.param_groups])
        optimizer.step()
        scheduler.step()
    for (body, head), factor in zip(seen, expected):
        assert body == pytest.approx(0.1 * factor, abs=1e-15) and head == pytest.approx(1.0 * factor, abs=1e-15)
    assert lr_factor(0, 10, 0, ScheduleSpec(name="constant")) == 1.0


@pytest.mark.parametrize("name", ["erm", "sam"])
def test_every_strategy_builds_the_groups_sam_base_optimizer_included(name):
    cls = STRATEGIES.get(name)
    spec = OptimizerSpec(lr=0.01, classifier_lr_mult=5)
    strategy = cls(Net(), cls.Hparams(), task(), spec)
    inner = strategy.schedulable_optimizer
    assert [g["lr"] for g in inner.param_groups] == [0.01, 0.05]
    assert inner.param_groups[1]["params"] == list(strategy.model.classifier.parameters())
    assert strategy.optimizer.param_groups is inner.param_groups  # SAM's wrapper and base share them


def bn_batch_stats(bn: nn.BatchNorm3d, x: torch.Tensor) -> torch.Tensor:
    """What train-mode BatchNorm would give: normalised with the batch's own mean and (biased) variance."""
    mean = x.mean((0, 2, 3, 4), keepdim=True)
    var = x.var((0, 2, 3, 4), unbiased=False, keepdim=True)
    shape = (1, -1, 1, 1, 1)
    return (x - mean) / torch.sqrt(var + bn.eps) * bn.weight.view(shape) + bn.bias.view(shape)


def test_frozen_batchnorm_normalises_with_the_running_statistics_in_training():
    net = Net()
    bn = net.body[1]
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([1.0, -1.0, 0.5, 0.0]))
        bn.running_var.copy_(torch.tensor([4.0, 1.0, 0.25, 9.0]))
    x = torch.randn(3, 4, 2, 2, 2)
    assert torch.allclose(bn.train()(x), bn_batch_stats(bn, x), atol=1e-6)  # unfrozen: batch statistics
    bn.running_mean.copy_(torch.tensor([1.0, -1.0, 0.5, 0.0]))
    bn.running_var.copy_(torch.tensor([4.0, 1.0, 0.25, 9.0]))
    bn.num_batches_tracked.zero_()
    assert freeze_bn_stats(net) == ["body.1"]
    net.train()
    assert net.training and not bn.training
    shape = (1, -1, 1, 1, 1)
    by_hand = (x - bn.running_mean.view(shape)) / torch.sqrt(bn.running_var.view(shape) + 1e-5)
    assert torch.allclose(bn(x), by_hand, atol=1e-6)  # weight 1, bias 0
    assert bn.running_mean.tolist() == [1.0, -1.0, 0.5, 0.0] and int(bn.num_batches_tracked) == 0
    assert set(net.state_dict()) == set(Net().state_dict())


def test_every_strategy_trains_with_frozen_statistics():
    from hdfbench.data.batch import Batch

    for name in ("erm", "sam"):
        cls = STRATEGIES.get(name)
        strategy = cls(Net(), cls.Hparams(), task(), OptimizerSpec(freeze_bn_stats=True))
        bn = strategy.model.body[1]
        before = bn.running_mean.clone()
        batch = Batch(clips=torch.randn(4, 3, 2, 2, 2), labels=torch.tensor([0, 1, 0, 1]), groups={})
        strategy.training_step(batch)  # calls model.train()
        assert not bn.training and torch.equal(bn.running_mean, before)
        assert not torch.equal(bn.weight.detach(), torch.ones(4))  # scale and shift still train


def test_the_recipe_at_its_defaults_keeps_every_run_id():
    base = {
        "experiment": "e",
        "dataset": {"name": "synthetic"},
        "fold": 1,
        "seed": 0,
        "strategy": {"name": "erm"},
        "model": {},
        "training": {},
        "selection": {},
    }
    plain = RunSpec(**base)
    explicit = RunSpec(**{**base, "training": {"optimizer": {"classifier_lr_mult": 1.0, "freeze_bn_stats": False}}})
    assert explicit.run_id == plain.run_id and "classifier_lr_mult" not in str(plain.identity())
    for change in ({"classifier_lr_mult": 10.0}, {"freeze_bn_stats": True}):
        assert RunSpec(**{**base, "training": {"optimizer": change}}).run_id != plain.run_id
