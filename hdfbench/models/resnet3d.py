"""The DFEW paper's 3-D ResNet baselines: ``r3d_18`` and ``r2plus1d_18`` (Tran et al., CVPR 2018).

The architectures of torchvision's ``r3d_18`` / ``r2plus1d_18`` (written here: hdfbench does not depend on
torchvision), with the same module names, so a torchvision-layout state dict (its Kinetics-400 files)
loads key for key; only its 400-way ``fc`` is left out, for hdfbench's own ``classifier``. Four stages
(``layer1…4``, 64/128/256/512 channels) each end in an ``after_stage`` slot (identity by default) where a
strategy may insert a module such as HDF's DAM; the pooled 512-d embedding is the feature vector.

- **stem**: R3D a 3 × 7 × 7 convolution, stride (1, 2, 2); R(2+1)D a 1 × 7 × 7 spatial convolution to 45
  channels and a 3 × 1 × 1 temporal one to 64, each followed by BatchNorm + ReLU.
- **blocks** (two per stage): conv–BN–ReLU, conv–BN, plus the shortcut (a strided 1 × 1 × 1 convolution + BN
  where the shape changes), ReLU. R3D's conv is 3 × 3 × 3; R(2+1)D's factorises it into a 1 × 3 × 3 spatial
  convolution to M channels, BN, ReLU and a 3 × 1 × 1 temporal one, M = ⌊27·C_in·C_out / (9·C_in + 3·C_out)⌋
  of the block's input and output widths (both convolutions of a block use the block's M), so the parameter
  count matches the 3-D kernel's. Stages 2–4 halve T, H and W.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field
from torch import nn

from hdfbench.models.backbone import BACKBONES, Backbone
from hdfbench.schema import LocalPath, StrictModel

STAGE_WIDTHS = (64, 128, 256, 512)
BLOCKS_PER_STAGE = 2


class ResNet3DOptions(StrictModel):
    """Options of the 3-D ResNet backbones."""

    dropout: float = Field(0.0, ge=0, lt=1, description="dropout on the pooled features before the classifier")
    pretrained: LocalPath | None = Field(
        None, description="local path to torchvision-layout weights (r3d_18-b3b3357e.pth, r2plus1d_18-91a641e6.pth)"
    )


def conv_bn_relu(conv: nn.Module, channels: int) -> list[nn.Module]:
    """Return ``[conv, BatchNorm3d(channels), ReLU]``."""
    return [conv, nn.BatchNorm3d(channels), nn.ReLU(inplace=True)]


def full_conv(c_in: int, c_out: int, stride: int) -> nn.Module:
    """Return R3D's 3 × 3 × 3 convolution (no bias), stride ``stride`` in every dimension."""
    return nn.Conv3d(c_in, c_out, 3, stride=stride, padding=1, bias=False)


def factorised_conv(c_in: int, c_out: int, mid: int, stride: int) -> nn.Module:
    """Return R(2+1)D's convolution: 1 × 3 × 3 to ``mid`` channels, BN, ReLU, then 3 × 1 × 1 to ``c_out``."""
    spatial = nn.Conv3d(c_in, mid, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False)
    temporal = nn.Conv3d(mid, c_out, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False)
    return nn.Sequential(*conv_bn_relu(spatial, mid), temporal)


class Block(nn.Module):
    """A basic residual block: ``conv1`` (conv, BN, ReLU), ``conv2`` (conv, BN), the shortcut ``downsample``
    where the shape changes, the sum, ReLU; returns a tensor of ``c_out`` channels."""

    def __init__(self, c_in: int, c_out: int, stride: int, factorised: bool):
        super().__init__()
        mid = (c_in * c_out * 27) // (c_in * 9 + 3 * c_out)

        def conv(a: int, b: int, s: int) -> nn.Module:
            return factorised_conv(a, b, mid, s) if factorised else full_conv(a, b, s)

        self.conv1 = nn.Sequential(*conv_bn_relu(conv(c_in, c_out, stride), c_out))
        self.conv2 = nn.Sequential(conv(c_out, c_out, 1), nn.BatchNorm3d(c_out))
        self.downsample: nn.Module | None = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv3d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm3d(c_out))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.conv2(self.conv1(x)) + shortcut)


