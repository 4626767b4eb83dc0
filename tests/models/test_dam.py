"""DAM: the DCT bank, shapes, residual re-weighting, and a direct time-first re-computation."""

import math

import pytest
import torch
import torch.nn.functional as F

from hdfbench.models import build_backbone
from hdfbench.models.dam import DAM, dct_bank


def test_dct_bank_is_orthonormal_and_matches_the_formula():
    bank = dct_bank().double()
    flat = bank.reshape(49, 49)
    assert torch.allclose(flat @ flat.T, torch.eye(49, dtype=torch.float64), atol=1e-6)
    assert torch.allclose(bank[0], torch.full((7, 7), 1 / 7, dtype=torch.float64), atol=1e-7)
    a, b, i, j = 2, 3, 4, 1  # filter k = 7a + b: b vertical (rows), a horizontal (columns)
    expected = (
        math.sqrt(2 / 7)
        * math.cos(math.pi * b * (i + 0.5) / 7)
        * math.sqrt(2 / 7)
        * math.cos(math.pi * a * (j + 0.5) / 7)
    )
    assert bank[7 * a + b, i, j].item() == pytest.approx(expected, abs=1e-6)
    # k = 1 varies down the rows only: c_1 cos(π/14) · c_0 at (0, 0), constant along a row
    assert bank[1, 0, 0].item() == pytest.approx(math.sqrt(2 / 7) * math.cos(math.pi / 14) / math.sqrt(7), abs=1e-7)
    assert torch.allclose(bank[1], bank[1][:, :1].expand(7, 7))


def test_bank_is_a_buffer_that_follows_the_module_but_is_not_saved():
    dam = DAM(8, 4)
    assert dam.frequency.bank.dtype == torch.float32
    dam.double()
    assert dam.frequency.bank.dtype == torch.float64
    assert not any("bank" in key for key in dam.state_dict())
    assert all(not b.requires_grad for b in dam.buffers())


@pytest.mark.parametrize("shape", [(2, 8, 4, 9, 9), (1, 24, 16, 14, 14), (3, 5, 2, 1, 1)])
def test_shape_is_preserved_and_output_is_a_positive_rescaling_constant_over_channels(shape):
    torch.manual_seed(0)
    x = torch.randn(shape)
    dam = DAM(shape[1], shape[2])
    y = dam(x)
    assert y.shape == x.shape
    ratio = y / x
    assert torch.allclose(ratio, ratio[:, :1].expand_as(ratio), atol=1e-5)  # same scale for every channel
    assert ratio.min() >= 0.55 - 1e-6 and ratio.max() <= 1.1 + 1e-6  # (0.8(1+g) + 0.3(1+s)) / 2 at init


def test_wrong_frame_count_is_a_clear_error():
    with pytest.raises(ValueError, match="built for 8 frames"):
        DAM(4, 8)(torch.randn(1, 4, 4, 5, 5))


def test_cheap_dct_equals_the_released_conv_over_all_channels():
    torch.manual_seed(1)
    dam = DAM(6, 4)
    mean_clip = torch.randn(2, 6, 10, 10)
    weight = dct_bank()[:, None].expand(49, 6, 7, 7)  # the released [49, C, 7, 7] weight
    assert torch.allclose(dam.frequency.dct(mean_clip), F.conv2d(mean_clip, weight, padding=3), atol=1e-4)


def test_every_parameter_gets_a_gradient_and_size_matches_the_reference():
    torch.manual_seed(2)
    dam = DAM(192, 16)
    with torch.no_grad():  # move away from the symmetric init (D = 0, β = 0 give zero gradients to some)
        for p in dam.parameters():
            p.add_(0.1 * torch.randn_like(p))
    dam(torch.randn(2, 192, 16, 7, 7)).square().sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in dam.parameters())
    assert 4100 <= sum(p.numel() for p in dam.parameters()) <= 4300  # ≈ 4.2k parameters at T = 16


def test_reduction_builds_the_two_conv_attention():
    dam = DAM(8, 4, reduction=7)
    assert dam(torch.randn(1, 8, 4, 6, 6)).shape == (1, 8, 4, 6, 6)
    assert len(dam.frequency.attention) == 3


