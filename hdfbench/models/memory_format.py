"""Whether channels_last_3d gives correct gradients for X3D's convolutions on this machine.

channels_last_3d is a speed option only, so a kernel that computes wrong gradients in that layout
must never be used. One is known: on an AMD Zen 5 CPU (avx512_bf16) with torch 2.13, the bfloat16
backward of a depthwise temporal convolution (X3D's ``conv_t``) in channels_last_3d returns a weight
gradient 25 % off the float32 one, and the stem's ``conv_xy`` gradient is sometimes ~1e35. The probe
below compares that layout with the contiguous one, under the same autocast, on a miniature X3D stem.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

#: Largest relative difference ‖g_cl − g‖ / ‖g‖ accepted between the two layouts' gradients (bf16
#: rounding alone stays below 1e-2 on these shapes).
TOLERANCE = 0.05


def _stem_gradients(device_type: str, dtype: torch.dtype | None, channels_last: bool) -> list[torch.Tensor]:
    """Return the weight gradients of a miniature X3D stem (conv_xy, then depthwise conv_t).

    The global RNG is left as it was: the probe runs in the first run of a process only, and a run's
    draws must not depend on whether it was the first (Ray reuses trial processes)."""
    with torch.random.fork_rng(devices=[]):
        return _stem_gradients_unseeded(device_type, dtype, channels_last)


def _stem_gradients_unseeded(device_type: str, dtype: torch.dtype | None, channels_last: bool) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    xy = nn.Conv3d(3, 24, (1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1), bias=False)
    t = nn.Conv3d(24, 24, (5, 1, 1), padding=(2, 0, 0), groups=24, bias=False)
    with torch.no_grad():
        for conv in (xy, t):
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.2)
    stem = nn.Sequential(xy, t).to(device_type)
    clips = torch.rand((8, 3, 4, 32, 32), generator=generator).to(device_type)
    if channels_last:
        stem = stem.to(memory_format=torch.channels_last_3d)  # type: ignore[call-overload]  # torch's stubs omit it
        clips = clips.contiguous(memory_format=torch.channels_last_3d)
    with torch.autocast(device_type, dtype=dtype, enabled=dtype is not None):
        out = stem(clips)
    out.float().square().mean().backward()
    gradients: list[torch.Tensor] = []
    for conv in (xy, t):
        assert conv.weight.grad is not None, "backward() gives every weight a gradient"
        gradients.append(conv.weight.grad.detach().float().cpu())
    return gradients


@functools.cache
def channels_last_problem(device_type: str, dtype: torch.dtype | None) -> str | None:
    """Return why channels_last_3d is unsafe for training on ``device_type`` under autocast ``dtype``
    (None: safe); computed once per process and (device type, dtype)."""
    reference = _stem_gradients(device_type, dtype, channels_last=False)
    probed = _stem_gradients(device_type, dtype, channels_last=True)
    for name, ref, grad in zip(("conv_xy", "conv_t"), reference, probed):
        error = float((grad - ref).norm() / ref.norm().clamp_min(1e-12))
        if not error <= TOLERANCE:  # also catches NaN
            precision = "float32" if dtype is None else str(dtype).removeprefix("torch.")
            return (
                f"on this {device_type} with {precision}, torch {torch.__version__}'s channels_last_3d "
                f"backward of X3D's {name} differs from the contiguous one by {error:.3g} (relative)"
            )
    return None
