"""Cache (warm = cold, invalidation, concurrent fill), TSN sampling, augmentation determinism, training."""

import json
import multiprocessing as mp

import numpy as np
import pytest
import torch

from hdfbench.data import build_dataset
from hdfbench.data.cache import ClipCache
from hdfbench.data.sampling import clip_rng, segment_indices
from hdfbench.data.transforms import AugmentOptions, augment, crop_box, hue_matrices, resize
from tests.data.trees import dfew_tree, grey


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("dfew")
    dfew_tree(root, keep=lambda i: i % 500 == 1)
    return root


def dfew(root, cache, **options):
    return build_dataset("dfew", {"root": str(root), "frames_dir": "all", "frames": 4, "size": 16, **options}, cache)


# --- sampling -----------------------------------------------------------------------------------
def test_eval_sampling_takes_segment_centres():
    assert segment_indices(16, 4).tolist() == [1, 5, 9, 13]
    assert segment_indices(8, 8).tolist() == list(range(8))
    idx = segment_indices(100, 16)
    assert np.all(np.diff(idx) > 0) and idx[0] < 100 / 16 and idx[-1] >= 100 - 100 / 16


def test_train_sampling_draws_one_frame_per_segment():
    draws = np.stack([segment_indices(40, 4, np.random.default_rng(s)) for s in range(200)])
    for k in range(4):
        assert draws[:, k].min() == 10 * k and draws[:, k].max() == 10 * k + 9
    assert not np.all(draws == draws[0])


def test_short_clips_repeat_their_last_frame():
    assert segment_indices(3, 6).tolist() == [0, 1, 2, 2, 2, 2]
    assert segment_indices(3, 6, np.random.default_rng(0)).tolist() == [0, 1, 2, 2, 2, 2]


def test_clip_generator_depends_on_seed_epoch_and_row_only():
    assert clip_rng(1, 2, 3).integers(1 << 30) == clip_rng(1, 2, 3).integers(1 << 30)
    assert clip_rng(1, 2, 3).integers(1 << 30) != clip_rng(1, 3, 3).integers(1 << 30)


# --- transforms ---------------------------------------------------------------------------------
def test_augment_is_deterministic_per_generator_and_one_set_per_clip():
    clip = np.random.default_rng(0).integers(0, 256, (4, 24, 24, 3), dtype=np.uint8)
    clip[:] = clip[0]  # identical frames stay identical: one crop/flip/jitter for the whole clip
    opts = AugmentOptions()
    a, b = augment(clip, 16, opts, np.random.default_rng(5)), augment(clip, 16, opts, np.random.default_rng(5))
    assert a.shape == (4, 16, 16, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert all(np.array_equal(a[0], a[t]) for t in range(4))
    assert not np.array_equal(a, augment(clip, 16, opts, np.random.default_rng(6)))


def test_hue_rotation_keeps_grey_and_luma_and_turns_full_circle():
    turns = torch.tensor([0.0, 0.25, 1.0])
    m = hue_matrices(turns)
    assert torch.allclose(m[0], torch.eye(3), atol=1e-5) and torch.allclose(m[2], torch.eye(3), atol=1e-4)
    grey_pixel, red = torch.tensor([100.0, 100.0, 100.0]), torch.tensor([200.0, 30.0, 30.0])
    assert torch.allclose(m[1] @ grey_pixel, grey_pixel, atol=1e-3)  # no chroma, nothing to rotate
    luma = torch.tensor([0.299, 0.587, 0.114])
    assert float(luma @ (m[1] @ red)) == pytest.approx(float(luma @ red), abs=1e-3)
    assert not torch.allclose(m[1] @ red, red, atol=1.0)
    clip = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    opts = AugmentOptions(
        crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip=0, brightness=0, contrast=0, saturation=0, hue=0.2
    )
    shifted = augment(clip, 8, opts, np.random.default_rng(1))
    assert not np.array_equal(shifted, clip)
    assert np.array_equal(augment(clip, 8, opts.model_copy(update={"hue": 0.0}), np.random.default_rng(1)), clip)


def test_flip_only_mirrors_and_resize_keeps_flat_images_flat():
    clip = np.zeros((2, 16, 16, 3), np.uint8)
    clip[:, :, :8] = 200
    opts = AugmentOptions(
        crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0), flip=1.0, brightness=0, contrast=0, saturation=0
    )
    out = augment(clip, 16, opts, np.random.default_rng(0))
    assert out[0, 0, 0, 0] == 0 and out[0, 0, -1, 0] == 200
    assert np.all(resize(np.full((1, 10, 10, 3), 77, np.uint8), 16) == 77)
    top, left, h, w = crop_box(20, 30, (0.3, 0.5), (0.75, 1.33), np.random.default_rng(1))
    assert 0 <= top <= 20 - h and 0 <= left <= 30 - w and 0.25 * 600 <= h * w <= 0.55 * 600


