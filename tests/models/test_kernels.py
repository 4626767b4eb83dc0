"""The switchable X3D convolutions (models/kernels.py) and SiLU compute what stock pytorchvideo X3D computes.

Every check is in float64 against an independent computation: ``F.conv3d`` for each kernel, and pytorchvideo's
own ``create_x3d`` loaded with the same weights for the whole network, logits and every gradient.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hdfbench.models import build_backbone
from hdfbench.models.kernels import (
    DEPTHWISE,
    DepthwiseConv3d,
    PointwiseConv3d,
    choose_kernels,
    runs_on,
    swap_convolutions,
)
from hdfbench.models.pytorchvideo_compat import import_pytorchvideo
from hdfbench.models.x3d import X3DOptions
from hdfbench.sweep.grid import expand
from tests.helpers import REPO

#: The implementations checked here on the CPU (a GPU kernel is checked by its own tests).
CPU_DEPTHWISE = [name for name in DEPTHWISE.names() if runs_on(name, "cpu")]
TOLERANCE = 1e-9


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """Return max |got − want| / max |want| (0 when both are zero)."""
    scale = want.abs().max().item()
    return (got - want).abs().max().item() / scale if scale else (got - want).abs().max().item()


def conv_and_grads(conv, x: torch.Tensor, weight: torch.Tensor, upstream: torch.Tensor | None = None):
    """Return (y, dL/dx, dL/dweight) of ``conv(x, weight)`` for L = Σ y · upstream (random upstream)."""
    x, weight = x.detach().requires_grad_(), weight.detach().requires_grad_()
    y = conv(x, weight)
    upstream = torch.randn_like(y) if upstream is None else upstream
    gx, gw = torch.autograd.grad(y, (x, weight), upstream)
    return y, gx, gw, upstream


@pytest.mark.parametrize("impl", CPU_DEPTHWISE)
@pytest.mark.parametrize(
    ("t", "size", "stride", "padding"),
    [
        (4, 8, (1, 1, 1), (1, 1, 1)),
        (5, 9, (1, 2, 2), (1, 1, 1)),
        (1, 7, (1, 2, 2), (1, 1, 1)),
        (3, 8, (1, 1, 1), (0, 0, 0)),
        (6, 8, (2, 2, 2), (1, 1, 1)),
        (4, 10, (1, 2, 2), (0, 1, 1)),
    ],
)
@pytest.mark.parametrize("channels_last", [False, True])
def test_each_depthwise_kernel_equals_conv3d_forward_and_both_backwards(impl, t, size, stride, padding, channels_last):
    torch.manual_seed(0)
    c = 6
    x = torch.randn(2, c, t, size, size, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    weight = torch.randn(c, 1, 3, 3, 3, dtype=torch.float64)
    want = conv_and_grads(lambda a, w: F.conv3d(a, w, None, stride, padding, 1, c), x, weight)
    got = conv_and_grads(lambda a, w: DEPTHWISE.get(impl)(a, w, stride, padding), x, weight, want[-1])
    for name, g, w in zip(("forward", "grad input", "grad weight"), got[:3], want[:3]):
        assert g.shape == w.shape, name
        assert relative_error(g, w) < 1e-12, name


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
def test_pointwise_matmul_equals_conv3d_and_keeps_the_layout(bias, channels_last):
    torch.manual_seed(0)
    conv = nn.Conv3d(8, 12, 1, bias=bias).double()
    reference = nn.Conv3d(8, 12, 1, bias=bias).double()
    reference.load_state_dict(conv.state_dict())
    swap_convolutions(conv)
    assert type(conv) is PointwiseConv3d
    conv.impl = "matmul"
    x = torch.randn(2, 8, 3, 5, 5, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    ya, yb = conv(xa), reference(xb)
    upstream = torch.randn_like(yb)
    (ya * upstream).sum().backward()
    (yb * upstream).sum().backward()
    assert relative_error(ya, yb) < 1e-12 and relative_error(xa.grad, xb.grad) < 1e-12
    for mine, theirs in zip(conv.parameters(), reference.parameters()):
        assert relative_error(mine.grad, theirs.grad) < 1e-12
    assert ya.is_contiguous(memory_format=torch.channels_last_3d) == channels_last


def test_swapping_keeps_parameter_objects_and_state_dict_keys():
    model = nn.Sequential(nn.Conv3d(4, 4, 3, padding=1, groups=4, bias=False), nn.Conv3d(4, 6, 1), nn.Conv3d(6, 6, 3))
    params, keys = list(model.parameters()), list(model.state_dict())
    swap_convolutions(model)
    assert [type(m) for m in model] == [DepthwiseConv3d, PointwiseConv3d, nn.Conv3d]  # a dense 3×3×3 stays
    assert all(a is b for a, b in zip(model.parameters(), params)) and list(model.state_dict()) == keys


@pytest.mark.parametrize("stride", [(1, 1, 1), (1, 2, 2)])
def test_flipgrad_forward_is_native_bit_for_bit(stride):
    torch.manual_seed(0)
    x = torch.randn(2, 8, 4, 9, 9).contiguous(memory_format=torch.channels_last_3d)
    weight = torch.randn(8, 1, 3, 3, 3)
    native = DEPTHWISE.get("native")(x, weight, stride, (1, 1, 1))
    assert torch.equal(DEPTHWISE.get("flipgrad")(x, weight, stride, (1, 1, 1)), native)


def test_auto_resolves_per_device_and_unknown_names_are_refused():
    model = build_backbone("x3d_tiny", 3, frames=4, size=32, options={})
    assert model.configure_kernels("cpu") == {"depthwise": "flipgrad", "pointwise": "matmul"}
    assert {m.impl for m in model.modules() if isinstance(m, PointwiseConv3d)} == {"matmul"}
    assert choose_kernels(model, "frames2d", "native", "cuda") == {"depthwise": "frames2d", "pointwise": "native"}
    assert {m.impl for m in model.modules() if isinstance(m, DepthwiseConv3d)} == {"frames2d"}
    with pytest.raises(ValueError, match="unknown depthwise kernel 'fast'"):
        X3DOptions(depthwise="fast")


def stock_x3d(preset: str, classes: int, frames: int, size: int) -> nn.Module:
    """Return pytorchvideo's own X3D at ``preset``'s widths with a ``classes``-way projection and no dropout."""
    cls = type(build_backbone(preset, classes, frames, size, {}))
    create_x3d = import_pytorchvideo("pytorchvideo.models.x3d").create_x3d
    return create_x3d(
        input_clip_length=frames,
        input_crop_size=size,
        model_num_class=classes,
        dropout_rate=0.0,
        width_factor=cls.width_factor,
        depth_factor=cls.depth_factor,
        head_dim_out=cls.head_dim_out,
        head_activation=None,
    )


def stock_name(name: str, stages: int) -> str:
    """Return the stock pytorchvideo parameter name of hdfbench X3D's parameter ``name``."""
    part, _, rest = name.partition(".")
    if part == "stem":
        return f"blocks.0.{rest}"
    if part == "stages":
        index, _, rest = rest.partition(".")
        return f"blocks.{int(index) + 1}.{rest}"
    if part == "classifier":
        return f"blocks.{stages + 1}.proj.{rest}"
    return f"blocks.{stages + 1}.{rest}"  # head


