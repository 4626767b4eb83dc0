"""Strategies that fail for their own reasons, loaded by tests as ``tests.sweep.failing:Name``."""

from hdfbench.strategies.erm import ERM


class NaNLoss(ERM):
    """A loss that is never finite."""

    def compute_loss(self, logits, features, batch):
        return logits.sum() * float("nan"), {}


class Bug(ERM):
    """A training step with a bug in it."""

    def training_step(self, batch):
        raise ValueError("a bug in the strategy")
