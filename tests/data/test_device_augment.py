"""Augmentation on the training device (``training.augment_on``): the loader only reads clips and draws
their parameters, ``to_device`` applies them; the clips, batches, runs and run ids are those of the
loader's augmentation. Page-locked batches (``pin_memory``)."""

import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F

from hdfbench.config import DatasetSpec, ModelSpec, SelectionSpec, StrategySpec, TrainingSpec, load_config
from hdfbench.data import build_dataset
from hdfbench.data.batch import Batch
from hdfbench.data.loader import ClipSet, make_loader, resolve_augment_on, to_device
from hdfbench.data.synthetic import SyntheticOptions
from hdfbench.data.synthetic_export import export_dfew
from hdfbench.data.transforms import AugmentOptions, _jitter, apply_augment, augment_batch, crop_box, draw_params
from hdfbench.training.rundir import RunDir
from hdfbench.training.spec import RunSpec
from hdfbench.training.trainer import train
from tests.helpers import EXPERIMENTS

#: Every option on: strong crops, coin-flip mirroring, colour jitter and hue rotation.
ALL_ON = AugmentOptions(crop_scale=(0.3, 1.0), flip=0.5, brightness=0.3, contrast=0.3, saturation=0.3, hue=0.1)
SMALL = SyntheticOptions(n_clips=35, min_clips_per_class=5, frames=4, size=32, n_subjects=8)


# --- the augmentation as released before it could run on the device, kept as the reference -------
_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def _reference_hue(x, turns):
    cos, sin = torch.cos(2 * math.pi * turns), torch.sin(2 * math.pi * turns)
    rotation = torch.zeros(len(turns), 3, 3)
    rotation[:, 0, 0] = 1
    rotation[:, 1, 1], rotation[:, 1, 2], rotation[:, 2, 1], rotation[:, 2, 2] = cos, -sin, sin, cos
    return torch.einsum("bij,btjhw->btihw", torch.linalg.inv(_YIQ) @ rotation @ _YIQ, x)


def _reference_crop_resize_flip(clip, size, opts, rng):
    top, left, h, w = crop_box(clip.shape[1], clip.shape[2], opts.crop_scale, opts.crop_ratio, rng)
    flip = rng.random() < opts.flip
    crop = np.ascontiguousarray(clip[:, top : top + h, left : left + w])
    x = torch.from_numpy(crop).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=max(h, w) > size)
    return x.flip(-1) if flip else x


def reference_augment_batch(clips, size, opts, rngs):
    x = torch.stack([_reference_crop_resize_flip(c, size, opts, r) for c, r in zip(clips, rngs)])
    factors = torch.tensor(
        [[r.uniform(1 - v, 1 + v) for v in (opts.brightness, opts.contrast, opts.saturation)] for r in rngs],
        dtype=torch.float32,
    )
    x = _jitter(x, factors)
    if opts.hue > 0:
        x = _reference_hue(x, torch.tensor([r.uniform(-opts.hue, opts.hue) for r in rngs], dtype=torch.float32))
    return x.clamp_(0, 255).round_().to(torch.uint8).permute(0, 1, 3, 4, 2).numpy()


def rngs(n: int, seed: int = 0) -> list[np.random.Generator]:
    return [np.random.default_rng([seed, k]) for k in range(n)]


def off_pixels(a: np.ndarray, b: np.ndarray) -> tuple[int, float]:
    """Return the largest difference of two uint8 arrays and the share of values that differ."""
    diff = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return int(diff.max()), float((diff > 0).mean())


# --- the transforms ---------------------------------------------------------------------------
def test_device_augmentation_equals_the_released_one_on_clips_of_any_source_size():
    generator = np.random.default_rng(3)
    shapes = [(128, 128), (112, 112), (40, 56), (96, 72), (24, 24), (112, 90)]  # shrunk, kept and enlarged
    clips = [generator.integers(0, 256, (4, h, w, 3), dtype=np.uint8) for h, w in shapes]
    expected = reference_augment_batch(clips, 32, ALL_ON, rngs(len(clips)))
    params = draw_params(shapes, 32, ALL_ON, rngs(len(clips)))
    assert params.flip.any() and not params.flip.all()  # both branches of the flip are exercised
    device = apply_augment([torch.from_numpy(c) for c in clips], params)
    assert device.dtype == torch.uint8 and device.shape == (6, 4, 32, 32, 3) and device.is_contiguous()
    # measured on the CPU: the same kernels on the same layouts, so no value differs
    assert off_pixels(device.numpy(), expected) == (0, 0.0)
    assert np.array_equal(augment_batch(clips, 32, ALL_ON, rngs(len(clips))), expected)