def compare_with_stock(preset: str, depthwise: str, pointwise: str, channels_last: bool, frames: int, size: int):
    """Return the largest relative error of hdfbench's X3D against stock pytorchvideo X3D with the same weights,
    over the logits and every parameter's and the input's gradient (float64, training mode)."""
    torch.manual_seed(0)
    classes = 5
    stock = stock_x3d(preset, classes, frames, size).double().train()
    mine = build_backbone(
        preset, classes, frames, size, {"dropout": 0.0, "depthwise": depthwise, "pointwise": pointwise}
    )
    mine = mine.double().train()
    names = {name: stock_name(name, len(mine.stages)) for name in mine.state_dict()}
    stock_state = stock.state_dict()
    mine.load_state_dict({name: stock_state[names[name]] for name in names})
    mine.configure_kernels("cpu")
    clips = torch.randn(2, 3, frames, size, size, dtype=torch.float64)
    layout = torch.channels_last_3d if channels_last else torch.contiguous_format
    if channels_last:
        mine.to(memory_format=layout)  # type: ignore[call-overload]
    inputs = [clips.clone().contiguous(memory_format=layout).requires_grad_(), clips.clone().requires_grad_()]
    logits = [mine(inputs[0])[0], stock(inputs[1])]
    upstream = torch.randn_like(logits[1])
    for out in logits:
        (out * upstream).sum().backward()
    errors = [relative_error(logits[0], logits[1]), relative_error(inputs[0].grad, inputs[1].grad)]
    stock_params = dict(stock.named_parameters())
    for name, param in mine.named_parameters():
        errors.append(relative_error(param.grad, stock_params[names[name]].grad))
    return max(errors)


SWITCHES = list(itertools.product(["auto", *CPU_DEPTHWISE], ["auto", "native", "matmul"], [False, True]))


@pytest.mark.parametrize(("depthwise", "pointwise", "channels_last"), SWITCHES)
def test_x3d_tiny_equals_stock_pytorchvideo_at_every_switch(depthwise, pointwise, channels_last):
    assert compare_with_stock("x3d_tiny", depthwise, pointwise, channels_last, frames=5, size=32) < TOLERANCE


@pytest.mark.parametrize(("depthwise", "pointwise", "channels_last"), SWITCHES)
def test_x3d_s_equals_stock_pytorchvideo_at_every_switch(depthwise, pointwise, channels_last):
    assert compare_with_stock("x3d_s", depthwise, pointwise, channels_last, frames=4, size=64) < TOLERANCE


def test_kernel_choices_do_not_change_run_ids():
    from hdfbench.config import load_config

    quickstart = REPO / "experiments" / "quickstart.yaml"
    ids = [s.run_id for s in expand(load_config(quickstart))]
    for setting in (
        "model.options.depthwise=frames2d",
        "model.options.pointwise=native",
        "training.optimizer.fused=false",
    ):
        assert [s.run_id for s in expand(load_config(quickstart, [setting]))] == ids, setting
