"""How a run balances its classes, whatever its strategy: the config's ``balance`` / ``class_weights`` choices
and the ``Balancing`` they build (the class weights of a reweighted loss)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from hdfbench.losses.imbalance import class_balanced_weights

#: How a run balances its classes (any strategy): not at all, a class-weighted loss, or balanced sampling.
Balance = Literal["none", "reweight", "sample"]
#: The class weights of ``balance: reweight``: 1/n_c, or Cui et al.'s effective number (1 − β)/(1 − β^n_c).
ClassWeighting = Literal["inverse_frequency", "effective_number"]


@dataclass(frozen=True)
class Balancing:
    """How a run balances its classes: ``mode``, and for ``reweight`` the class-weight scheme and its β."""

    mode: Balance = "none"
    weights: ClassWeighting = "inverse_frequency"
    beta: float = 0.9999

    def class_weights(self, counts) -> torch.Tensor | None:
        """Return the per-class loss weights for training ``counts``, or None unless reweighting."""
        if self.mode != "reweight":
            return None
        return class_balanced_weights(counts, self.beta if self.weights == "effective_number" else None)
