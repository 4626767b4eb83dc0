"""The preflight: before a sweep spends compute, every Ray node must see the same storage, data and code.

``preflight`` runs one small Ray task on every alive node (pinned to it) and stops the sweep with
one message naming each node and its problem when any of these fails there:

- **storage**: the node reads a file the driver has just written under ``output_dir`` (with a
  random token) and writes one back that the driver must see: ``output_dir`` is shared;
- **code**: the node imports hdfbench (shipped or installed) with the driver's source digest, and
  the driver's versions of hdfbench, Python, torch and Ray; every component the config names loads;
- **data** (nodes that can host a trial): each dataset's census (root, clip and frame counts) equals
  the driver's; the data cache folder is writable; the pretrained weights file (``model.options.pretrained``)
  is there with the driver's sha256 (config validation checked that it loads into the backbone);
- **tracking**: the MLflow tracking server answers from the node;
- **devices**: the per-trial resources fit on some node (else a trial would wait forever), and where
  trials will use a GPU, a task holding that GPU can run CUDA with torch.

``hdfbench cluster check CONFIG`` runs it alone; ``hdfbench run`` runs it before anything else.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from hdfbench.config import ExperimentConfig
from hdfbench.data.errors import DataError
from hdfbench.errortext import error_line
from hdfbench.sweep.errors import ClusterError
from hdfbench.sweep.provenance import REQUIRED_EQUAL, package_dir, pretrained_weights, versions

#: The folder under ``output_dir`` where the preflight's token files come and go.
SENTINEL_DIR = ".hdfbench-preflight"


class PreflightFailed(ClusterError):
    """The cluster is not fit for the sweep; ``problems`` has one line per node and problem."""

    def __init__(self, problems: list[str], seconds: float):
        self.problems, self.seconds = problems, seconds
        super().__init__(
            f"preflight failed ({len(problems)} problem{'s' * (len(problems) > 1)}, {seconds:.1f} s); "
            "no trial was started:\n  " + "\n  ".join(problems)
        )


@dataclass(frozen=True)
class Node:
    """An alive Ray node and its total resources."""

    node_id: str
    name: str
    cpus: float
    gpus: float

    @property
    def label(self) -> str:
        """Return how messages name the node: ``node <name> (<id prefix>)``."""
        return f"node {self.name} ({self.node_id[:8]})"

    def fits(self, cpu: float, gpu: float) -> bool:
        """Return whether one trial needing ``cpu`` CPUs and ``gpu`` GPUs fits on this node."""
        return self.cpus >= cpu and self.gpus >= gpu


@dataclass
class ClusterReport:
    """What the preflight found: the nodes, each node's report, the time it took."""

    nodes: list[Node]
    reports: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        """Return a readable summary: one line for the cluster, one per node."""
        first = next(iter(self.reports.values()), {}).get("versions", {})
        head = (
            f"preflight: {len(self.nodes)} node{'s' * (len(self.nodes) > 1)} OK in {self.seconds:.1f} s "
            f"(output_dir shared; hdfbench {first.get('hdfbench')} source {first.get('hdfbench_source')}, "
            f"torch {first.get('torch')}, ray {first.get('ray')})"
        )
        out = [head]
        for node in self.nodes:
            report = self.reports.get(node.node_id, {})
            gpu = report.get("gpu", {}).get("name")
            role = "runs trials" if report.get("hosts_trials") else "runs no trial (too few resources)"
            out.append(
                f"  {node.label}: {node.cpus:g} CPU, {node.gpus:g} GPU{f' ({gpu})' if gpu else ''}, {role}; "
                f"hdfbench from {report.get('hdfbench_path', '?')}"
            )
        return out


def alive_nodes() -> list[Node]:
    """Return the alive nodes of the connected Ray cluster."""
    return [
        Node(
            n["NodeID"],
            n.get("NodeName") or n["NodeManagerAddress"],
            n["Resources"].get("CPU", 0.0),
            n["Resources"].get("GPU", 0.0),
        )
        for n in ray.nodes()
        if n["Alive"]
    ]


