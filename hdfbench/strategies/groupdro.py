"""Online GroupDRO (Sagawa et al., ICLR 2020): minimise the loss of the worst group.

Groups are the classes by default (the DFER case where only labels exist), any metadata field
(``source``, ``subject``, ``scene``…), or a class × field product written ``class*source``.

As in the reference code, a group absent from a batch adds no loss and its weight is multiplied by
exp(0) before renormalisation (exp(η·C/√n_g) with the ``adjustment`` C, which the reference adds to
every group at every step), so it shrinks relative to the present groups. With imbalanced
classes and small batches the rarest class is absent from most batches and its q decays; Sagawa et
al. train GroupDRO on group-balanced batches: ``balance: sample`` with ``balance_groups`` set to the
same groups here (give ERM the same sampling for a fair comparison). Groups are defined once, by
``data.groups.Grouper``, for the loss and the sampler alike, over the values the training split has.

The logged ``loss`` is Σ_g q_g·loss_g; with an adjustment, ``loss_with_adjustment`` adds
Σ_g q_g·C/√n_g, the value Sagawa et al.'s code reports as its robust loss.
"""

from __future__ import annotations

import torch
from pydantic import Field

from hdfbench.data.groups import group_problems
from hdfbench.losses import GroupDRO as GroupDROLoss
from hdfbench.schema import StrictModel
from hdfbench.strategies.base import Strategy, register


class GroupDROHparams(StrictModel):
    """η is the step size of the group weights; C/√n_g the generalisation adjustment."""

    eta: float = Field(0.01, gt=0)
    groups: str = Field("class", description="'class', a metadata field, or 'class*<field>'")
    normalize_loss: bool = False
    adjustment: float = Field(0.0, ge=0)


@register("groupdro")
class GroupDRO(Strategy):
    """Exponentiated-gradient weights over groups; the loss is the q-weighted group mean."""

    Hparams = GroupDROHparams
    hparams: GroupDROHparams

    @staticmethod
    def search_space(trial) -> dict:
        return {"eta": trial.suggest_float("eta", 1e-3, 1.0, log=True)}

    @classmethod
    def check_dataset(cls, hparams, group_fields):
        return group_problems(hparams.groups, group_fields)

    def __init__(self, model, hparams, task, optimizer, balance="none"):
        super().__init__(model, hparams, task, optimizer, balance)
        self.grouper = task.grouper(hparams.groups)
        self.group_names = self.grouper.names
        self.dro = GroupDROLoss(
            len(self.group_names),
            eta=hparams.eta,
            normalize_loss=hparams.normalize_loss,
            adjustment=hparams.adjustment,
            group_counts=list(task.counts_for(hparams.groups)),
        )

    def group_ids(self, batch) -> torch.Tensor:
        """Return each clip's group index."""
        return self.grouper.ids(batch.labels, batch.groups)

    def compute_loss(self, logits, features, batch):
        losses = self.class_weighted_losses(logits, features, batch)
        loss = self.dro(losses, self.group_ids(batch), update=self.updating_state)
        if not self.hparams.adjustment:
            return loss, {}
        return loss, {"loss_with_adjustment": float(loss.detach()) + self.dro.adjustment_term()}

    def epoch_logs(self) -> dict[str, float]:
        return {f"q/{name}": float(q) for name, q in zip(self.group_names, self.dro.q)}
