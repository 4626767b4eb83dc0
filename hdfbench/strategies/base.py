"""The strategy contract: one training step, prediction, and all state needed to resume.

A strategy owns the model and its optimizer. Loss-only methods (focal, reweighting, GroupDRO)
override ``compute_loss``; two-pass methods (SAM, HDF) override ``training_step``. Its
hyperparameters are a pydantic model ``Hparams`` (defaults inside) and its Optuna search space is
the static method ``search_space`` — all in the strategy's one file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from hdfbench.config_base import StrictModel
from hdfbench.optim import OptimizerSpec, build_optimizer
from hdfbench.registry import Registry


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclass
class Batch:
    """One mini-batch: clips (B, 3, T, H, W), labels (B,), integer group codes per metadata field."""

    clips: torch.Tensor
    labels: torch.Tensor
    groups: dict[str, torch.Tensor] = field(default_factory=dict)

    def to(self, device: torch.device) -> "Batch":
        """Return this batch on ``device``."""
        return Batch(
            self.clips.to(device, non_blocking=True),
            self.labels.to(device, non_blocking=True),
            {k: v.to(device, non_blocking=True) for k, v in self.groups.items()},
        )


@dataclass(frozen=True)
class TaskInfo:
    """What a strategy may know about the training fold: classes and group sizes."""

    num_classes: int
    class_counts: tuple[int, ...]
    group_counts: dict[str, tuple[int, ...]] = field(default_factory=dict)


class NoHparams(StrictModel):
    """A strategy without hyperparameters of its own."""


class Strategy(nn.Module):
    """Base class of every training strategy; ERM's behaviour unless overridden."""

    name: ClassVar[str] = ""
    Hparams: ClassVar[type[StrictModel]] = NoHparams

    @staticmethod
    def search_space(trial) -> dict[str, Any]:
        """Return hyperparameters sampled from an Optuna ``trial`` (define-by-run); none by default."""
        return {}

    def __init__(self, model: nn.Module, hparams: StrictModel, task: TaskInfo, optimizer: OptimizerSpec):
        super().__init__()
        self.model = model
        self.hparams = hparams
        self.task = task
        self.optimizer = self.build_optimizer(optimizer)

    def build_optimizer(self, spec: OptimizerSpec) -> torch.optim.Optimizer:
        """Return the optimizer over every trainable parameter of this strategy."""
        return build_optimizer((p for p in self.parameters() if p.requires_grad), spec)

    def compute_loss(self, logits: torch.Tensor, features: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, dict]:
        """Return (scalar loss, extra float logs) for one batch; cross-entropy by default."""
        return F.cross_entropy(logits, batch.labels), {}

    def forward_loss(self, batch: Batch) -> tuple[torch.Tensor, dict]:
        """Run the model on ``batch`` and return (loss, logs); raises on a non-finite loss."""
        logits, features = self.model(batch.clips)
        loss, logs = self.compute_loss(logits, features, batch)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"non-finite training loss ({loss.item()})")
        return loss, logs

    def training_step(self, batch: Batch) -> dict[str, float]:
        """Do one optimisation step on ``batch``; return float logs including ``loss``."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss, logs = self.forward_loss(batch)
        loss.backward()
        self.optimizer.step()
        return {"loss": float(loss.detach()), **logs}

    def epoch_logs(self) -> dict[str, float]:
        """Return strategy state worth logging once per epoch (e.g. group weights); none by default."""
        return {}

    @torch.no_grad()
    def predict(self, clips: torch.Tensor) -> torch.Tensor:
        """Return the logits (B, C) for ``clips`` in evaluation mode."""
        self.model.eval()
        return self.model(clips)[0]

    def checkpoint_state(self) -> dict[str, Any]:
        """Return everything needed to resume: module parameters and buffers, optimizer state."""
        return {"module": self.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        """Restore what ``checkpoint_state`` returned."""
        self.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])


STRATEGIES: Registry[type[Strategy]] = Registry("strategy", "hdfbench.strategies", Strategy)
register = STRATEGIES.register
