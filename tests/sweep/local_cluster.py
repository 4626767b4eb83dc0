"""A real multi-node Ray cluster on this machine, for tests: `ray start` nodes on 127.0.0.1.

All nodes, the driver and the MLflow server run inside a network namespace the cluster creates
(`unshare --net` with the loopback up): outside one, `ray start` swaps 127.0.0.1 for the host's
interface address, and other sweeps on the machine would see the cluster. Each node runs in a PID
namespace of its own, so killing its `unshare` process takes the whole node down at once (a lost
node), and optionally in a mount namespace with private tmpfs folders (a disk of its own).
Nodes are stopped by the PIDs of the processes started here, never by Ray's stop-all command, which
would end every Ray process on the machine.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest

from tests.helpers import mlflow_server_command

BIN = Path(sys.executable).parent
HEAD_PORT = 6379
#: Lost nodes are noticed within seconds instead of the default half minute.
FAST_HEALTH_CHECKS = {
    "health_check_period_ms": 500,
    "health_check_failure_threshold": 3,
    "health_check_timeout_ms": 500,
}


def require_namespaces() -> None:
    """Skip the test unless this process may create network, PID and mount namespaces."""
    probe = subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot create namespaces here: {probe.stderr.decode().strip()}")


class LocalCluster:
    """Ray nodes started with `ray start --block` inside one private network namespace."""

    def __init__(self, workdir: Path):
        require_namespaces()
        self.workdir = workdir
        self.temp = Path(tempfile.mkdtemp(prefix="hdfb-ray-"))  # short: Ray's socket paths have a length limit
        self.holder = subprocess.Popen(
            ["unshare", "--net", "sh", "-c", "ip link set lo up && exec sleep 100000"], start_new_session=True
        )
        self.nodes: dict[str, subprocess.Popen] = {}
        self.others: list[subprocess.Popen] = []
        self._wait_for_loopback()

    @property
    def address(self) -> str:
        """Return the head's address as a config's ``ray.address`` takes it."""
        return f"127.0.0.1:{HEAD_PORT}"

    def netns(self, command: list[str]) -> list[str]:
        """Return ``command`` prefixed to run inside the cluster's network namespace."""
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--", *command]

    def _wait_for_loopback(self) -> None:
        deadline = time.time() + 10
        while time.time() < deadline:
            out = subprocess.run(self.netns(["ip", "-o", "addr"]), capture_output=True, text=True).stdout
            if "127.0.0.1" in out:
                return
            time.sleep(0.1)
        raise RuntimeError("the network namespace's loopback did not come up")

    def add_node(self, name: str, cpus: float, gpus: int = 0, private: tuple[Path, ...] = ()) -> None:
        """Start node ``name`` (the head first), with tmpfs mounted over each ``private`` folder."""
        head = not self.nodes
        ray = [
            str(BIN / "ray"),
            "start",
            "--block",
            "--node-ip-address=127.0.0.1",
            f"--node-name={name}",
            f"--num-cpus={cpus:g}",
            f"--num-gpus={gpus}",
            f"--temp-dir={self.temp / name}",
        ]
        if head:
            ray += [
                "--head",
                f"--port={HEAD_PORT}",
                "--include-dashboard=false",
                f"--system-config={json.dumps(FAST_HEALTH_CHECKS)}",
            ]
        else:
            ray += [f"--address={self.address}"]
        mounts = "".join(f"mount -t tmpfs tmpfs {shlex.quote(str(p))} && " for p in private)
        for folder in private:
            folder.mkdir(parents=True, exist_ok=True)
        node = [
            "unshare",
            "--pid",
            "--fork",
            "--kill-child",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            f"{mounts}exec {shlex.join(ray)}",
        ]
        log = (self.workdir / f"node-{name}.log").open("w")
        self.nodes[name] = subprocess.Popen(
            self.netns(node), stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=os.environ.copy()
        )

    def python(self, code: str, *args: str, timeout: float = 120) -> str:
        """Run Python ``code`` inside the namespace (with ``args`` as sys.argv[1:]); return its stdout."""
        result = subprocess.run(
            self.netns([sys.executable, "-c", textwrap.dedent(code), *args]),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"script failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def wait_for_nodes(self, count: int, timeout: float = 120) -> dict[str, str]:
        """Wait until ``count`` nodes are alive; return node name → Ray node id."""
        out = self.python(
            """
            import json, sys, time, ray
            ray.init(address=sys.argv[1], include_dashboard=False, log_to_driver=False, logging_level="ERROR")
            deadline = time.time() + float(sys.argv[3])
            while time.time() < deadline:
                alive = {n["NodeName"]: n["NodeID"] for n in ray.nodes() if n["Alive"]}
                if len(alive) == int(sys.argv[2]):
                    break
                time.sleep(0.5)
            print(json.dumps(alive))
        """,
            self.address,
            str(count),
            str(timeout),
            timeout=timeout + 60,
        )
        alive = json.loads(out.strip().splitlines()[-1])
        if len(alive) != count:
            logs = "\n".join(p.read_text()[-2000:] for p in self.workdir.glob("node-*.log"))
            raise RuntimeError(f"{len(alive)} of {count} nodes alive: {alive}\n{logs}")
        return alive

    def kill_node(self, name: str) -> None:
        """Kill node ``name`` at once, every process of it (a lost machine)."""
        process = self.nodes.pop(name)
        process.kill()
        process.wait(timeout=30)

    def start(self, command: list[str], log: Path) -> subprocess.Popen:
        """Start ``command`` inside the namespace in the background (stopped with the cluster)."""
        process = subprocess.Popen(
            self.netns(command),
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=os.environ.copy(),
        )
        self.others.append(process)
        return process

    def stop(self) -> None:
        """Kill every node and background process, then the namespace; remove Ray's temp folder."""
        for process in [*self.others]:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        for name in list(self.nodes):
            self.kill_node(name)
        self.holder.kill()
        self.holder.wait()
        shutil.rmtree(self.temp, ignore_errors=True)


def start_mlflow_server(cluster: LocalCluster, workdir: Path, port: int = 5055, timeout: float = 90) -> str:
    """Start a real `mlflow server` (sqlite backend) inside the cluster's namespace; return its URI."""
    command = mlflow_server_command(workdir, port)
    cluster.start(command, workdir / "mlflow-server.log")
    uri = f"http://127.0.0.1:{port}"
    cluster.python(
        """
        import sys, time, urllib.request
        deadline = time.time() + float(sys.argv[2])
        while True:
            try:
                if urllib.request.urlopen(sys.argv[1] + "/health", timeout=2).status == 200:
                    break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
    """,
        uri,
        str(timeout),
        timeout=timeout + 30,
    )
    return uri


def mlflow_runs(cluster: LocalCluster, uri: str, experiment: str) -> list[dict]:
    """Return the MLflow runs of ``experiment`` (status, tags, logged epoch steps), read inside the namespace."""
    out = cluster.python(
        """
        import json, sys
        from mlflow import MlflowClient
        client = MlflowClient(tracking_uri=sys.argv[1])
        experiment = client.get_experiment_by_name(sys.argv[2])
        runs = client.search_runs([experiment.experiment_id])
        print(json.dumps([{"status": r.info.status, "tags": r.data.tags,
                           "epochs": sorted(m.step for m in client.get_metric_history(r.info.run_id, "epoch"))}
                          for r in runs]))
    """,
        uri,
        experiment,
    )
    return json.loads(out.strip().splitlines()[-1])
