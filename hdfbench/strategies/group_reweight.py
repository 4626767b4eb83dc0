"""Importance weighting by inverse group frequency (SubpopBench's ReWeight; Sagawa et al.'s
reweighting baseline), for any group definition: ``class``, a metadata field, or ``class*<field>``.

Each clip's loss is multiplied by w_g ∝ n_g^(−power) of its group g (training counts), the weights
normalised to sum to the number of groups as SubpopBench does (empty groups get weight 0 and still
count); the batch loss is the plain mean of the weighted losses. ``power`` 0.5 is SubpopBench's
SqrtReWeight.
"""

import torch
from pydantic import Field

from hdfbench.data.groups import group_problems
from hdfbench.schema import StrictModel
from hdfbench.strategies.base import Strategy, TaskInfo, register


class GroupReweightHparams(StrictModel):
    """The groups to balance and the exponent of the inverse frequency."""

    groups: str = Field("class", description="'class', a metadata field, or 'class*<field>'")
    power: float = Field(1.0, gt=0, description="w_g ∝ n_g^(−power); 0.5 is square-root reweighting")


def group_weights(counts, power: float = 1.0) -> torch.Tensor:
    """Return n_g^(−power) normalised to sum to len(counts); groups with no clip get 0."""
    n = torch.as_tensor(counts, dtype=torch.float64)
    raw = torch.where(n > 0, n.clamp_min(1) ** -power, torch.zeros_like(n))
    return (raw * len(n) / raw.sum()).float()


@register("group_reweight")
class GroupReweight(Strategy):
    """ERM with each clip's loss weighted by the inverse training frequency of its group."""

    Hparams = GroupReweightHparams
    hparams: GroupReweightHparams
    group_weights: torch.Tensor  # a buffer (registered in __init__)

    @staticmethod
    def search_space(trial) -> dict:
        return {"power": trial.suggest_float("power", 0.25, 1.0)}

    @classmethod
    def check_dataset(cls, hparams, group_fields):
        return group_problems(hparams.groups, group_fields)

    def __init__(self, model, hparams, task: TaskInfo, optimizer, balance="none"):
        super().__init__(model, hparams, task, optimizer, balance)
        self.grouper = task.grouper(hparams.groups)
        self.register_buffer("group_weights", group_weights(task.counts_for(hparams.groups), hparams.power))

    def compute_loss(self, logits, features, batch):
        losses = self.class_weighted_losses(logits, features, batch)
        weights = self.group_weights[self.grouper.ids(batch.labels, batch.groups)]
        return (weights * losses).mean(), {}
