"""Bad data: each case gives one clear message naming the file; on_bad_clip error lists all, skip records."""

import logging
import shutil

import av
import pytest

from hdfbench.data import DataError, build_dataset
from tests.data.trees import dfew_tree, jpeg_bytes, mafw_tree

#: The 12 DFEW clips with id % 1000 == 1: 1, 1001, 3001, 4001, 5001, 6001, 9001, 10001, 12001, 14001, ...
KEEP_ONE_IN_1000 = 12


def dfew(root, cache, **options):
    return build_dataset("dfew", {"root": str(root), "frames_dir": "all", "frames": 4, "size": 16, **options}, cache)


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "DFEW"
    dfew_tree(root, keep=lambda i: i % 1000 == 1)
    return root


def clip_dir(root, i):
    return root / "Clip" / "clip_224x224" / f"{i:05d}"


def error_of(ds) -> str:
    with pytest.raises(DataError) as info:
        ds.prepare()
    return str(info.value)


def test_missing_root(tmp_path):
    message = error_of(dfew(tmp_path / "nowhere", tmp_path))
    assert "DFEW data root" in message and "nowhere" in message and "does not exist" in message


def test_missing_frames_folder(root, tmp_path):
    shutil.rmtree(root / "Clip")
    assert "Clip/clip_224x224 does not exist" in error_of(dfew(root, tmp_path))


def test_missing_split_file(root, tmp_path):
    (root / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_3.csv").unlink()
    message = error_of(dfew(root, tmp_path))
    assert "set_3.csv does not exist" in message and "test(single-labeled)" in message


def test_split_file_with_a_wrong_header(root, tmp_path):
    path = root / "EmoLabel_DataSplit" / "train(single-labeled)" / "set_2.csv"
    path.write_text("name,label\n1,2\n")
    assert f"{path}:1: expected the header 'video_name,label'" in error_of(dfew(root, tmp_path))


def test_missing_and_empty_clip_folders_are_all_counted(root, tmp_path):
    shutil.rmtree(clip_dir(root, 1))
    shutil.rmtree(clip_dir(root, 1001))
    for f in clip_dir(root, 4001).iterdir():
        f.unlink()
    message = error_of(dfew(root, tmp_path))
    assert message.startswith("3 bad clips in dfew data")
    assert f"{clip_dir(root, 1)}: clip folder (or video file) is missing (listed at" in message
    assert "set_1.csv:2)" in message  # id 1 is the first row of test set_1.csv
    assert f"clip folder {clip_dir(root, 4001)} holds no image frames" in message
    assert "on_bad_clip: skip" in message


def test_label_outside_the_class_list(root, tmp_path):
    path = root / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_1.csv"
    lines = path.read_text().splitlines()
    lines[1] = lines[1].split(",")[0] + ",9"
    path.write_text("\n".join(lines) + "\n")
    message = error_of(dfew(root, tmp_path))
    assert f"{path}:2: label '9' of clip 00001 is not one of 1, 2, 3, 4, 5, 6, 7" in message


def test_corrupt_jpeg_is_found_when_decoding(root, tmp_path):
    frame = sorted(clip_dir(root, 3001).iterdir())[1]
    frame.write_bytes(jpeg_bytes(100)[:40])
    message = error_of(dfew(root, tmp_path))
    assert message.startswith("1 bad clips") and f"corrupt image {frame}" in message


def test_corrupt_and_frameless_mp4(tmp_path):
    root = tmp_path / "MAFW"
    _, videos = mafw_tree(root, keep=lambda i: i % 1000 == 1, videos=2)
    first, second = [root / "data" / "faces" / f"{i:05d}.mp4" for i in sorted(videos)]
    first.write_bytes(first.read_bytes()[:60])
    with av.open(str(second), "w") as container:  # a valid container without a single frame
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = 16
        container.start_encoding()
    ds = build_dataset("mafw", {"root": str(root), "frames": 4, "size": 16}, tmp_path / "cache")
    message = error_of(ds)
    assert message.startswith("2 bad clips") and str(first) in message and str(second) in message
    assert "no decodable frames" in message


def test_skip_logs_every_bad_clip_and_leaves_them_out(root, tmp_path, caplog):
    shutil.rmtree(clip_dir(root, 1))
    (sorted(clip_dir(root, 3001).iterdir())[0]).write_bytes(b"not a jpeg")
    ds = dfew(root, tmp_path, on_bad_clip="skip")
    with caplog.at_level(logging.WARNING):
        ds.prepare()
    assert len(ds.skipped) == 2 and sum("skipping clip" in r.message for r in caplog.records) == 2
    tables = [t for fold in ds.folds for t in ds.split(fold)]
    listed = {c for t in tables for c in t["clip_id"]}
    assert "00001" not in listed and "03001" not in listed and len(listed) == KEEP_ONE_IN_1000 - 2
