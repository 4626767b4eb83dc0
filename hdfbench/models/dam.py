"""DAM, HDF's time-frequency distributional attention module (Cui et al., ACM MM 2025,
https://arxiv.org/abs/2507.15765; what was taken from the paper and the released code: docs/hdf.md, choice 5).

A shape-preserving residual re-weighting of an X3D stage output ``x`` of shape (B, C, T, H, W):

- **temporal branch**: per-frame channel-group statistics (avg and max over S = T adaptive channel
  groups and all of H, W), the "robust" fusion R = sigmoid(Γ⊙(α_r·A + β_r·M) + D⊙d − Δ), a bias-free
  Linear over time, single-head self-attention over the T frames, and a per-frame gate
  g = sigmoid(mean over groups): X_t = (1 + g)·X;
- **frequency branch**: the clip averaged over time, a fixed 7×7 DCT-II bank (49 filters), a learned
  sign-aligned "perturbation", an adaptive tanh normaliser and a 7×7 conv to one spatial map Φ:
  X_s = (1 + sigmoid(Φ))·X;
- **fusion**: Y = (w_t·X_t + w_s·X_s) / 2 with learnable scalars (0.8, 0.3 at init).

Both branches only scale X, so the module computes one (B, 1, T, H, W) scale map and multiplies X once.
The released module works time-first (T, B, C, H, W); X3D's layout is (B, C, T, H, W), and every
operation here is the same one on the other axis order, so no permute is needed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: Side of the DCT bank's kernels; the bank has ``DCT_SIZE ** 2`` filters.
DCT_SIZE = 7


def dct_bank(size: int = DCT_SIZE) -> torch.Tensor:
    """Return the orthonormal 2-D DCT-II basis as a (size², size, size) tensor.

    Filter k = size·a + b is ``c_b cos(π b (i+½)/size) · c_a cos(π a (j+½)/size)`` at row i, column j
    (b is the vertical frequency, a the horizontal one), c_0 = √(1/size), c_m = √(2/size); k = 0 is
    the constant filter. This is FSTA-SNN's hard-coded ``DCT7x7`` table computed from its formula.
    """
    index = torch.arange(size, dtype=torch.float64)
    basis = torch.cos(math.pi * index[:, None] * (index[None, :] + 0.5) / size)
    basis *= torch.full((size, 1), math.sqrt(2 / size), dtype=torch.float64)
    basis[0] = math.sqrt(1 / size)
    bank = torch.einsum("bi,aj->abij", basis, basis)
    return bank.reshape(size * size, size, size).float()


class RobustFusion(nn.Module):
    """The released "LocalGlobalRobustModule": R = sigmoid(Γ⊙F + D⊙d − Δ) on (B, T, S) statistics."""

    def __init__(self, frames: int, groups: int):
        super().__init__()
        self.alpha = nn.Parameter(torch.tensor(0.5))
        self.beta = nn.Parameter(torch.tensor(0.5))
        self.gamma = nn.Parameter(torch.ones(frames, groups))
        self.delta = nn.Parameter(torch.zeros(frames, groups))

    def forward(self, avg: torch.Tensor, peak: torch.Tensor) -> torch.Tensor:
        """Return R in (0, 1), the shape of ``avg`` (B, T, S)."""
        # vector_norm's gradient at a zero spread is 0, where sqrt(sum(...)) would give NaN.
        spread = torch.linalg.vector_norm(avg - avg.mean(-1, keepdim=True), dim=-1, keepdim=True)
        fused = self.alpha * avg + self.beta * peak
        # "temporal_diff" as coded: along the channel-group axis, zero for the first group.
        diff = F.pad((avg[..., 1:] - avg[..., :-1]).abs(), (1, 0))
        return torch.sigmoid(self.gamma * fused + self.delta * spread - diff)


class TemporalGate(nn.Module):
    """The temporal branch up to its gate: returns g in (0, 1) of shape (B, T)."""

    def __init__(self, frames: int):
        super().__init__()
        self.frames = groups = frames
        self.robust = RobustFusion(frames, groups)
        self.fc_t = nn.Linear(frames, frames, bias=False)
        self.qkv = nn.Linear(groups, 3 * groups)  # the released Q, K, V Linear(S, S) layers, stacked

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        per_channel_mean = x.mean(dim=(3, 4)).transpose(1, 2)  # (B, T, C)
        per_channel_max = x.amax(dim=(3, 4)).transpose(1, 2)
        # Equal-size adaptive channel groups of equal-size H×W maps: mean of means = mean over the group.
        avg = F.adaptive_avg_pool1d(per_channel_mean, self.frames)
        peak = F.adaptive_max_pool1d(per_channel_max, self.frames)
        r = self.robust(avg, peak)
        r = self.fc_t(r.transpose(1, 2)).transpose(1, 2)  # mixes frames
        z = F.scaled_dot_product_attention(*self.qkv(r).chunk(3, dim=-1))
        return torch.sigmoid(z.mean(-1))


class FrequencyGate(nn.Module):
    """The frequency branch up to its attention map: returns Φ of shape (B, 1, H, W)."""

    perturbation_scale = 0.05
    bank: torch.Tensor  # a buffer (registered in __init__)

    def __init__(self, reduction: int = 1):
        super().__init__()
        k = DCT_SIZE * DCT_SIZE
        self.register_buffer("bank", dct_bank()[:, None], persistent=False)
        self.noise = nn.Parameter(torch.randn(1, k, 1, 1) * 0.1)
        self.amplitude = nn.Parameter(torch.ones(1, k, 1, 1))
        self.spread_weight = nn.Parameter(torch.zeros(1, k, 1, 1))
        self.mix_clean = nn.Parameter(torch.tensor(0.5))
        self.mix_adv = nn.Parameter(torch.tensor(0.5))
        self.tanh_alpha = nn.Parameter(torch.tensor(0.5))
        self.tanh_gamma = nn.Parameter(torch.ones(1, k, 1, 1))
        self.tanh_beta = nn.Parameter(torch.zeros(1, k, 1, 1))
        pad = DCT_SIZE // 2
        if reduction == 1:
            self.attention: nn.Module = nn.Conv2d(k, 1, DCT_SIZE, padding=pad, bias=False)
        else:
            self.attention = nn.Sequential(
                nn.Conv2d(k, k // reduction, DCT_SIZE, padding=pad, bias=False),
                nn.ReLU(inplace=True),
                nn.Conv2d(k // reduction, 1, DCT_SIZE, padding=pad, bias=False),
            )

    def dct(self, mean_clip: torch.Tensor) -> torch.Tensor:
        """Return the sliding DCT (B, 49, H, W) of a (B, C, H, W) map.

        The released conv copies each 7×7 filter over all C input channels, which is the same as
        filtering the channel-sum image once.
        """
        return F.conv2d(mean_clip.sum(1, keepdim=True), self.bank, padding=DCT_SIZE // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.dct(x.mean(2))
        spread = torch.linalg.vector_norm(u - u.mean((2, 3), keepdim=True), dim=(2, 3), keepdim=True)
        # U_adv = U + sign(U)·(n·a + 0.05·β·r); (α_f·U + β_f·U_adv)/2 gathered into one scale and one offset
        offset = self.noise * self.amplitude + self.perturbation_scale * self.spread_weight * spread  # (B, 49, 1, 1)
        mixed = ((self.mix_clean + self.mix_adv) * u + self.mix_adv * offset * torch.sign(u)) / 2
        centred = mixed - mixed.mean(1, keepdim=True)  # unbiased variance over the 49 frequencies
        sigma = torch.sqrt(centred.square().sum(1, keepdim=True) / (mixed.shape[1] - 1) + 1e-6)
        fitted = torch.tanh(self.tanh_alpha / (sigma + 1e-6) * mixed) * self.tanh_gamma + self.tanh_beta
        return self.attention(fitted)


class DAM(nn.Module):
    """Time-frequency distributional attention on (B, C, T, H, W); returns a tensor of that shape.

    ``frames`` must equal the runtime T (the temporal parameters are T×T). ``channels`` is kept for
    the interface of the released module; DAM's parameters do not depend on it.
    """

    def __init__(self, channels: int, frames: int, reduction: int = 1):
        super().__init__()
        if frames < 1 or reduction < 1:
            raise ValueError(f"DAM needs frames ≥ 1 and reduction ≥ 1, got frames={frames}, reduction={reduction}")
        self.channels, self.frames = channels, frames
        self.temporal = TemporalGate(frames)
        self.frequency = FrequencyGate(reduction)
        self.weight_t = nn.Parameter(torch.tensor(0.8))
        self.weight_s = nn.Parameter(torch.tensor(0.3))

    def extra_repr(self) -> str:
        return f"channels={self.channels}, frames={self.frames}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5 or x.shape[2] != self.frames:
            raise ValueError(
                f"DAM built for {self.frames} frames expects (B, C, {self.frames}, H, W), got {tuple(x.shape)}"
            )
        g = self.temporal(x)[:, None, :, None, None]  # (B, 1, T, 1, 1)
        phi = self.frequency(x)[:, :, None]  # (B, 1, 1, H, W)
        scale = (self.weight_t * (1 + g) + self.weight_s * (1 + torch.sigmoid(phi))) / 2
        return x * scale
