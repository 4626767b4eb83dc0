"""X3D backbones from pytorchvideo's builder, returning logits and pooled features.

The stock head ends in a fixed-size average pool, a 400-way projection and a Softmax. We swap the
pool for an adaptive one (any clip size works), drop the projection and the Softmax, and put our
own linear classifier on the pooled embedding, which is also returned as the feature vector.
After each of the four stages sits a slot (``after_stage``, identity by default) where a strategy
can insert a module such as HDF's DAM.

``options.pretrained`` loads Kinetics weights from a pytorchvideo hub file or a PySlowFast checkpoint
(``models/checkpoints.py``: the 400-way projection dropped, BatchNorms PySlowFast has and this build lacks
inserted); ``pretrained_report`` says what loaded.

Two changes of computation, not of function: pytorchvideo's ``Swish`` (a hand-written autograd Function)
becomes ``nn.SiLU`` (the same x·σ(x), PyTorch's fused kernel), and the depthwise and 1 × 1 × 1 convolutions
become ``models/kernels.py``'s switchable ones (``options.depthwise`` / ``pointwise``), with the same
parameters and state_dict keys.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pydantic import Field, field_validator
from torch import nn

from hdfbench.models.backbone import BACKBONES, Backbone
from hdfbench.models.kernels import DEPTHWISE, Pointwise, choose_kernels, swap_convolutions
from hdfbench.models.pytorchvideo_compat import import_pytorchvideo
from hdfbench.schema import LocalPath, StrictModel

#: The smallest frame side X3D accepts: the stem and the four stages each halve the resolution.
MIN_SIZE = 32


class X3DOptions(StrictModel):
    """Options of an X3D preset; ``None`` keeps the preset's value."""

    width_factor: float | None = Field(None, gt=0)
    depth_factor: float | None = Field(None, gt=0)
    head_dim_out: int | None = Field(None, gt=0)
    dropout: float = Field(0.5, ge=0, lt=1)
    pretrained: LocalPath | None = Field(
        None, description="local path to X3D weights: a pytorchvideo hub file or a PySlowFast checkpoint"
    )
    depthwise: str = Field(
        "auto", description="depthwise 3×3×3 convolution kernel: auto (measured per device) or a DEPTHWISE name"
    )
    pointwise: Pointwise = Field(
        "auto", description="1×1×1 convolution kernel: auto (measured per device), native, matmul"
    )

    COMPUTE_FIELDS = ("depthwise", "pointwise")

    @field_validator("depthwise")
    @classmethod
    def _registered(cls, value: str) -> str:
        if value != "auto" and value not in DEPTHWISE.names():
            raise ValueError(
                f"unknown depthwise kernel {value!r}; choose auto or one of {', '.join(DEPTHWISE.names())}"
            )
        return value


class X3D(Backbone):
    """An X3D network; class attributes hold the preset (X3D paper, Table 1)."""

    Options = X3DOptions
    capabilities = frozenset({"stages", "feature_point"})
    probe_clip = (4, MIN_SIZE)
    width_factor = 2.0
    depth_factor = 2.2
    head_dim_out = 2048

    def __init__(self, num_classes: int, frames: int, size: int, options: X3DOptions):
        super().__init__()
        if size < MIN_SIZE:
            raise ValueError(
                f"X3D needs frames of at least {MIN_SIZE}×{MIN_SIZE} pixels (5 stride-2 stages), got {size}"
            )
        create_x3d = import_pytorchvideo("pytorchvideo.models.x3d").create_x3d
        self.head_dim_out = options.head_dim_out or self.head_dim_out
        net = create_x3d(
            input_clip_length=frames,
            input_crop_size=size,
            model_num_class=num_classes,
            dropout_rate=options.dropout,
            width_factor=options.width_factor or self.width_factor,
            depth_factor=options.depth_factor or self.depth_factor,
            head_dim_out=self.head_dim_out,
            head_activation=None,
        )
        _swish_to_silu(net)
        swap_convolutions(net)
        self.options = options
        head = net.blocks[-1]
        head.pool.pool = nn.AdaptiveAvgPool3d(1)
        head.proj = nn.Identity()
        self.stem = net.blocks[0]
        self.stages = nn.ModuleList(net.blocks[1:-1])
        self.after_stage = nn.ModuleList(nn.Identity() for _ in self.stages)
        self.head = head
        self.feature_dim = self.head_dim_out
        self.feature_point: Literal["after_dropout", "before_dropout"] = "after_dropout"
        self.frames = frames
        self.classifier = nn.Linear(self.head_dim_out, num_classes)
        if options.pretrained:
            self.load_pretrained(options.pretrained)

    def configure_kernels(self, device_type: str) -> dict[str, str]:
        """Choose the convolution kernels of ``options.depthwise`` / ``pointwise`` for ``device_type``; return the
        choice (``{"depthwise": name, "pointwise": name}``)."""
        return choose_kernels(self, self.options.depthwise, self.options.pointwise, device_type)

    def stage_frames(self) -> list[int]:
        """Return the frame count T each stage outputs: X3D keeps T through its stages."""
        return [self.frames] * len(self.stages)

    def stage_channels(self) -> list[int]:
        """Return the output channel count of each stage (what an ``after_stage`` module sees)."""
        stages: list[Any] = list(self.stages)  # pytorchvideo's ResStages, whose submodules torch cannot type
        return [stage.res_blocks[-1].branch2.conv_c.out_channels for stage in stages]

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (logits, features); the features are the head's output (after its ReLU and dropout),
        or its input to dropout when ``feature_point`` is ``"before_dropout"`` (the logits are the same)."""
        x = self.stem(clips)
        for stage, after in zip(self.stages, self.after_stage):
            x = after(stage(x))
        if self.feature_point == "after_dropout":
            features = self.head(x)
            return self.classifier(features), features
        pooled = self.head.pool(x)
        dropped = pooled if self.head.dropout is None else self.head.dropout(pooled)
        return self.classifier(self._flat(dropped)), self._flat(pooled)

    def _flat(self, pooled: torch.Tensor) -> torch.Tensor:
        """Return the head's global average of ``pooled`` as (B, C), as pytorchvideo's head ends."""
        return self.head.output_pool(pooled).flatten(1)


def _swish_to_silu(net: nn.Module) -> None:
    """Replace every pytorchvideo ``Swish`` in ``net`` by ``nn.SiLU`` (the same function, one fused kernel)."""
    swish = import_pytorchvideo("pytorchvideo.layers.swish").Swish
    for module in list(net.modules()):
        for name, child in module.named_children():
            if isinstance(child, swish):
                setattr(module, name, nn.SiLU())


@BACKBONES.register("x3d_tiny")
class X3DTiny(X3D):
    """A narrow, shallow X3D that trains at small clip sizes on a 2-core CPU."""

    width_factor = 1.0
    depth_factor = 1.0
    head_dim_out = 256


@BACKBONES.register("x3d_xs")
class X3DXS(X3D):
    """X3D-XS (trained at 4 × 160²)."""


@BACKBONES.register("x3d_s")
class X3DS(X3D):
    """X3D-S (trained at 13 × 160²)."""


@BACKBONES.register("x3d_m")
class X3DM(X3D):
    """X3D-M (trained at 16 × 224²)."""
