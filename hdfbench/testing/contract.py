"""The strategy contract every built-in strategy passes, callable from a plugin's own tests.

``check_strategy(MyLoss)`` trains the strategy on a tiny learnable task (the class is the clip's
brightness) with a small X3D, on the CPU, in a few seconds, and raises ``StrategyContractError``
naming the first broken promise: hyperparameters that do not validate, a search space that samples
invalid ones, a ``cuda`` call in the strategy's file, a loss that does not decrease, predictions of
the wrong shape, or a checkpoint that does not reproduce the next step exactly (under each balance
mode, and for multi-stage strategies in each stage and across the stage boundary).
"""

from __future__ import annotations

import copy
import inspect
import io
import math
from pathlib import Path
from typing import Any

import torch

from hdfbench.data.batch import Batch
from hdfbench.losses.balancing import Balance
from hdfbench.models import build_backbone
from hdfbench.optim import OptimizerSpec
from hdfbench.strategies.base import StageContext, Strategy, TaskInfo

CLASSES = ("a", "b", "c")
#: What each strategy is told about the toy training set: 3 classes, 2 sources, 20 clips.
TASK = TaskInfo(
    num_classes=3,
    class_counts=(12, 6, 2),
    group_counts={"source": (10, 10), "class*source": (6, 6, 3, 3, 1, 1)},
    class_names=CLASSES,
    group_names={"source": ("x", "y")},
)
EPOCHS = 10
STAGE_POINTS = ("first_stage", "stage_boundary", "second_stage")
CUDA_CALL = ".cuda" + "()"  # spelt apart so that this file passes its own check


class StrategyContractError(AssertionError):
    """A strategy breaks the contract; the message says which promise and how."""


def toy_training_set(seed: int = 0) -> Batch:
    """Return the toy task's 20 training clips (3 × 4 × 32², the class is the brightness) as one Batch."""
    n = sum(TASK.class_counts)
    g = torch.Generator().manual_seed(seed)
    labels = torch.repeat_interleave(torch.arange(3), torch.tensor(TASK.class_counts))
    clips = torch.randn(n, 3, 4, 32, 32, generator=g) * 0.3 + (labels.float() - 1.0).view(-1, 1, 1, 1, 1)
    return Batch(clips, labels, {"source": torch.arange(n) % 2}, torch.arange(n))


def learnable_batches(n_batches: int = 6, size: int = 8, seed: int = 0) -> list[Batch]:
    """Return ``n_batches`` batches of ``size`` clips drawn from ``toy_training_set``, with their indices."""
    pool, g = toy_training_set(seed), torch.Generator().manual_seed(seed + 1)
    batches = []
    for _ in range(n_batches):
        index = torch.randint(0, len(pool.labels), (size,), generator=g)
        batches.append(Batch(pool.clips[index], pool.labels[index], {"source": pool.groups["source"][index]}, index))
    return batches


def make(cls: type[Strategy], hparams: dict | None = None, seed: int = 0, balance: Balance = "none") -> Strategy:
    """Return ``cls`` over a fresh small X3D (3 classes, 4 × 32²) with ``hparams``, seeded by ``seed``."""
    torch.manual_seed(seed)
    model = build_backbone("x3d_tiny", 3, frames=4, size=32, options={"head_dim_out": 32, "dropout": 0.0})
    return cls(model, cls.Hparams(**(hparams or {})), TASK, OptimizerSpec(lr=3e-3, weight_decay=0.0), balance)


def _fail(cls: type, message: str) -> None:
    raise StrategyContractError(f"{cls.__module__}:{cls.__name__}: {message}")


def check_hparams_and_search_space(cls: type[Strategy], hparams: dict | None = None) -> None:
    """Check the docstring, that ``hparams`` validate, that their ``relative_cost`` is a positive number and
    that ``search_space`` samples valid ones."""
    import optuna

    if not cls.__doc__:
        _fail(cls, "the class has no docstring (it is the strategy's one-line description)")
    cost = cls.relative_cost(cls.Hparams(**(hparams or {})))
    if not (isinstance(cost, int | float) and math.isfinite(cost) and cost > 0):
        _fail(cls, f"relative_cost returned {cost!r}; it must be a positive number (ERM's step is 1)")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    params = cls.search_space(optuna.create_study().ask())
    own = {k: v for k, v in params.items() if not k.startswith("training.")}
    try:
        cls.Hparams(**{**(hparams or {}), **own})
    except ValueError as exc:
        _fail(cls, f"search_space sampled {own}, which Hparams rejects: {exc}")


def calls_cuda(cls: type) -> bool:
    """Return whether the file defining ``cls`` contains ``CUDA_CALL`` (library code takes devices from the trainer)."""
    return CUDA_CALL in Path(inspect.getfile(cls)).read_text()


def check_no_cuda(cls: type[Strategy]) -> None:
    """Check that the strategy's file never moves anything to a GPU itself (devices come from the trainer)."""
    if calls_cuda(cls):
        _fail(cls, f"its file calls {CUDA_CALL}; use the device of the tensors or buffers instead")


