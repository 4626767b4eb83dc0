"""The multi-view test protocol (``evaluation``): one view is the single pass of every release, bit for bit;
k views are the mean of k single-view passes, each computed here from its own definition."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hdfbench.config import EvaluationSpec, OptimizerSpec
from hdfbench.data.cache import ClipCache
from hdfbench.data.clips import CachedClips, MemoryClips
from hdfbench.data.loader import to_float_clips
from hdfbench.data.sampling import segment_indices
from hdfbench.data.transforms import view_boxes
from hdfbench.models import build_backbone
from hdfbench.strategies import STRATEGIES, TaskInfo
from hdfbench.training.views import predict_views

FRAMES, SIZE = 4, 32


def released_centres(n: int, t: int) -> np.ndarray:
    """The evaluation frames of every earlier release: each TSN segment's centre (last frame repeated)."""
    if n < t:
        return np.concatenate([np.arange(n), np.full(t - n, n - 1)])
    edges = np.linspace(0.0, n, t + 1)
    lo = np.floor(edges[:-1]).astype(int)
    hi = np.maximum(lo + 1, np.floor(edges[1:]).astype(int))
    return (lo + hi - 1) // 2


def test_one_temporal_view_is_the_segment_centre_and_k_views_stay_in_their_segments():
    for n in [1, 3, 4, 7, 16, 17, 70, 847]:
        for t in [1, 4, 8, 16]:
            assert np.array_equal(segment_indices(n, t), released_centres(n, t)), (n, t)
            if n < 2 * t:
                continue
            views = [segment_indices(n, t, None, j, 3) for j in range(3)]
            edges = np.floor(np.linspace(0.0, n, t + 1)).astype(int)
            for idx in views:
                assert np.all((idx >= edges[:-1]) & (idx < np.maximum(edges[:-1] + 1, edges[1:])))
            assert np.all(views[0] <= views[1]) and np.all(views[1] <= views[2])
    with pytest.raises(ValueError, match="view 2 of 2"):
        segment_indices(10, 4, None, 2, 2)


def test_view_boxes_spread_along_the_diagonal():
    assert view_boxes(32, 1, 0.5) == [(0, 0, 32, 32)]
    assert view_boxes(32, 2, 0.5625) == [(0, 0, 24, 24), (8, 8, 24, 24)]
    assert view_boxes(32, 3, 0.5625) == [(0, 0, 24, 24), (4, 4, 24, 24), (8, 8, 24, 24)]


@pytest.fixture(scope="module")
def model_and_clips(tmp_path_factory):
    """An ERM strategy on x3d_tiny and cached clips of different lengths (3 to 40 frames)."""
    torch.manual_seed(0)
    model = build_backbone("x3d_tiny", 3, FRAMES, SIZE, {})
    task = TaskInfo(num_classes=3, class_counts=(1, 1, 1), group_counts={}, group_names={})
    strategy = STRATEGIES.get("erm")(model, STRATEGIES.get("erm").Hparams(), task, OptimizerSpec())
    strategy.configure_compute("cpu", None, True)
    strategy.eval()
    rng = np.random.default_rng(0)
    cache = ClipCache(tmp_path_factory.mktemp("cache"), "views", {"size": SIZE})
    lengths = [3, 4, 9, 16, 23, 40]
    frames = {f"c{k}": rng.integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8) for k, n in enumerate(lengths)}
    for clip_id, array in frames.items():
        cache.write(clip_id, array)
    clips = CachedClips(cache, list(frames), [""] * len(frames), FRAMES, SIZE, None)
    return strategy, clips, frames


def by_hand(strategy, frames: dict, temporal: tuple[int, int], box: tuple[int, int, int, int]) -> np.ndarray:
    """Return the logits of one view computed from its definition: frame (j + ½)/k of each segment, the crop
    resized back to SIZE² (bilinear, antialiased when shrinking), rounded to uint8."""
    j, k = temporal
    top, left, h, w = box
    batch = []
    for array in frames.values():
        n = len(array)
        if n < FRAMES:
            idx = released_centres(n, FRAMES)
        else:
            lo = np.floor(np.linspace(0.0, n, FRAMES + 1)[:-1]).astype(int)
            hi = np.maximum(lo + 1, np.floor(np.linspace(0.0, n, FRAMES + 1)[1:]).astype(int))
            idx = lo + np.floor((j + 0.5) * (hi - lo) / k - 1e-9).astype(int)
        clip = torch.from_numpy(np.ascontiguousarray(array[idx]))
        if (h, w) != (SIZE, SIZE):
            x = clip[:, top : top + h, left : left + w].permute(0, 3, 1, 2).float()
            x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False, antialias=False)
            clip = x.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1)
        batch.append(clip)
    clips = torch.stack(batch)
    with torch.no_grad():  # in batches of 4, as predicted below (a convolution's rounding follows its batch)
        return torch.cat(
            [strategy.predict(to_float_clips(clips[i : i + 4])).float() for i in range(0, len(clips), 4)]
        ).numpy()


