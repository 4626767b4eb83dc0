"""X3D's depthwise 3 × 3 × 3 convolution (groups = channels, no bias) as three Triton kernels behind one
``torch.library`` op, ``hdfbench::depthwise_conv3d``, with its autograd and fake (meta) registrations.

- **forward**: each program computes a tile of output positions × channels of one sample, summing the 27 taps;
- **grad-input**: each program computes a tile of input positions × channels, gathering the output gradient of
  every tap that reaches it (a gather, so no two programs write one element);
- **grad-weight**: each program reduces a fixed chunk of positions of one sample into its own row of a partial
  buffer (chunk, channel, tap); the rows are then summed in a fixed order. No atomics, so the result is the same
  bit for bit on every run.

All three accumulate in float32 whatever the input dtype (float32, bfloat16, float16), and float64 in float64.
Strides are arguments, so one kernel serves both layouts; the tile shape follows the layout so that a warp reads
along its contiguous axis: positions (W innermost) for a contiguous tensor, channels for channels_last_3d.
Outputs and the input gradient keep the input's layout. Stride is 1 or 2 and padding 0 or 1 per dimension (any
value below the kernel size works); T may be 1. Setting ``TRITON_INTERPRET=1`` before this module is first
imported runs the kernels on CPU tensors (the tests do); otherwise the tensors must be on a CUDA device. The op is
a ``custom_op`` (Inductor calls it as it is, without fusing into it) rather than a ``triton_op``: ``wrap_triton``
does not accept the interpreter's kernels.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import NamedTuple

import torch
import triton  # type: ignore[import-untyped, import-not-found, unused-ignore]
import triton.language as tl  # type: ignore[import-untyped, import-not-found, unused-ignore]

__all__ = ["TILES", "Tiles", "depthwise_conv3d", "tiles", "triton_depthwise"]

KERNEL = 3
TAPS = KERNEL**3


class Tiles(NamedTuple):
    """A layout's tile sizes: ``block_p`` positions × ``block_c`` channels per forward / grad-input program;
    grad-weight programs take ``wgrad_steps`` steps of ``wgrad_block_p`` positions each."""

    block_p: int
    block_c: int
    wgrad_block_p: int
    wgrad_steps: int


#: Tile sizes per layout (``channels_last``: False / True). For channels_last ``block_c`` is the most channels a
#: program takes; fewer channels give proportionally more positions (``tiles``).
TILES: dict[bool, Tiles] = {False: Tiles(512, 1, 64, 32), True: Tiles(16, 32, 2, 256)}


@triton.jit
def _tile(n_pos, C, BLOCK_P: tl.constexpr, BLOCK_C: tl.constexpr):
    """Return this program's clip b, its channels c and positions (flat T·H·W indices) and their masks: the
    programs enumerate (clip, channel block, position block), positions fastest."""
    pid = tl.program_id(0)
    n_pblocks = tl.cdiv(n_pos, BLOCK_P)
    n_cblocks = tl.cdiv(C, BLOCK_C)
    b = pid // (n_pblocks * n_cblocks)
    c = (pid // n_pblocks) % n_cblocks * BLOCK_C + tl.arange(0, BLOCK_C)
    pos = pid % n_pblocks * BLOCK_P + tl.arange(0, BLOCK_P)
    return b, c, pos, pos < n_pos, c < C


@triton.jit
def _coordinates(pos, H, W):
    """Return the (t, h, w) of flat positions ``pos`` of a T × H × W grid."""
    return pos // (H * W), pos // W % H, pos % W


@triton.jit
def _forward_kernel(
    x_ptr,
    w_ptr,
    y_ptr,
    C,
    T,
    H,
    W,
    TO,
    HO,
    WO,
    sxb,
    sxc,
    sxt,
    sxh,
    sxw,
    syb,
    syc,
    syt,
    syh,
    syw,
    ST: tl.constexpr,
    SH: tl.constexpr,
    SW: tl.constexpr,
    PT: tl.constexpr,
    PH: tl.constexpr,
    PW: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_C: tl.constexpr,
    ACC: tl.constexpr,
):
    """y[b, c, o] = Σ_k x[b, c, o·s − p + k] · w[c, k] over one tile of output positions o × channels c."""
    n_pos = TO * HO * WO
    b, c, pos, p_ok, c_ok = _tile(n_pos, C, BLOCK_P, BLOCK_C)
    ot, oh, ow = _coordinates(pos, HO, WO)
    t0, h0, w0 = ot * ST - PT, oh * SH - PH, ow * SW - PW  # the input position of tap (0, 0, 0)
    x_tile = x_ptr + b.to(tl.int64) * sxb + c[None, :] * sxc
    acc = tl.zeros([BLOCK_P, BLOCK_C], dtype=ACC)
    for kt in tl.static_range(3):
        t_ok = p_ok & (t0 + kt >= 0) & (t0 + kt < T)
        t_off = (t0 + kt) * sxt
        for kh in tl.static_range(3):
            th_ok = t_ok & (h0 + kh >= 0) & (h0 + kh < H)
            th_off = t_off + (h0 + kh) * sxh
            for kw in tl.static_range(3):
                ok = th_ok & (w0 + kw >= 0) & (w0 + kw < W)
                xv = tl.load(x_tile + (th_off + (w0 + kw) * sxw)[:, None], mask=ok[:, None] & c_ok[None, :], other=0.0)
                wv = tl.load(w_ptr + c * 27 + (kt * 9 + kh * 3 + kw), mask=c_ok, other=0.0)
                acc += xv.to(ACC) * wv.to(ACC)[None, :]
    live = p_ok[:, None] & c_ok[None, :]
    y_tile = y_ptr + b.to(tl.int64) * syb + c[None, :] * syc + (ot * syt + oh * syh + ow * syw)[:, None]
    tl.store(y_tile, acc.to(y_ptr.dtype.element_ty), mask=live)


@triton.jit
def _grad_input_kernel(
    g_ptr,
    w_ptr,
    dx_ptr,
    C,
    T,
    H,
    W,
    TO,
    HO,
    WO,
    sgb,
    sgc,
    sgt,
    sgh,
    sgw,
    sdb,
    sdc,
    sdt,
    sdh,
    sdw,
    ST: tl.constexpr,
    SH: tl.constexpr,
    SW: tl.constexpr,
    PT: tl.constexpr,
    PH: tl.constexpr,
    PW: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_C: tl.constexpr,
    ACC: tl.constexpr,
):
    """dx[b, c, i] = Σ_k g[b, c, o] · w[c, k] over the taps k with i = o·s − p + k for an output position o, over
    one tile of input positions i × channels c."""
    n_pos = T * H * W
    b, c, pos, p_ok, c_ok = _tile(n_pos, C, BLOCK_P, BLOCK_C)
    it, ih, iw = _coordinates(pos, H, W)
    g_tile = g_ptr + b.to(tl.int64) * sgb + c[None, :] * sgc
    acc = tl.zeros([BLOCK_P, BLOCK_C], dtype=ACC)
    for kt in tl.static_range(3):
        # o·s = i + p − k: tap k reaches i only where that is a non-negative multiple of s below O·s
        nt = it + PT - kt
        t_ok = p_ok & (nt >= 0) & (nt % ST == 0) & (nt // ST < TO)
        t_off = nt // ST * sgt
        for kh in tl.static_range(3):
            nh = ih + PH - kh
            th_ok = t_ok & (nh >= 0) & (nh % SH == 0) & (nh // SH < HO)
            th_off = t_off + nh // SH * sgh
            for kw in tl.static_range(3):
                nw = iw + PW - kw
                ok = th_ok & (nw >= 0) & (nw % SW == 0) & (nw // SW < WO)
                gv = tl.load(g_tile + (th_off + nw // SW * sgw)[:, None], mask=ok[:, None] & c_ok[None, :], other=0.0)
                wv = tl.load(w_ptr + c * 27 + (kt * 9 + kh * 3 + kw), mask=c_ok, other=0.0)
                acc += gv.to(ACC) * wv.to(ACC)[None, :]
    live = p_ok[:, None] & c_ok[None, :]
    dx_tile = dx_ptr + b.to(tl.int64) * sdb + c[None, :] * sdc + (it * sdt + ih * sdh + iw * sdw)[:, None]
    tl.store(dx_tile, acc.to(dx_ptr.dtype.element_ty), mask=live)


@triton.jit
def _grad_weight_kernel(
    g_ptr,
    x_ptr,
    part_ptr,
    C,
    T,
    H,
    W,
    TO,
    HO,
    WO,
    sgb,
    sgc,
    sgt,
    sgh,
    sgw,
    sxb,
    sxc,
    sxt,
    sxh,
    sxw,
    ST: tl.constexpr,
    SH: tl.constexpr,
    SW: tl.constexpr,
    PT: tl.constexpr,
    PH: tl.constexpr,
    PW: tl.constexpr,
    BLOCK_P: tl.constexpr,
    BLOCK_C: tl.constexpr,
    STEPS: tl.constexpr,
    ACC: tl.constexpr,
):
    """part[chunk, c, k] = Σ_o g[b, c, o] · x[b, c, o·s − p + k] over one chunk of STEPS × BLOCK_P output positions
    o of sample b, for every tap k (the tap axis is padded to 32 lanes) and a block of channels c. The tile is
    (position, tap, channel): with no axis provably contiguous (contiguous layout), Triton lays threads along the
    first, the positions."""
    n_pos = TO * HO * WO
    pid = tl.program_id(0)
    n_chunks = tl.cdiv(n_pos, BLOCK_P * STEPS)
    n_cblocks = tl.cdiv(C, BLOCK_C)
    chunk = pid // n_cblocks  # = b · n_chunks + the chunk within the sample
    b = chunk // n_chunks
    c = pid % n_cblocks * BLOCK_C + tl.arange(0, BLOCK_C)
    k = tl.arange(0, 32)
    kt = (k // 9)[None, :, None]
    kh = (k // 3 % 3)[None, :, None]
    kw = (k % 3)[None, :, None]
    c_ok = (c < C)[None, None, :]
    g_base = g_ptr + b.to(tl.int64) * sgb + c[None, None, :] * sgc
    x_base = x_ptr + b.to(tl.int64) * sxb + c[None, None, :] * sxc
    acc = tl.zeros([BLOCK_P, 32, BLOCK_C], dtype=ACC)
    first = chunk % n_chunks * STEPS * BLOCK_P
    for step in range(STEPS):
        # a static trip count with a guard: the interpreter cannot loop to a bound computed in the kernel
        if first + step * BLOCK_P < n_pos:
            pos = first + step * BLOCK_P + tl.arange(0, BLOCK_P)
            p_ok = (pos < n_pos)[:, None, None]
            ot, oh, ow = _coordinates(pos[:, None, None], HO, WO)
            gv = tl.load(g_base + ot * sgt + oh * sgh + ow * sgw, mask=p_ok & c_ok, other=0.0)
            it = ot * ST - PT + kt
            ih = oh * SH - PH + kh
            iw = ow * SW - PW + kw
            inside = (kt < 3) & (it >= 0) & (it < T) & (ih >= 0) & (ih < H) & (iw >= 0) & (iw < W)
            xv = tl.load(x_base + it * sxt + ih * sxh + iw * sxw, mask=p_ok & c_ok & inside, other=0.0)
            acc += gv.to(ACC) * xv.to(ACC)
    part = part_ptr + chunk.to(tl.int64) * C * 27 + c[None, :] * 27 + k[:, None]
    tl.store(part, tl.sum(acc, axis=0), mask=(k < 27)[:, None] & (c < C)[None, :])


def _channels_last(x: torch.Tensor) -> bool:
    """Return whether ``x`` is laid out channels_last_3d (and not also contiguous, as tensors with one channel or
    one position are)."""
    return not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last_3d)


def _memory_format(channels_last: bool) -> torch.memory_format:
    """Return the memory format of the layout ``channels_last``."""
    return torch.channels_last_3d if channels_last else torch.contiguous_format


def _empty(shape: Sequence[int], like: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """Return an uninitialised tensor of ``shape`` with ``like``'s dtype and device in the layout ``channels_last``."""
    return torch.empty(list(shape), dtype=like.dtype, device=like.device, memory_format=_memory_format(channels_last))


