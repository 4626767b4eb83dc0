"""The preflight's pure parts: resource fit, comparison with the driver, the code digest."""

from hdfbench.sweep.cluster import Node, compare, resource_problems
from hdfbench.sweep.provenance import source_digest

HEAD = Node("a" * 56, "head", cpus=4, gpus=0)
GPU = Node("b" * 56, "gpu-1", cpus=8, gpus=1)


def test_a_trial_must_fit_on_one_node():
    assert resource_problems([HEAD, GPU], cpu=4, gpu=1) == []
    assert resource_problems([HEAD, GPU], cpu=2, gpu=0.5) == []
    (problem,) = resource_problems([HEAD, GPU], cpu=1, gpu=2)
    assert "no node can run a trial needing resources.cpu 1 and resources.gpu 2" in problem
    assert "node gpu-1 (bbbbbbbb) has 8 CPU, 1 GPU" in problem
    assert resource_problems([HEAD, GPU], cpu=10, gpu=0)  # CPUs count too
    assert resource_problems([], cpu=1, gpu=0) == [
        "cluster: no node can run a trial needing resources.cpu 1 and "
        "resources.gpu 0 (no alive node); lower resources or add nodes"
    ]


def test_nodes_are_compared_with_the_driver():
    versions = {
        "hdfbench": "0.1.0",
        "hdfbench_source": "abc",
        "python": "3.11",
        "torch": "2.13.0",
        "ray": "2.60.0",
        "numpy": "2.4.6",
    }
    driver = {"versions": versions, "datasets": {"dfew": {"listed": 10, "found": 10, "frames": 160}}}
    same = {"versions": dict(versions, numpy="2.3.0"), "datasets": driver["datasets"]}
    assert compare(driver, same) == []  # numpy is reported, not required equal
    other = {
        "versions": dict(versions, hdfbench_source="def", torch="2.11.0"),
        "datasets": {"dfew": {"listed": 10, "found": 9, "frames": 144}},
    }
    problems = compare(driver, other)
    assert problems[0].startswith("runs hdfbench_source def, the driver abc (ship the code")
    assert problems[1] == "runs torch 2.11.0, the driver 2.13.0"
    assert problems[2].startswith("dataset dfew differs from the driver's: here {'listed': 10, 'found': 9")


def test_the_source_digest_follows_every_python_file(tmp_path):
    package = tmp_path / "hdfbench"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    (package / "sub" / "m.py").write_text("y = 2\n")
    (package / "__pycache__").mkdir()
    (package / "__pycache__" / "junk.py").write_text("ignored")
    first = source_digest(package)
    assert source_digest(package) == first
    (package / "sub" / "m.py").write_text("y = 3\n")
    assert source_digest(package) != first
    assert len(source_digest()) == 16  # the installed package
