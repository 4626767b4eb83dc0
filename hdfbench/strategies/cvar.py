"""CVaR-DRO (Levy et al., NeurIPS 2020): minimise the mean loss of the worst α-fraction of clips."""

from pydantic import Field

from hdfbench.losses import cvar_loss
from hdfbench.schema import StrictModel
from hdfbench.strategies.base import Strategy, register


class CVaRHparams(StrictModel):
    """α is the fraction of the batch (the hardest clips) whose mean loss is minimised."""

    alpha: float = Field(0.3, gt=0, le=1)


@register("cvar")
class CVaRDRO(Strategy):
    """Minimise the conditional value at risk of the per-clip cross-entropy."""

    Hparams = CVaRHparams
    hparams: CVaRHparams

    @staticmethod
    def search_space(trial) -> dict:
        return {"alpha": trial.suggest_float("alpha", 0.05, 1.0)}

    def compute_loss(self, logits, features, batch):
        losses = self.class_weighted_losses(logits, features, batch)
        return cvar_loss(losses, self.hparams.alpha), {}
