"""LDAM-DRW (Cao et al., NeurIPS 2019): label-distribution-aware margins, deferred re-weighting.

The margin of class c is ∝ n_c^(−1/4) (rare classes get larger margins) on cosine logits scaled by
s; from ``drw_start`` (a fraction of the epochs) on, the loss is re-weighted by effective-number
class weights (β = ``drw_beta``). The classifier becomes a cosine (normalised) linear layer, as in
the reference implementation, because the margins are defined on normalised logits.
"""

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from hdfbench.losses import class_balanced_weights, ldam_loss, ldam_margins
from hdfbench.schema import StrictModel
from hdfbench.strategies.base import Strategy, register


class NormedLinear(nn.Module):
    """A linear layer on L2-normalised inputs and weight columns: outputs are cosines in [−1, 1]."""

    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features).uniform_(-1, 1).renorm_(2, 1, 1e-5).mul_(1e5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(x, dim=1) @ F.normalize(self.weight, dim=0)


class LDAMHparams(StrictModel):
    """Largest margin, logit scale s, when DRW starts (fraction of epochs) and its β."""

    max_margin: float = Field(0.5, gt=0)
    scale: float = Field(30.0, gt=0)
    drw_start: float = Field(0.8, ge=0, le=1)
    drw_beta: float = Field(0.9999, ge=0, lt=1)


@register("ldam_drw")
class LDAMDRW(Strategy):
    """LDAM loss; class-balanced re-weighting deferred to the last epochs."""

    Hparams = LDAMHparams
    hparams: LDAMHparams
    margins: torch.Tensor  # buffers (registered in __init__)
    drw_weights: torch.Tensor

    @staticmethod
    def search_space(trial) -> dict:
        return {
            "max_margin": trial.suggest_float("max_margin", 0.1, 1.0),
            "scale": trial.suggest_float("scale", 5.0, 50.0, log=True),
        }

    def __init__(self, model, hparams, task, optimizer, balance="none"):
        super().__init__(model, hparams, task, optimizer, balance)
        self.register_buffer("margins", ldam_margins(task.class_counts, hparams.max_margin))
        self.register_buffer("drw_weights", class_balanced_weights(task.class_counts, hparams.drw_beta))
        self.drw_active = False

    def prepare_model(self, model):
        model.reset_classifier(NormedLinear(model.feature_dim, self.task.num_classes))
        return model

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        self.drw_active = epoch >= int(round(self.hparams.drw_start * epochs))

    def compute_loss(self, logits, features, batch):
        weight = self.combined_class_weights(self.drw_weights if self.drw_active else None)
        loss = ldam_loss(logits, batch.labels, self.margins, self.hparams.scale, weight=weight)
        return loss, {"drw": float(self.drw_active)}
