"""The synthetic benchmark: DFEW prior, heterogeneity knobs, determinism, caching, folds, splits."""

import numpy as np
import pandas as pd
import pytest

from hdfbench.data import build_dataset, make_splits
from hdfbench.data.base import inner_validation_split
from hdfbench.data.dfew import DFEW_COUNTS
from hdfbench.data.synthetic import SyntheticOptions, class_sizes, plan_clips, source_mix

SMALL = {"n_clips": 84, "frames": 4, "size": 32, "n_subjects": 8}


def test_class_prior_follows_dfew_and_imbalance_knob():
    sizes = class_sizes(SyntheticOptions(n_clips=11697))
    assert np.abs(sizes - DFEW_COUNTS).max() <= 2
    assert sizes.max() / sizes.min() == pytest.approx(2669 / 145, rel=0.02)
    balanced = class_sizes(SyntheticOptions(n_clips=700, imbalance=0.0))
    assert balanced.tolist() == [100] * 7
    floored = class_sizes(SyntheticOptions(n_clips=200, min_clips_per_class=10))
    assert floored.min() == 10 and floored.sum() == 200


def test_source_mix_depends_on_class_only_when_skewed():
    assert np.allclose(source_mix(SyntheticOptions(source_skew=0.0)), 0.25)
    skewed = source_mix(SyntheticOptions(source_skew=0.8))
    assert np.allclose(skewed.sum(axis=1), 1.0) and skewed.max() == pytest.approx(0.85)
    table = plan_clips(SyntheticOptions(n_clips=3000, source_skew=0.8))
    by_class = pd.crosstab(table["clean_label"], table["source"], normalize="index")
    assert by_class.loc[5, "cctv"] > 0.7  # Disgust comes mostly from the CCTV-style source


def test_plan_is_deterministic_with_metadata_and_stratified_folds():
    opts = SyntheticOptions(n_clips=700, label_noise=0.1)
    a, b = plan_clips(opts), plan_clips(opts)
    pd.testing.assert_frame_equal(a, b)
    assert {"clip_id", "label", "source", "subject", "hard", "noisy_label", "fold"} <= set(a.columns)
    assert 0.05 < a["noisy_label"].mean() < 0.15
    assert (a.loc[a["noisy_label"], "label"] != a.loc[a["noisy_label"], "clean_label"]).all()
    per_fold = pd.crosstab(a["label"], a["fold"])
    assert (per_fold.max(axis=1) - per_fold.min(axis=1)).max() <= 1
    assert not plan_clips(SyntheticOptions(n_clips=700, seed=1))["label"].equals(a["label"])


def test_generation_is_cached_deterministic_and_uint8(tmp_path):
    ds = build_dataset("synthetic", SMALL, tmp_path)
    ds.prepare()
    clips = ds.load_clips(ds.table())
    assert clips.dtype == np.uint8 and clips.shape == (84, 4, 32, 32, 3)
    assert clips.std() > 10  # real images, not blanks
    mtime = (ds.data_dir / "clips.npy").stat().st_mtime_ns
    ds.prepare()  # cached: nothing rewritten
    assert (ds.data_dir / "clips.npy").stat().st_mtime_ns == mtime
    other = build_dataset("synthetic", SMALL, tmp_path / "elsewhere")
    other.prepare()
    assert np.array_equal(other.load_clips(other.table()), clips)
    changed = build_dataset("synthetic", {**SMALL, "heterogeneity": 0.0}, tmp_path)
    assert changed.data_dir != ds.data_dir  # new options, new cache entry


def test_frames_change_over_time_and_sources_differ(tmp_path):
    ds = build_dataset("synthetic", {**SMALL, "frames": 8, "hard_fraction": 0.0}, tmp_path)
    ds.prepare()
    table = ds.table()
    clips = ds.load_clips(table).astype(float)
    motion = np.abs(np.diff(clips, axis=1)).mean(axis=(1, 2, 3, 4))
    assert np.median(motion) > 1.0
    noise = {
        s: clips[(table["source"] == s).to_numpy()].std(axis=(1, 2, 3, 4)).mean() for s in table["source"].unique()
    }
    assert len(noise) >= 3


def test_splits_are_disjoint_stratified_and_never_touch_test(tmp_path):
    ds = build_dataset("synthetic", {**SMALL, "n_clips": 700}, tmp_path)
    ds.prepare()
    splits = make_splits(ds, fold=2, seed=3, val_fraction=0.1)
    ids = [set(t["clip_id"]) for t in (splits.train, splits.val, splits.test)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    assert set(splits.test["clip_id"]) == set(ds.table().query("fold == 2")["clip_id"])
    assert len(splits.val) == pytest.approx(0.1 * (len(splits.train) + len(splits.val)), abs=1)
    assert splits.val["label"].nunique() == 7
    again = make_splits(ds, fold=2, seed=3, val_fraction=0.1)
    assert again.val["clip_id"].tolist() == splits.val["clip_id"].tolist()
    other_seed = make_splits(ds, fold=2, seed=4, val_fraction=0.1)
    assert other_seed.val["clip_id"].tolist() != splits.val["clip_id"].tolist()


def test_inner_split_keeps_singleton_classes_in_train():
    table = pd.DataFrame({"clip_id": [str(i) for i in range(21)], "label": [0] * 10 + [1] * 10 + [2]})
    train, val = inner_validation_split(table, 0.2, seed=0)
    assert "20" in set(train["clip_id"]) and len(val) == 4 and set(val["label"]) == {0, 1}


@pytest.mark.parametrize("n_clips", [70, 84, 200, 1500])
def test_small_benchmarks_keep_the_class_order_of_the_prior(n_clips):
    sizes = class_sizes(SyntheticOptions(n_clips=n_clips))
    assert sizes.sum() == n_clips and sizes.min() >= 10
    assert sizes[2] == sizes.max()  # Neutral stays the largest class
    assert sizes[5] == sizes.min()  # Disgust stays the smallest


def test_every_option_is_documented():
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "synthetic.md").read_text()
    assert [name for name in SyntheticOptions.model_fields if f"| `{name}` |" not in doc] == []
