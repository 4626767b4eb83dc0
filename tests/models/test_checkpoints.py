"""Pretrained X3D weights from pytorchvideo hub files and PySlowFast checkpoints (models/checkpoints.py).

The pytorchvideo side is built here with pytorchvideo's own ``create_x3d``. PySlowFast is not on PyPI:
its side comes from fixtures its own code wrote (tests/fixtures/pyslowfast/make_fixtures.py): the key →
shape layout of its X3D-XS/S/M, and a small PySlowFast X3D saved by its ``save_checkpoint`` with the
float64 features PySlowFast computed for a fixed input. A loaded model must hold every backbone tensor of
the file unchanged, start only the classifier (and the inserted layers' absence) new, and compute the
features of the model that saved the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hdfbench.cli import main
from hdfbench.models import build_backbone
from hdfbench.models.checkpoints import CheckpointError, file_sha256, load_weights
from hdfbench.models.pytorchvideo_compat import import_pytorchvideo
from tests.helpers import tiny_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pyslowfast"
#: pytorchvideo's hub presets (models/hub/x3d.py): clip length and crop size; one parameter layout.
HUB = {"x3d_xs": (4, 160), "x3d_s": (13, 160), "x3d_m": (16, 224)}
SMALL_OPTIONS = {"width_factor": 0.6667, "depth_factor": 0.4, "head_dim_out": 32, "dropout": 0.0}


def create_x3d(frames: int, size: int, **kwargs) -> torch.nn.Module:
    return import_pytorchvideo("pytorchvideo.models.x3d").create_x3d(
        input_clip_length=frames, input_crop_size=size, head_activation=None, **kwargs
    )


def randomised(state: dict[str, torch.Tensor], seed: int = 0) -> dict[str, torch.Tensor]:
    """Return ``state`` with distinct random values everywhere (so a tensor can be found by its values)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for i, (key, value) in enumerate(state.items()):
        if value.dtype == torch.int64:
            out[key] = torch.tensor(1000 + i)
        elif key.endswith("running_var"):
            out[key] = torch.rand(value.shape, generator=g) + 0.5
        else:
            out[key] = torch.randn(value.shape, generator=g) * 0.1
    return out


def place_of(tensor: torch.Tensor, model_state: dict[str, torch.Tensor]) -> list[str]:
    """Return the model keys holding exactly ``tensor`` (found by value, not by any renaming)."""
    return [k for k, v in model_state.items() if v.shape == tensor.shape and torch.equal(v, tensor)]


def pooled_features(net: torch.nn.Module, clips: torch.Tensor, train: bool) -> torch.Tensor:
    """Return what pytorchvideo's X3D head pools (its ProjectedPool's output, before dropout and projection)."""
    seen = {}
    hook = net.blocks[-1].pool.register_forward_hook(lambda m, i, o: seen.update(out=o))
    net.train(train)
    with torch.no_grad():
        net(clips)
    hook.remove()
    return seen["out"].flatten(1)


def our_features(model: torch.nn.Module, clips: torch.Tensor, train: bool) -> torch.Tensor:
    model.train(train)
    with torch.no_grad():
        return model(clips)[1]


def assert_every_tensor_placed_once(state: dict, ours: dict, dropped: str) -> None:
    """Assert that every file tensor sits unchanged at exactly one place of the model (the old projection,
    keys starting with ``dropped``, at none) and that only the classifier holds no file tensor."""
    for key, tensor in state.items():
        assert len(place_of(tensor, ours)) == (0 if key.startswith(dropped) else 1), key
    placed = {k for t in state.values() for k in place_of(t, ours)}
    assert sorted(set(ours) - placed) == ["classifier.bias", "classifier.weight"]


@pytest.mark.parametrize("name", sorted(HUB))
def test_a_pytorchvideo_hub_file_loads_every_backbone_tensor(name, tmp_path):
    net = create_x3d(*HUB[name])
    state = randomised(net.state_dict())
    torch.save({"model_state": state}, tmp_path / "hub.pyth")
    model = build_backbone(name, 7, frames=4, size=32, options={"pretrained": str(tmp_path / "hub.pyth")})
    report, ours = model.pretrained_report, model.state_dict()
    assert_every_tensor_placed_once(state, ours, dropped="blocks.5.proj.")
    assert report.format == "pytorchvideo" and report.loaded == len(state) - 2 and report.inserted == []
    assert report.new == ["classifier.bias", "classifier.weight"]
    assert report.ignored == ["blocks.5.proj.bias", "blocks.5.proj.weight"]
    assert report.sha256 == file_sha256(tmp_path / "hub.pyth")


def compare_features(net, model, clips) -> None:
    for train in (False, True):
        reference = pooled_features(net, clips, train)
        assert reference.abs().max() > 0.1
        torch.testing.assert_close(our_features(model, clips, train), reference, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(HUB))
