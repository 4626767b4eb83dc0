"""DFEW, FERV39k, MAFW and videofolder loaders on miniature trees built from the real split files."""

import numpy as np
import pandas as pd
import pytest

from hdfbench.data import build_dataset, make_splits
from hdfbench.data.media import list_frames, read_clip
from tests.data.trees import (
    dfew_tree,
    ferv39k_tree,
    grey,
    mafw_tree,
    n_frames_of,
    write_frames,
    write_mp4,
)

# Clips with id % 100 == 1 in the real DFEW split files: (train n, test n, test per class, train per class).
DFEW_SUBSET = {
    1: (91, 26, [3, 5, 5, 5, 4, 0, 4], [18, 23, 17, 17, 13, 0, 3]),
    2: (94, 23, [4, 6, 6, 3, 3, 0, 1], [17, 22, 16, 19, 14, 0, 6]),
    3: (94, 23, [6, 7, 2, 5, 2, 0, 1], [15, 21, 20, 17, 15, 0, 6]),
    4: (91, 26, [6, 5, 7, 3, 5, 0, 0], [15, 23, 15, 19, 12, 0, 7]),
    5: (98, 19, [2, 5, 2, 6, 3, 0, 1], [19, 23, 20, 16, 14, 0, 6]),
}
# The same for MAFW (11 classes, official order).
MAFW_SUBSET = {
    1: (80, 14, [4, 2, 0, 1, 1, 1, 3, 0, 1, 0, 1], [11, 9, 5, 14, 9, 7, 16, 2, 4, 1, 2]),
    2: (75, 19, [5, 2, 0, 3, 3, 2, 3, 0, 0, 0, 1], [10, 9, 5, 12, 7, 6, 16, 2, 5, 1, 2]),
    3: (74, 20, [1, 3, 2, 2, 3, 1, 7, 0, 0, 1, 0], [14, 8, 3, 13, 7, 7, 12, 2, 5, 0, 3]),
    4: (71, 23, [3, 2, 2, 5, 3, 2, 3, 1, 2, 0, 0], [12, 9, 3, 10, 7, 6, 16, 1, 3, 1, 3]),
    5: (76, 18, [2, 2, 1, 4, 0, 2, 3, 1, 2, 0, 1], [13, 9, 4, 11, 10, 6, 16, 1, 3, 1, 2]),
}


def counts(table, k):
    return np.bincount(table["label"], minlength=k).tolist()


def dataset(name, root, cache, **options):
    return build_dataset(name, {"root": str(root), "frames": 4, "size": 16, **options}, cache)


@pytest.fixture(scope="module")
def dfew_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("dfew")
    dfew_tree(root)
    return root


@pytest.mark.parametrize("fold", [1, 2, 3, 4, 5])
def test_dfew_subset_counts_per_fold(dfew_root, tmp_path, fold):
    ds = dataset("dfew", dfew_root, tmp_path, frames_dir="all")
    train, test = ds.split(fold)
    n_train, n_test, test_classes, train_classes = DFEW_SUBSET[fold]
    assert (len(train), len(test)) == (n_train, n_test)
    assert counts(test, 7) == test_classes and counts(train, 7) == train_classes
    assert set(train["clip_id"]).isdisjoint(test["clip_id"])


def test_dfew_label_mapping_ids_and_frame_counts(dfew_root, tmp_path):
    ds = dataset("dfew", dfew_root, tmp_path, frames_dir="all")
    _, test = ds.split(1)
    row = test.set_index("clip_id").loc["00001"]  # set_1.csv test row "1,2": Sad
    assert ds.classes[row["label"]] == "Sad" and row["n_frames"] == n_frames_of(1)
    assert ds.classes == ("Happy", "Sad", "Neutral", "Angry", "Surprise", "Disgust", "Fear")
    assert list(test.columns) == ["clip_id", "label", "n_frames"]


def test_dfew_accepts_underscore_spelling_and_nested_archive_folder(tmp_path):
    root = tmp_path / "DFEW"
    ids = dfew_tree(
        root, keep=lambda i: i % 500 == 1, frames_dir="clip_224x224_16f", spelling="single_labeled", nested=True
    )
    ds = dataset("dfew", root, tmp_path / "cache", frames_dir="16f")
    ds.prepare()
    train, test = ds.split(1)
    assert sorted(pd.concat([train, test])["clip_id"]) == [f"{i:05d}" for i in sorted(ids)] and len(ids) == 25


