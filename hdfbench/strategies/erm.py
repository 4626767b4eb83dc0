"""Empirical risk minimisation: cross-entropy on every clip alike (Vapnik 1992)."""

from typing import ClassVar, Protocol, cast

import torch.nn.functional as F
from pydantic import Field

from hdfbench.schema import StrictModel
from hdfbench.strategies.base import Strategy, register


class ERMHparams(StrictModel):
    """ERM's hyperparameters."""

    label_smoothing: float = Field(0.0, ge=0, lt=1)


class LabelSmoothing(Protocol):
    """What ERM's loss reads from its hyperparameters: ``ERMHparams`` and those of ERM's subclasses have it."""

    label_smoothing: float


@register("erm")
class ERM(Strategy):
    """Minimise the mean cross-entropy over the training clips."""

    Hparams: ClassVar[type[StrictModel]] = ERMHparams  # subclasses (SAM) bring other Hparams with label_smoothing

    @staticmethod
    def search_space(trial) -> dict:
        return {"label_smoothing": trial.suggest_float("label_smoothing", 0.0, 0.2)}

    def per_sample_loss(self, logits, features, batch):
        smoothing = cast(LabelSmoothing, self.hparams).label_smoothing
        return F.cross_entropy(logits, batch.labels, label_smoothing=smoothing, reduction="none")