def test_a_stacked_batch_is_augmented_as_its_clips_one_by_one():
    clips = torch.from_numpy(np.random.default_rng(4).integers(0, 256, (5, 3, 48, 48, 3), dtype=np.uint8))
    params = draw_params([(48, 48)] * 5, 40, ALL_ON, rngs(5, seed=1))
    one_by_one = [augment_batch([c.numpy()], 40, ALL_ON, [r])[0] for c, r in zip(clips, rngs(5, seed=1))]
    assert np.array_equal(apply_augment(clips, params).numpy(), np.stack(one_by_one))


@pytest.mark.parametrize("hue", [0.1, 0.0])
def test_parameters_are_drawn_from_each_clips_generator_in_the_released_order(hue):
    opts = ALL_ON.model_copy(update={"hue": hue})
    shapes = [(32, 32), (60, 40), (16, 16)]
    drawn, released = rngs(3, seed=7), rngs(3, seed=7)
    params = draw_params(shapes, 24, opts, drawn)
    for k, ((h, w), rng) in enumerate(zip(shapes, released)):
        assert params.boxes[k].tolist() == list(crop_box(h, w, opts.crop_scale, opts.crop_ratio, rng))
        assert bool(params.flip[k]) == (rng.random() < opts.flip)
        expected = torch.tensor([rng.uniform(1 - v, 1 + v) for v in (0.3, 0.3, 0.3)], dtype=torch.float32)
        assert torch.equal(params.factors[k], expected)
        if hue:
            assert params.hue is not None and float(params.hue[k]) == np.float32(rng.uniform(-hue, hue))
    assert (params.hue is None) == (hue == 0)
    assert [r.bit_generator.state for r in drawn] == [r.bit_generator.state for r in released]


# --- the loader and the trainer ------------------------------------------------------------------
@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("dfew-synth")
    export_dfew(SMALL, root, tmp_path_factory.mktemp("syncache"))
    return root


def dataset_options(tree) -> dict:
    return {"root": str(tree), "frames_dir": "all", "frames": 4, "size": 32, "augment": ALL_ON.model_dump()}


def epochs(tree, cache, augment_on: str, num_workers: int = 0) -> list[list[Batch]]:
    """Return the raw batches of two epochs of the fold-1 training clips."""
    ds = build_dataset("dfew", dataset_options(tree), cache)
    ds.prepare()
    table, _ = ds.split(1)
    clip_set = ClipSet(ds.clip_array(table, train=True), table, {}, seed=3, augment_on=augment_on)
    loader = make_loader(clip_set, 8, shuffle=True, seed=5, num_workers=num_workers, persistent_workers=True)
    out = []
    for epoch in range(2):
        loader.sampler.set_epoch(epoch)
        out.append(list(loader))
    return out


def test_a_device_mode_epoch_gives_the_loader_mode_batches(tree, tmp_path):
    cpu = torch.device("cpu")
    loader_mode = epochs(tree, tmp_path, "loader")
    device_mode = epochs(tree, tmp_path, "device")
    workers = epochs(tree, tmp_path, "device", num_workers=1)  # the parameters cross processes too
    for loaded, deferred, remote in zip(loader_mode, device_mode, workers, strict=True):
        assert len(loaded) == len(deferred) == len(remote) == 4
        for a, b, c in zip(loaded, deferred, remote, strict=True):
            assert a.augment is None and b.augment is not None and b.clips.dtype == torch.uint8
            assert not torch.equal(a.clips, b.clips)  # the device-mode batch is not augmented yet
            moved = to_device(b, cpu)
            assert moved.augment is None and moved.clips.dtype == torch.float32
            assert torch.equal(to_device(a, cpu).clips, moved.clips)
            assert torch.equal(moved.clips, to_device(c, cpu).clips)
            assert torch.equal(a.index, b.index) and torch.equal(a.labels, b.labels)
    assert not torch.equal(loader_mode[0][0].clips, loader_mode[1][0].clips)


def run_spec(tree, augment_on: str) -> RunSpec:
    return RunSpec(
        experiment="t",
        dataset=DatasetSpec(name="dfew", options=dataset_options(tree)),
        fold=1,
        seed=0,
        strategy=StrategySpec(name="erm", variant="erm"),
        model=ModelSpec(backbone="x3d_tiny", options={"head_dim_out": 32}),
        training=TrainingSpec(epochs=1, batch_size=8, max_steps_per_epoch=2, device="cpu", augment_on=augment_on),
        selection=SelectionSpec(rule="best_val_uar"),
    )


