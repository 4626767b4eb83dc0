"""Faults in an experiment's result files: a damaged finished run and a garbage summary.csv must not
cost the healthy runs their summary or their analysis."""

import logging

import pandas as pd
import pytest

from hdfbench.cli import main
from hdfbench.testing.fake_results import FakeSpec, make_results

DAMAGED = "fakeset-f2-s1-same-00000000"


@pytest.mark.parametrize(
    "name, content",
    [
        ("predictions.parquet", None),
        ("predictions.parquet", b"PAR1 not really parquet"),
        ("config.json", b"{not json"),
        ("done", b""),
    ],
    ids=["predictions-missing", "predictions-garbage", "config-garbage", "done-empty"],
)
def test_a_damaged_finished_run_is_named_and_the_rest_is_summarised_and_analysed(
    tmp_path, caplog, capsys, name, content
):
    path = make_results(tmp_path, FakeSpec(folds=(1, 2), seeds=(0, 1)))
    damaged = path / "runs" / DAMAGED / name
    (path / "summary.csv").unlink()  # derived: rebuilt from the run directories
    if content is None:
        damaged.unlink()
    else:
        damaged.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert main(["analyze", str(path), "--no-plots", "--out", str(tmp_path / "a")]) == 0
    assert f"run {DAMAGED} is damaged" in caplog.text and "`hdfbench run` trains it again" in caplog.text
    summary = pd.read_csv(path / "summary.csv")
    assert len(summary) == 11 and DAMAGED not in set(summary["run_id"])
    assert f"1 runs of the sweep are not finished: {DAMAGED}" in capsys.readouterr().out
    assert not (path / "runs" / DAMAGED / "done").exists()  # the next `hdfbench run` trains it again
    assert list((path / "runs" / DAMAGED).glob("done.damaged-*"))


@pytest.mark.parametrize("garbage", [b"\xff\xfe\x00garbage", b"a,b\n1,2\n", b'"unterminated\n1,2'])
def test_a_garbage_summary_is_rebuilt_from_the_run_directories(tmp_path, caplog, garbage):
    path = make_results(tmp_path, FakeSpec(folds=(1, 2), seeds=(0, 1)))
    expected = pd.read_csv(path / "summary.csv").sort_values("run_id", ignore_index=True)
    (path / "summary.csv").write_bytes(garbage)
    with caplog.at_level(logging.WARNING):
        assert main(["analyze", str(path), "--no-plots", "--out", str(tmp_path / "a")]) == 0
    assert "rebuilding it from the run directories" in caplog.text
    rebuilt = pd.read_csv(path / "summary.csv").sort_values("run_id", ignore_index=True)
    columns = [c for c in expected.columns if not c.startswith("val_")]  # fake runs save no validation predictions
    pd.testing.assert_frame_equal(rebuilt[columns], expected[columns], check_dtype=False)


def test_a_header_only_summary_is_not_reported_as_damaged(tmp_path, caplog):
    from hdfbench.training.results import SUMMARY_COLUMNS, write_summary

    path = make_results(tmp_path, FakeSpec(folds=(1,), seeds=(0,)))
    pd.DataFrame(columns=SUMMARY_COLUMNS).to_csv(path / "summary.csv", index=False)  # what a sweep of failures leaves
    with caplog.at_level(logging.WARNING):
        _, table, _, _ = write_summary(path)
    assert not caplog.records and len(table) == 3
