"""A device the machine does not have: refused by the driver's preflight, before any trial, with one
problem line naming the resources and the node, exit 2."""

import pytest

from tests.helpers import run_cli, tiny_config


@pytest.mark.slow
def test_a_gpu_the_machine_lacks_is_refused_before_any_trial(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    path = tiny_config(
        tmp_path,
        resources={"cpu": 1, "gpu": 1},
        training={"epochs": 2, "batch_size": 8, "max_steps_per_epoch": 2, "device": "cuda"},
    )
    result = run_cli("run", str(path))
    assert result.returncode == 2, result.stdout + result.stderr
    problems = [line for line in result.stderr.splitlines() if line.startswith("  ")]
    assert len(problems) == 1 and "no trial was started" in result.stderr
    assert "no node can run a trial needing resources.cpu 1 and resources.gpu 1" in problems[0]
    assert "0 GPU" in problems[0] and "Traceback" not in result.stderr
    assert not list((tmp_path / "results").glob("tiny/runs/*"))