def test_a_run_trains_alike_wherever_it_augments_and_records_where(tree, tmp_path):
    results = {}
    for mode in ("loader", "device"):
        spec = run_spec(tree, mode)
        run = RunDir(tmp_path / mode)
        results[mode] = (spec.run_id, train(spec, run), run.read_metrics()[0])
        assert run.read_config()["augment_on"] == mode
    (id_a, final_a, epoch_a), (id_b, final_b, epoch_b) = results["loader"], results["device"]
    assert id_a == id_b and json.dumps(final_a, sort_keys=True) == json.dumps(final_b, sort_keys=True)
    assert {k: v for k, v in epoch_a.items() if "time" not in k and "per_s" not in k} == {
        k: v for k, v in epoch_b.items() if "time" not in k and "per_s" not in k
    }


def test_where_augmentation_runs_does_not_change_run_ids():
    from hdfbench.sweep.grid import expand

    path = EXPERIMENTS / "hdf_ablation.yaml"
    published = {"synthetic-f1-s0-hdf_full-be6673bf", "synthetic-f1-s0-hdf_no_dam-e342a9b8"}
    for setting in ("auto", "loader", "device"):
        assert published <= {s.run_id for s in expand(load_config(path, [f"training.augment_on={setting}"]))}


def test_auto_augments_on_cuda_devices_only():
    assert resolve_augment_on("auto", torch.device("cuda")) == "device"
    assert resolve_augment_on("auto", torch.device("cpu")) == "loader"
    assert resolve_augment_on("device", torch.device("cpu")) == "device"
    assert resolve_augment_on("loader", torch.device("cuda")) == "loader"


# --- page-locked batches --------------------------------------------------------------------------
def augmented_batch() -> Batch:
    clips = torch.zeros(3, 2, 8, 8, 3, dtype=torch.uint8)
    params = draw_params([(8, 8)] * 3, 8, ALL_ON, rngs(3))
    return Batch(clips, torch.arange(3), {"source": torch.tensor([0, 1, 0])}, torch.arange(3), params)


def device_bound_tensors(batch: Batch) -> list[torch.Tensor]:
    """Return the tensors of ``batch`` that ``Batch.to`` moves to the device."""
    assert batch.augment is not None and batch.augment.hue is not None
    return [batch.clips, batch.labels, *batch.groups.values(), batch.index, batch.augment.factors, batch.augment.hue]


@pytest.fixture
def fake_pinning(monkeypatch):
    """Replace ``Tensor.pin_memory`` (which needs an accelerator) by a copy that is recorded; return the record."""
    pinned: list[torch.Tensor] = []

    def pin(tensor, *args, **kwargs):
        pinned.append(tensor.clone())
        return pinned[-1]

    monkeypatch.setattr(torch.Tensor, "pin_memory", pin)
    return pinned


def test_pin_memory_pins_every_tensor_that_travels_to_the_device(fake_pinning):
    batch = augmented_batch()
    pinned = batch.pin_memory()
    for original, copy in zip(device_bound_tensors(batch), device_bound_tensors(pinned), strict=True):
        assert any(copy is p for p in fake_pinning) and torch.equal(copy, original)
    assert pinned.augment is not None and torch.equal(pinned.augment.boxes, batch.augment.boxes)


def test_a_pinning_loader_yields_pinned_batches(fake_pinning, monkeypatch):
    # DataLoader pins only where an accelerator is available: pretend one is, with the default device
    monkeypatch.setattr(torch.accelerator, "is_available", lambda: True)
    monkeypatch.setattr(torch.accelerator, "current_accelerator", lambda *args, **kwargs: None)
    clip_set = ClipSet(np.zeros((6, 2, 8, 8, 3), dtype=np.uint8), pd.DataFrame({"label": [0, 1] * 3}), {})
    batches = list(make_loader(clip_set, 3, shuffle=True, seed=0, pin_memory=True))
    assert len(batches) == 2
    for batch in batches:
        assert all(any(t is p for p in fake_pinning) for t in (batch.clips, batch.labels, batch.index))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="page-locked memory needs CUDA")
def test_pin_memory_really_pins_with_cuda():
    pinned = augmented_batch().pin_memory()
    assert all(t.is_pinned() for t in device_bound_tensors(pinned))