def _output_size(size: int, stride: int, padding: int) -> int:
    """Return the output length of one dimension (kernel 3, no dilation)."""
    return (size + 2 * padding - KERNEL) // stride + 1


def _output_shape(x_shape: Sequence[int], stride: Sequence[int], padding: Sequence[int]) -> list[int]:
    """Return the convolution's output shape (B, C, T', H', W') for an input of shape ``x_shape``."""
    return [*x_shape[:2], *(_output_size(n, s, p) for n, s, p in zip(x_shape[2:], stride, padding))]


def tiles(channels_last: bool, channels: int, positions: int) -> Tiles:
    """Return the tile sizes for a layout, channel count and positions per channel of the tiled tensor, with fewer
    idle lanes on small layers: for channels_last, ``block_c`` shrinks to the next power of two ≥ the channels and
    the position blocks grow to match; for contiguous, ``block_p`` shrinks to the positions (down to 128)."""
    base = TILES[channels_last]
    if not channels_last:
        return base._replace(block_p=min(base.block_p, max(128, triton.next_power_of_2(positions))))
    block_c = min(base.block_c, triton.next_power_of_2(channels))
    grow = base.block_c // block_c
    return Tiles(base.block_p * grow, block_c, base.wgrad_block_p * grow, base.wgrad_steps)


