"""An MLflow server or a Ray head that is not there: one line naming the address, within seconds, exit 2."""

import time

import pytest

from tests.helpers import run_cli, tiny_config


@pytest.mark.slow
@pytest.mark.parametrize(
    "setting, expected",
    [
        ({"tracking": {"uri": "http://127.0.0.1:9"}}, "cannot reach the MLflow tracking server http://127.0.0.1:9"),
        (
            {"ray": {"address": "127.0.0.1:9"}, "tracking": {"enabled": False}},
            "ray.address 127.0.0.1:9: no Ray head answers there",
        ),
    ],
    ids=["mlflow-server", "ray-head"],
)
def test_an_unreachable_service_fails_fast_with_one_line(tmp_path, setting, expected):
    path = tiny_config(tmp_path, **setting)
    start = time.monotonic()
    result = run_cli("run", str(path), timeout=120)
    assert time.monotonic() - start < 60
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert not list((tmp_path / "results").glob("*/runs/*/done"))
