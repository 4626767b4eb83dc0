"""X3D backbones: shapes, no Softmax, the import shim, size limits, registry."""

import subprocess
import sys

import pytest
import torch

from hdfbench.models import BACKBONES, build_backbone
from hdfbench.models.pytorchvideo_compat import import_pytorchvideo
from tests.helpers import REPO


def test_tiny_forward_backward_returns_logits_and_features():
    model = build_backbone("x3d_tiny", 7, frames=4, size=32, options={"head_dim_out": 64})
    logits, features = model(torch.randn(2, 3, 4, 32, 32))
    assert logits.shape == (2, 7) and features.shape == (2, 64) and model.feature_dim == 64
    assert not torch.allclose(logits.softmax(-1).sum(-1), logits.sum(-1))  # raw logits, no Softmax head
    logits.sum().backward()
    assert all(p.grad is not None for p in model.classifier.parameters())


def test_any_clip_size_works_and_stage_slots_exist():
    model = build_backbone("x3d_tiny", 3, frames=8, size=48, options={})
    assert model(torch.randn(1, 3, 8, 48, 48))[0].shape == (1, 3)
    assert len(model.after_stage) == 4 and model.stage_channels() == [16, 24, 48, 96]


def test_too_small_frames_give_a_clear_error():
    with pytest.raises(ValueError, match="at least 32×32"):
        build_backbone("x3d_tiny", 7, frames=4, size=16, options={})


WITHOUT_TORCHVISION = """
import importlib.abc, sys

class NoTorchvision(importlib.abc.MetaPathFinder):  # torchvision absent, whether or not it is installed
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] == "torchvision":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoTorchvision())
from hdfbench.models import build_backbone
build_backbone("x3d_tiny", 2, frames=4, size=32, options={})
head = sys.modules["pytorchvideo.models.head"]
print(head.RoIAlign.__module__, sorted(m for m in sys.modules if m.partition(".")[0] == "torchvision"))
"""


def test_without_torchvision_the_shim_leaves_no_fake_torchvision_behind():
    # a fresh interpreter: in this one pytorchvideo may be imported already, or the real torchvision installed
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_TORCHVISION], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["hdfbench.models.pytorchvideo_compat", "[]"]  # the placeholder served, then left


def test_with_torchvision_installed_pytorchvideo_imports_the_real_one():
    torchvision = pytest.importorskip("torchvision")
    build_backbone("x3d_tiny", 2, frames=4, size=32, options={})
    assert import_pytorchvideo("pytorchvideo.models.head").RoIAlign is torchvision.ops.RoIAlign
    assert sys.modules["torchvision"] is torchvision


def test_standard_presets_are_registered_with_x3d_widths():
    assert {"x3d_tiny", "x3d_xs", "x3d_s", "x3d_m"} <= set(BACKBONES.names())
    model = build_backbone("x3d_s", 7, frames=4, size=32, options={})
    assert model.stage_channels() == [24, 48, 96, 192] and model.feature_dim == 2048


def test_pretrained_path_must_exist(tmp_path):
    with pytest.raises(FileNotFoundError, match="pretrained weights not found"):
        build_backbone("x3d_xs", 7, frames=4, size=32, options={"pretrained": str(tmp_path / "none.pyth")})


def test_feature_point_before_dropout_keeps_the_logits_and_drops_no_feature():
    model = build_backbone("x3d_tiny", 7, frames=4, size=32, options={"head_dim_out": 64, "dropout": 0.5}).train()
    clips = torch.randn(3, 3, 4, 32, 32)
    torch.manual_seed(0)
    logits, after = model(clips)
    model.feature_point = "before_dropout"
    torch.manual_seed(0)
    same_logits, before = model(clips)
    assert torch.equal(logits, same_logits)  # dropout draws the same mask; the classifier sees it either way
    kept = after != 0
    assert (before > 0).sum() > kept.sum()  # the ReLU'd embedding with no entry zeroed by dropout
    assert torch.allclose(after[kept], 2 * before[kept])  # inverted dropout at p = 0.5
    model.eval()
    before_in_eval = model(clips)[1]
    model.feature_point = "after_dropout"
    assert torch.equal(model(clips)[1], before_in_eval)  # in evaluation the two points coincide
