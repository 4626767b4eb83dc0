"""The strategy contract: one training step, prediction, and all state needed to resume.

A strategy owns the model and its optimizer. Loss-only methods override ``per_sample_loss``
(focal, LDAM, logit adjustment) or ``compute_loss`` (GroupDRO, CVaR); two-pass methods (SAM, HDF)
override ``training_step``. Hyperparameters are a pydantic model ``Hparams`` (defaults inside) and
the Optuna search space is the static method ``search_space`` — all in the strategy's one file.

Balancing composes with any strategy: ``balance="reweight"`` weights each clip's loss by a class
weight (normalised to mean one over classes) in ``reduce``: the inverse frequency 1/n_c, or Cui et
al.'s effective number of samples (1 − β)/(1 − β^n_c) (a ``Balancing`` with
``weights="effective_number"``); ``"sample"`` makes the trainer draw batches balanced over the run's
``balance_groups`` (classes by default, or any ``data.groups.Grouper`` definition such as
``class*source``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from hdfbench.data.batch import Batch
from hdfbench.data.groups import Grouper
from hdfbench.losses.balancing import Balance, Balancing
from hdfbench.models.backbone import Backbone
from hdfbench.models.memory_format import channels_last_problem
from hdfbench.optim import OptimizerSpec, build_optimizer, freeze_bn_stats, param_groups
from hdfbench.registry import Registry
from hdfbench.schema import StrictModel

log = logging.getLogger(__name__)


class NonFiniteLossError(FloatingPointError):
    """The training loss became NaN or infinite."""


@dataclass(frozen=True)
class Stage:
    """One stage of a multi-stage strategy: its first epoch, and whether the learning-rate schedule
    restarts there (over the remaining epochs) and model selection considers only its epochs on."""

    start: int
    fresh_schedule: bool = False
    fresh_selection: bool = False


@dataclass(frozen=True)
class StageContext:
    """What a strategy may use when a stage begins: the epoch, the training labels (training-set
    order) and ``predict_train()``, the current model's logits (N, C) on every training clip, unaugmented."""

    epoch: int
    train_labels: torch.Tensor
    predict_train: Callable[[], torch.Tensor]


@dataclass(frozen=True)
class TaskInfo:
    """What a strategy may know about the training fold: classes, group fields and their sizes.

    ``class_names`` and ``group_names`` (each metadata field's values in code order) are what a
    ``Grouper`` is built from; ``group_counts`` holds the training counts of every field and
    ``class*<field>`` definition, in group-id order.
    """

    num_classes: int
    class_counts: tuple[int, ...]
    group_counts: dict[str, tuple[int, ...]] = field(default_factory=dict)
    class_names: tuple[str, ...] = ()
    group_names: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def grouper(self, definition: str) -> Grouper:
        """Return the Grouper of ``definition`` over the training classes and field values."""
        return Grouper(definition, self.class_names, self.group_names)

    def counts_for(self, definition: str) -> tuple[int, ...]:
        """Return the training clip count of each group of ``definition``, in group-id order."""
        grouper = self.grouper(definition)
        return self.class_counts if grouper.field is None else self.group_counts[definition]


class NoHparams(StrictModel):
    """A strategy without hyperparameters of its own."""


