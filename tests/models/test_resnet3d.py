"""The DFEW paper's 3-D ResNet baselines: torchvision's architectures key for key, stages for DAM, training."""

from __future__ import annotations

import json

import pytest
import torch

from hdfbench.models import BACKBONES, build_backbone
from tests.helpers import REPO

#: Key → shape of torchvision 0.28's r3d_18 / r2plus1d_18 state dicts at 400 classes, and their parameter counts,
#: written from torchvision's own model code; the same run loaded those state dicts into these backbones
#: strictly and found their logits bit-identical in float64 (train and eval mode).
LAYOUT = json.loads((REPO / "tests/fixtures/torchvision/video_resnet_layout.json").read_text())
NAMES = ["r3d_18", "r2plus1d_18"]


def torchvision_key(key: str) -> str:
    """Return the torchvision name of one of our state-dict keys (the classifier is torchvision's fc)."""
    return "fc." + key.removeprefix("classifier.") if key.startswith("classifier.") else key


@pytest.mark.parametrize(("name", "count"), [("r3d_18", 33_371_472), ("r2plus1d_18", 31_505_325)])
def test_parameter_counts_at_400_classes(name, count):
    model = build_backbone(name, 400, 16, 112, {})
    assert sum(p.numel() for p in model.parameters()) == count == LAYOUT[name]["n_parameters"]


@pytest.mark.parametrize("name", NAMES)
def test_state_dict_layout_is_torchvisions(name):
    model = build_backbone(name, 400, 16, 112, {})
    ours = {torchvision_key(k): list(v.shape) for k, v in model.state_dict().items()}
    assert ours == LAYOUT[name]["tensors"]


@pytest.mark.parametrize("name", NAMES)
def test_stages_report_what_their_slots_see(name):
    model = build_backbone(name, 7, 8, 32, {}).eval()
    seen = []
    hooks = [slot.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape))) for slot in model.after_stage]
    logits, features = model(torch.randn(2, 3, 8, 32, 32))
    for hook in hooks:
        hook.remove()
    assert logits.shape == (2, 7) and features.shape == (2, 512)
    assert [s[1] for s in seen] == model.stage_channels() == [64, 128, 256, 512]
    assert [s[2] for s in seen] == model.stage_frames() == [8, 4, 2, 1]


@pytest.mark.parametrize("name", NAMES)
def test_hdf_inserts_dam_at_each_stage_and_trains(name):
    from hdfbench.config import OptimizerSpec
    from hdfbench.data.batch import Batch
    from hdfbench.strategies import STRATEGIES, TaskInfo

    torch.manual_seed(0)
    model = build_backbone(name, 3, 6, 32, {})
    task = TaskInfo(num_classes=3, class_counts=(4, 3, 1), group_counts={}, group_names={})
    hdf = STRATEGIES.get("hdf")(model, STRATEGIES.get("hdf").Hparams(), task, OptimizerSpec())
    assert [m.frames for m in model.after_stage] == [6, 3, 2, 1]
    batch = Batch(torch.randn(4, 3, 6, 32, 32), torch.tensor([0, 1, 2, 0]), {}, torch.arange(4))
    logs = hdf.training_step(batch)
    assert torch.isfinite(torch.tensor(logs["loss"])) and logs["grad_norm"] > 0


def test_registered():
    assert {"r3d_18", "r2plus1d_18"} <= set(BACKBONES.names())


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_strategy_trains_on_the_backbone_under_smoke(name, tmp_path):
    import pandas as pd

    from hdfbench.strategies import STRATEGIES
    from tests.helpers import run_cli, tiny_config

    strategies = [{"name": s} for s in STRATEGIES.names()]
    config = tiny_config(tmp_path, strategies=strategies, model={"backbone": name})
    result = run_cli("run", str(config), "--smoke")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "results" / "tiny" / "summary.csv")
    assert sorted(summary["variant"]) == sorted(STRATEGIES.names())
    assert summary["test_uar"].notna().all()


@pytest.mark.parametrize("name", NAMES)
def test_torchvision_layout_weights_load_with_every_tensor_identical(name, tmp_path):
    g = torch.Generator().manual_seed(0)
    state = {
        key: (
            torch.randint(0, 5, shape, generator=g)
            if key.endswith("num_batches_tracked")
            else torch.randn(shape, generator=g)
        )
        for key, shape in LAYOUT[name]["tensors"].items()
    }
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)
    model = build_backbone(name, 7, 8, 32, {"pretrained": str(path)})
    ours = model.state_dict()
    for key, value in state.items():
        if key.startswith("fc."):
            continue
        assert torch.equal(ours[key], value), key
    report = model.pretrained_report
    assert report.format == "torchvision" and report.loaded == len(state) - 2
    assert report.new == ["classifier.bias", "classifier.weight"] and report.ignored == ["fc.bias", "fc.weight"]
    assert BACKBONES.get(name).check_options(BACKBONES.get(name).Options(pretrained=str(path))) == []


def test_weights_of_the_other_resnet_are_refused_in_one_line(tmp_path):
    state = {k: torch.zeros(s) for k, s in LAYOUT["r3d_18"]["tensors"].items()}
    path = tmp_path / "r3d.pth"
    torch.save(state, path)
    cls = BACKBONES.get("r2plus1d_18")
    problems = cls.check_options(cls.Options(pretrained=str(path)))
    assert len(problems) == 1 and problems[0][0] == "pretrained"
    message = problems[0][1]
    assert message.startswith(f"{path}: torchvision weights do not fit") and "\n" not in message