# --- cache --------------------------------------------------------------------------------------
def test_warm_read_equals_cold_read_and_reads_no_source(root, tmp_path):
    cold = dfew(root, tmp_path)
    cold.prepare()
    _, test = cold.split(1)
    first = cold.load_clips(test)
    files = sorted(cold.cache.clips_dir.glob("*.npy"))
    assert len(files) == len(cold.catalog)
    stamps = [f.stat().st_mtime_ns for f in files]
    warm = dfew(root, tmp_path)
    warm.prepare()
    assert np.array_equal(first, warm.load_clips(test))
    assert [f.stat().st_mtime_ns for f in files] == stamps  # nothing re-decoded
    params = json.loads((cold.cache.dir / "params.json").read_text())
    assert params["size"] == 16 and params["frames_dir"] == "all"


def test_cached_frames_are_capped_uniformly_and_memory_mapped(root, tmp_path):
    ds = dfew(root, tmp_path, max_cached_frames=3)
    ds.prepare()
    assert ds.catalog.at["00501", "n_frames"] == 4
    capped = ds.cache.read("00501")  # 4 frames → 3 spread over the clip: frames 1, 3, 4
    assert isinstance(capped, np.memmap) and capped.shape == (3, 16, 16, 3)
    means = capped.reshape(3, -1).mean(axis=1)
    assert np.abs(means - [grey(1), grey(3), grey(4)]).max() <= 2


def test_parameter_change_invalidates(root, tmp_path):
    a, b, c = dfew(root, tmp_path), dfew(root, tmp_path, size=24), dfew(root, tmp_path, max_cached_frames=8)
    assert len({a.cache.dir, b.cache.dir, c.cache.dir}) == 3
    assert dfew(root, tmp_path, frames=8).cache.dir == a.cache.dir  # T is sampled from the cache: shared
    b.prepare()
    assert b.cache.read(b.catalog.index[0]).shape[1:] == (24, 24, 3)


def _fill(cache_root, clip, seed):
    cache = ClipCache(cache_root, "race", {"p": 1})
    frames = np.full((6, 16, 16, 3), 7, np.uint8)
    for _ in range(40):
        cache.write(clip, frames)
        got = cache.read(clip)
        assert got.shape == (6, 16, 16, 3) and int(got.min()) == 7


def test_concurrent_fill_never_exposes_a_partial_file(tmp_path):
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_fill, args=(tmp_path, "Scene/Cls/0001", s)) for s in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    cache = ClipCache(tmp_path, "race", {"p": 1})
    assert cache.read("Scene/Cls/0001").shape == (6, 16, 16, 3)
    assert not list(cache.clips_dir.glob(".*.tmp"))


# --- clip arrays --------------------------------------------------------------------------------
def test_training_clips_depend_on_seed_and_epoch_only(root, tmp_path):
    ds = dfew(root, tmp_path)
    ds.prepare()
    train, _ = ds.split(1)
    clips = ds.clip_array(train, train=True)
    clips.set_epoch(0, 3)
    a = clips[np.arange(len(train))]
    b = np.stack([clips[[i]][0] for i in reversed(range(len(train)))])[::-1]  # other batch order
    assert np.array_equal(a, b)
    clips.set_epoch(0, 4)
    assert not np.array_equal(a, clips[np.arange(len(train))])