class Strategy(nn.Module):
    """Base class of every training strategy; ERM's behaviour unless overridden."""

    name: ClassVar[str] = ""
    Hparams: ClassVar[type[StrictModel]] = NoHparams
    class_weights: torch.Tensor | None  # a buffer (registered in __init__)

    @staticmethod
    def search_space(trial) -> dict[str, Any]:
        """Return hyperparameters sampled from an Optuna ``trial`` (define-by-run); none by default."""
        return {}

    @classmethod
    def relative_cost(cls, hparams: StrictModel) -> float:
        """Return the expected time of a training step with ``hparams`` relative to ERM's (1 by default;
        two-pass methods about 2): a sweep starts its costliest runs first, so that its last runs are short."""
        return 1.0

    @classmethod
    def check_dataset(cls, hparams: StrictModel, group_fields: tuple[str, ...]) -> list[tuple[str, str]]:
        """Return (hparam name, problem) pairs that make ``hparams`` unusable on a dataset; none by default."""
        return []

    @classmethod
    def needs(cls, hparams: StrictModel) -> dict[str, str]:
        """Return the backbone capabilities (``models.backbone.Capability``) that ``hparams`` need, each with the
        hparam that needs it; none by default."""
        return {}

    @classmethod
    def check_backbone(cls, hparams: StrictModel, backbone: type[Backbone]) -> list[tuple[str, str]]:
        """Return (hparam name, problem) pairs for each capability ``needs(hparams)`` asks of ``backbone`` that
        it does not declare (config validation calls this for the configured backbone)."""
        return [
            (
                field,
                f"needs a backbone with '{capability}' (models/backbone.py:Capability); "
                f"{backbone.__name__} offers {sorted(backbone.capabilities) or 'none'}",
            )
            for capability, field in cls.needs(hparams).items()
            if capability not in backbone.capabilities
        ]

    @classmethod
    def check_classes(cls, hparams: StrictModel, classes: tuple[str, ...]) -> list[tuple[str, str]]:
        """Return (hparam name, problem) pairs that make ``hparams`` unusable with a dataset's ``classes``
        (checked before any trial starts, for datasets whose classes the config fixes); none by default."""
        return []

    def __init__(
        self,
        model: nn.Module,
        hparams: StrictModel,
        task: TaskInfo,
        optimizer: OptimizerSpec,
        balance: Balance | Balancing = "none",
    ):
        super().__init__()
        self.hparams = hparams
        self.task = task
        self.model = self.prepare_model(model)
        if optimizer.freeze_bn_stats:  # the fine-tuning recipe: BatchNorm statistics stay the pretrained ones
            freeze_bn_stats(self.model)
        self.optimizer_spec = optimizer
        self.balancing = balance if isinstance(balance, Balancing) else Balancing(balance)
        self.balance = self.balancing.mode
        self.register_buffer("class_weights", self.balancing.class_weights(task.class_counts))
        self.updating_state = True  # False while a two-pass method recomputes the loss at w + ε
        self.optimizer = self.build_optimizer(optimizer)
        self.configure_compute("cpu", None, False)

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """Return the network this strategy trains, built from the backbone ``model`` (``self.hparams`` and
        ``self.task`` are set): a strategy that changes it (a new head, inserted modules) does so here,
        before the optimizer takes its parameters. The backbone itself by default."""
        return model

    def combined_class_weights(self, *weights: torch.Tensor | None) -> torch.Tensor | None:
        """Return the product of the per-class ``weights`` that are given and the balancing class weights,
        or None when there are none."""
        present = [w for w in (*weights, self.class_weights) if w is not None]
        return torch.stack(present).prod(0) if present else None

    def configure_compute(self, device_type: str, amp_dtype: torch.dtype | None, channels_last: bool) -> None:
        """Run forward passes under autocast to ``amp_dtype`` (None: float32) on ``device_type``, and in
        channels_last_3d memory format if ``channels_last`` (the model is converted here), unless that
        layout gives wrong gradients on this machine (``channels_last_problem``): then the model stays
        contiguous and a warning says why. The backbone chooses its kernels for ``device_type``
        (``self.kernels`` records the choice)."""
        self.amp = (device_type, amp_dtype)
        problem = channels_last_problem(device_type, amp_dtype) if channels_last else None
        if problem:
            log.warning("training.channels_last ignored: %s; training in the contiguous layout", problem)
            channels_last = False
        self.memory_format = torch.channels_last_3d if channels_last else torch.contiguous_format
        self.kernels = self.model.configure_kernels(device_type) if isinstance(self.model, Backbone) else {}
        for module in self.model.modules() if channels_last else ():
            if isinstance(module, nn.Conv3d):  # 5-D weights only (DAM's 2-D convolutions stay as they are)
                module.to(memory_format=self.memory_format)  # type: ignore[call-overload]  # torch's stubs omit it

    def model_outputs(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return the model's (logits, features) for ``clips``, in float32.

        The forward pass runs under the configured autocast; its outputs are cast back so that every
        loss, SAM's perturbation and DSM's similarities are computed in float32.
        """
        device_type, dtype = self.amp
        clips = clips.contiguous(memory_format=self.memory_format)
        with torch.autocast(device_type, dtype=dtype, enabled=dtype is not None):
            logits, features = self.model(clips)
        return logits.float(), features.float()

    def build_optimizer(self, spec: OptimizerSpec) -> torch.optim.Optimizer:
        """Return the optimizer over every trainable parameter of this strategy (the classifier in a group of
        its own when ``spec.classifier_lr_mult`` is not 1: ``optim/optimizers.py:param_groups``)."""
        return build_optimizer(param_groups(self.named_parameters(), spec), spec)

    @property
    def schedulable_optimizer(self) -> torch.optim.Optimizer:
        """Return the optimizer whose learning rate a schedule drives (SAM's base optimizer)."""
        return getattr(self.optimizer, "base_optimizer", self.optimizer)

    def per_sample_loss(self, logits: torch.Tensor, features: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Return the loss of each clip (B,); cross-entropy by default."""
        return F.cross_entropy(logits, batch.labels, reduction="none")

    def class_weighted_losses(self, logits: torch.Tensor, features: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Return ``per_sample_loss`` times each clip's class weight when reweighting (B,): what robust
        objectives that are not a mean over clips (GroupDRO, CVaR, χ²-DRO) take as their losses."""
        losses = self.per_sample_loss(logits, features, batch)
        return losses if self.class_weights is None else losses * self.class_weights[batch.labels]

    def reduce(self, losses: torch.Tensor, batch: Batch) -> torch.Tensor:
        """Return the batch loss: the mean, class-weighted (Σ w_y·l / Σ w_y) when reweighting."""
        if self.class_weights is None:
            return losses.mean()
        weights = self.class_weights[batch.labels]
        return (weights * losses).sum() / weights.sum().clamp_min(1e-12)

    def compute_loss(self, logits: torch.Tensor, features: torch.Tensor, batch: Batch) -> tuple[torch.Tensor, dict]:
        """Return (scalar loss, extra float logs) for one batch."""
        return self.reduce(self.per_sample_loss(logits, features, batch), batch), {}

    def forward_loss(self, batch: Batch) -> tuple[torch.Tensor, dict]:
        """Run the model on ``batch`` and return (loss, logs); raises on a non-finite loss."""
        logits, features = self.model_outputs(batch.clips)
        loss, logs = self.compute_loss(logits, features, batch)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"non-finite training loss ({loss.item()})")
        return loss, logs

    def training_step(self, batch: Batch) -> dict[str, float]:
        """Do one optimisation step on ``batch``; return float logs including ``loss``."""
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss, logs = self.forward_loss(batch)
        loss.backward()
        self.optimizer.step()
        return {"loss": float(loss.detach()), **logs}

    def on_epoch_start(self, epoch: int, epochs: int) -> None:
        """Called before each training epoch (e.g. for deferred re-weighting); nothing by default."""

    def stages(self, epochs: int) -> tuple[Stage, ...]:
        """Return the stages of a run of ``epochs`` epochs, the first starting at 0; one stage by default.

        The trainer calls ``begin_stage`` before the first epoch of every later stage, records the
        stage of each epoch in metrics.jsonl and honours each stage's schedule and selection flags.
        """
        return (Stage(0),)

    def begin_stage(self, index: int, context: StageContext) -> None:
        """Prepare stage ``index`` (≥ 1) from the state the previous stage left; called again if a
        run resumes from the previous stage's last checkpoint. Nothing by default."""

    def epoch_logs(self) -> dict[str, float]:
        """Return strategy state worth logging once per epoch (e.g. group weights); none by default."""
        return {}

    @torch.no_grad()
    def predict(self, clips: torch.Tensor) -> torch.Tensor:
        """Return the logits (B, C) for ``clips`` in evaluation mode."""
        self.model.eval()
        return self.model_outputs(clips)[0]

    def checkpoint_state(self) -> dict[str, Any]:
        """Return everything needed to resume: module parameters and buffers, optimizer state."""
        return {"module": self.state_dict(), "optimizer": self.optimizer.state_dict()}

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        """Restore what ``checkpoint_state`` returned."""
        self.load_state_dict(state["module"])
        self.optimizer.load_state_dict(state["optimizer"])


STRATEGIES: Registry[type[Strategy]] = Registry("strategy", "hdfbench.strategies", Strategy)
register = STRATEGIES.register