def test_one_view_reproduces_the_single_pass_bit_for_bit(model_and_clips):
    strategy, clips, frames = model_and_clips
    got = predict_views(strategy, clips, 4, torch.device("cpu"), EvaluationSpec())
    assert np.array_equal(got, by_hand(strategy, frames, (0, 1), (0, 0, SIZE, SIZE)))


@pytest.mark.parametrize(("temporal", "spatial"), [(2, 1), (1, 2), (2, 2), (3, 3)])
def test_k_views_are_the_mean_of_k_single_view_passes(model_and_clips, temporal, spatial):
    strategy, clips, frames = model_and_clips
    views = EvaluationSpec(temporal_views=temporal, spatial_views=spatial, crop_area=0.6)
    got = predict_views(strategy, clips, 4, torch.device("cpu"), views)
    passes = [
        by_hand(strategy, frames, (j, temporal), box).astype(np.float64)
        for j in range(temporal)
        for box in view_boxes(SIZE, spatial, 0.6)
    ]
    assert len(passes) == temporal * spatial
    np.testing.assert_allclose(got, np.mean(passes, axis=0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(got, passes[0], atol=1e-4)  # the views differ: the average is not one of them


def test_memory_clips_have_one_temporal_view():
    clips = MemoryClips(np.zeros((2, FRAMES, SIZE, SIZE, 3), dtype=np.uint8))
    assert clips.temporal_view(1, 2) is clips


def test_views_enter_the_run_id_only_when_set():
    from hdfbench.config import load_config
    from hdfbench.sweep.grid import expand
    from tests.helpers import REPO

    quickstart = REPO / "experiments/quickstart.yaml"
    plain = [s.run_id for s in expand(load_config(quickstart))]
    assert plain == [s.run_id for s in expand(load_config(quickstart, ["evaluation.temporal_views=1"]))]
    two = [s.run_id for s in expand(load_config(quickstart, ["evaluation.temporal_views=2"]))]
    assert not set(two) & set(plain)


def test_a_run_saves_the_averaged_test_logits(tmp_path):
    """Through the trainer: with 2 × 2 views the saved test logits are the views' mean, validation keeps its
    single view unless ``on_validation``, and the prediction table's argmax follows the averaged logits."""
    from hdfbench.config import load_config
    from hdfbench.sweep.grid import expand
    from hdfbench.training.rundir import RunDir
    from hdfbench.training.trainer import Trainer
    from tests.helpers import tiny_config

    config = tiny_config(tmp_path, evaluation={"temporal_views": 2, "spatial_views": 2, "crop_area": 0.6})
    spec = expand(load_config(config))[0]
    trainer = Trainer(spec, RunDir(tmp_path / "run"))
    trainer.run()
    table = RunDir(tmp_path / "run").read_predictions()
    logit_columns = [c for c in table.columns if c.startswith("logit_")]
    test = table[table.split == "test"]
    views = [trainer_view_logits(trainer, "test", (k, 2, 0.6)) for k in range(2)]
    np.testing.assert_allclose(test[logit_columns].to_numpy(), np.mean(views, axis=0), rtol=1e-5, atol=1e-6)
    assert np.array_equal(test["pred"].to_numpy(), test[logit_columns].to_numpy().argmax(axis=1))
    val = table[table.split == "val"]
    single = predict_views(trainer.strategy, trainer.clips["val"], 64, torch.device("cpu"), EvaluationSpec())
    assert np.array_equal(val[logit_columns].to_numpy(), single)


def trainer_view_logits(trainer, split: str, crop) -> np.ndarray:
    """Return one spatial view's logits of ``split`` (the synthetic clips hold T frames: one temporal view)."""
    from hdfbench.training.views import predict_logits

    return predict_logits(trainer.strategy, trainer.clips[split], 64, torch.device("cpu"), crop).astype(np.float64)
