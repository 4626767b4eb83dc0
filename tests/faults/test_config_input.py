"""Hostile configuration input: each case exits 2 with one message naming the file or the --set item,
the key path and what is wrong — never a traceback."""

import pytest

from hdfbench.cli import main

BASE = "experiment: x\ndatasets:\n  - name: synthetic\nstrategies:\n  - name: erm\n"


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(BASE)
    (tmp_path / "afile").write_text("")
    return path


@pytest.mark.parametrize(
    "item, expected",
    [
        (
            "strategies.5.name=erm",
            "--set: strategies[5].name: strategies is a list of 1 entries; give an index from 0 to 0",
        ),
        ("strategies.first.name=erm", "--set: strategies.first.name: strategies is a list of 1 entries"),
        ("experiment.a=1", "--set: experiment.a: experiment is a value, not a mapping or a list"),
        ("seeds=[1", "--set: seeds: the value '[1' is not valid YAML"),
        ("output_dir={tmp}/afile", "output_dir: {tmp}/afile is a file; output_dir must be a folder"),
        ("output_dir={tmp}/afile/results", "output_dir: {tmp}/afile is a file; output_dir must be a folder"),
        ("training.lr=0.1", "--set training.lr=0.1: training.lr: unknown key (allowed: epochs,"),
        ("selection.rule=bogus", "--set selection.rule=bogus: selection.rule: Input should be 'best_val_uar'"),
    ],
    ids=[
        "index-past-the-end",
        "name-for-an-index",
        "into-a-value",
        "bad-yaml-value",
        "output-dir-is-a-file",
        "output-dir-under-a-file",
        "unknown-key-absent-from-the-file",
        "bad-value-for-a-section-absent-from-the-file",
    ],
)
def test_bad_overrides_exit_2_with_one_message(config, capsys, item, expected):
    tmp = str(config.parent)
    assert main(["validate", str(config), "--set", item.format(tmp=tmp)]) == 2
    err = capsys.readouterr().err
    assert expected.format(tmp=tmp) in err and "Traceback" not in err and err.count("\n") <= 2


def test_a_config_that_is_not_utf8_names_file_and_line(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_bytes(BASE.encode() + b"description: caf\xe9\n")
    assert main(["validate", str(path)]) == 2
    assert f"{path}:6: <top level>: not UTF-8 text (byte 0xe9)" in capsys.readouterr().err


def test_run_with_output_dir_a_file_writes_nothing(config, capsys):
    target = config.parent / "afile"
    assert main(["run", str(config), "--set", f"output_dir={target}"]) == 2
    assert "is a file" in capsys.readouterr().err and target.read_text() == ""


def test_hyperparameters_that_do_not_fit_the_classes_are_refused_before_ray(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text(BASE.replace("- name: erm", "- name: focal\n    hparams: {alpha: [1.0, 2.0]}"))
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert "c.yaml:6: strategies[0].hparams.alpha: has 2 weights for the 7 classes (Happy, Sad" in err
    assert "[dataset synthetic]" in err and not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    "content, expected",
    [
        (None, "c.yaml: <top level>: is a folder, not a YAML file"),
        ("", "c.yaml: <top level>: the file must hold a mapping of keys to values"),
        ("- erm\n- groupdro\n", "c.yaml: <top level>: the file must hold a mapping of keys to values"),
    ],
    ids=["a-folder", "empty", "a-list"],
)
def test_a_config_that_is_no_mapping_exits_2(tmp_path, capsys, content, expected):
    path = tmp_path / "c.yaml"
    path.mkdir() if content is None else path.write_text(content)
    assert main(["validate", str(path)]) == 2
    assert expected in capsys.readouterr().err


@pytest.mark.parametrize("item", ["=3", "no-equals-sign"])
def test_a_set_item_without_a_key_path_exits_2(config, capsys, item):
    assert main(["validate", str(config), "--set", item]) == 2
    assert f"--set: <top level>: expected KEY.PATH=VALUE, got '{item}'" in capsys.readouterr().err
