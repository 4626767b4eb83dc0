"""Spatial transforms of one clip, in torch: resize, random resized crop, flip, colour jitter (incl. hue).

A clip is uint8 (T, H, W, 3). Training augmentation draws one parameter set per clip (the same
crop, flip and jitter for every frame) from a NumPy generator, so it is reproducible per clip.
Drawing (``draw_params``) and applying (``apply_augment``) are apart: the loader's workers may draw
and the device that trains apply, batched (``training.augment_on``), with the same result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

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
_YIQ_INV = torch.linalg.inv(_YIQ)


@dataclass
class AugmentParams:
    """The random parameters of B clips' augmentation (``draw_params``) and the output side ``size``.

    ``boxes`` (B, 4) int64 holds each crop's top, left, height and width in its clip's frames,
    ``flip`` (B,) bool the horizontal flips, ``factors`` (B, 3) float32 the brightness, contrast and
    saturation factors, ``hue`` (B,) float32 the hue rotations in turns (None: hue jitter is off).
    """

    size: int
    boxes: torch.Tensor
    flip: torch.Tensor
    factors: torch.Tensor
    hue: torch.Tensor | None = None

    def to(self, device: torch.device) -> AugmentParams:
        """Return these parameters with the colour ones on ``device``.

        Boxes and flips stay on the host, where they choose each clip's slice: reading them back
        from a GPU would wait for it every batch.
        """
        hue = None if self.hue is None else self.hue.to(device, non_blocking=True)
        return replace(self, factors=self.factors.to(device, non_blocking=True), hue=hue)

    def pin_memory(self) -> AugmentParams:
        """Return these parameters with the ones that travel to the device (``to``) page-locked."""
        return replace(self, factors=self.factors.pin_memory(), hue=None if self.hue is None else self.hue.pin_memory())


def _to_float(clip: torch.Tensor) -> torch.Tensor:
    """Return uint8 frames (T, H, W, 3) as float (T, 3, H, W) laid out channels-last."""
    # the layout picks the interpolation kernel, whose rounding differs: it stays that of earlier releases
    return clip.contiguous().permute(0, 3, 1, 2).float()


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    return x.clamp_(0, 255).round_().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def resize(clip: np.ndarray, size: int) -> np.ndarray:
    """Return ``clip`` resized to uint8 (T, size, size, 3) (bilinear, antialiased)."""
    if clip.shape[1] == size and clip.shape[2] == size:
        return clip
    x = F.interpolate(
        _to_float(torch.from_numpy(np.ascontiguousarray(clip))),
        size=(size, size),
        mode="bilinear",
        align_corners=False,
        antialias=True,
    )
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
    """Return (B, 3, 3) RGB matrices rotating hue by ``turns`` (B,) of a full circle in YIQ space, on
    the device of ``turns``."""
    cos, sin = torch.cos(2 * math.pi * turns), torch.sin(2 * math.pi * turns)
    rotation = torch.zeros(len(turns), 3, 3, device=turns.device)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2], rotation[:, 2, 1], rotation[:, 2, 2] = cos, -sin, sin, cos
    return _YIQ_INV.to(turns.device) @ rotation @ _YIQ.to(turns.device)


def _rotate_hue(x: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Return clips x (B, T, 3, H, W) with their hue rotated by ``turns`` (B,)."""
    return torch.einsum("bij,btjhw->btihw", hue_matrices(turns), x)


def _draw_one(
    height: int, width: int, opts: AugmentOptions, rng: np.random.Generator
) -> tuple[tuple[int, int, int, int], bool, list[float], float]:
    """Return one clip's (crop box, flip, jitter factors, hue turns), drawn from ``rng`` in this order
    (the order of every release so far: a change would change every augmented clip)."""
    box = crop_box(height, width, opts.crop_scale, opts.crop_ratio, rng)
    flip = bool(rng.random() < opts.flip)
    factors = [rng.uniform(1 - v, 1 + v) for v in (opts.brightness, opts.contrast, opts.saturation)]
    hue = rng.uniform(-opts.hue, opts.hue) if opts.hue > 0 else 0.0
    return box, flip, factors, hue


