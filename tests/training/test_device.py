"""Device choice: auto follows the GPUs Ray gives a trial; a GPU that cannot be used fails loudly."""

import pytest
import torch

from hdfbench.training.device import DeviceError, autocast_dtype, channels_last_wanted, cuda_problem, resolve_device

CPU_ONLY = cuda_problem() is not None


@pytest.mark.skipif(not CPU_ONLY, reason="checks the behaviour without CUDA")
@pytest.mark.parametrize(
    "requested, gpu_ids, expected",
    [
        ("cpu", None, "cpu"),
        ("cpu", ["0"], "cpu"),  # a trial may hold a GPU and train on the CPU on purpose
        ("auto", None, "cpu"),
        ("auto", [], "cpu"),
    ],
)
def test_devices_without_cuda(requested, gpu_ids, expected):
    assert resolve_device(requested, gpu_ids).type == expected


@pytest.mark.skipif(not CPU_ONLY, reason="checks the behaviour without CUDA")
def test_a_held_gpu_that_torch_cannot_use_fails_instead_of_training_on_cpu():
    # a CPU build of torch, or a CUDA build on a machine without a usable GPU
    why = r"(torch \S+ is a CPU-only build|torch.cuda.is_available\(\) is False)"
    with pytest.raises(DeviceError, match=f"this trial was given GPU 0 by Ray, but CUDA is not usable: {why}"):
        resolve_device("auto", ["0"])
    with pytest.raises(DeviceError, match="CUDA is not usable"):
        resolve_device("cuda")


def test_cuda_without_a_gpu_under_ray_is_refused():
    with pytest.raises(DeviceError, match="holds no GPU"):
        resolve_device("cuda", [])


def test_precision_auto_is_float32_on_cpu_and_bf16_when_asked():
    cpu = torch.device("cpu")
    assert autocast_dtype("auto", cpu) is None and autocast_dtype("fp32", cpu) is None
    assert autocast_dtype("bf16", cpu) is torch.bfloat16


def test_channels_last_auto_is_on_for_cpu_float32_only():
    # measured: 0.39-0.47x the contiguous step on 2 CPU cores, 1.6-1.9x slower on an H200 (docs/performance.md)
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert channels_last_wanted("auto", cpu, None) is True
    assert channels_last_wanted("auto", cpu, torch.bfloat16) is False
    assert channels_last_wanted("auto", cuda, None) is False
    assert channels_last_wanted("auto", cuda, torch.bfloat16) is False
    assert channels_last_wanted(True, cuda, torch.bfloat16) is True
    assert channels_last_wanted(False, cpu, None) is False
