"""Split protocols of the synthetic benchmark: every fold is what its protocol promises."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2_contingency

from hdfbench.config import ConfigError, parse_config
from hdfbench.data import build_dataset, make_splits
from hdfbench.data.synthetic import SyntheticOptions, cache_key, plan_clips, shifted_class_counts

BASE = {"n_clips": 1400, "frames": 2, "size": 32, "source_skew": 0.8}


def test_iid_is_what_it_always_was():
    # the cache keys of earlier releases: the default protocol generates the same data as before
    assert cache_key(SyntheticOptions()) == "91676e790ad183d0"
    assert (
        cache_key(SyntheticOptions(n_clips=84, frames=4, size=32, min_clips_per_class=10, n_subjects=8))
        == "ced696c60a52e51d"
    )
    assert cache_key(SyntheticOptions(val_protocol="group_balanced")) == "91676e790ad183d0"  # splits only
    assert "pool" not in plan_clips(SyntheticOptions())


def test_subject_disjoint_folds_share_no_subject():
    table = plan_clips(SyntheticOptions(**BASE, protocol="subject_disjoint"))
    for fold in range(1, 6):
        test, train = table[table["fold"] == fold], table[table["fold"] != fold]
        assert not set(test["subject"]) & set(train["subject"])
        assert test["label"].nunique() >= 6  # still stratified as far as the subjects allow


def test_leave_source_out_tests_each_fold_on_one_source():
    opts = SyntheticOptions(**BASE, protocol="leave_source_out", n_sources=4)
    table = plan_clips(opts)
    assert opts.fold_ids == (1, 2, 3, 4)
    for fold in opts.fold_ids:
        test, train = table[table["fold"] == fold], table[table["fold"] != fold]
        assert test["source"].nunique() == 1 and test["source"].iloc[0] not in set(train["source"])
    with pytest.raises(ConfigError, match=r"has no fold \[5\] \(allowed: \[1, 2, 3, 4\]\)"):
        parse_config(
            {
                "experiment": "x",
                "folds": [5],
                "strategies": [{"name": "erm"}],
                "datasets": [{"name": "synthetic", "options": {"protocol": "leave_source_out"}}],
            }
        )


def _independence_p(table: pd.DataFrame) -> float:
    return chi2_contingency(pd.crosstab(table["label"], table["source"]))[1]


def test_decorrelated_test_breaks_the_class_source_link_on_the_test_side_only():
    table = plan_clips(SyntheticOptions(**{**BASE, "n_clips": 4000}, protocol="decorrelated_test"))
    train, test = table[table["pool"] == "train"], table[table["pool"] == "test"]
    assert _independence_p(train) < 1e-6  # the spurious correlation of the training side
    assert _independence_p(test) > 0.01  # source independent of class on the test side
    assert (train.groupby("fold").size() == test.groupby("fold").size()).all()
    plain = plan_clips(SyntheticOptions(**{**BASE, "n_clips": 4000}))
    pd.testing.assert_frame_equal(train.drop(columns="pool"), plain)  # the training pool is unchanged


def test_test_prior_is_as_requested():
    training = shifted_class_counts(SyntheticOptions(), 700)
    assert training.sum() == 700 and np.argmax(training) == 2 and np.argmin(training) == 5  # Neutral, Disgust
    balanced = shifted_class_counts(SyntheticOptions(test_prior="balanced"), 700)
    assert (balanced == 100).all()
    reversed_ = shifted_class_counts(SyntheticOptions(test_prior="reversed"), 700)
    assert reversed_.sum() == 700 and np.argmax(reversed_) == 5 and np.argmin(reversed_) == 2
    order = np.argsort(training)  # rarest first in training: most frequent first when reversed
    assert (np.diff(reversed_[order]) <= 0).all()


@pytest.fixture(scope="module")
def shifted(tmp_path_factory):
    options = {
        **BASE,
        "n_clips": 700,
        "protocol": "decorrelated_test",
        "test_prior": "balanced",
        "val_protocol": "group_balanced",
    }
    dataset = build_dataset("synthetic", options, tmp_path_factory.mktemp("cache"))
    dataset.prepare()
    return dataset


def test_the_inner_validation_split_never_sees_the_test_distribution(shifted):
    splits = make_splits(shifted, fold=2, seed=0, val_fraction=0.2)
    table = shifted.table().set_index("clip_id")
    assert set(table.loc[splits.val["clip_id"], "pool"]) == {"train"}
    assert set(table.loc[splits.test["clip_id"], "pool"]) == {"test"}
    assert not set(splits.val["clip_id"]) & set(splits.train["clip_id"])
    assert (splits.test["label"].value_counts().max() - splits.test["label"].value_counts().min()) <= 1


def test_group_balanced_validation_is_balanced_over_class_and_source(shifted):
    splits = make_splits(shifted, fold=1, seed=3, val_fraction=0.2)
    train, _ = shifted.split(1)
    sizes = train.groupby(["label", "source"]).size()
    val = splits.val.groupby(["label", "source"]).size().reindex(sizes.index, fill_value=0)
    quota = val.max()
    assert ((val == quota) | (val == sizes - 1)).all()  # the quota, or all but one clip of a small group
    assert len(splits.train) + len(splits.val) == len(train)


def test_group_balanced_batches_are_balanced_over_the_configured_groups():
    import torch
    from scipy.stats import chisquare

    from hdfbench.data.clips import MemoryClips
    from hdfbench.data.groups import Grouper
    from hdfbench.data.loader import ClipSet, make_loader

    table = plan_clips(SyntheticOptions(n_clips=700, source_skew=0.8))
    codes = {"source": sorted(table["source"].unique())}
    clip_set = ClipSet(MemoryClips(np.zeros((len(table), 1, 1, 1, 3), dtype=np.uint8)), table, codes)
    grouper = Grouper("class*source", [str(c) for c in range(7)], codes)
    ids = grouper.ids(clip_set.labels, clip_set.groups)
    loader = make_loader(clip_set, 50, shuffle=True, seed=0, balance_ids=ids)
    drawn = []
    for epoch in range(20):
        loader.sampler.set_epoch(epoch)
        drawn += [grouper.ids(b.labels, b.groups) for b in loader]
    counts = torch.bincount(torch.cat(drawn), minlength=len(grouper.names)).numpy()
    present = np.asarray(grouper.counts(clip_set.labels, clip_set.groups)) > 0
    assert chisquare(counts[present]).pvalue > 0.001  # every present group equally likely
    natural = torch.bincount(ids, minlength=len(grouper.names)).numpy()[present]
    assert chisquare(natural).pvalue < 1e-6  # while the data themselves are far from balanced


def test_balance_groups_must_be_groups_of_the_dataset():
    config = {
        "experiment": "x",
        "datasets": [{"name": "synthetic"}],
        "strategies": [{"name": "erm", "balance": "sample", "balance_groups": "class*scene"}],
    }
    with pytest.raises(
        ConfigError,
        match=r"balance_groups: 'class\*scene' are not groups of dataset 'synthetic' "
        r"\(allowed: class, source, subject, class\*source, class\*subject\)",
    ):
        parse_config(config)
    config["strategies"][0]["balance_groups"] = "class*source"
    assert parse_config(config).strategies[0].label == "erm+balanced_classxsource"