def resource_problems(nodes: list[Node], cpu: float, gpu: float) -> list[str]:
    """Return why no node can run a trial needing ``cpu`` CPUs and ``gpu`` GPUs (empty if one can)."""
    if any(n.fits(cpu, gpu) for n in nodes):
        return []
    largest = ", ".join(f"{n.label} has {n.cpus:g} CPU, {n.gpus:g} GPU" for n in nodes) or "no alive node"
    return [
        f"cluster: no node can run a trial needing resources.cpu {cpu:g} and resources.gpu {gpu:g} "
        f"({largest}); lower resources or add nodes"
    ]


def prepare_data(datasets: list[tuple[str, dict]], cache_dir: str) -> None:
    """Check, generate or decode every dataset into ``cache_dir`` (idempotent; runs on any node)."""
    from hdfbench.data import build_dataset

    for name, options in datasets:
        build_dataset(name, options, cache_dir).prepare()


def census(datasets: list[tuple[str, dict]], cache_dir: str) -> dict[str, dict]:
    """Return each dataset's census as this process sees it (root, clip and frame counts; no decoding)."""
    from hdfbench.data import build_dataset

    return {name: build_dataset(name, options, cache_dir).census() for name, options in datasets}


def expectations(config: ExperimentConfig, token: str, cache_dir: str) -> dict[str, Any]:
    """Return what each node's probe checks against: paths, token, names to load, device settings."""
    return {
        "token": token,
        "sentinel": str(_sentinel_dir(config) / token),
        "output_dir": str(Path(config.output_dir).resolve()),
        "cache_dir": cache_dir,
        "datasets": [(d.name, d.options) for d in config.datasets],
        "components": {
            "strategies": [s.name for s in config.strategies],
            "datasets": [d.name for d in config.datasets],
            "backbones": [config.model.backbone],
        },
        "tracking_uri": config.tracking_uri() if config.tracking.enabled else None,
        "weights": pretrained_weights(config),
        "device": config.training.device,
        "precision": config.training.precision,
    }


def _sentinel_dir(config: ExperimentConfig) -> Path:
    return Path(config.output_dir).resolve() / SENTINEL_DIR


def probe(expected: dict[str, Any], hosts_trials: bool, check_cuda: bool) -> dict[str, Any]:
    """Check this node (runs as a Ray task on it); return its report with a list of ``problems``."""
    node_id = ray.get_runtime_context().get_node_id()
    report: dict[str, Any] = {
        "node_id": node_id,
        "hosts_trials": hosts_trials,
        "problems": [],
        "hdfbench_path": str(package_dir()),
        "versions": versions(),
        "datasets": {},
        "gpu": {},
    }
    checks = [
        ("storage", lambda: _check_storage(expected, node_id)),
        ("components", lambda: _check_components(expected["components"])),
        ("tracking", lambda: _check_tracking(expected["tracking_uri"])),
    ]
    if hosts_trials:
        checks += [
            ("cache", lambda: _check_writable(Path(expected["cache_dir"]), "the data cache folder")),
            ("datasets", lambda: report["datasets"].update(census(expected["datasets"], expected["cache_dir"]))),
            ("weights", lambda: _check_weights(expected.get("weights", {}))),
        ]
    if check_cuda:
        checks.append(("gpu", lambda: report["gpu"].update(_check_cuda(expected))))
    for name, check in checks:
        try:
            report["problems"] += check() or []
        except Exception as exc:  # each check reports its own failure; the others still run
            report["problems"].append(f"{name}: {type(exc).__name__}: {exc}")
    return report


def _check_storage(expected: dict[str, Any], node_id: str) -> list[str]:
    sentinel = Path(expected["sentinel"])
    try:
        seen = sentinel.read_text()
    except OSError:
        return [
            f"cannot see output_dir {expected['output_dir']}: the file {sentinel} the driver just wrote is not "
            "there; output_dir must be on storage every node mounts (a shared filesystem, docs/cluster.md)"
        ]
    if seen != expected["token"]:
        return [
            f"output_dir {expected['output_dir']} here is another filesystem than the driver's "
            f"({sentinel} holds another token)"
        ]
    try:
        sentinel.with_name(f"{sentinel.name}.{node_id}").write_text(node_id)
    except OSError as exc:
        return [f"cannot write under output_dir {expected['output_dir']}: {exc}"]
    return []


