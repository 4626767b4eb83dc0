"""The backbone contract every built-in backbone passes, callable from a plugin's own tests.

``check_backbone(MyNet)`` builds the backbone small (3 classes, 4 × 32² clips) on the CPU and raises
``BackboneContractError`` naming the first broken promise of ``models/backbone.py:Backbone``: options that do
not validate, outputs of the wrong shape, logits that do not come from the classifier ``reset_classifier``
sets, a declared capability it does not keep (``stages``: slots that are not applied, or report other
channels or frames than they see; ``feature_point``: a setting that is refused), parameters no gradient
reaches, a state dict that does not reproduce the outputs, or a ``cuda`` call in the backbone's file.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from hdfbench.models.backbone import BACKBONES, Backbone
from hdfbench.schema import StrictModel
from hdfbench.testing.contract import CUDA_CALL, calls_cuda

CLASSES, FRAMES, SIZE, BATCH = 3, 4, 32, 4


class BackboneContractError(AssertionError):
    """A backbone breaks the contract; the message says which promise and how."""


def _fail(cls: type, message: str) -> None:
    raise BackboneContractError(f"{cls.__module__}:{cls.__name__}: {message}")


def build(cls: type[Backbone], options: dict | None = None, seed: int = 0) -> Backbone:
    """Return ``cls`` built for 3 classes and 4 × 32² clips with ``options``, in evaluation mode, seeded."""
    if not (isinstance(cls.Options, type) and issubclass(cls.Options, StrictModel)):
        _fail(cls, "Options must be a hdfbench.schema.StrictModel subclass (the config validates it)")
    try:
        validated = cls.Options(**(options or {}))
    except ValueError as exc:
        _fail(cls, f"options {options or {}} do not validate: {exc}")
    torch.manual_seed(seed)
    return cls(num_classes=CLASSES, frames=FRAMES, size=SIZE, options=validated).eval()


def clips(seed: int = 0) -> torch.Tensor:
    """Return a batch of random clips (4, 3, 4, 32, 32)."""
    return torch.randn(BATCH, 3, FRAMES, SIZE, SIZE, generator=torch.Generator().manual_seed(seed))


def check_outputs(model: Backbone) -> None:
    """Check that ``forward`` returns finite (logits (B, classes), features (B, feature_dim))."""
    cls = type(model)
    out = model(clips())
    if not (isinstance(out, tuple) and len(out) == 2):
        _fail(cls, f"forward must return (logits, features), got {type(out).__name__}")
    logits, features = out
    dim = getattr(model, "feature_dim", None)
    if tuple(logits.shape) != (BATCH, CLASSES) or tuple(features.shape) != (BATCH, dim):
        _fail(
            cls,
            f"forward returned logits {tuple(logits.shape)} and features {tuple(features.shape)}; expected "
            f"{(BATCH, CLASSES)} and (B, feature_dim) = {(BATCH, dim)}",
        )
    if not (torch.isfinite(logits).all() and torch.isfinite(features).all()):
        _fail(cls, "forward returned non-finite logits or features at initialisation")


def check_classifier(model: Backbone) -> None:
    """Check that after ``reset_classifier(probe)`` the logits are ``probe(features)``."""
    cls = type(model)
    probe = nn.Linear(model.feature_dim, CLASSES + 2)
    model.reset_classifier(probe)
    logits, features = model(clips())
    if tuple(logits.shape) != (BATCH, CLASSES + 2) or not torch.allclose(logits, probe(features)):
        _fail(
            cls,
            "the logits do not come from the classifier reset_classifier set (forward must return "
            "self.classifier(features)); strategies such as ldam_drw replace it",
        )


def check_stages(model: Backbone) -> None:
    """Check a declared ``stages`` capability: one slot per stage, applied to its output, whose (C, T) are
    ``stage_channels()`` / ``stage_frames()``; a backbone without it must not declare it."""
    cls = type(model)
    missing = [a for a in ("after_stage", "stage_channels", "stage_frames") if not hasattr(model, a)]
    if missing:
        _fail(cls, f"declares 'stages' but has no {', '.join(missing)}")
    slots: Any = model.after_stage
    channels, frames = list(model.stage_channels()), list(model.stage_frames())  # type: ignore[operator]
    if not (isinstance(slots, nn.ModuleList) and len(slots) == len(channels) == len(frames) > 0):
        _fail(cls, "after_stage must be an nn.ModuleList with one slot per entry of stage_channels and stage_frames")
    seen: list[tuple[int, ...]] = []
    hooks = [slot.register_forward_hook(lambda _m, _i, out: seen.append(tuple(out.shape))) for slot in slots]
    reference = model(clips())[0]
    for hook in hooks:
        hook.remove()
    if [s[1:3] for s in seen] != list(zip(channels, frames)):
        _fail(
            cls,
            f"its slots saw (C, T) {[s[1:3] for s in seen]}, but stage_channels/stage_frames say "
            f"{list(zip(channels, frames))}",
        )
    for i in range(len(slots)):
        original, slots[i] = slots[i], _Scale(0.5)
        changed = not torch.allclose(model(clips())[0], reference)
        slots[i] = original
        if not changed:
            _fail(cls, f"after_stage[{i}] is not applied: a module put there does not change the output")


class _Scale(nn.Module):
    """Multiplies its input by a constant (a stand-in for a module a strategy inserts)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