def test_evaluation_clips_are_segment_centres_without_augmentation(root, tmp_path):
    ds = dfew(root, tmp_path, frames=2)
    ds.prepare()
    _, test = ds.split(1)
    row = test.index[test["clip_id"] == "00001"][0]  # 4 frames → centres of [0,2) and [2,4): frames 0 and 2
    clip = ds.clip_array(test, train=False)[[row]][0]
    assert abs(int(clip[0].mean()) - grey(1)) <= 2 and abs(int(clip[1].mean()) - grey(3)) <= 2
    assert np.array_equal(clip, ds.load_clips(test)[row])


def test_video_frame_counts_are_remembered_until_the_file_changes(tmp_path, monkeypatch):
    import os

    import hdfbench.data.filedataset as filedataset
    from tests.data.trees import mafw_tree

    root = tmp_path / "MAFW"
    _, videos = mafw_tree(root, videos=3)
    opened = []
    real = filedataset.count_frames
    monkeypatch.setattr(filedataset, "count_frames", lambda p: opened.append(p) or real(p))
    options = {"root": str(root), "frames": 4, "size": 16}
    first = build_dataset("mafw", options, tmp_path / "cache").catalog

    def videos_opened():
        return [p for p in opened if p.suffix == ".mp4"]

    assert len(videos_opened()) == 3
    opened.clear()
    again = build_dataset("mafw", options, tmp_path / "cache").catalog  # a new trial: no video opened
    assert videos_opened() == [] and again.equals(first)
    changed = sorted(root.glob("data/faces/*.mp4"))[0]
    os.utime(changed, ns=(0, changed.stat().st_mtime_ns + 10**9))
    _ = build_dataset("mafw", options, tmp_path / "cache").catalog
    assert videos_opened() == [changed]


# --- loaders ------------------------------------------------------------------------------------
def test_epoch_orders_are_those_of_a_fresh_seeded_dataloader_and_sampler():
    from torch.utils.data import DataLoader, WeightedRandomSampler

    from hdfbench.data.loader import EpochSampler

    labels = torch.tensor([0] * 30 + [1] * 8 + [2] * 2)
    sampler = EpochSampler(labels, seed=500, limit=24)
    for epoch in (0, 3):
        sampler.set_epoch(epoch)
        old = DataLoader(range(40), batch_size=8, shuffle=True, generator=torch.Generator().manual_seed(500 + epoch))
        assert [i for _, i in sampler] == torch.cat(list(old)).tolist()[:24]
        assert {e for e, _ in sampler} == {epoch}
    balanced = EpochSampler(labels, seed=7, balanced=True)
    weights = (1.0 / torch.bincount(labels).double())[labels]
    old = WeightedRandomSampler(weights, 40, replacement=True, generator=torch.Generator().manual_seed(7))
    assert [i for _, i in balanced] == list(old)


def test_persistent_workers_give_the_batches_of_a_single_process(root, tmp_path):
    from hdfbench.data.loader import ClipSet, make_loader, to_device

    ds = dfew(root, tmp_path)
    ds.prepare()
    train, _ = ds.split(1)

    def epochs(**workers):
        clip_set = ClipSet(ds.clip_array(train, train=True), train, {}, seed=2)
        loader = make_loader(clip_set, 2, shuffle=True, seed=11, limit=4, **workers)
        out = []
        for epoch in range(3):  # augmentation differs by epoch: the workers must know it
            loader.sampler.set_epoch(epoch)
            out.append(torch.cat([to_device(b, torch.device("cpu")).clips for b in loader]))
        return out

    single = epochs()
    assert single[0].dtype == torch.float32 and not torch.equal(single[0], single[1])
    for a, b in zip(single, epochs(num_workers=2, persistent_workers=True, prefetch_factor=2), strict=True):
        assert torch.equal(a, b)
