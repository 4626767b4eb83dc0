"""X3D's convolutions with a choice of kernel: the same function, computed by whichever code is fastest here.

Two kinds are switchable, each by a model option (``model.options.depthwise`` / ``pointwise``):

- **depthwise** (X3D's 3 × 3 × 3 ``conv_b``, groups = channels): implementations are registered in
  ``DEPTHWISE`` as functions ``(x, weight, stride, padding) -> y`` with ``F.conv3d``'s meaning (no bias,
  groups = channels). ``native`` is ``F.conv3d``; ``flipgrad`` the same forward with a backward that computes
  the input gradient as a forward convolution with the flipped kernel (PyTorch's depthwise input-gradient
  kernels are several times slower than its forward); ``frames2d`` the kernel as a 2-D depthwise convolution
  with channel multiplier k_t over the B·T frames, followed by a temporally shifted sum; ``triton`` (CUDA, registered
  where Triton is installed) three Triton kernels behind one ``torch.library`` op (models/depthwise_triton.py).
- **pointwise** (the 1 × 1 × 1 convolutions): ``native`` is ``F.conv3d``; ``matmul`` is one ``F.linear`` over the
  channel axis, taken when the input is in channels_last_3d (where that axis is innermost, so the view needs no
  copy) and the plain convolution otherwise.

The modules subclass ``nn.Conv3d`` and keep its parameters and state_dict keys, so checkpoints and pretrained
weights load unchanged. ``auto`` picks per device type from measurements (docs/performance.md): on the CPU
``flipgrad`` depthwise (the ERM step 0.90 → 0.78× the bare loop's; ``frames2d`` measured 1.0–2.6× slower than
``native``) and ``matmul`` pointwise (1.3–2.0× faster than oneDNN's 1 × 1 × 1 convolution); on CUDA ``native``
both until ``benchmarks/gpu/run.sh`` has measured the alternatives on a GPU. Kernel choices change rounding,
not the method, so they are not part of a run's identity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import nn

from hdfbench.registry import Registry

#: ``(x (B, C, T, H, W), weight (C, 1, kT, kH, kW), stride, padding) -> y``: one depthwise 3-D convolution.
DepthwiseImpl = Callable[[torch.Tensor, torch.Tensor, tuple[int, int, int], tuple[int, int, int]], torch.Tensor]

DEPTHWISE: Registry[DepthwiseImpl] = Registry("depthwise convolution")
#: The ``pointwise`` setting: ``auto`` or an implementation.
Pointwise = Literal["auto", "native", "matmul"]
POINTWISE_CHOICES: tuple[str, ...] = get_args(Pointwise)

#: Kernels that run on some device types only (the others run everywhere).
DEVICE_TYPES = {"triton": ("cuda",)}

#: What ``auto`` means per device type (measured: docs/performance.md).
AUTO_DEPTHWISE = {"cpu": "flipgrad", "cuda": "native"}
AUTO_POINTWISE = {"cpu": "matmul", "cuda": "native"}


@DEPTHWISE.register("native")
def native_depthwise(
    x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int, int], padding: tuple[int, int, int]
) -> torch.Tensor:
    """Return PyTorch's own depthwise convolution of ``x`` (``F.conv3d`` with groups = channels)."""
    return F.conv3d(x, weight, None, stride, padding, 1, x.shape[1])


