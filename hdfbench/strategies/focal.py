"""Focal loss (Lin et al., ICCV 2017): focus training on clips the model still gets wrong."""

import torch
from pydantic import Field

from hdfbench.losses import focal_loss
from hdfbench.schema import StrictModel
from hdfbench.strategies.base import Strategy, register


class FocalHparams(StrictModel):
    """γ focuses on hard clips (γ = 0 is cross-entropy); α optionally weights the classes."""

    gamma: float = Field(2.0, ge=0)
    alpha: list[float] | None = Field(None, description="one weight per class, in class order")


@register("focal")
class Focal(Strategy):
    """Minimise the focal loss −α_y (1 − p_y)^γ log p_y."""

    Hparams = FocalHparams
    hparams: FocalHparams
    alpha: torch.Tensor | None  # a buffer (registered in __init__)

    @staticmethod
    def search_space(trial) -> dict:
        return {"gamma": trial.suggest_float("gamma", 0.5, 5.0)}

    @classmethod
    def check_classes(cls, hparams, classes):
        if hparams.alpha is None or len(hparams.alpha) == len(classes):
            return []
        return [("alpha", f"has {len(hparams.alpha)} weights for the {len(classes)} classes ({', '.join(classes)})")]

    def __init__(self, model, hparams, task, optimizer, balance="none"):
        super().__init__(model, hparams, task, optimizer, balance)
        alpha = hparams.alpha
        if alpha is not None and len(alpha) != task.num_classes:
            raise ValueError(f"focal alpha has {len(alpha)} weights for {task.num_classes} classes")
        self.register_buffer("alpha", None if alpha is None else torch.tensor(alpha, dtype=torch.float32))

    def compute_loss(self, logits, features, batch):
        alpha = self.combined_class_weights(self.alpha)
        return focal_loss(logits, batch.labels, gamma=self.hparams.gamma, alpha=alpha), {}
