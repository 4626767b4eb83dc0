"""Robust and imbalance-aware losses: pure functions and small modules, testable on tiny tensors."""

from hdfbench.losses.chi_square import chi_square_dro_loss, chi_square_weights
from hdfbench.losses.dsm import adaptive_loss_weights, dsm_loss, dsm_terms
from hdfbench.losses.focal import focal_loss
from hdfbench.losses.groupdro import GroupDRO, cvar_loss, group_mean_losses
from hdfbench.losses.imbalance import (
    class_balanced_weights,
    ldam_loss,
    ldam_margins,
    logit_adjusted_loss,
    logit_adjustments,
)

__all__ = [
    "GroupDRO",
    "adaptive_loss_weights",
    "chi_square_dro_loss",
    "chi_square_weights",
    "class_balanced_weights",
    "cvar_loss",
    "dsm_loss",
    "dsm_terms",
    "focal_loss",
    "group_mean_losses",
    "ldam_loss",
    "ldam_margins",
    "logit_adjusted_loss",
    "logit_adjustments",
]
