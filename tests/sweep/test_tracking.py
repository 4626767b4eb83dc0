"""The MLflow mirror: missed epochs are backfilled on resume; the driver closes runs whose trials died; metric
names MLflow refuses are mapped, not lost."""

import pytest

from hdfbench.sweep.tracking import MlflowMirror, init_experiment, mlflow_key, reconcile
from hdfbench.testing.fake_results import FakeSpec, make_results
from hdfbench.training.rundir import RunDir


@pytest.fixture
def store(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    return uri, init_experiment(uri, "t", tmp_path / "artifacts")


def run_dir(tmp_path, name, epochs):
    run = RunDir(tmp_path / name)
    for epoch in range(epochs):
        run.append_metrics({"epoch": epoch, "val_uar": 0.1 * epoch})
    return run


def history(uri, run: RunDir):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    run_id = (run.path / "mlflow_run_id").read_text()
    return client, run_id, [m.step for m in client.get_metric_history(run_id, "epoch")]


def test_backfill_logs_only_the_epochs_mlflow_missed(tmp_path, store):
    uri, experiment = store
    run = run_dir(tmp_path, "r", epochs=3)
    mirror = MlflowMirror(uri, experiment, run, {"run_id": "r"})
    mirror.start({"a": 1})
    mirror.log_metrics(run.read_metrics()[0], step=0)  # then "killed" after epoch 0's checkpoint
    again = MlflowMirror(uri, experiment, run, {"run_id": "r"})
    again.start({"a": 1})
    again.backfill(run.read_metrics())
    again.backfill(run.read_metrics())
    assert history(uri, run)[2] == [0, 1, 2]


def test_a_run_killed_before_its_mlflow_id_was_saved_keeps_one_mlflow_run(tmp_path, store):
    from mlflow import MlflowClient

    uri, experiment = store
    run = run_dir(tmp_path, "r", epochs=1)
    MlflowMirror(uri, experiment, run, {"run_id": "r"}).start({"a": 1})
    first = (run.path / "mlflow_run_id").read_text()
    (run.path / "mlflow_run_id").unlink()  # killed between create_run and writing the id
    other = run_dir(tmp_path / "elsewhere", "r", epochs=1)  # the same run id in another output_dir
    MlflowMirror(uri, experiment, other, {"run_id": "r"}).start({"a": 1})
    MlflowMirror(uri, experiment, run, {"run_id": "r"}).start({"a": 1})
    assert (run.path / "mlflow_run_id").read_text() == first
    assert (other.path / "mlflow_run_id").read_text() != first
    assert len(MlflowClient(tracking_uri=uri).search_runs([experiment])) == 2


def test_reconcile_finishes_a_done_run_left_running(tmp_path, store):
    uri, experiment = store
    spec = FakeSpec(folds=(1,), seeds=(0,), variants={"erm": ("erm", 0.0)}, epochs=2)
    run = RunDir(next((make_results(tmp_path / "results", spec) / "runs").iterdir()))
    mirror = MlflowMirror(uri, experiment, run, {"run_id": "r"})
    mirror.start({})
    mirror.log_metrics(run.read_metrics()[0], step=0)  # killed after `done`, before the mirror's finish
    assert reconcile(uri, {"r": run}, {}) == {}
    client, run_id, steps = history(uri, run)
    assert client.get_run(run_id).info.status == "FINISHED" and steps == [0, 1]


def test_reconcile_marks_dead_trials_and_leaves_finished_runs(tmp_path, store):
    uri, experiment = store
    runs = {name: run_dir(tmp_path, name, epochs=1) for name in ("lost", "broken")}
    for name, run in runs.items():
        MlflowMirror(uri, experiment, run, {"run_id": name}).start({})
    problems = reconcile(uri, runs | {"never": RunDir(tmp_path / "never")}, {"broken": "ValueError: bad"})
    assert problems == {}
    statuses = {}
    for name, run in runs.items():
        client, run_id, _ = history(uri, run)
        info = client.get_run(run_id)
        statuses[name] = (info.info.status, info.data.tags["hdfbench.failure"])
    assert statuses == {
        "lost": ("KILLED", "the sweep ended before this run finished"),
        "broken": ("FAILED", "ValueError: bad"),
    }


def test_group_weight_and_worst_group_names_reach_mlflow(tmp_path, store):
    uri, experiment = store
    run = run_dir(tmp_path, "g", epochs=1)
    mirror = MlflowMirror(uri, experiment, run, {"run_id": "g"})
    mirror.start({})
    mirror.log_metrics(
        {"epoch": 0, "q/Happy|cctv": 0.25, "val_worst_group_acc_class_x_source": 0.5, "odd*name?": 1.0}, step=0
    )
    assert not (run.path / "mlflow_error.txt").exists()
    client, run_id, _ = history(uri, run)
    logged = client.get_run(run_id).data.metrics
    assert logged["q/Happy:cctv"] == 0.25 and logged["val_worst_group_acc_class_x_source"] == 0.5
    assert logged["odd_name_"] == 1.0
    assert mlflow_key("q/Disgust|studio") == "q/Disgust:studio"


def test_the_pretrained_load_report_becomes_run_tags():
    from hdfbench.sweep.trial import pretrained_tags

    report = {
        "path": "/w/x3d_s.pyth",
        "sha256": "ab" * 32,
        "format": "pyslowfast",
        "loaded": 566,
        "new": ["classifier.bias", "classifier.weight"],
        "ignored": ["head.projection.bias", "head.projection.weight"],
        "inserted": ["stages.0.res_blocks.0.branch1_norm"],
    }
    tags = pretrained_tags(report)
    assert tags["pretrained.sha256"] == "ab" * 32 and tags["pretrained.loaded"] == "566"
    assert tags["pretrained.format"] == "pyslowfast" and tags["pretrained.new"] == "classifier.bias,classifier.weight"
    assert tags["pretrained.inserted"] == "stages.0.res_blocks.0.branch1_norm"
    assert pretrained_tags(None) == {}
