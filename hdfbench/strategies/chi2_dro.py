"""χ²-DRO (Levy et al., NeurIPS 2020): minimise the worst-case expected loss over reweightings of
the batch within χ²-divergence ρ of uniform; ρ = 0 is ERM, ρ ≥ (m − 1)/2 the batch maximum.

The best-response weights are exact (``losses.chi_square_weights``) and held constant in the
backward pass, as in fast-dro's batch estimator.
"""

from pydantic import Field

from hdfbench.losses import chi_square_dro_loss
from hdfbench.schema import StrictModel
from hdfbench.strategies.base import Strategy, register


class Chi2DROHparams(StrictModel):
    """ρ is the radius of the χ² ball, (1/2m)·Σ(m·p_i − 1)² ≤ ρ, around the uniform weights."""

    rho: float = Field(1.0, ge=0)


@register("chi2_dro")
class Chi2DRO(Strategy):
    """Minimise the χ²-robust loss of the per-clip cross-entropy over each batch."""

    Hparams = Chi2DROHparams
    hparams: Chi2DROHparams

    @staticmethod
    def search_space(trial) -> dict:
        return {"rho": trial.suggest_float("rho", 0.05, 5.0, log=True)}

    def compute_loss(self, logits, features, batch):
        losses = self.class_weighted_losses(logits, features, batch)
        return chi_square_dro_loss(losses, self.hparams.rho), {}
