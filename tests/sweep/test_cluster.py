"""A real multi-node Ray cluster on 127.0.0.1 (see local_cluster.py): the sweep runs on every node,
survives a lost node, and the preflight stops it before any trial when a node is unfit."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers import REPO, tiny_config
from tests.sweep.local_cluster import LocalCluster, mlflow_runs, start_mlflow_server

pytestmark = pytest.mark.slow

STRATEGIES = [{"name": "erm"}, {"name": "focal"}]


@pytest.fixture
def cluster(tmp_path):
    cluster = LocalCluster(tmp_path)
    yield cluster
    cluster.stop()


def hdfbench(cluster: LocalCluster, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run the hdfbench command line inside the cluster's namespace (where its head is 127.0.0.1)."""
    return subprocess.run(
        cluster.netns([sys.executable, "-m", "hdfbench.cli", *args]),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


def run_dirs(tmp_path: Path, experiment: str = "tiny") -> list[Path]:
    runs = tmp_path / "results" / experiment / "runs"
    return sorted(p for p in runs.iterdir() if p.is_dir()) if runs.exists() else []


def wait_for_run_on(
    tmp_path: Path, experiment: str, node_id: str, process: subprocess.Popen, timeout: float = 300
) -> Path:
    """Return a run directory whose trial runs on ``node_id`` once it has checkpointed an epoch."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for run in run_dirs(tmp_path, experiment):
            attempts = (
                [json.loads(x) for x in (run / "attempts.jsonl").read_text().splitlines()]
                if (run / "attempts.jsonl").exists()
                else []
            )
            if (
                attempts
                and attempts[-1]["node_id"] == node_id
                and (run / "checkpoint.pt").exists()
                and not (run / "done").exists()
            ):
                return run
        if process.poll() is not None:
            pytest.fail(f"the sweep ended first:\n{process.stdout.read()}")
        time.sleep(0.1)
    pytest.fail("no run checkpointed on the worker in time")


@pytest.mark.timeout(1800)  # two sweeps, the second one alone waited on for up to 600 s
def test_a_two_node_sweep_runs_everywhere_and_survives_a_lost_node(cluster, tmp_path, data_cache):
    # a head, and a worker without a hdfbench checkout and with a data cache of its own
    cluster.add_node("head", cpus=1)
    cluster.wait_for_nodes(1)
    cluster.add_node("worker", cpus=1, private=(REPO / "hdfbench", data_cache))
    nodes = cluster.wait_for_nodes(2)
    uri = start_mlflow_server(cluster, tmp_path)
    path = tiny_config(tmp_path, strategies=STRATEGIES, ray={"address": cluster.address}, tracking={"uri": uri})

    # 1. two trials at a time, one per node
    result = hdfbench(cluster, "run", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "preflight: 2 nodes OK" in result.stdout
    assert "data ready on 1 more node" in result.stdout

    placements = {p.name: json.loads((p / "config.json").read_text())["placement"] for p in run_dirs(tmp_path)}
    assert len(placements) == 2
    assert {p["node_id"] for p in placements.values()} == set(nodes.values())  # trials ran on both nodes
    on_worker = [p for p in placements.values() if p["node_id"] == nodes["worker"]]
    assert all("runtime_resources" in p["code"] for p in on_worker)  # no checkout there: the shipped package ran

    summary = pd.read_csv(tmp_path / "results" / "tiny" / "summary.csv")
    assert sorted(summary["run_id"]) == sorted(placements) and summary["run_id"].is_unique
    assert set(summary["node_id"]) == set(nodes.values()) and set(summary["device"]) == {"cpu"}

    runs = mlflow_runs(cluster, uri, "tiny")
    assert sorted(r["tags"]["run_id"] for r in runs) == sorted(placements)  # one MLflow run per run id
    for run in runs:
        assert run["status"] == "FINISHED" and run["epochs"] == [0, 1]
        assert run["tags"]["node_id"] == placements[run["tags"]["run_id"]]["node_id"]

    # 2. the worker is lost while a trial trains on it
    training = {"epochs": 8, "batch_size": 8, "max_steps_per_epoch": 4, "device": "cpu"}
    command = [
        sys.executable,
        "-m",
        "hdfbench.cli",
        "run",
        str(path),
        "--set",
        "experiment=lost",
        "--set",
        f"training={json.dumps(training)}",
    ]
    process = subprocess.Popen(
        cluster.netns(command), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lost = wait_for_run_on(tmp_path, "lost", nodes["worker"], process)
    cluster.kill_node("worker")
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    assert f"{lost.name} was retried 1 time" in output

    done = json.loads((lost / "done").read_text())
    assert done["resumed_from_epochs"] and done["retries"] == 1 and done["attempts"] == 2
    attempts = [json.loads(x)["node_id"] for x in (lost / "attempts.jsonl").read_text().splitlines()]
    assert attempts == [nodes["worker"], nodes["head"]]
    epochs = [json.loads(x)["epoch"] for x in (lost / "metrics.jsonl").read_text().splitlines()]
    assert epochs == list(range(8))  # each epoch once, across both nodes

    summary = pd.read_csv(tmp_path / "results" / "lost" / "summary.csv")
    assert len(summary) == 2 and summary["run_id"].is_unique
    runs = mlflow_runs(cluster, uri, "lost")
    assert len(runs) == 2 and {r["tags"]["run_id"] for r in runs} == set(summary["run_id"])
    for run in runs:  # nothing duplicated, nothing left RUNNING
        assert run["status"] == "FINISHED" and run["epochs"] == list(range(8))
    assert next(r for r in runs if r["tags"]["run_id"] == lost.name)["tags"]["retries"] == "1"


def test_preflight_stops_a_sweep_when_a_node_cannot_see_output_dir(cluster, tmp_path):
    cluster.add_node("head", cpus=1)
    cluster.wait_for_nodes(1)
    cluster.add_node("worker", cpus=1, private=(tmp_path / "results", REPO / "hdfbench"))
    nodes = cluster.wait_for_nodes(2)
    path = tiny_config(tmp_path, ray={"address": cluster.address}, tracking={"enabled": False})

    unshipped = hdfbench(cluster, "cluster", "check", str(path), "--set", "ray.ship_code=false")
    assert unshipped.returncode == 2, unshipped.stdout + unshipped.stderr
    assert (
        f"node worker ({nodes['worker'][:8]}): cannot run hdfbench there (ModuleNotFoundError: No module named "
        "'hdfbench"
    ) in unshipped.stderr  # a node without the package, which is not shipped

    check = hdfbench(cluster, "cluster", "check", str(path))
    assert check.returncode == 2, check.stdout + check.stderr
    assert f"node worker ({nodes['worker'][:8]}): cannot see output_dir" in check.stderr
    assert "node head" not in check.stderr

    result = hdfbench(cluster, "run", str(path))
    assert result.returncode == 2 and "no trial was started" in result.stderr
    assert f"node worker ({nodes['worker'][:8]}): cannot see output_dir" in result.stderr
    assert run_dirs(tmp_path) == []


def test_logical_gpus_are_shared_checked_and_sized_at_preflight(cluster, tmp_path):
    cluster.add_node("head", cpus=2, gpus=1)
    cluster.wait_for_nodes(1)
    ray = {"address": cluster.address}
    training = {"epochs": 3, "batch_size": 8, "max_steps_per_epoch": 3, "device": "cpu"}
    path = tiny_config(
        tmp_path,
        strategies=STRATEGIES,
        ray=ray,
        tracking={"enabled": False},
        resources={"cpu": 1, "gpu": 0.5},
        training=training,
    )
    result = hdfbench(cluster, "run", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    spans = []
    for run in run_dirs(tmp_path):
        done = json.loads((run / "done").read_text())
        assert done["placement"]["gpu_ids"] == ["0"] and done["device"] == "cpu"
        spans.append((done["placement"]["started_at"], done["finished_at"]))
    assert len(spans) == 2 and max(s for s, _ in spans) < min(e for _, e in spans)  # both held GPU 0 at once

    auto = hdfbench(cluster, "run", str(path), "--set", "training.device=auto", "--set", "experiment=auto")
    assert auto.returncode == 2, auto.stdout + auto.stderr
    assert "this trial was given GPU 0 by Ray, but CUDA is not usable" in auto.stderr
    assert not (tmp_path / "results" / "auto" / "runs").exists()

    too_many = hdfbench(cluster, "run", str(path), "--set", "resources.gpu=2", "--set", "experiment=big")
    assert too_many.returncode == 2, too_many.stdout + too_many.stderr
    assert "no node can run a trial needing resources.cpu 1 and resources.gpu 2" in too_many.stderr