def test_a_pytorchvideo_hub_file_computes_the_features_of_the_model_that_saved_it(name, tmp_path):
    """The preset's widths and depths; a 4 × 32² clip (the clip size sets only the head's pooling kernel)."""
    net = create_x3d(4, 32)
    net.load_state_dict(randomised(net.state_dict()))
    torch.save({"model_state": net.state_dict()}, tmp_path / "hub.pyth")
    options = {"pretrained": str(tmp_path / "hub.pyth"), "dropout": 0.0}
    model = build_backbone(name, 7, frames=4, size=32, options=options).double()
    compare_features(net.double(), model, torch.randn(2, 3, 4, 32, 32, dtype=torch.float64))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HUB))
def test_the_hub_presets_at_their_own_clip_size(name, tmp_path):
    frames, size = HUB[name]
    net = create_x3d(frames, size)
    net.load_state_dict(randomised(net.state_dict()))
    torch.save({"model_state": net.state_dict()}, tmp_path / "hub.pyth")
    options = {"pretrained": str(tmp_path / "hub.pyth"), "dropout": 0.0}
    model = build_backbone(name, 7, frames=frames, size=size, options=options).double()
    compare_features(net.double(), model, torch.randn(2, 3, frames, size, size, dtype=torch.float64))


@pytest.mark.parametrize("name", sorted(HUB))
def test_a_pyslowfast_x3d_checkpoint_loads_every_tensor_and_gains_its_shortcut_norm(name, tmp_path):
    """PySlowFast's X3D-XS/S/M layout (written by its own code): every tensor but the 400-way projection lands
    in the model unchanged; the first stage's shortcut BatchNorm, which pytorchvideo's X3D lacks, is inserted."""
    layout = json.loads((FIXTURES / "x3d_keys.json").read_text())
    zeros = {
        k: torch.zeros(shape, dtype=torch.int64 if k.endswith("num_batches_tracked") else torch.float32)
        for k, shape in layout["keys"]
    }
    state = randomised(zeros, seed=1)
    # what slowfast.utils.checkpoint.save_checkpoint writes
    torch.save(
        {"epoch": 300, "model_state": state, "optimizer_state": {}, "cfg": "MODEL:\n  ARCH: x3d\n"},
        tmp_path / "x3d.pyth",
    )
    model = build_backbone(name, 7, frames=4, size=32, options={"pretrained": str(tmp_path / "x3d.pyth")})
    report, ours = model.pretrained_report, model.state_dict()
    assert_every_tensor_placed_once(state, ours, dropped="head.projection.")
    assert report.format == "pyslowfast" and report.loaded == len(state) - 2
    assert report.inserted == ["stages.0.res_blocks.0.branch1_norm"]
    assert report.ignored == ["head.projection.bias", "head.projection.weight"]
    assert "s2.pathway0_res0.branch1_bn.weight" in state and len(state) == len(ours)  # +2 proj, -2 classifier


def small_pyslowfast_model() -> torch.nn.Module:
    options = {**SMALL_OPTIONS, "pretrained": str(FIXTURES / "x3d_small.pyth")}
    return build_backbone("x3d_s", 10, frames=4, size=32, options=options)


def test_a_pyslowfast_checkpoint_computes_what_pyslowfast_computed():
    """The small PySlowFast X3D (BN_LIN5 on) saved by its save_checkpoint; its features for the fixed input,
    as PySlowFast's own model computed them in float64, in eval mode (running statistics) and train mode
    (batch statistics)."""
    reference = torch.load(FIXTURES / "x3d_small_reference.pt", weights_only=True)
    model = small_pyslowfast_model()
    report = model.pretrained_report
    assert report.inserted == ["head.pool.post_norm", "stages.0.res_blocks.0.branch1_norm"]
    assert report.new == ["classifier.bias", "classifier.weight"] and report.format == "pyslowfast"
    state = torch.load(FIXTURES / "x3d_small.pyth", weights_only=True)["model_state"]
    assert report.loaded == len(state) - 2
    clips, model = reference["input"].double(), model.double()
    for train in (False, True):
        expected = reference["features_train" if train else "features_eval"]
        torch.testing.assert_close(our_features(model, clips, train), expected, rtol=1e-10, atol=1e-12)


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """Return files that must not load into x3d_tiny, with what their message must say."""
    tiny = build_backbone("x3d_tiny", 2, frames=4, size=32, options={"head_dim_out": 64})
    good = tmp_path / "stem-only.pyth"
    stem_state = {("blocks.0." + k.removeprefix("stem.")): v for k, v in tiny.state_dict().items() if "stem." in k}
    torch.save({"model_state": stem_state}, good)
    out = {}
    (tmp_path / "garbage.pyth").write_bytes(b"not a checkpoint at all" * 40)
    out["garbage"] = (tmp_path / "garbage.pyth", "not a readable torch checkpoint")
    full = tmp_path / "full.pyth"
    torch.save(
        {
            "model_state": randomised(
                create_x3d(4, 32, width_factor=1.0, depth_factor=1.0, head_dim_out=64).state_dict()
            )
        },
        full,
    )
    (tmp_path / "truncated.pyth").write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    out["truncated"] = (tmp_path / "truncated.pyth", "truncated or not one")
    out["wrong architecture"] = (FIXTURES / "x3d_small.pyth", "pyslowfast weights do not fit x3d_tiny")
    out["stem only"] = (good, "x3d_tiny tensors missing")
    torch.save({"epoch": 3}, tmp_path / "no-weights.pyth")
    out["no state dict"] = (tmp_path / "no-weights.pyth", "holds no state dict of tensors")
    torch.save({"model_state": {"fc.weight": torch.zeros(2, 2)}}, tmp_path / "other.pyth")
    out["another network"] = (tmp_path / "other.pyth", "neither a pytorchvideo X3D")
    return out