def reference_dam(dam: DAM, x_time_first: torch.Tensor) -> torch.Tensor:
    """The released module's forward on (T, B, C, H, W), written out step by step with loops."""
    x = x_time_first.permute(1, 0, 2, 3, 4)  # B, T, C, H, W as in the released code
    b_, t_, c_, h_, w_ = x.shape
    s = t_
    tg, fg = dam.temporal, dam.frequency
    # Temporal branch: adaptive (S, 1, 1) pooling over (C, H, W)
    avg = F.adaptive_avg_pool3d(x, (s, 1, 1)).reshape(b_, t_, s)
    peak = F.adaptive_max_pool3d(x, (s, 1, 1)).reshape(b_, t_, s)
    r = torch.empty(b_, t_, s, dtype=x.dtype)
    rf = tg.robust
    for b in range(b_):
        for t in range(t_):
            mu = sum(avg[b, t, k] for k in range(s)) / s
            d = torch.sqrt(sum((avg[b, t, k] - mu) ** 2 for k in range(s)))
            for k in range(s):
                diff = (avg[b, t, k] - avg[b, t, k - 1]).abs() if k > 0 else 0.0
                fused = rf.alpha * avg[b, t, k] + rf.beta * peak[b, t, k]
                r[b, t, k] = torch.sigmoid(rf.gamma[t, k] * fused + rf.delta[t, k] * d - diff)
    r = torch.einsum("bts,ut->bus", r, tg.fc_t.weight)
    w, b = tg.qkv.weight, tg.qkv.bias  # rows: Q, then K, then V (each a Linear(S, S))
    q, k, v = (r @ w[i * s : (i + 1) * s].T + b[i * s : (i + 1) * s] for i in range(3))
    attention = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(s), dim=-1)
    gate = torch.sigmoid((attention @ v).mean(-1))
    x_t = x * gate[:, :, None, None, None] + x
    # Frequency branch
    mean_clip = x.mean(1)
    u = F.conv2d(mean_clip, dct_bank()[:, None].expand(49, c_, 7, 7).to(x.dtype), padding=3)
    m = u.mean((2, 3), keepdim=True)
    spread = torch.sqrt(((u - m) ** 2).sum((2, 3), keepdim=True))
    u_adv = u + fg.noise * fg.amplitude * torch.sign(u) + 0.05 * fg.spread_weight * spread * torch.sign(u)
    mixed = (fg.mix_clean * u + fg.mix_adv * u_adv) / 2
    sigma = torch.sqrt(mixed.var(1, unbiased=True, keepdim=True) + 1e-6)
    fitted = torch.tanh(fg.tanh_alpha / (sigma + 1e-6) * mixed) * fg.tanh_gamma + fg.tanh_beta
    phi = F.conv2d(fitted, fg.attention.weight, padding=3)
    x_s = x * torch.sigmoid(phi)[:, None] + x
    y = (dam.weight_t * x_t + dam.weight_s * x_s) / 2
    return y.permute(1, 0, 2, 3, 4)


def test_dam_equals_the_released_time_first_computation():
    torch.manual_seed(3)
    dam = DAM(10, 4).double()
    with torch.no_grad():
        for p in dam.parameters():
            p.add_(0.2 * torch.randn_like(p))
    x = torch.randn(2, 10, 4, 6, 6, dtype=torch.float64)  # channels not divisible by groups on purpose
    expected = reference_dam(dam, x.permute(2, 0, 1, 3, 4)).permute(1, 2, 0, 3, 4)
    assert torch.allclose(dam(x), expected, atol=1e-9)


def test_hdf_inserts_a_dam_after_each_x3d_stage():
    from hdfbench.strategies.hdf import insert_dam

    model = build_backbone("x3d_tiny", 7, frames=4, size=32, options={})
    insert_dam(model, reduction=1)
    assert [type(m).__name__ for m in model.after_stage] == ["DAM"] * 4
    assert [m.channels for m in model.after_stage] == model.stage_channels()
    logits, features = model(torch.randn(2, 3, 4, 32, 32))
    assert logits.shape == (2, 7) and torch.isfinite(features).all()
