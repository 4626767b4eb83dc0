"""Damaged split files of a real dataset's tree: one DataError naming file and line, never a traceback
from pandas or the codec (the CLI turns it into exit 2)."""

import pytest

from hdfbench.data import DataError, build_dataset
from tests.data.trees import dfew_tree, mafw_tree


@pytest.fixture
def dfew_root(tmp_path):
    root = tmp_path / "DFEW"
    dfew_tree(root, keep=lambda i: i % 1000 == 1)
    return root


def prepare_error(name: str, root, cache) -> str:
    options = {"root": str(root), "frames": 4, "size": 16, **({"frames_dir": "all"} if name == "dfew" else {})}
    with pytest.raises(DataError) as info:
        build_dataset(name, options, cache).prepare()
    return str(info.value)


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", ":1: the split file lists no clip"),
        (b"video_name,label\n", ":1: the split file lists no clip"),
        (b"video_name,label\n00001,1\n\xff\xfe,2\n", ":3: not UTF-8 text (byte 0xff)"),
        (b'video_name,label\n"00001,1\n', ": not a readable split table"),
        (b"video_name,label\n00001,1,extra,fields\n00002,1\n", ":2: expected 2 fields"),
    ],
    ids=["zero-bytes", "header-only", "not-utf8", "unterminated-quote", "ragged-row"],
)
def test_a_damaged_dfew_split_file_is_named_with_its_line(dfew_root, tmp_path, content, expected):
    path = dfew_root / "EmoLabel_DataSplit" / "train(single-labeled)" / "set_2.csv"
    path.write_bytes(content)
    message = prepare_error("dfew", dfew_root, tmp_path / "cache")
    assert message.startswith(str(path)) and expected in message


@pytest.mark.parametrize(
    "content, expected",
    [
        (b"", ":1: the split file lists no clip"),
        (b"00001.mp4 happiness\n\xe9\xe9 sadness\n", ":2: not UTF-8 text (byte 0xe9)"),
    ],
    ids=["zero-bytes", "not-utf8"],
)
def test_a_damaged_mafw_split_file_is_named_with_its_line(tmp_path, content, expected):
    root = tmp_path / "MAFW"
    mafw_tree(root)
    path = root / "split" / "single" / "no_caption" / "set_1" / "train.txt"
    path.write_bytes(content)
    message = prepare_error("mafw", root, tmp_path / "cache")
    assert message.startswith(str(path)) and expected in message