def test_bad_files_give_one_line_and_exit_2_at_validation(tmp_path, capsys):
    for what, (path, message) in bad_files(tmp_path).items():
        config = tiny_config(tmp_path, model={"backbone": "x3d_tiny", "options": {"head_dim_out": 64}})
        assert main(["validate", str(config), "--set", f"model.options.pretrained={path}"]) == 2, what
        err = capsys.readouterr().err
        lines = [line for line in err.splitlines() if "model.options.pretrained" in line]
        assert len(lines) == 1 and str(path) in lines[0] and message in lines[0], (what, err)
        assert "Traceback" not in err
        with pytest.raises(CheckpointError, match=message):
            load_weights(build_backbone("x3d_tiny", 2, 4, 32, {"head_dim_out": 64}), path)


def test_a_file_that_fits_validates_and_a_missing_one_is_left_to_the_preflight(tmp_path, capsys):
    from hdfbench.config import load_config
    from hdfbench.sweep.cluster import _check_weights
    from hdfbench.sweep.provenance import pretrained_weights, record_sweep

    net = create_x3d(4, 32, width_factor=1.0, depth_factor=1.0, head_dim_out=64)
    torch.save({"model_state": net.state_dict()}, tmp_path / "tiny.pyth")
    config = tiny_config(tmp_path, model={"backbone": "x3d_tiny", "options": {"head_dim_out": 64}})
    assert main(["validate", str(config), "--set", f"model.options.pretrained={tmp_path / 'tiny.pyth'}"]) == 0
    loaded = load_config(config, [f"model.options.pretrained={tmp_path / 'tiny.pyth'}"])
    sha = file_sha256(tmp_path / "tiny.pyth")
    assert pretrained_weights(loaded) == {str(tmp_path / "tiny.pyth"): sha}
    record_sweep(loaded, str(config), "s1", [], smoke=False)
    assert json.loads((loaded.experiment_dir / "sweep.json").read_text())["pretrained"] == {
        str(tmp_path / "tiny.pyth"): sha
    }
    assert _check_weights(pretrained_weights(loaded)) == []
    assert "differ from the driver's" in _check_weights({str(tmp_path / "tiny.pyth"): "0" * 64})[0]
    missing = load_config(config, [f"model.options.pretrained={tmp_path / 'absent.pyth'}"])
    (problem,) = _check_weights(pretrained_weights(missing))
    assert f"pretrained weights {tmp_path / 'absent.pyth'} not found" in problem
    assert "docs/datasets.md" in problem and "model.options.pretrained=null" in problem


def test_the_load_report_is_in_the_run_config(tmp_path):
    from hdfbench.config import DatasetSpec, ModelSpec, SelectionSpec, StrategySpec, TrainingSpec
    from hdfbench.training.rundir import RunDir
    from hdfbench.training.spec import RunSpec
    from hdfbench.training.trainer import train

    net = create_x3d(4, 32, width_factor=1.0, depth_factor=1.0, head_dim_out=64)
    torch.save({"model_state": net.state_dict()}, tmp_path / "tiny.pyth")
    spec = RunSpec(
        experiment="t",
        dataset=DatasetSpec(name="synthetic", options={"n_clips": 84, "frames": 4, "size": 32, "n_subjects": 8}),
        fold=1,
        seed=0,
        strategy=StrategySpec(name="erm", variant="erm"),
        model=ModelSpec(backbone="x3d_tiny", options={"head_dim_out": 64, "pretrained": str(tmp_path / "tiny.pyth")}),
        training=TrainingSpec(epochs=1, batch_size=8, max_steps_per_epoch=1, device="cpu"),
        selection=SelectionSpec(),
    )
    run_dir = RunDir(tmp_path / "run")
    train(spec, run_dir)
    report = run_dir.read_config()["pretrained"]
    assert report["sha256"] == file_sha256(tmp_path / "tiny.pyth") and report["format"] == "pytorchvideo"
    assert report["new"] == ["classifier.bias", "classifier.weight"] and report["loaded"] == len(net.state_dict()) - 2