def check_loss_decreases(cls: type[Strategy], hparams: dict | None = None) -> None:
    """Check that 5 passes over the toy batches lower the strategy's own loss, with float logs."""
    strategy = make(cls, hparams)
    strategy.on_epoch_start(0, EPOCHS)
    batches = learnable_batches()
    with torch.no_grad():
        before = sum(float(strategy.forward_loss(b)[0]) for b in batches)
    for _ in range(5):
        for batch in batches:
            logs = strategy.training_step(batch)
            if "loss" not in logs or not all(isinstance(v, float) for v in logs.values()):
                _fail(cls, f"training_step must return float logs including 'loss', got {logs}")
    with torch.no_grad():
        after = sum(float(strategy.forward_loss(b)[0]) for b in batches)
    if not after < before:
        _fail(cls, f"the loss did not decrease on a learnable toy task ({before:.4f} → {after:.4f})")


def check_predict(cls: type[Strategy], hparams: dict | None = None) -> None:
    """Check that ``predict`` returns float32 logits (B, classes) and leaves the model in evaluation mode."""
    strategy = make(cls, hparams)
    logits = strategy.predict(learnable_batches(1)[0].clips)
    if logits.shape != (8, 3) or logits.dtype != torch.float32 or strategy.model.training:
        _fail(
            cls,
            f"predict gave {tuple(logits.shape)} {logits.dtype}, training={strategy.model.training}; "
            "expected (8, 3) float32 logits in evaluation mode",
        )


def _context(strategy: Strategy, epoch: int) -> StageContext:
    pool = toy_training_set()
    return StageContext(epoch, pool.labels, lambda: strategy.predict(pool.clips))


def _steps(strategy: Strategy, batches: list[Batch], epoch: int) -> dict[str, float]:
    strategy.on_epoch_start(epoch, EPOCHS)
    logs: dict[str, float] = {}
    for batch in batches:
        logs = strategy.training_step(batch)
    return logs


def check_resume_is_exact(
    cls: type[Strategy], hparams: dict | None = None, balance: Balance = "none", point: str = "first_stage"
) -> None:
    """Check that a strategy restored from ``checkpoint_state`` into a differently initialised copy takes
    the same next step (logs and every parameter and buffer) as the original.

    ``point``: the checkpoint is taken in the first stage, at the last step before the second stage
    begins (the copy then begins it itself), or in the second stage; the last two only apply to
    strategies with more than one stage.
    """
    batches = learnable_batches(4)
    a = make(cls, hparams, balance=balance)
    stages = a.stages(EPOCHS)
    if point != "first_stage" and len(stages) < 2:
        return
    second = stages[1].start if len(stages) > 1 else 0
    _steps(a, batches[:2], 0)
    if point == "second_stage":
        a.begin_stage(1, _context(a, second))
    _steps(a, batches[2:3], second if point == "second_stage" else 0)
    saved = io.BytesIO()
    torch.save(a.checkpoint_state(), saved)
    rng = torch.get_rng_state()
    epoch = 0 if point == "first_stage" else second
    if point == "stage_boundary":
        a.begin_stage(1, _context(a, second))
    expected, expected_state = _steps(a, batches[3:], epoch), copy.deepcopy(a.state_dict())

    b = make(cls, hparams, seed=123, balance=balance)  # another init: everything must come from the checkpoint
    saved.seek(0)
    b.load_checkpoint_state(torch.load(saved, weights_only=False))
    torch.set_rng_state(rng)
    if point == "stage_boundary":
        b.begin_stage(1, _context(b, second))
    got = _steps(b, batches[3:], epoch)
    _compare(cls, f"{point}, balance {balance}", expected, got, expected_state, b.state_dict())


def _compare(
    cls: type,
    where: str,
    expected: dict[str, Any],
    got: dict[str, Any],
    expected_state: dict[str, torch.Tensor],
    state: dict[str, torch.Tensor],
) -> None:
    for key, value in expected.items():
        if key not in got or abs(got[key] - value) > 1e-7 + 1e-6 * abs(value):
            _fail(
                cls,
                f"after loading a checkpoint ({where}) the next step logged {key}={got.get(key)}, "
                f"the original {value}: something the step depends on is not in checkpoint_state",
            )
    for key, value in expected_state.items():
        if not torch.allclose(state[key].float(), value.float(), atol=1e-6):
            _fail(cls, f"after loading a checkpoint ({where}) '{key}' differs after the next step")


def check_strategy(cls: type[Strategy], hparams: dict | None = None) -> None:
    """Run the whole contract on ``cls`` (with ``hparams``, default: its defaults); raise
    ``StrategyContractError`` at the first broken promise. Takes a few seconds on a CPU."""
    check_hparams_and_search_space(cls, hparams)
    check_no_cuda(cls)
    check_loss_decreases(cls, hparams)
    check_predict(cls, hparams)
    for balance in ("none", "reweight"):
        for point in STAGE_POINTS:
            check_resume_is_exact(cls, hparams, balance, point)
