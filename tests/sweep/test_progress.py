"""The sweep's progress bar without Ray: fake trials, a fake clock, the bar written to a string."""

from __future__ import annotations

import inspect
import io
import os
import subprocess
import sys
from dataclasses import dataclass

import pytest
from ray import tune

from hdfbench.sweep.progress import EpochPace, Progress, SweepTally, format_duration


@dataclass
class FakeTrial:
    trial_id: str


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def progress(runs: int, epochs: int) -> tuple[Progress, Clock]:
    clock = Clock()
    return Progress(runs, epochs, clock=clock, file=io.StringIO(), disable=False), clock


def start(p: Progress, *ids: str) -> None:
    for trial_id in ids:
        p.on_trial_start(iteration=0, trials=[], trial=FakeTrial(trial_id))


def report(p: Progress, trial_id: str, **result) -> None:
    p.on_trial_result(iteration=0, trials=[], trial=FakeTrial(trial_id), result=result)


def complete(p: Progress, trial_id: str) -> None:
    p.on_trial_complete(iteration=0, trials=[], trial=FakeTrial(trial_id))


def error(p: Progress, trial_id: str) -> None:
    p.on_trial_error(iteration=0, trials=[], trial=FakeTrial(trial_id))


def test_the_hooks_are_tunes_callback_hooks():
    for name in ("on_trial_start", "on_trial_result", "on_trial_complete", "on_trial_error", "on_experiment_end"):
        ours = list(inspect.signature(getattr(Progress, name)).parameters)
        tunes = list(inspect.signature(getattr(tune.Callback, name)).parameters)
        assert ours == tunes, name


def test_runs_done_count_completed_and_errored_trials_and_failures_apart():
    p, clock = progress(runs=4, epochs=2)
    start(p, "a", "b", "c")
    for epoch in range(2):
        clock.now += 10
        report(p, "a", epoch=epoch)
    complete(p, "a")
    report(p, "b", failed="b: loss is NaN at epoch 0")  # the run's own failure, then the trial returns
    complete(p, "b")
    error(p, "c")  # Tune gave up on it (retries exhausted)
    assert p.tally.runs_text() == "3/4 runs (2 failed)"
    assert p.tally.epochs_done == 6  # every ended trial has all its epochs done
    assert p.tally.remaining_epochs == 2
    assert p.text().startswith("sweep 3/4 runs (2 failed) |")
    assert "| 6/8 epochs, " in p.text()


def test_no_failure_note_without_failures():
    p, _ = progress(runs=2, epochs=1)
    complete(p, "a")
    assert p.tally.runs_text() == "1/2 runs"


def test_no_rate_and_no_eta_before_the_first_measured_epoch():
    p, clock = progress(runs=2, epochs=5)
    assert p.text().endswith("0/10 epochs, ? epochs/min, ETA ?")
    start(p, "a", "b")
    clock.now = 30
    report(p, "a", objective=0.7, run_id="r-a")  # an already-finished run: one instant report, no epoch
    complete(p, "a")
    assert p.tally.rate_per_minute(clock.now) is None
    assert p.tally.eta(clock.now) is None
    assert p.text() == "sweep 1/2 runs |#####     | 5/10 epochs, ? epochs/min, ETA ?"


def test_eta_is_remaining_epochs_over_the_measured_rate():
    p, clock = progress(runs=2, epochs=10)
    start(p, "a")
    for epoch in range(4):
        clock.now += 30
        report(p, "a", epoch=epoch, loss=1.0)
    # 4 epochs in 120 s = 2 epochs/min; 20 - 4 = 16 epochs left -> 16 / 2 = 8 minutes
    assert p.tally.rate_per_minute(clock.now) == pytest.approx(2.0)
    assert p.tally.eta(clock.now) == pytest.approx(480.0)
    assert p.text() == "sweep 0/2 runs |##        | 4/20 epochs, 2.00 epochs/min, ETA 8m00s"


def test_a_resumed_run_counts_its_earlier_epochs_as_done_but_measures_only_the_new_one():
    p, clock = progress(runs=2, epochs=8)
    start(p, "a")
    assert p.tally.remaining_epochs == 16
    clock.now = 60
    report(p, "a", epoch=5)  # resumed after epoch 4: epochs 0-4 were done before this sweep
    assert p.tally.epochs_done == 6
    assert p.tally.remaining_epochs == 10  # epochs 6 and 7 of "a", all 8 of "b"
    assert p.tally.rate_per_minute(clock.now) == pytest.approx(1.0)  # one epoch in 60 s, not six
    assert p.tally.eta(clock.now) == pytest.approx(600.0)
    clock.now = 120
    report(p, "a", epoch=6)
    assert p.tally.epochs_done == 7
    assert p.tally.eta(clock.now) == pytest.approx(9 / (2 / 120))


