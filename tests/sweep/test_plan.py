"""The sweep plan (``hdfbench run --dry-run``): its arithmetic, done runs, the recorded benchmarks, a measured
step, and that it runs nothing and writes nothing."""

import json
import os
import subprocess
import sys

import pytest

from hdfbench.cli import main
from hdfbench.config import load_config
from hdfbench.data import build_dataset, make_splits
from hdfbench.sweep.plan import PUBLISHED_SPLITS, RECORDS, make_plan, makespan
from hdfbench.training.device import cuda_problem
from hdfbench.training.results import run_dir
from tests.helpers import EXPERIMENTS, REPO, tiny_config

SYNTHETIC = {"n_clips": 84, "frames": 4, "size": 32, "n_subjects": 8}


def trainer_sizes(spec) -> tuple[int, int, int]:
    """Return the (train, val, test) clip counts the trainer itself gets for ``spec`` (data generated)."""
    dataset = build_dataset(spec.dataset.name, spec.dataset.options, spec.cache_dir)
    dataset.prepare()
    splits = make_splits(dataset, spec.fold, spec.seed, spec.training.val_fraction)
    return len(splits.train), len(splits.val), len(splits.test)


@pytest.mark.parametrize("max_steps", [None, 2])
def test_runs_epochs_and_clips_multiply_as_the_trainer_steps(tmp_path, max_steps):
    training = {"epochs": 3, "batch_size": 8, "max_steps_per_epoch": max_steps, "device": "cpu"}
    path = tiny_config(tmp_path, seeds=[0, 1], strategies=[{"name": "erm"}, {"name": "sam"}], training=training)
    plan = make_plan(load_config(path))
    assert len(plan.runs) == 4 and not plan.searches and all(r.state == "to run" for r in plan.runs)
    for run in plan.runs:
        n_train, n_val, n_test = trainer_sizes(run.spec)
        per_epoch = n_train if max_steps is None else min(n_train, max_steps * 8)
        assert run.train_clips == per_epoch and run.epochs == 3
        assert run.clip_steps == 3 * per_epoch
        assert run.eval_clips == 3 * n_val + n_val + n_test  # val every epoch, then val and test once
        speed = plan.throughput[run.setting]
        assert run.seconds == pytest.approx(
            run.clip_steps / speed.train_clips_per_s + run.eval_clips / speed.eval_clips_per_s
        )
    assert plan.device_seconds == pytest.approx(sum(r.seconds for r in plan.runs))
    sam = next(r for r in plan.runs if r.variant == "sam")
    erm = next(r for r in plan.runs if r.variant == "erm")
    assert plan.throughput[sam.setting].train_clips_per_s < plan.throughput[erm.setting].train_clips_per_s
    text = plan.render()
    assert "4 runs (1 dataset × 1 fold × 2 seeds × 2 strategies)" in text
    assert f"{sum(r.clip_steps for r in plan.runs):,}" in text


@pytest.mark.parametrize(
    ("evaluation", "oracle", "expected"),
    [
        ({"temporal_views": 2, "spatial_views": 2}, False, lambda v, t: 4 * v + 4 * t),
        ({"temporal_views": 2, "on_validation": True}, False, lambda v, t: 4 * 2 * v + 2 * t),
        ({}, True, lambda v, t: 4 * v + t + 3 * t),
    ],
)
def test_test_views_and_the_oracle_pass_are_counted(tmp_path, evaluation, oracle, expected):
    training = {"epochs": 3, "batch_size": 8, "device": "cpu"}
    path = tiny_config(tmp_path, training=training, evaluation=evaluation, selection={"report_oracle": oracle})
    (run,) = make_plan(load_config(path)).runs
    _, n_val, n_test = trainer_sizes(run.spec)
    assert run.eval_clips == expected(n_val, n_test)  # 3 epochs of validation + the final one, then test


