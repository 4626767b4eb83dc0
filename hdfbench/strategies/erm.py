"""Empirical risk minimisation: cross-entropy on every clip alike (Vapnik 1992)."""

import torch.nn.functional as F
from pydantic import Field

from hdfbench.schema import StrictModel
from hdfbench.strategies.base import Strategy, register


class ERMHparams(StrictModel):
    """ERM's hyperparameters."""

    label_smoothing: float = Field(0.0, ge=0, lt=1)


@register("erm")
class ERM(Strategy):
    """Minimise the mean cross-entropy over the training clips."""

    Hparams = ERMHparams

    @staticmethod
    def search_space(trial) -> dict:
        return {"label_smoothing": trial.suggest_float("label_smoothing", 0.0, 0.2)}

    def per_sample_loss(self, logits, features, batch):
        return F.cross_entropy(logits, batch.labels, label_smoothing=self.hparams.label_smoothing, reduction="none")
