"""Robust and imbalance-aware losses: pure functions and small modules, testable on tiny tensors."""

from hdfbench.losses.focal import focal_loss
from hdfbench.losses.groupdro import GroupDRO, cvar_loss, group_mean_losses
from hdfbench.losses.imbalance import class_balanced_weights, ldam_loss, ldam_margins, logit_adjusted_loss

__all__ = [
    "GroupDRO", "class_balanced_weights", "cvar_loss", "focal_loss", "group_mean_losses",
    "ldam_loss", "ldam_margins", "logit_adjusted_loss",
]
