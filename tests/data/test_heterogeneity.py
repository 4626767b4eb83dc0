"""Heterogeneity groups on real data layouts: clip-length bins (every file-backed dataset), DFEW's vote
entropy, MAFW's explicit clip source; usable as groups, listed by ``hdfbench inspect``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hdfbench.cli import main
from hdfbench.data import build_dataset
from hdfbench.data.dfew import VOTE_COLUMNS
from hdfbench.data.errors import DataError
from hdfbench.data.heterogeneity import quantile_bins, vote_entropy
from tests.data.trees import dfew_tree, mafw_tree, n_frames_of, write_frames


def dfew(root, cache, **options):
    return build_dataset("dfew", {"root": str(root), "frames": 4, "size": 16, "frames_dir": "all", **options}, cache)


@pytest.fixture(scope="module")
def dfew_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("dfew")
    return root, sorted(dfew_tree(root, keep=lambda i: i % 61 == 1))  # lengths 3..22 frames


def test_vote_entropy_by_hand():
    votes = np.array([[10, 0, 0, 0, 0, 0, 0], [5, 5, 0, 0, 0, 0, 0], [3, 1, 1, 1, 1, 1, 2]])
    p = votes[2] / 10
    want = [0.0, np.log(2) / np.log(7), -(p * np.log(p)).sum() / np.log(7)]
    np.testing.assert_allclose(vote_entropy(votes), want, rtol=1e-12)


def test_quantile_bins_follow_the_quantiles_and_keep_ties_together():
    values = pd.Series([11, 20, 20, 35, 52, 70, 88, 100, 400, 847], index=list("abcdefghij"))
    labels = quantile_bins(values, 3)
    edges = np.quantile(values, [1 / 3, 2 / 3])  # an independent assignment: v <= first edge, <= second, above
    expected = np.where(values <= edges[0], 0, np.where(values <= edges[1], 1, 2))
    assert labels.str[0].astype(int).sub(1).tolist() == expected.tolist()
    assert labels["a"] == "1:11-35" and labels["j"].endswith("-847") and labels.str.startswith("3:").sum() == 3
    assert quantile_bins(pd.Series([16] * 5), 3).unique().tolist() == ["1:16-16"]


def test_dfew_length_groups_are_a_group_field_in_every_split(dfew_root, tmp_path):
    root, ids = dfew_root
    ds = dfew(root, tmp_path, length_groups=3)
    assert ds.group_fields == ("length",)
    ds.prepare()
    train, test = ds.split(1)
    both = pd.concat([train, test])
    assert {"length", "n_frames"} <= set(both.columns)
    lengths = pd.Series({f"{i:05d}": n_frames_of(i) for i in ids})
    want = quantile_bins(lengths, 3)
    assert (both.set_index("clip_id")["length"] == want.loc[both["clip_id"]].to_numpy()).all()
    assert both["length"].nunique() == 3
    for label, group in both.groupby("length"):
        low, high = map(int, label.split(":")[1].split("-"))
        assert group["n_frames"].between(low, high).all()


def test_resampled_clips_give_one_length_and_a_clear_error(tmp_path):
    root = tmp_path / "DFEW"
    ids = dfew_tree(root, frames_dir="clip_224x224_16f", write=False)
    for i in ids:
        write_frames(root / "Clip" / "clip_224x224_16f" / f"{i:05d}", 5, "plain")
    ds = build_dataset("dfew", {"root": str(root), "frames": 4, "size": 16, "length_groups": 3}, tmp_path / "c")
    with pytest.raises(
        DataError, match="length_groups: 3 finds one length group, every clip has 5 frames.*frames_dir: all"
    ):
        ds.prepare()


def write_votes(path, ids, seed=0) -> pd.DataFrame:
    """Write a DFEW-style vote table (10 votes a clip, columns as the release's xlsx) for ``ids``."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in ids:
        votes = np.bincount(rng.choice(7, size=10, p=rng.dirichlet(np.full(7, 0.3 + (i % 3)))), minlength=7)
        rows.append({**dict(zip(VOTE_COLUMNS, votes.tolist())), "order": i, "label": int(votes.argmax()) + 1})
    table = pd.DataFrame(rows)
    if path.suffix == ".csv":
        table.to_csv(path, index=False)
    else:
        table.to_excel(path, index=False)
    return table


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_dfew_votes_give_an_ambiguity_field(dfew_root, tmp_path, suffix):
    root, ids = dfew_root
    table = write_votes(tmp_path / f"annotation{suffix}", ids)
    ds = dfew(root, tmp_path, votes=str(tmp_path / f"annotation{suffix}"), length_groups=2)
    assert ds.group_fields == ("length", "ambiguity")
    ds.prepare()
    train, test = ds.split(2)
    both = pd.concat([train, test]).set_index("clip_id")
    p = table[list(VOTE_COLUMNS)].to_numpy() / 10.0
    entropy = pd.Series(
        [-(r[r > 0] * np.log(r[r > 0])).sum() / np.log(7) for r in p], index=[f"{i:05d}" for i in table["order"]]
    )
    assert (both["ambiguity"] == quantile_bins(entropy, 3, digits=2).loc[both.index]).all()
    assert both["ambiguity"].nunique() == 3


def test_bad_vote_files_are_named(dfew_root, tmp_path):
    root, ids = dfew_root
    votes = tmp_path / "votes.csv"
    table = write_votes(votes, ids[1:])  # the first clip has no votes
    with pytest.raises(DataError, match=rf"{votes}: no votes for 1 listed clips, e.g. {ids[0]:05d}"):
        dfew(root, tmp_path, votes=str(votes)).prepare()
    table = write_votes(votes, ids).astype(str)
    table.loc[3, "2sad"] = "x"
    table.to_csv(votes, index=False)
    with pytest.raises(DataError, match=rf"{votes}:5: vote counts must be non-negative numbers"):
        dfew(root, tmp_path, votes=str(votes)).prepare()
    table.drop(columns=["7fear"]).to_csv(votes, index=False)
    with pytest.raises(DataError, match=rf"{votes}:1: the vote table has no column 7fear"):
        dfew(root, tmp_path, votes=str(votes)).prepare()
    votes.write_bytes(b"\x00\x01garbage")
    with pytest.raises(DataError, match="no column|not a readable vote table"):
        dfew(root, tmp_path, votes=str(votes)).prepare()


def test_groupdro_and_inspect_accept_the_derived_fields(dfew_root, tmp_path, capsys):
    from hdfbench.config import parse_config

    root, _ = dfew_root
    config = parse_config(
        {
            "experiment": "groups",
            "datasets": [{"name": "dfew", "options": {"root": str(root), "frames_dir": "all", "length_groups": 3}}],
            "strategies": [{"name": "groupdro", "hparams": {"groups": "class*length"}}],
        }
    )
    assert config.strategies[0].hparams["groups"] == "class*length"
    with pytest.raises(Exception, match="length"):
        parse_config({**config.model_dump(mode="json"), "datasets": [{"name": "dfew", "options": {"root": str(root)}}]})
    assert main(["inspect", "dfew", "--root", str(root), "--set", "frames_dir=all", "--set", "length_groups=3"]) == 0
    assert "group sizes by length: 1:" in capsys.readouterr().out


def test_mafw_takes_the_clip_source_it_is_told(tmp_path):
    root = tmp_path / "MAFW"
    ids, _ = mafw_tree(root, videos=0)
    for i in ids:
        write_frames(root / "data" / "frames" / f"{i:05d}", 7, "plain")
    faces = build_dataset("mafw", {"root": str(root), "frames": 4, "size": 16}, tmp_path / "cache")
    assert faces.catalog["source"].str.contains("/data/faces/").all()
    frames = build_dataset(
        "mafw", {"root": str(root), "frames": 4, "size": 16, "clip_source": "frames"}, tmp_path / "cache"
    )
    assert frames.catalog["source"].str.contains("/data/frames/").all() and (frames.catalog["n_frames"] == 7).all()
    assert faces.cache.dir != frames.cache.dir  # the cache never serves one source's frames for the other
    missing = build_dataset("mafw", {"root": str(root), "clip_source": "clips"}, tmp_path / "cache")
    with pytest.raises(
        DataError,
        match=r"data/clips does not exist \(datasets\[\].options.clip_source: clips\).*data/faces, data/frames",
    ):
        missing.prepare()