def _interpreted() -> bool:
    """Return whether Triton runs its interpreter (kernels on CPU tensors) rather than compiling for a GPU."""
    return os.environ.get("TRITON_INTERPRET", "0") not in ("", "0")


def _check(x: torch.Tensor, weight: torch.Tensor, stride: Sequence[int], padding: Sequence[int]) -> None:
    """Raise ValueError unless ``x`` and ``weight`` are a depthwise 3 × 3 × 3 convolution this op computes."""
    if x.dim() != 5 or tuple(weight.shape) != (x.shape[1], 1, KERNEL, KERNEL, KERNEL):
        raise ValueError(
            f"expected x (B, C, T, H, W) and weight (C, 1, 3, 3, 3), got {tuple(x.shape)}, {tuple(weight.shape)}"
        )
    if x.dtype != weight.dtype or x.device != weight.device:
        raise ValueError(
            f"x and weight differ in dtype or device: {x.dtype} {x.device}, {weight.dtype} {weight.device}"
        )
    if len(stride) != 3 or len(padding) != 3 or not all(s >= 1 for s in stride):
        raise ValueError(f"expected 3 strides ≥ 1 and 3 paddings, got {stride}, {padding}")
    if not all(0 <= p < KERNEL for p in padding) or min(_output_shape(x.shape, stride, padding)[2:]) < 1:
        raise ValueError(f"padding {tuple(padding)} must be 0, 1 or 2 and leave an output for input {tuple(x.shape)}")
    if x.device.type != "cuda" and not _interpreted():
        raise ValueError(f"the triton depthwise kernel needs a CUDA tensor (got {x.device}; or set TRITON_INTERPRET=1)")
    if x[0].numel() >= 2**31:
        raise ValueError("one sample of x must have fewer than 2**31 elements (int32 offsets within a sample)")