def test_a_retried_trial_repeating_an_epoch_does_not_count_it_twice():
    tally = SweepTally(runs=1, epochs_per_run=4)
    tally.trial_started("a", 0)
    tally.result("a", {"epoch": 0}, 10)
    tally.result("a", {"epoch": 1}, 20)
    tally.result("a", {"epoch": 1}, 30)  # retried from the checkpoint of epoch 0
    assert tally.epochs_done == 2
    assert tally.pace.rate(30) == pytest.approx(3 / 30)  # but it was trained again


def test_the_rate_follows_the_recent_pace_not_the_whole_history():
    pace = EpochPace(window_s=300, min_epochs=5)
    pace.start(0)
    for k in range(1, 21):
        pace.record(60.0 * k)  # one epoch a minute until t=1200
    assert pace.rate(1200) * 60 == pytest.approx(1.0)
    for k in range(1, 11):
        pace.record(1200 + 30.0 * k)  # then one every 30 s
    # the last 300 s hold 10 epochs: 2/min (the whole history would say 30 / 25 min = 1.2/min)
    assert pace.rate(1500) * 60 == pytest.approx(2.0)


def test_concurrent_trials_add_up():
    pace = EpochPace(window_s=300, min_epochs=5)
    pace.start(0)
    for k in range(1, 11):  # three trials, each one epoch per 90 s, 10 s apart
        for offset in (0, 10, 20):
            pace.record(90.0 * k + offset)
    # window from the last report at or before 920 - 300 = 620 (t=560): 12 epochs in 360 s = 2/min
    assert pace.rate(920) * 60 == pytest.approx(2.0)


def test_slow_epochs_stretch_the_window_to_the_last_few_reports():
    pace = EpochPace(window_s=300, min_epochs=5)
    pace.start(0)
    for k in range(1, 11):
        pace.record(600.0 * k)  # one epoch every 10 minutes
    # nothing in the last 300 s before t=6500: the window reaches back to hold 5 epochs (t=3000 on)
    assert pace.rate(6500) == pytest.approx(5 / 3500)


def test_an_epoch_reported_before_any_start_only_opens_the_window():
    pace = EpochPace()
    pace.record(100)
    assert pace.rate(100) is None
    pace.record(160)
    assert pace.rate(160) == pytest.approx(1 / 60)


def test_search_trials_without_epochs_advance_by_completed_runs():
    p, clock = progress(runs=3, epochs=4)
    start(p, "t1", "t2")
    clock.now = 50
    report(p, "t1", objective=0.5)
    complete(p, "t1")
    assert p.tally.epochs_done == 4
    assert p.tally.runs_text() == "1/3 runs"
    assert p.text().endswith("4/12 epochs, ? epochs/min, ETA ?")


def test_nothing_left_means_eta_zero():
    p, clock = progress(runs=1, epochs=2)
    start(p, "a")
    clock.now = 20
    report(p, "a", epoch=0)
    clock.now = 40
    report(p, "a", epoch=1)
    complete(p, "a")
    assert p.tally.eta(clock.now) == 0
    assert p.text() == "sweep 1/1 runs |##########| 2/2 epochs, 3.00 epochs/min, ETA 0s"


def test_silent_when_not_a_terminal():
    out = io.StringIO()
    p = Progress(2, 3, file=out)  # disable=None: tqdm stays quiet on a non-TTY
    report(p, "a", epoch=0)
    complete(p, "a")
    p.on_experiment_end(trials=[])
    assert out.getvalue() == ""


def test_the_bar_is_written_to_its_file_and_closed_at_the_end():
    out = io.StringIO()
    p = Progress(1, 1, clock=Clock(), file=out, disable=False)
    complete(p, "a")
    p.on_experiment_end(trials=[])
    assert "sweep 1/1 runs |##########| 1/1 epochs, ? epochs/min, ETA 0s" in out.getvalue()
    assert out.getvalue().endswith("\n")


@pytest.mark.parametrize(
    "seconds, text",
    [(0, "0s"), (45.4, "45s"), (60, "1m00s"), (200, "3m20s"), (3599, "59m59s"), (7500, "2h05m"), (97200, "1d03h")],
)
def test_durations_read_as_minutes_and_seconds(seconds, text):
    assert format_duration(seconds) == text


def test_the_bar_is_drawn_on_a_terminal_that_reports_no_size():
    # a fresh pty is 0 × 0 (as under `script` or some CI runners): tqdm alone hides the bar there
    script = (
        "from hdfbench.sweep.progress import Progress\n"
        "class T: trial_id = 'a'\n"
        "p = Progress(2, 3)\n"
        "p.on_trial_start(0, [], T())\n"
        "for e in range(3): p.on_trial_result(0, [], T(), {'epoch': e})\n"
        "p.on_trial_complete(0, [], T()); p.on_experiment_end([])\n"
    )
    leader, follower = os.openpty()
    done = subprocess.run([sys.executable, "-c", script], stdout=follower, stderr=follower, timeout=60)
    os.close(follower)
    output = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the pty's other end is closed: everything was read
            break
        if not chunk:
            break
        output += chunk
    os.close(leader)
    assert done.returncode == 0, output.decode(errors="replace")
    assert "sweep 1/2 runs" in output.decode(errors="replace") and "3/6 epochs" in output.decode(errors="replace")
