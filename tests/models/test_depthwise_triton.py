"""The Triton depthwise 3 × 3 × 3 convolution (models/depthwise_triton.py) computes what ``F.conv3d`` computes.

On the CPU the kernels run in Triton's interpreter. ``TRITON_INTERPRET=1`` takes effect only when the kernels are
defined, at the first import of the module, which another test module of the session may already have done, so
the interpreted checks run once in a subprocess of their own (``measure``) and the tests read its results. Each
check compares the forward, the input gradient and the weight gradient with ``F.conv3d``'s autograd in float64
on the same values; ``torch.library.opcheck`` and a ``torch.compile`` graph check the op's registrations. Where a
GPU is present the same checks also run compiled on it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
import zlib
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("triton")

REPO = Path(__file__).resolve().parents[2]
FP32_TOLERANCE = 1e-5
#: bf16 / fp16 inputs: float32 accumulation, then one rounding of the result to 8 (bf16) or 11 (fp16) significant
#: bits: to nearest, a relative error ≤ 2^-8 / 2^-11, except that Triton's interpreter truncates to bf16 (≤ 2^-7);
#: the margin covers float32's summation error. float64 accumulates in float64.
OTHER_TOLERANCE = {"bfloat16": 2**-7 + 1e-5, "float16": 2**-11 + 1e-5, "float64": 1e-12}
CUDA_BF16_TOLERANCE = 2**-8 + 1e-5

#: (T, H, W, stride, padding): every stride and padding X3D uses, T = 1, odd and even sizes.
GEOMETRIES = [
    (4, 6, 7, (1, 1, 1), (1, 1, 1)),
    (1, 5, 6, (1, 1, 1), (1, 1, 1)),
    (5, 7, 8, (1, 2, 2), (1, 1, 1)),
    (1, 7, 7, (1, 2, 2), (1, 1, 1)),
    (6, 8, 7, (2, 2, 2), (1, 1, 1)),
    (5, 7, 6, (2, 2, 2), (0, 0, 0)),
    (3, 6, 5, (1, 1, 1), (0, 0, 0)),
    (4, 9, 6, (1, 2, 2), (0, 1, 1)),
]
#: Tiles small enough that a case spans several position blocks, channel blocks and grad-weight chunks.
SMALL_TILES = {False: (8, 1, 4, 2), True: (8, 4, 4, 2)}


def case_id(layout: str, geometry: tuple, tiles: str = "") -> str:
    """Return the name of one check: layout, T×H×W, stride, padding (and ``-small`` for the small tiles)."""
    t, h, w, stride, padding = geometry
    name = f"{layout}-{t}x{h}x{w}-s{''.join(map(str, stride))}-p{''.join(map(str, padding))}"
    return f"{name}-{tiles}" if tiles else name


FP32_CASES = [(layout, g, "") for layout in ("contiguous", "channels_last") for g in GEOMETRIES] + [
    (layout, (2, 4, 5, (1, 2, 2), (1, 1, 1)), "small") for layout in ("contiguous", "channels_last")
]
OTHER_CASES = [(dtype, layout) for dtype in OTHER_TOLERANCE for layout in ("contiguous", "channels_last")]


def relative_error(got: torch.Tensor, want: torch.Tensor) -> float:
    """Return max |got − want| / max |want| in float64."""
    return ((got.double() - want).abs().max() / want.abs().max()).item()


def _layout(x: torch.Tensor, layout: str) -> torch.Tensor:
    """Return ``x`` in ``layout`` ("contiguous" or "channels_last")."""
    return x.contiguous(memory_format=torch.channels_last_3d) if layout == "channels_last" else x.contiguous()


def compare(conv, layout: str, geometry: tuple, dtype: torch.dtype, device: str, channels: int = 2) -> dict:
    """Return ``{"forward", "grad_input", "grad_weight"}`` relative errors of ``conv`` (the op) at ``dtype``
    against ``F.conv3d`` in float64 on the same (``dtype``-rounded) values, and ``layout_kept``: whether the
    output and the input gradient are in the input's layout."""
    t, h, w, stride, padding = geometry
    generator = torch.Generator().manual_seed(zlib.crc32(repr((layout, geometry)).encode()))
    x = _layout(torch.randn(2, channels, t, h, w, generator=generator).to(dtype), layout).to(device)
    weight = torch.randn(channels, 1, 3, 3, 3, generator=generator).to(dtype).to(device)
    x, weight = x.requires_grad_(), weight.requires_grad_()
    y = conv(x, weight, stride, padding)
    upstream = torch.randn(y.shape, generator=generator).to(dtype).to(device)
    grads = torch.autograd.grad(y, (x, weight), upstream)
    x64, w64 = x.detach().double().requires_grad_(), weight.detach().double().requires_grad_()
    y64 = F.conv3d(x64, w64, None, stride, padding, 1, channels)
    want = (y64, *torch.autograd.grad(y64, (x64, w64), upstream.double()))
    errors = {
        name: relative_error(g, r) for name, g, r in zip(("forward", "grad_input", "grad_weight"), (y, *grads), want)
    }
    cl = layout == "channels_last"
    kept = all(
        a.is_contiguous(memory_format=torch.channels_last_3d if cl else torch.contiguous_format) for a in (y, grads[0])
    )
    return {**errors, "layout_kept": kept, "dtypes": [str(a.dtype) for a in (y, *grads)]}


