"""The device a run trains on, and the numeric precision of its forward passes.

Under Ray, a trial may use a GPU only if Ray gave it one: ``device: auto`` trains on CUDA exactly
when the trial holds GPUs, and a trial that holds a GPU it cannot use fails at once instead of
training on the CPU. Outside Ray (tests, notebooks), ``auto`` means "CUDA if torch sees a GPU".
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class DeviceError(RuntimeError):
    """The configured device cannot be used here; the message says why and what to change."""


def cuda_problem() -> str | None:
    """Return why torch cannot use CUDA in this process (None when it can)."""
    if torch.version.cuda is None:
        return f"torch {torch.__version__} is a CPU-only build"
    if not torch.cuda.is_available():
        return "torch.cuda.is_available() is False (no usable GPU or driver)"
    return None


def resolve_device(requested: str, gpu_ids: Sequence[str] | None = None) -> torch.device:
    """Return the torch device for ``requested`` (auto / cpu / cuda).

    ``gpu_ids`` are the GPUs Ray assigned to this trial (None outside Ray). Raises ``DeviceError``
    when CUDA is asked for (or the trial holds a GPU under ``auto``) but cannot be used.
    """
    if requested == "cpu":
        return torch.device("cpu")
    under_ray = gpu_ids is not None
    if requested == "auto" and under_ray and not gpu_ids:
        return torch.device("cpu")
    if requested == "cuda" and under_ray and not gpu_ids:
        raise DeviceError("training.device is 'cuda' but this trial holds no GPU (set resources.gpu > 0)")
    problem = cuda_problem()
    if problem is None:
        return torch.device("cuda")
    if requested == "auto" and not under_ray:
        return torch.device("cpu")
    held = f"this trial was given GPU {', '.join(gpu_ids)} by Ray, but " if gpu_ids else ""
    raise DeviceError(
        f"{held}CUDA is not usable: {problem} (training.device: {requested}; use a CUDA build of "
        "torch on GPU nodes, or set training.device: cpu)"
    )


def describe_device(device: torch.device) -> str:
    """Return the device with its model name, e.g. ``cuda:0 (NVIDIA H200)`` or ``cpu``."""
    if device.type != "cuda":
        return device.type
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """Return the autocast dtype of forward passes (None: full float32).

    ``auto`` is bfloat16 on CUDA devices that support it and float32 elsewhere; ``bf16`` forces it
    (CPU autocast included).
    """
    if precision == "bf16":
        return torch.bfloat16
    if precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def channels_last_wanted(setting: str | bool, device: torch.device, amp_dtype: torch.dtype | None) -> bool:
    """Return whether a run asks for the channels_last_3d layout: ``setting`` when it is a bool; for
    ``auto``, on the CPU in float32 (X3D steps there took 0.39–0.47× the contiguous time, docs/performance.md),
    and contiguous elsewhere. The strategy still checks the layout's gradients before using it."""
    if isinstance(setting, bool):
        return setting
    return device.type == "cpu" and amp_dtype is None