def _check_writable(folder: Path, what: str) -> list[str]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".hdfbench-write-test-"):
            pass
    except OSError as exc:
        return [f"{what} {folder} is not writable ({exc}); set cache_dir or $HDFBENCH_CACHE to a local path"]
    return []


def _check_components(components: dict[str, list[str]]) -> list[str]:
    from hdfbench.config.components import registries

    problems = []
    for kind, names in components.items():
        for name in names:
            try:
                registries()[kind].get(name)
            except Exception as exc:  # an unknown name or a plugin that fails to import
                problems.append(
                    f"{kind} '{name}' does not load here ({exc}); install the plugin on every node "
                    "or list its folder in ray.py_modules"
                )
    return problems


def _check_weights(weights: dict[str, str | None]) -> list[str]:
    """Return why a pretrained weights file is unusable here: absent, or not the driver's (sha256 differs)."""
    from hdfbench.models.checkpoints import WHERE_TO_GET, file_sha256

    problems = []
    for path, driver_sha in weights.items():
        if not Path(path).is_file():
            problems.append(
                f"pretrained weights {path} not found (nothing is downloaded at run time; where to get them: "
                f"{WHERE_TO_GET}; train from scratch with --set model.options.pretrained=null)"
            )
        elif (sha := file_sha256(path)) != driver_sha:
            problems.append(f"pretrained weights {path} differ from the driver's (sha256 {sha[:12]}… here)")
    return problems


def _check_tracking(uri: str | None) -> list[str]:
    if not uri or not uri.startswith(("http://", "https://")):
        return []
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=10) as response:
            if response.status == 200:
                return []
            return [f"the MLflow tracking server {uri} answers /health with HTTP {response.status}"]
    except OSError as exc:
        return [f"cannot reach the MLflow tracking server {uri} from here ({exc})"]


def _check_cuda(expected: dict[str, Any]) -> dict[str, Any]:
    """Return the GPU this task holds (name, bf16); raise ``DeviceError`` if a trial could not use it."""
    import torch

    from hdfbench.training.device import DeviceError, autocast_dtype, resolve_device

    gpu_ids = [str(g) for g in ray.get_gpu_ids()]
    device = resolve_device(expected["device"], gpu_ids)
    info: dict[str, Any] = {"gpu_ids": gpu_ids, "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES")}
    if device.type != "cuda":
        return info
    info["name"] = torch.cuda.get_device_name(0)
    info["check"] = float(torch.ones(8, device=device).sum().item())
    if autocast_dtype(expected["precision"], device) == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise DeviceError(f"{info['name']} has no bfloat16 support (training.precision: {expected['precision']})")
    return info


def compare(driver: dict[str, Any], report: dict[str, Any]) -> list[str]:
    """Return how a node's report differs from the driver's (versions; datasets where it hosts trials)."""
    problems = []
    for key in REQUIRED_EQUAL:
        mine, theirs = driver["versions"].get(key), report["versions"].get(key)
        if mine != theirs:
            hint = ""
            if key.startswith("hdfbench"):
                hint = " (ship the code with ray.ship_code: true, or install the driver's commit)"
            problems.append(f"runs {key} {theirs}, the driver {mine}{hint}")
    for name, seen in report["datasets"].items():
        if seen != driver["datasets"].get(name):
            problems.append(
                f"dataset {name} differs from the driver's: here {seen}, on the driver {driver['datasets'].get(name)}"
            )
    return problems


def _gpu_request(config: ExperimentConfig, node: Node) -> float:
    """Return the GPUs the probe of ``node`` holds: a trial's share where trials there will use CUDA."""
    wants_cuda = config.resources.gpu > 0 and config.training.device != "cpu"
    return config.resources.gpu if wants_cuda and node.fits(config.resources.cpu, config.resources.gpu) else 0.0


