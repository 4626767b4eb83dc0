"""Logit adjustment (Menon et al., ICLR 2021): a Fisher-consistent loss for balanced error."""

import torch
from pydantic import Field

from hdfbench.config_base import StrictModel
from hdfbench.losses import logit_adjusted_loss
from hdfbench.strategies.base import Strategy, register


class LogitAdjustmentHparams(StrictModel):
    """τ scales the log class prior added to the logits during training."""

    tau: float = Field(1.0, ge=0)


@register("logit_adjustment")
class LogitAdjustment(Strategy):
    """Train with CE(logits + τ·log π_y); predict with the raw logits (the balanced classifier)."""

    Hparams = LogitAdjustmentHparams

    @staticmethod
    def search_space(trial) -> dict:
        return {"tau": trial.suggest_float("tau", 0.25, 2.0)}

    def __init__(self, model, hparams, task, optimizer, balance="none"):
        super().__init__(model, hparams, task, optimizer, balance)
        counts = torch.tensor(task.class_counts, dtype=torch.float32).clamp_min(1)
        self.register_buffer("log_prior", (counts / counts.sum()).log())

    def per_sample_loss(self, logits, features, batch):
        return logit_adjusted_loss(logits, batch.labels, self.log_prior, self.hparams.tau, reduction="none")