def test_done_runs_are_listed_and_excluded_and_partial_runs_count_their_remaining_epochs(tmp_path):
    path = tiny_config(tmp_path, seeds=[0, 1, 2], training={"epochs": 4, "batch_size": 8, "device": "cpu"})
    config = load_config(path)
    before = make_plan(config)
    done, partial, untouched = before.runs
    run_dir(config.experiment_dir, done.spec.run_id).path.mkdir(parents=True)
    run_dir(config.experiment_dir, done.spec.run_id).done.write_text("{}")
    run_dir(config.experiment_dir, partial.spec.run_id).path.mkdir(parents=True)
    run_dir(config.experiment_dir, partial.spec.run_id).metrics.write_text('{"epoch": 0}\n{"epoch": 1}\n')
    after = make_plan(config)
    states = {r.spec.run_id: r for r in after.runs}
    assert states[done.spec.run_id].state == "done" and states[done.spec.run_id] not in after.pending
    assert states[partial.spec.run_id].state == "partial" and states[partial.spec.run_id].epochs == 2
    assert states[untouched.spec.run_id].epochs == 4
    remaining = after.device_seconds
    expected = states[partial.spec.run_id].seconds + states[untouched.spec.run_id].seconds
    assert remaining == pytest.approx(expected) and remaining < before.device_seconds
    text = after.render()
    assert "1 already done, 2 to run" in text and f"already done (excluded): {done.spec.run_id}" in text


def test_a_pending_search_costs_its_trials(tmp_path):
    strategies = [{"name": "erm"}, {"name": "groupdro", "search": {"n_trials": 3}}]
    plan = make_plan(load_config(tiny_config(tmp_path, strategies=strategies)))
    assert len(plan.searches) == 3 and all(t.variant == "groupdro" for t in plan.searches)
    assert [r.state for r in plan.runs] == ["to run", "after search"]
    assert len(plan.pending) == 5 and "search:groupdro" in plan.render()


def test_the_dfew_sweep_with_the_recorded_h200_steps(tmp_path):
    """Issue 22: 75 runs × 50 epochs × ~8,400 training clips; at the recorded H200 pace about 35 GPU-hours."""
    config = load_config(
        EXPERIMENTS / "dfew_sweep.yaml",
        [f"datasets.0.options.root={tmp_path / 'no-dfew'}", f"output_dir={tmp_path / 'results'}"],
    )
    plan = make_plan(config)
    assert len(plan.runs) == 75 and plan.device == "cuda"
    record = json.loads((REPO / "benchmarks/gpu/step_cost_gpu.json").read_text())
    clips_per_s = record["clips_per_s"]  # bf16 (precision auto on CUDA), contiguous (channels_last auto)
    expected = 0.0
    for run in plan.runs:
        n_train = PUBLISHED_SPLITS["dfew"][run.spec.fold][0]
        clips = n_train - round(0.1 * n_train)
        assert run.train_clips == clips and 8400 <= clips <= 8430
        expected += 50 * clips / clips_per_s.get(f"{run.spec.strategy.name}/bf16", clips_per_s["erm/bf16"])
    training = sum(r.train_s for r in plan.runs)
    assert training == pytest.approx(expected, rel=1e-4)
    assert 30 * 3600 < training < 40 * 3600  # the "about 35 GPU-hours"
    assert plan.device_seconds > training  # evaluation passes come on top
    text = plan.render()
    assert "NVIDIA H200, torch 2.11.0+cu130, 2026-12-04" in text and "published split sizes of dfew" in text
    assert "ERM bf16 × relative_cost 1 (not in the record)" in text  # focal and groupdro


def test_wall_clock_spreads_the_runs_over_the_gpus(tmp_path):
    config = load_config(EXPERIMENTS / "dfew_sweep.yaml", [f"output_dir={tmp_path}"])
    one, four = make_plan(config), make_plan(config, gpus=4)
    assert one.wall_s == pytest.approx(one.device_seconds)
    assert four.slots == 4 and four.device_seconds / 4 <= four.wall_s < 1.05 * four.device_seconds / 4
    assert makespan([3, 3, 2, 2, 2], 2) == 7 and makespan([4, 3, 2, 1], 2) == 5  # in order, first free slot