def _geometry(
    inputs: torch.Tensor, outputs: torch.Tensor, stride: Sequence[int], padding: Sequence[int]
) -> tuple[list[int], dict[str, int]]:
    """Return the kernels' shared arguments: C, the input and output sizes, and the constexpr stride, padding and
    accumulator dtype."""
    return [inputs.shape[1], *inputs.shape[2:], *outputs.shape[2:]], dict(
        ST=stride[0], SH=stride[1], SW=stride[2], PT=padding[0], PH=padding[1], PW=padding[2], ACC=_accumulator(inputs)
    )


def _accumulator(x: torch.Tensor):
    """Return the Triton dtype the kernels accumulate ``x`` in: float64 for float64, else float32."""
    return tl.float64 if x.dtype == torch.float64 else tl.float32


def _taps(weight: torch.Tensor) -> torch.Tensor:
    """Return the weight as a contiguous (C, 27) tensor."""
    return weight.reshape(weight.shape[0], TAPS).contiguous()


@torch.library.custom_op("hdfbench::depthwise_conv3d", mutates_args=())
def depthwise_conv3d(
    x: torch.Tensor, weight: torch.Tensor, stride: Sequence[int], padding: Sequence[int]
) -> torch.Tensor:
    """Return the depthwise 3 × 3 × 3 convolution of ``x`` (B, C, T, H, W) with ``weight`` (C, 1, 3, 3, 3), in x's
    dtype and layout (``F.conv3d(x, weight, None, stride, padding, 1, C)``)."""
    _check(x, weight, stride, padding)
    channels_last = _channels_last(x)
    x = x.contiguous(memory_format=_memory_format(channels_last))
    y = _empty(_output_shape(x.shape, stride, padding), x, channels_last)
    if y.numel() == 0:
        return y
    tile = tiles(channels_last, x.shape[1], y[0, 0].numel())
    sizes, constants = _geometry(x, y, stride, padding)
    grid = (x.shape[0] * triton.cdiv(x.shape[1], tile.block_c) * triton.cdiv(y[0, 0].numel(), tile.block_p),)
    _forward_kernel[grid](
        x, _taps(weight), y, *sizes, *x.stride(), *y.stride(), **constants, BLOCK_P=tile.block_p, BLOCK_C=tile.block_c
    )
    return y