def preflight(config: ExperimentConfig, cache_dir: str) -> ClusterReport:
    """Check every alive node (see the module docstring); return the report or raise ``PreflightFailed``."""
    start = time.perf_counter()
    nodes = alive_nodes()
    problems = resource_problems(nodes, config.resources.cpu, config.resources.gpu)
    token = uuid.uuid4().hex
    expected = expectations(config, token, cache_dir)
    sentinel = Path(expected["sentinel"])
    sentinel.parent.mkdir(parents=True, exist_ok=True)
    sentinel.write_text(token)
    driver = {"versions": versions(), "datasets": census(expected["datasets"], cache_dir)}
    remote = ray.remote(probe)
    refs: dict[str, Any] = {}
    for node in nodes:
        gpus, hosts = _gpu_request(config, node), node.fits(config.resources.cpu, config.resources.gpu)
        if not config.ray.address and gpus == 0:  # local Ray: this process is on the one node already
            refs[node.node_id] = ray.put(probe(expected, hosts, False))
            continue
        refs[node.node_id] = remote.options(
            num_cpus=0,
            num_gpus=gpus,
            max_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
        ).remote(expected, hosts, gpus > 0)
    ready, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=config.ray.preflight_timeout_s)
    report = ClusterReport(nodes)
    try:
        for node in nodes:
            problems += [
                f"{node.label}: {p}"
                for p in _node_problems(
                    node, refs[node.node_id], ready, driver, sentinel, report, config.ray.preflight_timeout_s
                )
            ]
    finally:
        for path in sentinel.parent.glob(f"{token}*"):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            sentinel.parent.rmdir()  # only if no other preflight is using it
    report.seconds = time.perf_counter() - start
    if problems:
        raise PreflightFailed(problems, report.seconds)
    return report


def _node_problems(
    node: Node, ref, ready: list, driver: dict, sentinel: Path, report: ClusterReport, timeout: float
) -> list[str]:
    """Return the problems of one node from its probe's result (or from its absence)."""
    if ref not in ready:
        ray.cancel(ref, force=True)
        return [f"did not answer within {timeout:g} s (ray.preflight_timeout_s; are its CPUs/GPUs busy?)"]
    try:
        result = ray.get(ref)
    except Exception as exc:  # the task could not even import hdfbench, or its worker died
        detail = error_line(exc, type(exc).__name__)
        return [
            f"cannot run hdfbench there ({detail}); install its dependencies on every node, and hdfbench "
            "itself unless ray.ship_code is true"
        ]
    report.reports[node.node_id] = result
    problems = result["problems"] + compare(driver, result)
    written = sentinel.with_name(f"{sentinel.name}.{node.node_id}")
    if not any("output_dir" in p for p in result["problems"]) and not written.exists():
        problems.append(f"wrote {written} but the driver cannot see it: output_dir is not shared both ways")
    return problems


def prepare_on_nodes(config: ExperimentConfig, cache_dir: str) -> list[str]:
    """Prepare every dataset on each other node that can host trials (in parallel); return their labels.

    Each node fills its own data cache once, instead of every trial landing there doing it at once.
    """
    here = ray.get_runtime_context().get_node_id()
    hosts = [n for n in alive_nodes() if n.node_id != here and n.fits(config.resources.cpu, config.resources.gpu)]
    datasets = [(d.name, d.options) for d in config.datasets]
    remote = ray.remote(prepare_data)
    refs = {
        n.label: remote.options(
            num_cpus=min(1.0, n.cpus),
            max_retries=0,
            scheduling_strategy=NodeAffinitySchedulingStrategy(n.node_id, soft=False),
        ).remote(datasets, cache_dir)
        for n in hosts
    }
    errors = []
    for label, ref in refs.items():
        try:
            ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            errors.append(f"{label}: {exc.cause if exc.cause is not None else exc}")
    if errors:
        raise DataError("preparing the data on the cluster's nodes failed:\n  " + "\n  ".join(errors))
    return list(refs)