@DEPTHWISE.register("frames2d")
def frames2d_depthwise(
    x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int, int], padding: tuple[int, int, int]
) -> torch.Tensor:
    """Return the depthwise convolution computed frame by frame: a 2-D depthwise convolution with channel
    multiplier kT (output k of channel c is the spatial kernel ``weight[c, 0, k]``) over the B·T frames, then
    y[t] = Σ_k out_k[t·s_t + k − p_t] over the frames that exist (zero padding in time)."""
    b, c, t, _, _ = x.shape
    kt = weight.shape[2]
    frames = x.transpose(1, 2).reshape(b * t, c, x.shape[3], x.shape[4])
    spatial = weight.transpose(1, 2).reshape(c * kt, 1, weight.shape[3], weight.shape[4])
    out = F.conv2d(frames, spatial, None, stride[1:], padding[1:], 1, c)  # (B·T, C·kT, H', W')
    out = out.reshape(b, t, c, kt, out.shape[-2], out.shape[-1])
    t_out = (t + 2 * padding[0] - kt) // stride[0] + 1
    y = out.new_zeros(b, t_out, c, out.shape[-2], out.shape[-1])
    for k in range(kt):
        first = max(0, -(-(padding[0] - k) // stride[0]))  # first output frame whose input frame exists
        last = min(t_out, (t - 1 + padding[0] - k) // stride[0] + 1)
        if first < last:
            source = first * stride[0] + k - padding[0]
            y[:, first:last] += out[:, source : source + (last - first - 1) * stride[0] + 1 : stride[0], :, k]
    return y.transpose(1, 2)


class _FlippedGradient(torch.autograd.Function):
    """PyTorch's depthwise forward, with a backward that avoids its slow input-gradient kernel: the input gradient
    is the forward depthwise convolution of the output gradient with the kernel flipped in every dimension (for
    stride > 1, of the output gradient spread over a zero grid at the stride); the weight gradient is aten's
    weight-only convolution backward."""

    @staticmethod
    def forward(ctx, x, weight, stride, padding):
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.padding = stride, padding
        return F.conv3d(x, weight, None, stride, padding, 1, x.shape[1])

    @staticmethod
    def backward(ctx, grad_out):
        x, weight = ctx.saved_tensors
        stride, padding = ctx.stride, ctx.padding
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = input_gradient(grad_out, weight, x.shape, stride, padding)
        if ctx.needs_input_grad[1]:
            grad_w = torch.ops.aten.convolution_backward(
                grad_out,
                x,
                weight,
                None,
                stride,
                padding,
                (1, 1, 1),
                False,
                (0, 0, 0),
                x.shape[1],
                [False, True, False],
            )[1]
        return grad_x, grad_w, None, None


def input_gradient(
    grad_out: torch.Tensor,
    weight: torch.Tensor,
    input_shape: torch.Size,
    stride: tuple[int, int, int],
    padding: tuple[int, int, int],
) -> torch.Tensor:
    """Return the gradient with respect to the input of a depthwise convolution (no dilation, padding < kernel)
    as a forward depthwise convolution: with u the output gradient placed at ``o·s + k − 1 − p`` of a zero grid
    of the input's size + k − 1 per dimension, grad_x[i] = Σ_j u[i + j] · w_flipped[j]."""
    kernel = weight.shape[2:]
    flipped = weight.flip(2, 3, 4)
    channels = grad_out.shape[1]
    if stride == (1, 1, 1):
        return F.conv3d(grad_out, flipped, None, 1, [k - 1 - p for k, p in zip(kernel, padding)], 1, channels)
    channels_last = grad_out.is_contiguous(memory_format=torch.channels_last_3d)
    grid = torch.empty(
        (*input_shape[:2], *(n + k - 1 for n, k in zip(input_shape[2:], kernel))),
        dtype=grad_out.dtype,
        device=grad_out.device,
        memory_format=torch.channels_last_3d if channels_last else torch.contiguous_format,
    ).zero_()
    first = [k - 1 - p for k, p in zip(kernel, padding)]
    spots = tuple(slice(f, f + (o - 1) * s + 1, s) for f, o, s in zip(first, grad_out.shape[2:], stride))
    grid[(slice(None), slice(None), *spots)] = grad_out
    return F.conv3d(grid, flipped, None, 1, 0, 1, channels)


@DEPTHWISE.register("flipgrad")
def flipgrad_depthwise(
    x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int, int], padding: tuple[int, int, int]
) -> torch.Tensor:
    """Return ``native``'s depthwise convolution (the same forward), whose backward computes the input gradient
    as a forward convolution with the flipped kernel (``input_gradient``) and the weight gradient alone."""
    return _FlippedGradient.apply(x, weight, stride, padding)


def _autocast_inputs(x: torch.Tensor, weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return ``x`` and ``weight`` in the autocast dtype when autocast is on for ``x``'s device (a custom kernel
    is not on autocast's lists, so it casts as ``F.conv3d`` would be cast)."""
    device_type = x.device.type
    if not torch.is_autocast_enabled(device_type):
        return x, weight
    dtype = torch.get_autocast_dtype(device_type)
    return x.to(dtype), weight.to(dtype)


class DepthwiseConv3d(nn.Conv3d):
    """An ``nn.Conv3d`` with groups = channels whose forward uses the ``DEPTHWISE`` implementation ``impl``."""

    impl: str = "native"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return nn.Conv3d's output, computed by the ``impl`` kernel."""
        if self.impl == "native":
            return super().forward(x)
        stride = (self.stride[0], self.stride[1], self.stride[2])
        padding = tuple(self.padding) if not isinstance(self.padding, str) else (0, 0, 0)
        x, weight = _autocast_inputs(x, self.weight)
        return DEPTHWISE.get(self.impl)(x, weight, stride, padding)  # type: ignore[arg-type]


class PointwiseConv3d(nn.Conv3d):
    """An ``nn.Conv3d`` with a 1 × 1 × 1 kernel; with ``impl == "matmul"`` a channels_last_3d input is multiplied
    along its (innermost) channel axis by one ``F.linear``, whose output keeps that layout."""

    impl: str = "native"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return nn.Conv3d's output, by one matrix product where ``impl`` is matmul and the layout allows."""
        if self.impl != "matmul" or not x.is_contiguous(memory_format=torch.channels_last_3d) or x.shape[1] == 1:
            return super().forward(x)
        weight = self.weight.reshape(self.out_channels, self.in_channels)
        return F.linear(x.permute(0, 2, 3, 4, 1), weight, self.bias).permute(0, 4, 1, 2, 3)


def is_depthwise(conv: nn.Conv3d) -> bool:
    """Return whether ``conv`` is one of X3D's depthwise 3 × 3 × 3 convolutions (groups = channels, no dilation)."""
    return (
        conv.groups == conv.in_channels == conv.out_channels > 1
        and tuple(conv.kernel_size) == (3, 3, 3)
        and tuple(conv.dilation) == (1, 1, 1)
        and conv.padding_mode == "zeros"
    )


def is_pointwise(conv: nn.Conv3d) -> bool:
    """Return whether ``conv`` is a plain 1 × 1 × 1 convolution (stride 1, no padding, one group)."""
    return (
        tuple(conv.kernel_size) == (1, 1, 1)
        and tuple(conv.stride) == (1, 1, 1)
        and tuple(conv.padding) == (0, 0, 0)
        and conv.groups == 1
    )


def swap_convolutions(model: nn.Module) -> None:
    """Turn every depthwise 3 × 3 × 3 and every 1 × 1 × 1 ``nn.Conv3d`` of ``model`` into a ``DepthwiseConv3d`` /
    ``PointwiseConv3d`` in place (the same parameter objects, so nothing is copied); their ``impl`` is ``native``
    until ``choose_kernels`` sets it."""
    for module in model.modules():
        if type(module) is not nn.Conv3d:
            continue
        if is_depthwise(module):
            module.__class__ = DepthwiseConv3d
        elif is_pointwise(module):
            module.__class__ = PointwiseConv3d


def runs_on(name: str, device_type: str) -> bool:
    """Return whether the ``DEPTHWISE`` kernel ``name`` runs on ``device_type``."""
    return device_type in DEVICE_TYPES.get(name, (device_type,))


def resolve(setting: str, auto: dict[str, str], device_type: str) -> str:
    """Return the implementation ``setting`` names on ``device_type`` (``auto``: the measured choice there)."""
    return auto.get(device_type, "native") if setting == "auto" else setting


def choose_kernels(model: nn.Module, depthwise: str, pointwise: str, device_type: str) -> dict[str, str]:
    """Set the implementation of every swapped convolution of ``model`` for ``device_type``; return the choice
    ``{"depthwise": name, "pointwise": name}`` (what a run records)."""
    chosen = {
        "depthwise": resolve(depthwise, AUTO_DEPTHWISE, device_type),
        "pointwise": resolve(pointwise, AUTO_POINTWISE, device_type),
    }
    DEPTHWISE.get(chosen["depthwise"])  # an unknown name fails here, with the registered ones listed
    for module in model.modules():
        if isinstance(module, DepthwiseConv3d):
            module.impl = chosen["depthwise"]
        elif isinstance(module, PointwiseConv3d):
            module.impl = chosen["pointwise"]
    return chosen


try:  # the Triton kernels, where Triton is installed (CI has none)
    from hdfbench.models.depthwise_triton import triton_depthwise
except ImportError:
    pass
else:
    DEPTHWISE.register("triton")(triton_depthwise)
