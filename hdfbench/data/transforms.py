"""Spatial transforms of one clip, in torch: resize, random resized crop, flip, colour jitter (incl. hue).

A clip is uint8 (T, H, W, 3). Training augmentation draws one parameter set per clip (the same
crop, flip and jitter for every frame) from a NumPy generator, so it is reproducible per clip.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from hdfbench.schema import StrictModel


class AugmentOptions(StrictModel):
    """Training augmentation of real datasets (one parameter set per clip)."""

    enabled: bool = Field(default=True, description="apply augmentation to training clips")
    crop_scale: tuple[float, float] = Field(default=(0.6, 1.0), description="area fraction range of the random crop")
    crop_ratio: tuple[float, float] = Field(default=(3 / 4, 4 / 3), description="aspect ratio range of the random crop")
    flip: float = Field(default=0.5, ge=0, le=1, description="probability of a horizontal flip")
    brightness: float = Field(default=0.2, ge=0, le=1, description="brightness factor drawn from [1-b, 1+b]")
    contrast: float = Field(default=0.2, ge=0, le=1, description="contrast factor drawn from [1-c, 1+c]")
    saturation: float = Field(default=0.2, ge=0, le=1, description="saturation factor drawn from [1-s, 1+s]")
    hue: float = Field(default=0.0, ge=0, le=0.5, description="hue rotation drawn from [-h, h] turns (0: off)")


#: RGB → YIQ; a hue shift is a rotation of the (I, Q) chroma plane, which keeps luma Y.
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def _to_float(clip: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2).float()  # (T, 3, H, W)


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return x.clamp_(0, 255).round_().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def resize(clip: np.ndarray, size: int) -> np.ndarray:
    """Return ``clip`` resized to uint8 (T, size, size, 3) (bilinear, antialiased)."""
    if clip.shape[1] == size and clip.shape[2] == size:
        return clip
    x = F.interpolate(_to_float(clip), size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return _to_uint8(x)


def crop_box(
    height: int, width: int, scale: tuple[float, float], ratio: tuple[float, float], rng: np.random.Generator
) -> tuple[int, int, int, int]:
    """Return (top, left, h, w) of a random crop with area fraction in ``scale`` and aspect in ``ratio``."""
    area = height * width
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(math.log(ratio[0]), math.log(ratio[1])))
        w, h = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    side = min(height, width)  # fall back to the central square
    return (height - side) // 2, (width - side) // 2, side, side


def _jitter(x: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Return clips x (B, T, 3, H, W) with per-clip brightness, contrast, saturation factors (B, 3)."""
    b, c, s = (factors[:, k].view(-1, 1, 1, 1, 1) for k in range(3))
    x = x * b
    mean = x.mean(dim=(2, 3, 4), keepdim=True)
    x = (x - mean) * c + mean
    grey = 0.299 * x[:, :, 0:1] + 0.587 * x[:, :, 1:2] + 0.114 * x[:, :, 2:3]
    return (x - grey) * s + grey


def hue_matrices(turns: torch.Tensor) -> torch.Tensor:
    """Return (B, 3, 3) RGB matrices rotating hue by ``turns`` (B,) of a full circle in YIQ space."""
    cos, sin = torch.cos(2 * math.pi * turns), torch.sin(2 * math.pi * turns)
    rotation = torch.zeros(len(turns), 3, 3)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2], rotation[:, 2, 1], rotation[:, 2, 2] = cos, -sin, sin, cos
    return torch.linalg.inv(_YIQ) @ rotation @ _YIQ


def _rotate_hue(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Return clips x (B, T, 3, H, W) with their hue rotated by ``turns`` (B,)."""
    return torch.einsum("bij,btjhw->btihw", hue_matrices(turns), x)


def _crop_resize_flip(clip: np.ndarray, size: int, opts: AugmentOptions, rng: np.random.Generator) -> torch.Tensor:
    top, left, h, w = crop_box(clip.shape[1], clip.shape[2], opts.crop_scale, opts.crop_ratio, rng)
    flip = rng.random() < opts.flip
    x = _to_float(clip[:, top : top + h, left : left + w])
    # antialiasing only matters when shrinking, and costs more than the resize itself when not
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=max(h, w) > size)
    return x.flip(-1) if flip else x


def augment_batch(
    clips: list[np.ndarray], size: int, opts: AugmentOptions, rngs: list[np.random.Generator]
) -> np.ndarray:
    """Return clips augmented with one random resized crop, flip and colour jitter each (clip k drawn
    from ``rngs[k]``), as uint8 (B, T, size, size, 3); the per-clip ops run once for the whole batch."""
    x = torch.stack([_crop_resize_flip(c, size, opts, r) for c, r in zip(clips, rngs)])
    factors = torch.tensor(
        [[r.uniform(1 - v, 1 + v) for v in (opts.brightness, opts.contrast, opts.saturation)] for r in rngs],
        dtype=torch.float32,
    )
    x = _jitter(x, factors)
    if opts.hue > 0:
        x = _rotate_hue(x, torch.tensor([r.uniform(-opts.hue, opts.hue) for r in rngs], dtype=torch.float32))
    x = x.clamp_(0, 255).round_().to(torch.uint8)
    return x.permute(0, 1, 3, 4, 2).numpy()


def augment(clip: np.ndarray, size: int, opts: AugmentOptions, rng: np.random.Generator) -> np.ndarray:
    """Return ``clip`` with one random resized crop, flip and colour jitter, as uint8 (T, size, size, 3)."""
    return augment_batch([clip], size, opts, [rng])[0]
