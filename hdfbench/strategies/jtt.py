"""Just Train Twice (Liu et al., ICML 2021): ERM for T epochs to find the training clips it gets
wrong, then train again with those clips up-weighted by λ_up.

Two stages in one run (``Strategy.stages``): epochs [0, T) train the identification model with
ERM; at epoch T the error set is the training clips that model misclassifies (evaluation mode,
unaugmented clips), the model and optimizer restart from their initial state (``retrain``, as the
paper trains the final model from scratch) and the learning-rate schedule restarts over the
remaining epochs; model selection considers only the second stage. The paper up-samples the error
set λ_up times; here each clip's loss is weighted by λ_up (error set) or 1 and the batch loss is the
weighted mean, the same objective in expectation without changing the sampler. The per-clip weights
are a buffer, so a run resumes in either stage.
"""

from __future__ import annotations

import copy

import torch
from pydantic import Field

from hdfbench.schema import StrictModel
from hdfbench.strategies.base import Stage, Strategy, register


class JTTHparams(StrictModel):
    """T epochs of identification, the up-weight λ_up of its errors, and whether to retrain from scratch."""

    identification_epochs: int = Field(1, ge=1, description="T: ERM epochs that find the error set")
    lambda_up: float = Field(6.0, ge=1, description="loss weight of a clip the identification model got wrong")
    retrain: bool = Field(True, description="restart model and optimizer from their initial state at epoch T")


@register("jtt")
class JTT(Strategy):
    """ERM, then ERM with the first stage's training errors up-weighted."""

    Hparams = JTTHparams
    hparams: JTTHparams
    clip_weights: torch.Tensor  # buffers (registered in __init__)
    error_count: torch.Tensor

    @staticmethod
    def search_space(trial) -> dict:
        return {
            "lambda_up": trial.suggest_float("lambda_up", 2.0, 100.0, log=True),
            "identification_epochs": trial.suggest_int("identification_epochs", 1, 4),
        }

    def __init__(self, model, hparams, task, optimizer, balance="none"):
        super().__init__(model, hparams, task, optimizer, balance)
        self.initial_model = copy.deepcopy(model.state_dict()) if hparams.retrain else None
        self.register_buffer("clip_weights", torch.ones(sum(task.class_counts)))
        self.register_buffer("error_count", torch.tensor(0))

    def stages(self, epochs):
        if self.hparams.identification_epochs >= epochs:
            raise ValueError(
                f"jtt: identification_epochs ({self.hparams.identification_epochs}) must be below "
                f"training.epochs ({epochs})"
            )
        return Stage(0), Stage(self.hparams.identification_epochs, fresh_schedule=True, fresh_selection=True)

    def begin_stage(self, index, context):
        errors = context.predict_train().argmax(1).to(context.train_labels.device) != context.train_labels
        self.clip_weights.copy_(torch.where(errors, self.hparams.lambda_up, 1.0).to(self.clip_weights))
        self.error_count.fill_(int(errors.sum()))
        if self.initial_model is not None:
            self.model.load_state_dict(self.initial_model)
            self.optimizer = self.build_optimizer(self.optimizer_spec)
            self.initial_model = None  # not needed again: checkpoints from here on carry the retrained model

    def checkpoint_state(self):
        state = super().checkpoint_state()
        if self.initial_model is not None:  # first stage: the weights the second stage restarts from
            state["initial_model"] = self.initial_model
        return state

    def load_checkpoint_state(self, state):
        super().load_checkpoint_state(state)
        self.initial_model = state.get("initial_model")

    def compute_loss(self, logits, features, batch):
        losses = self.per_sample_loss(logits, features, batch)
        if batch.index is None:
            return self.reduce(losses, batch), {}
        weights = self.clip_weights[batch.index]
        if self.class_weights is not None:
            weights = weights * self.class_weights[batch.labels]
        return (weights * losses).sum() / weights.sum(), {}

    def epoch_logs(self):
        return {"jtt/error_set_size": float(self.error_count)}