@pytest.mark.parametrize("naming", ["dfew", "plain"])
def test_frames_are_ordered_numerically(tmp_path, naming):
    write_frames(tmp_path / "clip", 12, naming)
    names = [p.name for p in list_frames(tmp_path / "clip")]
    expected = [f"00001_{k:05d}.jpg" if naming == "dfew" else f"{k}.jpg" for k in range(1, 13)]
    assert names == expected  # 10.jpg after 2.jpg
    frames = read_clip(tmp_path / "clip", 16)
    assert np.all(np.diff(frames.reshape(12, -1).mean(axis=1)) > 0)
    assert np.abs(frames[9].astype(int) - grey(10)).max() <= 2


def test_mp4_decodes_in_order(tmp_path):
    write_mp4(tmp_path / "a.mp4", 9)
    frames = read_clip(tmp_path / "a.mp4", 16)
    means = frames.reshape(9, -1).mean(axis=1)
    assert frames.shape == (9, 16, 16, 3) and np.abs(means - [grey(k) for k in range(1, 10)]).max() < 6


def test_ferv39k_subset_counts_and_scene_metadata(tmp_path):
    paths = ferv39k_tree(tmp_path / "FERV39k")
    ds = dataset("ferv39k", tmp_path / "FERV39k", tmp_path / "cache")
    ds.prepare()
    train, test = ds.split(1)
    assert (len(train), len(test)) == (40, 40)
    assert counts(train, 7) == [5, 6, 12, 10, 3, 3, 1] and counts(test, 7) == [7, 8, 13, 7, 1, 2, 2]
    assert train["clip_id"].tolist() == paths[:40]  # full Scene/Class/NNNN path as the key
    assert (train["scene"] == train["clip_id"].str.split("/").str[0]).all()
    assert train["scene"].value_counts()[["History", "Interview", "War"]].tolist() == [4, 4, 4]
    assert test["scene"].value_counts()["Conflict"] == 5
    assert ds.group_fields == ("scene",) and ds.folds == (1,)
    splits = make_splits(ds, 1, seed=0, val_fraction=0.1)
    assert len(splits.val) >= 4 and len(splits.train) + len(splits.val) == 40


@pytest.mark.parametrize("fold", [1, 3, 5])
def test_mafw_subset_counts_frames_and_mp4(tmp_path, fold):
    root = tmp_path / "MAFW"
    ids, videos = mafw_tree(root)
    ds = dataset("mafw", root, tmp_path / "cache")
    ds.prepare()
    train, test = ds.split(fold)
    n_train, n_test, test_classes, train_classes = MAFW_SUBSET[fold]
    assert (len(train), len(test)) == (n_train, n_test)
    assert counts(test, 11) == test_classes and counts(train, 11) == train_classes
    both = pd.concat([train, test])
    video_rows = both[both["clip_id"].isin({f"{i:05d}" for i in videos})]
    assert len(video_rows) == 3 and ds.catalog.loc[video_rows["clip_id"], "source"].str.endswith(".mp4").all()
    clips = ds.load_clips(video_rows)
    assert clips.shape == (3, 4, 16, 16, 3)


def test_videofolder_classes_folds_and_metadata(tmp_path):
    root = tmp_path / "mine"
    for name in ["calm", "angry"]:
        for i in range(6):
            if i % 2:
                write_mp4(root / name / f"v{i}.mp4", 5)
            else:
                write_frames(root / name / f"v{i}", 5, "plain")
    meta = tmp_path / "meta.csv"
    meta.write_text(
        "clip_id,site\n"
        + "\n".join(f"{n}/v{i},{'a' if i < 3 else 'b'}" for n in ["calm", "angry"] for i in range(6))
        + "\n"
    )
    ds = dataset("videofolder", root, tmp_path / "cache", metadata_csv=str(meta), group_fields=["site"])
    ds.prepare()
    assert ds.classes == ("angry", "calm")
    tests = [ds.split(f)[1] for f in ds.folds]
    assert sorted(c for t in tests for c in t["clip_id"]) == sorted(
        f"{n}/v{i}" for n in ["calm", "angry"] for i in range(6)
    )
    train, test = ds.split(1)
    assert set(train["site"]) == {"a", "b"} and ds.metadata_fields == ("site", "n_frames")
    assert ds.load_clips(test).shape == (len(test), 4, 16, 16, 3)