def _opcheck(op, args) -> str:
    """Return "ok" when ``torch.library.opcheck`` passes for ``op(*args)``, else the failure's traceback."""
    try:
        torch.library.opcheck(op, args)
    except Exception:  # reported to the test, which prints it
        return traceback.format_exc()
    return "ok"


def registrations(device: str) -> dict:
    """Return the outcome of ``opcheck`` on the op and its two backward ops (each layout) and whether a
    ``torch.compile(fullgraph=True)`` of forward and backward gives the eager results."""
    import hdfbench.models.depthwise_triton  # noqa: F401 - registers the ops

    ops = torch.ops.hdfbench
    out = {}
    for layout in ("contiguous", "channels_last"):
        x = _layout(torch.randn(2, 3, 3, 4, 5), layout).to(device)
        weight = torch.randn(3, 1, 3, 3, 3, device=device)
        grad_y = _layout(torch.randn(2, 3, 3, 2, 3), layout).to(device)
        cl = layout == "channels_last"
        out[f"op-{layout}"] = _opcheck(
            ops.depthwise_conv3d.default, (x.requires_grad_(), weight.requires_grad_(), [1, 2, 2], [1, 1, 1])
        )
        out[f"grad_input-{layout}"] = _opcheck(
            ops.depthwise_conv3d_grad_input.default, (grad_y, weight.detach(), list(x.shape), [1, 2, 2], [1, 1, 1], cl)
        )
        out[f"grad_weight-{layout}"] = _opcheck(
            ops.depthwise_conv3d_grad_weight.default, (grad_y, x.detach(), [1, 2, 2], [1, 1, 1])
        )
    out["compile"] = _compiled_equals_eager(device)
    return out


def _compiled_equals_eager(device: str) -> str:
    """Return "ok" when a loss through the op compiles into one graph (aot_eager, fullgraph) whose value and
    gradients match eager's."""
    from hdfbench.models.depthwise_triton import triton_depthwise

    def loss(x, weight):
        return triton_depthwise(x, weight, (1, 2, 2), (1, 1, 1)).square().sum()

    x = torch.randn(2, 3, 3, 5, 5, device=device, requires_grad=True)
    weight = torch.randn(3, 1, 3, 3, 3, device=device, requires_grad=True)
    try:
        value = torch.compile(loss, backend="aot_eager", fullgraph=True)(x, weight)
    except Exception:  # reported to the test
        return traceback.format_exc()
    got = (value, *torch.autograd.grad(value, (x, weight)))
    value = loss(x, weight)
    want = (value, *torch.autograd.grad(value, (x, weight)))
    close = all(torch.allclose(g, w, rtol=1e-6, atol=0) for g, w in zip(got, want))
    return "ok" if close else "compiled value or gradients differ from eager"


def measure(device: str) -> dict:
    """Return every exactness check's result (``compare``) on ``device``, keyed by case name."""
    from hdfbench.models import depthwise_triton
    from hdfbench.models.kernels import DEPTHWISE

    conv = DEPTHWISE.get("triton")
    results: dict = {}
    for layout, geometry, tiles in FP32_CASES:
        saved = dict(depthwise_triton.TILES)
        if tiles:
            depthwise_triton.TILES.update({k: depthwise_triton.Tiles(*v) for k, v in SMALL_TILES.items()})
        try:
            # channels_last's small tiles: two channel blocks of 4, the second one partly masked
            channels = 5 if tiles and layout == "channels_last" else 2
            results[case_id(layout, geometry, tiles)] = compare(conv, layout, geometry, torch.float32, device, channels)
        finally:
            depthwise_triton.TILES.update(saved)
    for dtype, layout in OTHER_CASES:
        geometry = GEOMETRIES[2]
        results[f"{dtype}-{layout}"] = compare(conv, layout, geometry, getattr(torch, dtype), device)
    return results


