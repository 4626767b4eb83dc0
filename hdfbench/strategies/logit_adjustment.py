"""Logit adjustment (Menon et al., ICLR 2021): a Fisher-consistent loss for balanced error.

The offsets are the reference code's log(π_c^τ + 1e-12) of the training prior π; a class with no
training clip gets log(1e-12) ≈ −27.6, as there, and a warning names it.
"""

import logging

import torch
from pydantic import Field

from hdfbench.losses import logit_adjusted_loss, logit_adjustments
from hdfbench.schema import StrictModel
from hdfbench.strategies.base import Strategy, register

log = logging.getLogger(__name__)


class LogitAdjustmentHparams(StrictModel):
    """τ scales the log class prior added to the logits during training."""

    tau: float = Field(1.0, ge=0)


@register("logit_adjustment")
class LogitAdjustment(Strategy):
    """Train with CE(logits + τ·log π_y); predict with the raw logits (the balanced classifier)."""

    Hparams = LogitAdjustmentHparams
    hparams: LogitAdjustmentHparams
    adjustments: torch.Tensor  # a buffer (registered in __init__)

    @staticmethod
    def search_space(trial) -> dict:
        return {"tau": trial.suggest_float("tau", 0.25, 2.0)}

    def __init__(self, model, hparams, task, optimizer, balance="none"):
        super().__init__(model, hparams, task, optimizer, balance)
        absent = [name for name, n in zip(task.class_names, task.class_counts) if n == 0]
        if absent:
            log.warning(
                "logit_adjustment: no training clip of class %s; its logit offset is log(1e-12) ≈ −27.6 "
                "(as Menon et al.'s code)",
                ", ".join(absent),
            )
        self.register_buffer("adjustments", logit_adjustments(task.class_counts, hparams.tau))

    def per_sample_loss(self, logits, features, batch):
        return logit_adjusted_loss(logits, batch.labels, self.adjustments, reduction="none")
