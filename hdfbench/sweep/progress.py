"""The sweep's progress bar: runs done, epochs done, the current epoch rate and an ETA from measured epochs.

A trial reports once per trained epoch with the record's ``epoch`` (0-based, see ``trial.py:run_trial``);
an already-finished run reports once without it, and a run that fails on its own reports ``failed``.
The counting lives in ``SweepTally`` and ``EpochPace``, which take explicit timestamps; ``Progress``
is the thin Tune callback that feeds them from a clock and draws the bar.
"""

from __future__ import annotations

import shutil
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import IO, Any

from ray import tune
from tqdm.auto import tqdm

#: Seconds of recent epoch reports the rate is measured over.
RATE_WINDOW_S = 300.0
#: The fewest recent epoch reports the rate is measured over, however long ago they came.
RATE_MIN_EPOCHS = 5


def format_duration(seconds: float) -> str:
    """Return ``seconds`` as a short duration: ``45s``, ``3m20s``, ``2h05m``, ``1d03h``."""
    s = max(0, round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def format_rate(per_minute: float) -> str:
    """Return an epochs-per-minute rate with about three significant digits (``0.25``, ``4.17``, ``37.5``, ``412``)."""
    if per_minute >= 100:
        return f"{per_minute:.0f}"
    if per_minute >= 10:
        return f"{per_minute:.1f}"
    return f"{per_minute:.2f}"


class EpochPace:
    """The sweep's current pace: epochs trained per second over a recent window, all trials together.

    The window reaches back ``window_s`` seconds from now, and further if needed to hold the last
    ``min_epochs`` epoch reports. It starts at an event (the start of measuring or an epoch report)
    so that every counted epoch was trained inside it.
    """

    def __init__(self, window_s: float = RATE_WINDOW_S, min_epochs: int = RATE_MIN_EPOCHS):
        self.window_s = window_s
        self.min_epochs = min_epochs
        self.origin: float | None = None  # the window's start: an event time
        self.times: deque[float] = deque()  # the epoch reports after origin, oldest first

    def start(self, now: float) -> None:
        """Begin measuring at ``now`` (the first trial's start) unless already begun."""
        if self.origin is None:
            self.origin = now

    def record(self, now: float) -> None:
        """Count one epoch trained by some trial, reported at ``now``."""
        if self.origin is None:
            # how long this epoch took is unknown: it only opens the window
            self.origin = now
            return
        self.times.append(now)

    def _slide(self, now: float) -> None:
        """Move the window's start to the latest event at or before ``now - window_s`` that keeps
        ``min_epochs`` reports after it, dropping the reports before it."""
        cutoff = now - self.window_s
        while len(self.times) > self.min_epochs and self.times[0] <= cutoff:
            self.origin = self.times.popleft()

    def rate(self, now: float) -> float | None:
        """Return epochs per second over the window ending at ``now``; None before any epoch was measured."""
        if self.origin is None:
            return None
        self._slide(now)
        span = now - self.origin
        if not self.times or span <= 0:
            return None
        return len(self.times) / span


class SweepTally:
    """Runs and epochs done in one Tune run of ``runs`` trials of ``epochs_per_run`` epochs each.

    A trial's epochs done are one more than the last ``epoch`` it reported: a resumed run's first report
    (epoch 5 of 8) counts its 5 earlier epochs as done, but only the epoch it trained now is measured.
    A trial that completes or errors has all its epochs done (trained, skipped or given up).
    """

    def __init__(self, runs: int, epochs_per_run: int, pace: EpochPace | None = None):
        self.runs = runs
        self.epochs_per_run = epochs_per_run
        self.pace = pace if pace is not None else EpochPace()
        self.epochs: dict[str, int] = {}  # trial id -> epochs done
        self.ended: set[str] = set()
        self.failed: set[str] = set()

    @property
    def total_epochs(self) -> int:
        """Return the epochs of all runs."""
        return self.runs * self.epochs_per_run

    @property
    def epochs_done(self) -> int:
        """Return the epochs done over all trials, including those a resumed run did before this sweep."""
        return min(self.total_epochs, sum(self.epochs.values()))

    @property
    def remaining_epochs(self) -> int:
        """Return the epochs still to train (a trial not yet reporting counts all of its epochs)."""
        return self.total_epochs - self.epochs_done

    def trial_started(self, trial_id: str, now: float) -> None:
        """Note a trial's start: the first one starts the clock of the rate."""
        self.pace.start(now)

    def result(self, trial_id: str, result: Mapping[str, Any], now: float) -> None:
        """Count one report of a trial: an epoch if it carries ``epoch``, a failure if it carries ``failed``."""
        if "failed" in result:
            self.failed.add(trial_id)
        epoch = result.get("epoch")
        if isinstance(epoch, int) and not isinstance(epoch, bool):
            done = min(self.epochs_per_run, epoch + 1)
            self.epochs[trial_id] = max(self.epochs.get(trial_id, 0), done)
            self.pace.record(now)

    def trial_ended(self, trial_id: str, errored: bool = False) -> None:
        """Count a trial that completed or errored: its run is done, with all its epochs."""
        self.ended.add(trial_id)
        if errored:
            self.failed.add(trial_id)
        self.epochs[trial_id] = self.epochs_per_run

    def rate_per_minute(self, now: float) -> float | None:
        """Return the current rate in epochs per minute; None before any epoch was measured."""
        rate = self.pace.rate(now)
        return None if rate is None else rate * 60

    def eta(self, now: float) -> float | None:
        """Return the seconds left at the current rate (0 when nothing remains); None without a rate."""
        if self.remaining_epochs == 0:
            return 0.0
        rate = self.pace.rate(now)
        return None if rate is None else self.remaining_epochs / rate

    def runs_text(self) -> str:
        """Return the runs part of the bar, e.g. ``3/10 runs (1 failed)``."""
        text = f"{len(self.ended)}/{self.runs} runs"
        return text + (f" ({len(self.failed)} failed)" if self.failed else "")

    def pace_text(self, now: float) -> str:
        """Return the rate and ETA part of the bar, e.g. ``4.17 epochs/min, ETA 10m14s`` (``?`` when unknown)."""
        rate = self.rate_per_minute(now)
        eta = self.eta(now)
        rate_text = "?" if rate is None else format_rate(rate)
        eta_text = "?" if eta is None else format_duration(eta)
        return f"{rate_text} epochs/min, ETA {eta_text}"


#: The bar's layout: runs, the bar over epochs, epochs done/total, then the rate and ETA.
BAR_FORMAT = "{desc} |{bar}| {n_fmt}/{total_fmt} epochs{postfix}"  # tqdm puts ", " before a postfix


class Progress(tune.Callback):
    """Tune callback drawing the sweep's progress bar, e.g.
    ``sweep 3/10 runs (1 failed) |████▋     | 37/80 epochs, 4.17 epochs/min, ETA 10m19s``.

    ``runs`` trials of ``epochs_per_run`` epochs each; ``name`` starts the line; ``clock`` gives the
    seconds the rate is measured in; ``file`` and ``disable`` go to tqdm, whose ``disable=None`` keeps
    the bar silent when the output is not a terminal.
    """

    def __init__(
        self,
        runs: int,
        epochs_per_run: int,
        name: str = "sweep",
        clock: Callable[[], float] = time.monotonic,
        file: IO[str] | None = None,
        disable: bool | None = None,
    ):
        self.tally = SweepTally(runs, epochs_per_run)
        self.name = name
        self.clock = clock
        # tqdm draws nothing on a terminal that reports no size (a pty without one: 0 rows hide the bar);
        # shutil falls back to 80 × 24 there
        size = shutil.get_terminal_size() if file is None else None
        self.bar = tqdm(
            total=self.tally.total_epochs,
            unit="epoch",
            bar_format=BAR_FORMAT,
            file=file,
            disable=disable,
            ncols=size and size.columns,
            nrows=size and size.lines,
        )
        self._draw()

    def _draw(self) -> None:
        """Bring the bar up to the tally and redraw it."""
        now = self.clock()
        self.bar.n = self.tally.epochs_done
        self.bar.set_description_str(f"{self.name} {self.tally.runs_text()}", refresh=False)
        self.bar.set_postfix_str(self.tally.pace_text(now), refresh=False)
        self.bar.refresh()

    def text(self) -> str:
        """Return the bar's current line as a terminal shows it (tqdm's default line when the bar is disabled)."""
        return str(self.bar)

    def on_trial_start(self, iteration, trials, trial, **info):
        self.tally.trial_started(trial.trial_id, self.clock())

    def on_trial_result(self, iteration, trials, trial, result, **info):
        self.tally.result(trial.trial_id, result, self.clock())
        self._draw()

    def on_trial_complete(self, iteration, trials, trial, **info):
        self.tally.trial_ended(trial.trial_id)
        self._draw()

    def on_trial_error(self, iteration, trials, trial, **info):
        self.tally.trial_ended(trial.trial_id, errored=True)
        self._draw()

    def on_experiment_end(self, trials, **info):
        self.bar.close()