@torch.library.custom_op("hdfbench::depthwise_conv3d_grad_input", mutates_args=())
def _grad_input(
    grad_y: torch.Tensor,
    weight: torch.Tensor,
    input_shape: Sequence[int],
    stride: Sequence[int],
    padding: Sequence[int],
    channels_last: bool,
) -> torch.Tensor:
    """Return the gradient of ``depthwise_conv3d`` with respect to its input, of shape ``input_shape`` in the layout
    ``channels_last``."""
    grad_y = grad_y.contiguous(memory_format=_memory_format(channels_last))
    grad_x = _empty(input_shape, grad_y, channels_last)
    if grad_x.numel() == 0:
        return grad_x
    tile = tiles(channels_last, grad_x.shape[1], grad_x[0, 0].numel())
    sizes, constants = _geometry(grad_x, grad_y, stride, padding)
    grid = (
        grad_x.shape[0] * triton.cdiv(grad_x.shape[1], tile.block_c) * triton.cdiv(grad_x[0, 0].numel(), tile.block_p),
    )
    _grad_input_kernel[grid](
        grad_y,
        _taps(weight),
        grad_x,
        *sizes,
        *grad_y.stride(),
        *grad_x.stride(),
        **constants,
        BLOCK_P=tile.block_p,
        BLOCK_C=tile.block_c,
    )
    return grad_x


@torch.library.custom_op("hdfbench::depthwise_conv3d_grad_weight", mutates_args=())
def _grad_weight(grad_y: torch.Tensor, x: torch.Tensor, stride: Sequence[int], padding: Sequence[int]) -> torch.Tensor:
    """Return the gradient of ``depthwise_conv3d`` with respect to its weight, (C, 1, 3, 3, 3) in x's dtype: float32
    (float64 for float64) partial sums per chunk of positions, summed over the chunks in a fixed order."""
    channels_last = _channels_last(x)
    x = x.contiguous(memory_format=_memory_format(channels_last))
    grad_y = grad_y.contiguous(memory_format=_memory_format(channels_last))
    batch, channels = x.shape[:2]
    tile = tiles(channels_last, channels, grad_y[0, 0].numel())
    n_chunks = triton.cdiv(grad_y[0, 0].numel(), tile.wgrad_block_p * tile.wgrad_steps)
    partial_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    partial = torch.zeros(batch * n_chunks, channels, TAPS, dtype=partial_dtype, device=x.device)
    if grad_y.numel() > 0:
        sizes, constants = _geometry(x, grad_y, stride, padding)
        _grad_weight_kernel[(batch * n_chunks * triton.cdiv(channels, tile.block_c),)](
            grad_y,
            x,
            partial,
            *sizes,
            *grad_y.stride(),
            *x.stride(),
            **constants,
            BLOCK_P=tile.wgrad_block_p,
            BLOCK_C=tile.block_c,
            STEPS=tile.wgrad_steps,
        )
    return partial.sum(0).view(channels, 1, KERNEL, KERNEL, KERNEL).to(x.dtype)


@depthwise_conv3d.register_fake
def _(x: torch.Tensor, weight: torch.Tensor, stride: Sequence[int], padding: Sequence[int]) -> torch.Tensor:
    return _empty(_output_shape(x.shape, stride, padding), x, _channels_last(x))


@_grad_input.register_fake
def _(grad_y, weight, input_shape, stride, padding, channels_last):
    return _empty(input_shape, grad_y, channels_last)


@_grad_weight.register_fake
def _(grad_y, x, stride, padding):
    return x.new_empty(x.shape[1], 1, KERNEL, KERNEL, KERNEL)


def _setup_context(ctx, inputs, output) -> None:
    x, weight, stride, padding = inputs
    ctx.save_for_backward(x, weight)
    ctx.stride, ctx.padding = list(stride), list(padding)


def _backward(ctx, grad_y):
    x, weight = ctx.saved_tensors
    grad_x = grad_w = None
    if ctx.needs_input_grad[0]:
        grad_x = _grad_input(grad_y, weight, list(x.shape), ctx.stride, ctx.padding, _channels_last(x))
    if ctx.needs_input_grad[1]:
        grad_w = _grad_weight(grad_y, x, ctx.stride, ctx.padding)
    return grad_x, grad_w, None, None


depthwise_conv3d.register_autograd(_backward, setup_context=_setup_context)


def triton_depthwise(
    x: torch.Tensor, weight: torch.Tensor, stride: tuple[int, int, int], padding: tuple[int, int, int]
) -> torch.Tensor:
    """Return ``depthwise_conv3d(x, weight, stride, padding)``: the ``DEPTHWISE`` registry's ``triton``."""
    return depthwise_conv3d(x, weight, list(stride), list(padding))
