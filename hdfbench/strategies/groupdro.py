"""Online GroupDRO (Sagawa et al., ICLR 2020): minimise the loss of the worst group.

Groups are the classes by default (the DFER case where only labels exist), any metadata field
(``source``, ``subject``, ``scene``…), or a class × field product written ``class*source``.

As in the reference code, a group absent from a batch adds no loss and its weight is multiplied by
exp(0) before renormalisation, so it shrinks relative to the present groups. With imbalanced
classes and small batches the rarest class is absent from most batches and its q decays; Sagawa et
al. train GroupDRO on group-balanced batches, which is ``balance: sample`` here (give ERM the same
option for a fair comparison).
"""

from __future__ import annotations

import torch
from pydantic import Field

from hdfbench.config_base import StrictModel
from hdfbench.losses import GroupDRO as GroupDROLoss
from hdfbench.strategies.base import Strategy, TaskInfo, register


class GroupDROHparams(StrictModel):
    """η is the step size of the group weights; C/√n_g the generalisation adjustment."""

    eta: float = Field(0.01, gt=0)
    groups: str = Field("class", description="'class', a metadata field, or 'class*<field>'")
    normalize_loss: bool = False
    adjustment: float = Field(0.0, ge=0)


def group_options(fields: tuple[str, ...]) -> list[str]:
    """Return every valid ``groups`` value for a dataset with metadata ``fields``."""
    return ["class", *fields, *(f"class*{f}" for f in fields)]


def group_layout(groups: str, task: TaskInfo) -> tuple[list[str], list[int]]:
    """Return (group names, training counts) for a ``groups`` setting."""
    field = groups.removeprefix("class*")
    if groups == "class":
        return list(task.class_names), list(task.class_counts)
    if field not in task.group_counts:
        raise ValueError(f"GroupDRO groups '{groups}' is not available "
                         f"(allowed: {', '.join(group_options(tuple(task.group_counts)))})")
    if groups == field:
        return list(task.group_names[field]), list(task.group_counts[field])
    names = [f"{c}|{g}" for c in task.class_names for g in task.group_names[field]]
    return names, list(task.group_counts[f"class*{field}"])


@register("groupdro")
class GroupDRO(Strategy):
    """Exponentiated-gradient weights over groups; the loss is the q-weighted group mean."""

    Hparams = GroupDROHparams

    @staticmethod
    def search_space(trial) -> dict:
        return {"eta": trial.suggest_float("eta", 1e-3, 1.0, log=True)}

    @classmethod
    def check_dataset(cls, hparams, group_fields):
        allowed = group_options(group_fields)
        if hparams.groups in allowed:
            return []
        return [("groups", f"'{hparams.groups}' is not a group of this dataset (allowed: {', '.join(allowed)})")]

    def __init__(self, model, hparams, task, optimizer, balance="none"):
        super().__init__(model, hparams, task, optimizer, balance)
        self.group_names, counts = group_layout(hparams.groups, task)
        self.dro = GroupDROLoss(len(self.group_names), eta=hparams.eta, normalize_loss=hparams.normalize_loss,
                                adjustment=hparams.adjustment, group_counts=counts)

    def group_ids(self, batch) -> torch.Tensor:
        """Return each clip's group index."""
        groups = self.hparams.groups
        if groups == "class":
            return batch.labels
        field = groups.removeprefix("class*")
        codes = batch.groups[field]
        return codes if groups == field else batch.labels * len(self.task.group_names[field]) + codes

    def compute_loss(self, logits, features, batch):
        losses = self.per_sample_loss(logits, features, batch)
        if self.class_weights is not None:
            losses = losses * self.class_weights[batch.labels]
        return self.dro(losses, self.group_ids(batch), update=self.updating_state), {}

    def epoch_logs(self) -> dict[str, float]:
        return {f"q/{name}": float(q) for name, q in zip(self.group_names, self.dro.q)}