def draw_params(
    shapes: Sequence[tuple[int, int]], size: int, opts: AugmentOptions, rngs: Sequence[np.random.Generator]
) -> AugmentParams:
    """Return the augmentation parameters of clips whose frames are ``shapes[k]`` = (height, width) and
    come out ``size``², clip k's drawn from ``rngs[k]``."""
    draws = [_draw_one(h, w, opts, rng) for (h, w), rng in zip(shapes, rngs, strict=True)]
    return AugmentParams(
        size,
        torch.tensor([d[0] for d in draws], dtype=torch.int64).reshape(-1, 4),
        torch.tensor([d[1] for d in draws], dtype=torch.bool),
        torch.tensor([d[2] for d in draws], dtype=torch.float32).reshape(-1, 3),
        torch.tensor([d[3] for d in draws], dtype=torch.float32) if opts.hue > 0 else None,
    )


def _crop_resize_flip(clip: torch.Tensor, box: list[int], flip: bool, size: int) -> torch.Tensor:
    """Return uint8 frames (T, H, W, 3) cropped to ``box``, resized to float (T, 3, size, size), flipped if ``flip``."""
    top, left, h, w = box
    x = _to_float(clip[:, top : top + h, left : left + w])
    # antialiasing only matters when shrinking, and costs more than the resize itself when not
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=max(h, w) > size)
    return x.flip(-1) if flip else x


def view_boxes(size: int, views: int, area: float) -> list[tuple[int, int, int, int]]:
    """Return the (top, left, h, w) crops of ``views`` spatial test views of ``size``² frames: squares of
    area fraction ``area`` spread evenly along the diagonal from the top-left to the bottom-right corner.

    The 3-crop convention of video models (crops along the longer side) gives one crop ``views`` times on
    square face frames, so the views here move along both sides; one view is the whole frame."""
    if views == 1:
        return [(0, 0, size, size)]
    side = max(1, round(size * math.sqrt(area)))
    offsets = [round(j * (size - side) / (views - 1)) for j in range(views)]
    return [(o, o, side, side) for o in offsets]


def crop_view(clips: torch.Tensor, box: tuple[int, int, int, int]) -> torch.Tensor:
    """Return uint8 clips (B, T, H, W, 3) cropped to ``box`` and resized back to H × W (as training crops are:
    bilinear, rounded to uint8), on the clips' device; the whole frame returns ``clips`` itself."""
    size = clips.shape[2]
    if tuple(box) == (0, 0, size, clips.shape[3]):
        return clips
    x = torch.stack([_crop_resize_flip(clip, list(box), False, size) for clip in clips])
    return x.clamp_(0, 255).round_().to(torch.uint8).permute(0, 1, 3, 4, 2).contiguous()


def apply_augment(clips: torch.Tensor | Sequence[torch.Tensor], params: AugmentParams) -> torch.Tensor:
    """Return uint8 clips (B, T, size, size, 3), contiguous, on the clips' device: clip k (uint8
    (T, H_k, W_k, 3); a (B, T, H, W, 3) tensor holds B of them) cropped, resized and flipped as
    ``params`` says, then the whole batch colour-jittered and hue-rotated at once."""
    crops = zip(clips, params.boxes.tolist(), params.flip.tolist(), strict=True)
    x = torch.stack([_crop_resize_flip(clip, box, flip, params.size) for clip, box, flip in crops])
    x = _jitter(x, params.factors.to(x.device))
    if params.hue is not None:
        x = _rotate_hue(x, params.hue.to(x.device))
    x = x.clamp_(0, 255).round_().to(torch.uint8)
    return x.permute(0, 1, 3, 4, 2).contiguous()


def augment_batch(
    clips: list[np.ndarray], size: int, opts: AugmentOptions, rngs: list[np.random.Generator]
) -> np.ndarray:
    """Return clips augmented with one random resized crop, flip and colour jitter each (clip k drawn
    from ``rngs[k]``), as uint8 (B, T, size, size, 3): ``draw_params`` then ``apply_augment``."""
    params = draw_params([(c.shape[1], c.shape[2]) for c in clips], size, opts, rngs)
    return apply_augment([torch.from_numpy(np.ascontiguousarray(c)) for c in clips], params).numpy()


def augment(clip: np.ndarray, size: int, opts: AugmentOptions, rng: np.random.Generator) -> np.ndarray:
    """Return ``clip`` with one random resized crop, flip and colour jitter, as uint8 (T, size, size, 3)."""
    return augment_batch([clip], size, opts, [rng])[0]