def test_the_embedded_records_are_the_benchmark_files():
    files = {"cuda": "benchmarks/gpu/step_cost_gpu.json", "cpu": "benchmarks/step_cost_cpu.json"}
    for record in RECORDS:
        recorded = json.loads((REPO / files[record.device]).read_text())
        assert record.step_s == pytest.approx(recorded["step_s"], rel=1e-4)
        setup = recorded["setup"]
        assert (record.backbone, record.frames, record.size, record.batch, record.threads) == (
            setup["backbone"],
            setup["frames"],
            setup["size"],
            setup["batch"],
            setup["threads"],
        )
        assert record.torch == recorded["torch"] and record.source.startswith(files[record.device])


def test_split_files_are_counted_when_the_data_is_here(tmp_path):
    tree = tmp_path / "tree"
    assert main(["synth", "--format", "dfew", "--out", str(tree), "--n-clips", "84", "--set", "n_subjects=8"]) == 0
    datasets = [{"name": "dfew", "options": {"root": str(tree), "frames_dir": "all", "frames": 4, "size": 32}}]
    plan = make_plan(load_config(tiny_config(tmp_path, datasets=datasets, folds=[1, 2])))
    for run in plan.runs:
        dataset = build_dataset("dfew", run.spec.dataset.options, run.spec.cache_dir)
        dataset.scan()
        splits = make_splits(dataset, run.spec.fold, run.spec.seed, 0.1)
        assert run.train_clips == min(len(splits.train), 2 * 8)
        assert run.eval_clips == 2 * len(splits.val) + len(splits.val) + len(splits.test)
    assert f"the split files under {tree}" in plan.render()


@pytest.mark.slow  # 15-20 s on 2 shared cores, most of it building and warming three strategies
def test_measure_times_each_strategy_here(tmp_path, capsys):
    strategies = [{"name": "erm"}, {"name": "sam"}, {"name": "hdf"}]
    path = tiny_config(tmp_path, strategies=strategies)
    assert main(["run", str(path), "--smoke", "--dry-run", "--measure"]) == 0
    out = capsys.readouterr().out
    assert "throughput: measured here: CPU" in out and out.count("  measured") == 3
    assert "evaluation (measured)" in out and "recorded benchmark" not in out
    assert not (tmp_path / "results").exists()


@pytest.mark.slow  # a fresh interpreter importing torch: 15-20 s on 2 shared cores
def test_a_dry_run_writes_nothing_and_starts_no_ray(tmp_path):
    path = tiny_config(tmp_path, strategies=[{"name": "erm"}, {"name": "hdf"}])
    cache = tmp_path / "cache"
    script = (
        "import sys; from hdfbench.cli import main; rc = main(sys.argv[1:]); "
        "print('LOADED', 'ray' in sys.modules, 'mlflow' in sys.modules); sys.exit(rc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, "run", str(path), "--dry-run"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "HDFBENCH_CACHE": str(cache), "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED False False" in result.stdout and "projected device-hours" in result.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]  # no results, no cache, no ray folder


@pytest.mark.skipif(cuda_problem() is None, reason="this machine can use CUDA: --measure would time it")
def test_measure_of_a_cuda_sweep_without_a_gpu_says_so_and_uses_the_record(tmp_path):
    config = load_config(EXPERIMENTS / "dfew_sweep.yaml", [f"output_dir={tmp_path}"])
    plan = make_plan(config, measure=True)
    assert any(n.startswith("--measure: the runs train on CUDA, which this machine cannot use") for n in plan.notes)
    assert "recorded benchmark: NVIDIA H200" in plan.render()


def test_a_dataset_whose_clips_cannot_be_counted_gives_unknown_hours(tmp_path):
    datasets = [{"name": "videofolder", "options": {"root": str(tmp_path / "absent")}}]
    plan = make_plan(load_config(tiny_config(tmp_path, datasets=datasets)))
    assert plan.device_seconds is None and plan.wall_s is None
    text = plan.render()
    assert "projected device-hours: unknown" in text and "clips of videofolder: unknown here" in text
