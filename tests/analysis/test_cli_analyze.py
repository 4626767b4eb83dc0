"""``hdfbench analyze`` exit codes and messages."""

from hdfbench.cli import main
from hdfbench.testing.fake_results import FakeSpec, make_results


def test_bad_directory_exits_2(tmp_path, capsys):
    assert main(["analyze", str(tmp_path / "nowhere")]) == 2
    assert "not an experiment results directory" in capsys.readouterr().err


def test_unknown_reference_exits_2(tmp_path, capsys):
    path = make_results(tmp_path, FakeSpec(folds=(1,), seeds=(0, 1)))
    assert main(["analyze", str(path), "--reference", "nope", "--no-plots", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "reference 'nope'" in err and "erm" in err


def test_unknown_metric_exits_2(tmp_path, capsys):
    path = make_results(tmp_path, FakeSpec(folds=(1,), seeds=(0, 1)))
    assert main(["analyze", str(path), "--metric", "nope", "--no-plots", "--out", str(tmp_path / "a")]) == 2
    assert "metric 'nope'" in capsys.readouterr().err


def test_bad_rope_or_alpha_exits_2(tmp_path, capsys):
    path = make_results(tmp_path, FakeSpec(folds=(1,), seeds=(0, 1)))
    assert main(["analyze", str(path), "--rope", "-1", "--no-plots", "--out", str(tmp_path / "a")]) == 2
    assert "--rope must be >= 0" in capsys.readouterr().err


def test_partial_sweep_analyses_what_exists(tmp_path, capsys):
    spec = FakeSpec(folds=(1, 2), seeds=(0, 1), missing=("fakeset-f2-s1-same-00000000",))
    path = make_results(tmp_path, spec)
    out = tmp_path / "a"
    assert main(["analyze", str(path), "--no-plots", "--out", str(out)]) == 0
    stdout = capsys.readouterr().out
    assert "1 runs of the sweep are not finished: fakeset-f2-s1-same-00000000" in stdout
    assert "MLflow: tracking disabled" in stdout
    assert "known phenomena: " in stdout and "| recall tracks training class frequency | fakeset" in stdout
    assert "fakeset-f2-s1-same-00000000" in (out / "report.md").read_text()
    assert (out / "report.html").exists() and (out / "tables" / "statistics.csv").exists()


def test_empty_sweep_still_reports(tmp_path, capsys):
    spec = FakeSpec(folds=(1,), seeds=(0,), variants={"erm": ("erm", 0.0)}, missing=("fakeset-f1-s0-erm-00000000",))
    out = tmp_path / "a"
    assert main(["analyze", str(make_results(tmp_path, spec)), "--out", str(out)]) == 0
    assert "no finished run" in (out / "report.md").read_text()
