"""Faults in a run's own files: a damaged checkpoint, a cut metrics.jsonl, a damaged clip-cache file,
and result files that others must be able to read. Each case asserts what the user sees and that
the finished result is the one an undisturbed run gives."""

import json
import logging
import os
import stat

import numpy as np
import pytest

from hdfbench.config import DatasetSpec, ModelSpec, SelectionSpec, StrategySpec, TrainingSpec
from hdfbench.data.cache import ClipCache
from hdfbench.training.rundir import RunDir
from hdfbench.training.spec import RunSpec
from hdfbench.training.trainer import train
from tests.helpers import interrupt_after_epoch


def spec() -> RunSpec:
    return RunSpec(
        experiment="t",
        dataset=DatasetSpec(name="synthetic", options={"n_clips": 84, "frames": 4, "size": 32, "n_subjects": 8}),
        fold=1,
        seed=0,
        strategy=StrategySpec(name="erm", variant="erm"),
        model=ModelSpec(backbone="x3d_tiny", options={"head_dim_out": 64}),
        training=TrainingSpec(epochs=4, batch_size=8, max_steps_per_epoch=3, device="cpu"),
        selection=SelectionSpec(rule="best_val_uar"),
    )


def without_timings(run: RunDir) -> list[dict]:
    return [{k: v for k, v in r.items() if "time" not in k and "per_s" not in k} for r in run.read_metrics()]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """An undisturbed run: (its final metrics, its run directory)."""
    run = RunDir(tmp_path_factory.mktemp("straight") / "run")
    return train(spec(), run), run


@pytest.mark.parametrize("damage", [b"", b"not a checkpoint", "cut"], ids=["zero-bytes", "garbage", "cut-short"])
def test_a_damaged_checkpoint_is_set_aside_named_and_the_run_restarts(tmp_path, straight, caplog, damage):
    expected, undisturbed = straight
    run = RunDir(tmp_path / "run")
    interrupt_after_epoch(spec(), run, 1)
    whole = run.checkpoint.read_bytes()
    run.checkpoint.write_bytes(whole[: len(whole) // 2] if damage == "cut" else damage)
    with caplog.at_level(logging.WARNING):
        final = train(spec(), run)
    message = [r.getMessage() for r in caplog.records if "checkpoint" in r.getMessage()]
    assert len(message) == 1 and str(run.checkpoint) in message[0] and "training from the start" in message[0]
    assert json.dumps(final, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert without_timings(run) == without_timings(undisturbed)
    assert [p.name for p in run.path.glob("checkpoint.pt.damaged-*")]  # kept for inspection, not deleted


def test_metrics_cut_mid_record_lose_no_epoch_the_checkpoint_covers(tmp_path, straight):
    expected, undisturbed = straight
    run = RunDir(tmp_path / "run")
    interrupt_after_epoch(spec(), run, 2)
    text = run.metrics.read_text()
    run.metrics.write_text(text[: len(text.splitlines()[0]) // 2])  # cut inside the first record
    final = train(spec(), run)
    assert json.dumps(final, sort_keys=True) == json.dumps(expected, sort_keys=True)
    assert without_timings(run) == without_timings(undisturbed)  # epochs 0–2 restored from the checkpoint
    assert run.read_done()["resumed_from_epochs"] == [2]


def test_result_files_follow_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        run = RunDir(tmp_path / "run")
        train(spec(), run)
    finally:
        os.umask(previous)
    for name in ("config.json", "done", "predictions.parquet", "metrics.jsonl", "best.pt"):
        assert stat.S_IMODE((run.path / name).stat().st_mode) == 0o644, name


@pytest.mark.parametrize("damage", ["zero-bytes", "cut-short", "wrong-dtype"])
def test_a_damaged_clip_cache_file_is_named_removed_and_decoded_again(tmp_path, caplog, damage):
    cache = ClipCache(tmp_path, "d", {"size": 32})
    frames = np.random.default_rng(0).integers(0, 255, (5, 32, 32, 3), dtype=np.uint8)
    cache.write("clip", frames)
    assert cache.has("clip") and np.array_equal(cache.read("clip"), frames)
    path = cache.path("clip")
    if damage == "wrong-dtype":
        with open(path, "wb") as f:
            np.save(f, frames.astype(np.float32))
    else:
        path.write_bytes(b"" if damage == "zero-bytes" else path.read_bytes()[:200])
    with caplog.at_level(logging.WARNING):
        assert not cache.has("clip")
    assert not path.exists() and str(path) in caplog.text and "decoded again" in caplog.text