class VideoResNet18(Backbone):
    """An 18-layer 3-D ResNet; ``factorised`` selects R(2+1)D's convolutions and stem."""

    Options = ResNet3DOptions
    capabilities = frozenset({"stages"})
    factorised: ClassVar[bool] = False

    def __init__(self, num_classes: int, frames: int, size: int, options: ResNet3DOptions):
        super().__init__()
        self.options, self.frames = options, frames
        self.stem = self.make_stem()
        widths = (STAGE_WIDTHS[0], *STAGE_WIDTHS)
        for i in range(len(STAGE_WIDTHS)):
            blocks = [Block(widths[i], widths[i + 1], 1 if i == 0 else 2, self.factorised)]
            blocks += [Block(widths[i + 1], widths[i + 1], 1, self.factorised) for _ in range(BLOCKS_PER_STAGE - 1)]
            self.add_module(f"layer{i + 1}", nn.Sequential(*blocks))
        self.after_stage = nn.ModuleList(nn.Identity() for _ in STAGE_WIDTHS)
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(options.dropout)
        self.feature_dim = STAGE_WIDTHS[-1]
        self.classifier = nn.Linear(self.feature_dim, num_classes)
        self._initialise(self.classifier)
        if options.pretrained:
            self.load_pretrained(options.pretrained)

    def make_stem(self) -> nn.Sequential:
        """Return the stem (R3D's one 3-D convolution; R(2+1)D overrides)."""
        return nn.Sequential(*conv_bn_relu(nn.Conv3d(3, 64, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False), 64))

    def _initialise(self, classifier: nn.Linear) -> None:
        """Initialise as torchvision does: He (fan-out) convolutions, BatchNorm 1 / 0, the classifier N(0, 0.01)."""
        for m in self.modules():
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(classifier.weight, 0, 0.01)
        nn.init.zeros_(classifier.bias)

    def stages(self) -> list[nn.Module]:
        """Return the four stages, in order."""
        return [getattr(self, f"layer{i + 1}") for i in range(len(STAGE_WIDTHS))]

    def stage_channels(self) -> list[int]:
        """Return the output channel count of each stage (what an ``after_stage`` module sees)."""
        return list(STAGE_WIDTHS)

    def stage_frames(self) -> list[int]:
        """Return the frame count T each stage outputs (stages 2–4 halve it, rounding up)."""
        frames = [self.frames]
        for _ in STAGE_WIDTHS[1:]:
            frames.append((frames[-1] + 1) // 2)
        return frames

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (logits (B, C), pooled features (B, 512)) of clips (B, 3, T, H, W)."""
        x = self.stem(clips)
        for stage, after in zip(self.stages(), self.after_stage):
            x = after(stage(x))
        features = self.dropout(self.pool(x).flatten(1))
        return self.classifier(features), features


@BACKBONES.register("r3d_18")
class R3D18(VideoResNet18):
    """R3D-18: 3 × 3 × 3 convolutions throughout (the DFEW paper's 3D ResNet-18 baseline)."""


@BACKBONES.register("r2plus1d_18")
class R2Plus1D18(VideoResNet18):
    """R(2+1)D-18: every 3-D convolution factorised into a spatial and a temporal one."""

    factorised = True

    def make_stem(self) -> nn.Sequential:
        """Return R(2+1)D's stem: 1 × 7 × 7 to 45 channels, BN, ReLU, 3 × 1 × 1 to 64, BN, ReLU."""
        spatial = nn.Conv3d(3, 45, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False)
        temporal = nn.Conv3d(45, 64, (3, 1, 1), (1, 1, 1), (1, 0, 0), bias=False)
        return nn.Sequential(*conv_bn_relu(spatial, 45), *conv_bn_relu(temporal, 64))
