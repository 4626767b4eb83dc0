"""channels_last_3d is used only where its gradients equal the contiguous layout's."""

import logging

import pytest
import torch

from hdfbench.models import build_backbone, memory_format
from hdfbench.models.memory_format import channels_last_problem
from hdfbench.optim import OptimizerSpec
from hdfbench.strategies import STRATEGIES, TaskInfo


@pytest.fixture(autouse=True)
def fresh_probe():
    channels_last_problem.cache_clear()
    yield
    channels_last_problem.cache_clear()


def test_float32_channels_last_gradients_equal_contiguous_on_cpu():
    assert channels_last_problem("cpu", None) is None


def test_probe_reports_a_layout_whose_gradients_differ(monkeypatch):
    real = memory_format._stem_gradients

    def off_by_a_third_in_channels_last(device_type, dtype, channels_last):
        grads = real(device_type, dtype, channels_last)
        return [grads[0], grads[1] * (1.3 if channels_last else 1.0)]

    monkeypatch.setattr(memory_format, "_stem_gradients", off_by_a_third_in_channels_last)
    problem = channels_last_problem("cpu", None)
    assert problem is not None and "conv_t" in problem and "0.3 (relative)" in problem


def test_probe_reports_nan_gradients(monkeypatch):
    real = memory_format._stem_gradients
    monkeypatch.setattr(
        memory_format,
        "_stem_gradients",
        lambda device_type, dtype, channels_last: [
            g * float("nan") if channels_last else g for g in real(device_type, dtype, channels_last)
        ],
    )
    assert "conv_xy" in channels_last_problem("cpu", None)


@pytest.mark.parametrize("problem", [None, "wrong gradients here"])
def test_strategy_uses_channels_last_only_where_the_probe_passes(monkeypatch, caplog, problem):
    import hdfbench.strategies.base as base

    monkeypatch.setattr(base, "channels_last_problem", lambda device_type, dtype: problem)
    model = build_backbone("x3d_tiny", 3, frames=4, size=32, options={"head_dim_out": 16})
    task = TaskInfo(num_classes=3, class_counts=(4, 4, 4), group_counts={}, class_names=("a", "b", "c"), group_names={})
    strategy = STRATEGIES.get("erm")(model, STRATEGIES.get("erm").Hparams(), task, OptimizerSpec(), "none")
    with caplog.at_level(logging.WARNING, logger="hdfbench.strategies.base"):
        strategy.configure_compute("cpu", torch.bfloat16, channels_last=True)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
    layout = torch.contiguous_format if problem else torch.channels_last_3d
    assert strategy.memory_format == layout
    assert all(conv.weight.is_contiguous(memory_format=layout) for conv in convs)
    assert ("channels_last ignored: wrong gradients here" in caplog.text) == bool(problem)


def test_the_probe_leaves_the_global_rng_as_it_was():
    # it runs in a process's first run only: a run's draws must not depend on being first (Ray reuses processes)
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    assert channels_last_problem("cpu", None) is None
    assert torch.equal(torch.rand(4), expected)