def check_feature_point(model: Backbone) -> None:
    """Check a declared ``feature_point`` capability: both settings are accepted and give features."""
    cls = type(model)
    for point in ("before_dropout", "after_dropout"):
        try:
            setattr(model, "feature_point", point)  # noqa: B010 - the attribute the capability promises
            features = model(clips())[1]
        except Exception as exc:
            _fail(cls, f"declares 'feature_point' but feature_point = {point!r} fails: {exc}")
        if features.shape[0] != BATCH:
            _fail(cls, f"feature_point = {point!r} gives features of shape {tuple(features.shape)}")


def check_gradients(model: Backbone) -> None:
    """Check that a training step's loss reaches (is computed from) every parameter that requires a gradient."""
    cls = type(model)
    model.train()
    logits, _ = model(clips())
    nn.functional.cross_entropy(logits, torch.arange(BATCH) % logits.shape[1]).backward()
    # a gradient of zeros is allowed: zero-initialised residual BatchNorms (X3D) cut their branch at the start
    dead = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    model.eval()
    if dead:
        _fail(cls, f"no gradient reaches {len(dead)} parameters, e.g. {', '.join(dead[:3])}")


def check_state_dict(cls: type[Backbone], options: dict | None = None) -> None:
    """Check that a second instance loading the first's state dict (strictly) computes the same outputs."""
    first, second = build(cls, options, seed=0), build(cls, options, seed=1)
    second.load_state_dict(first.state_dict())
    a, b = first(clips()), second(clips())
    if not all(torch.equal(x, y) for x, y in zip(a, b)):
        _fail(cls, "an instance loaded with another's state dict computes different outputs (unsaved state?)")


def check_no_cuda(cls: type[Backbone]) -> None:
    """Check that the backbone's file never moves anything to a GPU itself (devices come from the trainer)."""
    if calls_cuda(cls):
        _fail(cls, f"its file calls {CUDA_CALL}; use the device of the input or of the parameters instead")


def check_backbone(backbone: type[Backbone] | str, options: dict | None = None) -> None:
    """Check every promise of the backbone contract for ``backbone`` (a class or a registered name) built with
    ``options``; raise ``BackboneContractError`` at the first broken one."""
    cls = BACKBONES.get(backbone) if isinstance(backbone, str) else backbone
    if not cls.__doc__:
        _fail(cls, "the class has no docstring (it is the backbone's one-line description)")
    check_no_cuda(cls)
    with torch.no_grad():
        check_outputs(build(cls, options))
        check_classifier(build(cls, options))
        if "stages" in cls.capabilities:
            check_stages(build(cls, options))
        if "feature_point" in cls.capabilities:
            check_feature_point(build(cls, options))
    check_gradients(build(cls, options))
    with torch.no_grad():
        check_state_dict(cls, options)
