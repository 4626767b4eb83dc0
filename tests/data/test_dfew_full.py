"""The full DFEW split files (11,697 clips, 5 folds) against a tree of one-frame folders: datasets.md §1.2."""

import numpy as np
import pandas as pd
import pytest

from hdfbench.data import build_dataset
from tests.data.trees import dfew_tree, jpeg_bytes

# fold: (train n, test n, test per class, train per class), Happy Sad Neutral Angry Surprise Disgust Fear.
EXPECTED = {
    1: (9356, 2341, [489, 379, 534, 435, 294, 29, 181], [1956, 1515, 2135, 1738, 1175, 116, 721]),
    2: (9356, 2341, [489, 379, 534, 435, 294, 29, 181], [1956, 1515, 2135, 1738, 1175, 116, 721]),
    3: (9357, 2340, [489, 379, 534, 435, 294, 29, 180], [1956, 1515, 2135, 1738, 1175, 116, 722]),
    4: (9358, 2339, [489, 379, 534, 434, 294, 29, 180], [1956, 1515, 2135, 1739, 1175, 116, 722]),
    5: (9361, 2336, [489, 378, 533, 434, 293, 29, 180], [1956, 1516, 2136, 1739, 1176, 116, 722]),
}
TOTAL = [2445, 1894, 2669, 2173, 1469, 145, 902]


@pytest.fixture(scope="module")
def full_dfew(tmp_path_factory):
    root = tmp_path_factory.mktemp("dfew-full")
    ids = dfew_tree(root, keep=lambda i: True, frames_dir="clip_224x224_16f", write=False)
    frame = jpeg_bytes(128)
    for i in ids:  # one tiny frame per clip: counting needs no decoding
        folder = root / "Clip" / "clip_224x224_16f" / f"{i:05d}"
        folder.mkdir()
        (folder / f"{i:05d}_00001.jpg").write_bytes(frame)
    ds = build_dataset("dfew", {"root": str(root), "frames_dir": "16f"}, tmp_path_factory.mktemp("cache"))
    return ds, ids


def test_all_11697_clips_are_listed_once(full_dfew):
    ds, ids = full_dfew
    assert len(ids) == 11697 and len(ds.catalog) == 11697 and not ds.bad_clips()


@pytest.mark.parametrize("fold", [1, 2, 3, 4, 5])
def test_per_fold_class_counts_match_the_reference(full_dfew, fold):
    ds, _ = full_dfew
    train, test = ds.split(fold)
    n_train, n_test, test_counts, train_counts = EXPECTED[fold]
    assert (len(train), len(test)) == (n_train, n_test)
    assert np.bincount(test["label"], minlength=7).tolist() == test_counts
    assert np.bincount(train["label"], minlength=7).tolist() == train_counts
    assert set(train["clip_id"]).isdisjoint(test["clip_id"])


def test_test_folds_partition_the_dataset(full_dfew):
    ds, _ = full_dfew
    tests = pd.concat([ds.split(fold)[1] for fold in ds.folds])
    assert tests["clip_id"].is_unique and len(tests) == 11697
    assert np.bincount(tests["label"], minlength=7).tolist() == TOTAL
