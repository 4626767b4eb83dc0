"""docs/adding_a_loss.md works as written: its files are extracted and run end to end."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

DOC = Path(__file__).resolve().parents[1] / "docs" / "adding_a_loss.md"


def tutorial_files() -> dict[str, str]:
    """Return {relative path: content} of every code block whose first line is ``# file: PATH``."""
    files = {}
    for block in re.findall(r"```(?:python|yaml)\n(.*?)```", DOC.read_text(), flags=re.S):
        first, _, rest = block.partition("\n")
        if first.startswith("# file: "):
            files[first.removeprefix("# file: ").strip()] = rest
    return files


def test_the_tutorial_has_its_files():
    assert set(tutorial_files()) == {"my_robust/poly.py", "tests/test_poly.py", "poly.yaml"}


def test_the_tutorial_strategy_is_a_strategy_of_at_most_40_lines(tmp_path, monkeypatch):
    source = tutorial_files()["my_robust/poly.py"]
    assert len(source.strip().splitlines()) <= 40
    (tmp_path / "my_robust").mkdir()
    (tmp_path / "my_robust" / "poly.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    from hdfbench.strategies import STRATEGIES

    cls = STRATEGIES.get("my_robust.poly:Poly1")
    assert cls.name == "poly1" and cls.Hparams().epsilon == 1.0
    assert STRATEGIES.get("poly1") is cls
    namespace: dict = {}
    exec(tutorial_files()["tests/test_poly.py"], namespace)  # the page's contract test, as a plugin runs it
    namespace["test_poly1_keeps_the_strategy_contract"]()


@pytest.mark.slow
@pytest.mark.timeout(900)  # its sweep alone may take 600 s
def test_the_tutorial_runs_end_to_end(tmp_path):
    for path, content in tutorial_files().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(content)
    config = tmp_path / "poly.yaml"
    validate = subprocess.run(
        [sys.executable, "-m", "hdfbench.cli", "validate", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert validate.returncode == 0, validate.stderr
    run = subprocess.run(
        [sys.executable, "-m", "hdfbench.cli", "run", str(config), "--smoke", "--set", "tracking.enabled=false"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    name = yaml.safe_load(config.read_text())["experiment"]
    summary = pd.read_csv(tmp_path / "results" / name / "summary.csv")
    assert set(summary["variant"]) == {"erm", "poly1", "poly1_searched"}
    assert set(summary["strategy"]) == {"erm", "my_robust.poly:Poly1"}