def run_interpreted(function: str) -> dict:
    """Return ``function("cpu")`` of this module computed in a subprocess whose kernels run in Triton's
    interpreter."""
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(REPO)}
    code = f"import json, tests.models.test_depthwise_triton as t; print(json.dumps(t.{function}('cpu')))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=500)
    if done.returncode != 0:
        pytest.fail(f"the interpreted {function} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def interpreted() -> dict:
    """Return ``measure("cpu")`` in the interpreter."""
    return run_interpreted("measure")


def _assert_close(result: dict, tolerance: float, dtype: str) -> None:
    assert result["layout_kept"], "the output or the input gradient lost the input's layout"
    assert result["dtypes"] == [dtype] * 3
    worst = {k: result[k] for k in ("forward", "grad_input", "grad_weight")}
    assert max(worst.values()) < tolerance, worst


@pytest.mark.parametrize(("layout", "geometry", "tiles"), FP32_CASES, ids=[case_id(*c) for c in FP32_CASES])
def test_float32_forward_and_gradients_match_conv3d(interpreted, layout, geometry, tiles):
    _assert_close(interpreted[case_id(layout, geometry, tiles)], FP32_TOLERANCE, "torch.float32")


@pytest.mark.parametrize(("dtype", "layout"), OTHER_CASES)
def test_other_dtypes_match_float64_within_their_rounding(interpreted, dtype, layout):
    _assert_close(interpreted[f"{dtype}-{layout}"], OTHER_TOLERANCE[dtype], f"torch.{dtype}")


@pytest.mark.slow  # about 12 s alone, over 20 s on a loaded machine: opcheck runs each op many times
def test_opcheck_and_compile_pass():
    failures = {name: outcome for name, outcome in run_interpreted("registrations").items() if outcome != "ok"}
    assert not failures, "\n".join(f"{name}:\n{outcome}" for name, outcome in failures.items())


def test_package_imports_without_triton_and_registers_no_triton_kernel():
    code = (
        "import sys; sys.modules['triton'] = None\n"  # makes `import triton` raise ImportError
        "from hdfbench.models.kernels import DEPTHWISE; print(DEPTHWISE.names())"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-4000:]
    assert "triton" not in done.stdout and "native" in done.stdout


def _signature(kernel, dtype: str, constants: dict) -> dict:
    """Return ``kernel``'s Triton signature: ``dtype`` pointers (the grad-weight partials in float32), int32
    sizes and strides, and the given constexprs."""

    def kind(name: str) -> str:
        if name in constants:
            return "constexpr"
        if name.endswith("_ptr"):
            return "*fp32" if name == "part_ptr" else f"*{dtype}"
        return "i32"

    return {name: kind(name) for name in kernel.arg_names}


def test_kernels_compile_for_an_h100_with_the_default_tiles():
    """The interpreter accepts programs the compiler rejects: compile every kernel to a cubin for sm_90 (Triton's
    own ptxas; no GPU needed; about 6 s) at each layout's default tiles, in float32 and bfloat16, with the unit
    strides of the contiguous axis specialised as a launch specialises them."""
    import triton
    import triton.language as tl
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    from hdfbench.models import depthwise_triton as dt

    if not isinstance(dt._forward_kernel, triton.JITFunction):
        pytest.skip("TRITON_INTERPRET was set when the kernels were defined")
    target = GPUTarget("cuda", 90, 32)
    for channels_last in (False, True):
        tile = dt.tiles(channels_last, 54, 16 * 28 * 28)
        unit = ("sxc", "syc", "sgc", "sdc") if channels_last else ("sxw", "syw", "sgw", "sdw")
        blocks = {
            dt._forward_kernel: {"BLOCK_P": tile.block_p, "BLOCK_C": tile.block_c},
            dt._grad_input_kernel: {"BLOCK_P": tile.block_p, "BLOCK_C": tile.block_c},
            dt._grad_weight_kernel: {"BLOCK_P": tile.wgrad_block_p, "BLOCK_C": tile.block_c, "STEPS": tile.wgrad_steps},
        }
        for kernel, sizes in blocks.items():
            for dtype in ("fp32", "bf16"):
                constants = dict(ST=1, SH=2, SW=2, PT=1, PH=1, PW=1, ACC=tl.float32, **sizes)
                constants.update({name: 1 for name in unit if name in kernel.arg_names})
                source = ASTSource(kernel, _signature(kernel, dtype, constants), constants)
                compiled = triton.compile(source, target=target, options={"num_warps": 4})
                assert compiled.asm["cubin"], (kernel.fn.__name__, channels_last, dtype)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (compiled kernels)")
def test_compiled_on_cuda_matches_conv3d_and_is_deterministic():
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        pytest.skip("TRITON_INTERPRET is set in this process")
    results = measure("cuda")
    for name, result in results.items():
        dtype = name.split("-")[0] if name.split("-")[0] in OTHER_TOLERANCE else "float32"
        tolerance = CUDA_BF16_TOLERANCE if dtype == "bfloat16" else OTHER_TOLERANCE.get(dtype, FP32_TOLERANCE)
        _assert_close(result, tolerance, f"torch.{dtype}")
    from hdfbench.models.kernels import DEPTHWISE

    conv = DEPTHWISE.get("triton")
    for layout in ("contiguous", "channels_last"):  # X3D-S-sized layers, with the default tiles
        for geometry, channels in (((16, 28, 28, (1, 2, 2), (1, 1, 1)), 54), ((16, 7, 7, (1, 1, 1), (1, 1, 1)), 216)):
            _assert_close(
                compare(conv, layout, geometry, torch.float32, "cuda", channels), FP32_TOLERANCE, "torch.float32"
            )
    x = torch.randn(4, 48, 8, 28, 28, device="cuda", requires_grad=True)
    weight = torch.randn(48, 1, 3, 3, 3, device="cuda", requires_grad=True)
    upstream = torch.randn(4, 48, 8, 14, 14, device="cuda")
    grad_weights = [torch.autograd.grad(conv(x, weight, (1, 2, 2), (1, 1, 1)), weight, upstream)[0] for _ in range(2)]
    assert torch.equal(*grad_weights), "the weight gradient differs between two runs"
