"""Frozen BatchNorm statistics for fine-tuning (``training.optimizer.freeze_bn_stats``).

A frozen BatchNorm stays in evaluation mode whatever ``train()`` asks, so it normalises with its running
statistics (the pretrained ones) and never updates them, while its scale and shift still receive
gradients. Freezing changes the class of each BatchNorm module in place (to a subclass whose ``train``
keeps ``training`` False), the way ``models/kernels.py`` swaps convolutions: parameters, buffers and
state_dict keys stay as they are, so checkpoints load either way, and every ``model.train()`` a strategy
calls (``Strategy.training_step``, SAM's two passes, HDF) leaves them frozen.
"""

from __future__ import annotations

from torch import nn


class _FrozenStats(nn.Module):
    """Mixin (before a BatchNorm class): ``train(mode)`` keeps the module in evaluation mode (running
    statistics used, not updated)."""

    def train(self, mode: bool = True):
        return super().train(False)


class FrozenBatchNorm1d(_FrozenStats, nn.BatchNorm1d):
    """A ``BatchNorm1d`` that stays in evaluation mode."""


class FrozenBatchNorm2d(_FrozenStats, nn.BatchNorm2d):
    """A ``BatchNorm2d`` that stays in evaluation mode."""


class FrozenBatchNorm3d(_FrozenStats, nn.BatchNorm3d):
    """A ``BatchNorm3d`` that stays in evaluation mode."""


_FROZEN: dict[type[nn.Module], type[nn.Module]] = {
    nn.BatchNorm1d: FrozenBatchNorm1d,
    nn.BatchNorm2d: FrozenBatchNorm2d,
    nn.BatchNorm3d: FrozenBatchNorm3d,
}


def freeze_bn_stats(model: nn.Module) -> list[str]:
    """Freeze the statistics of every BatchNorm1d/2d/3d of ``model`` in place (see the module docstring); return
    the names of the modules frozen."""
    frozen = []
    for name, module in model.named_modules():
        cls = _FROZEN.get(type(module))
        if cls is not None:
            module.__class__ = cls
            module.train(False)
            frozen.append(name)
    return frozen
