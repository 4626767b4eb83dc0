"""What a sweep will cost before it runs (``hdfbench run CONFIG --dry-run``): runs, epochs, clip-steps,
evaluation passes and projected device-hours, with every assumption stated.

The grid is ``grid.expand``'s, with the results of finished searches applied as the driver applies
them, so run ids (and the ``done`` markers found under them) are the ones ``hdfbench run`` would use.
Nothing is written and Ray is not started.

- **Clips per run** come from the dataset's splits, without reading a frame: the split files of a
  file-backed dataset whose root exists; the generator's plan of the synthetic dataset (its
  options, nothing rendered); else, for DFEW, FERV39k and MAFW, the published split sizes
  (``PUBLISHED_SPLITS``). The inner validation split is carved as the trainer carves it, and a training
  epoch is ``min(clips, max_steps_per_epoch × batch_size)`` clips.
- **Throughput** (clips per second of a training step, and of an evaluation forward pass) is either
  measured here (``measure=True``: warm steps of each strategy at the config's backbone, clip shape, batch
  and precision, on the device the runs would use), or taken from a recorded benchmark (``RECORDS``,
  copies of ``benchmarks/gpu/step_cost_gpu.json`` and ``benchmarks/step_cost_cpu.json``). A record of
  another setup is scaled by forward FLOPs per clip; a strategy the record lacks is ERM's step times its
  ``relative_cost``.
- **Device-hours** = clip-steps / training clips per second + evaluation clips / evaluation clips per
  second, for the runs still to run; **wall-clock** places those runs, costliest first as the driver
  starts them, on the trials that fit side by side.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hdfbench.config import ExperimentConfig
from hdfbench.data.synthetic import SyntheticDFER, plan_clips
from hdfbench.timing import median_step_times
from hdfbench.training.spec import RunSpec

#: Cost of one evaluation clip (a forward pass without gradients) relative to one ERM training clip, when
#: it is not measured: a training step is a forward and a backward pass, the backward about twice the forward.
EVAL_COST = 1 / 3
#: The measured step: untimed warm-up calls of each setting, then rounds in which each is called in turn.
MEASURE_WARMUP, MEASURE_ROUNDS, MEASURE_PER_TURN = 3, 3, 2

#: (train, test) clips of each official fold, for planning when a dataset's files are not on this machine.
#: DFEW: the per-fold sizes its release README states, which the public split lists of MAE-DFER,
#: Former-DFER and DFER-CLIP reproduce; FERV39k (All_scenes, its one split: fold 1) and MAFW
#: (single-expression, no_caption, 5 folds): counts of those repositories' split lists. The totals agree
#: with docs/datasets.md (11,697; 31,088 / 7,847; 9,172). Used only when the split files are not here.
PUBLISHED_SPLITS: dict[str, dict[int, tuple[int, int]]] = {
    "dfew": {1: (9356, 2341), 2: (9356, 2341), 3: (9357, 2340), 4: (9358, 2339), 5: (9361, 2336)},
    "ferv39k": {1: (31088, 7847)},
    "mafw": {1: (7333, 1839), 2: (7335, 1837), 3: (7339, 1833), 4: (7340, 1832), 5: (7341, 1831)},
}


@dataclass(frozen=True)
class StepRecord:
    """A recorded step benchmark: median seconds of a training step per ``strategy/precision[+cl]``."""

    card: str
    device: str  # "cuda" or "cpu"
    torch: str
    date: str
    source: str
    backbone: str
    frames: int
    size: int
    batch: int
    threads: int
    step_s: dict[str, float]

    def describe(self) -> str:
        """Return the record's name: card, torch, date, file, setup."""
        return (
            f"{self.card}, torch {self.torch}, {self.date} ({self.source}): {self.backbone}, "
            f"batch {self.batch} × {self.frames} × {self.size}², {self.threads} CPU threads, native kernels"
        )


#: Copies of the recorded step benchmarks (``benchmarks/step_cost.py`` output; the package ships no data
#: files, so they live here; tests/sweep/test_plan.py checks them against the JSON files).
RECORDS: tuple[StepRecord, ...] = (
    StepRecord(
        card="NVIDIA H200",
        device="cuda",
        torch="2.11.0+cu130",
        date="2026-12-04",
        source="benchmarks/gpu/step_cost_gpu.json, commit e206d11",
        backbone="x3d_s",
        frames=16,
        size=112,
        batch=32,
        threads=8,
        step_s={
            "erm/fp32": 0.081037,
            "sam/fp32": 0.177748,
            "hdf/fp32": 0.201312,
            "erm/fp32+cl": 0.130037,
            "sam/fp32+cl": 0.275074,
            "hdf/fp32+cl": 0.297891,
            "erm/bf16": 0.087091,
            "sam/bf16": 0.188734,
            "hdf/bf16": 0.214957,
            "erm/bf16+cl": 0.155514,
            "sam/bf16+cl": 0.326632,
            "hdf/bf16+cl": 0.354239,
        },
    ),
    StepRecord(
        card="CPU, 2-core AMD EPYC (Zen 5) (docs/performance.md)",
        device="cpu",
        torch="2.13.0+cpu",
        date="2026-12-04",
        source="benchmarks/step_cost_cpu.json, commit e206d11",
        backbone="x3d_tiny",
        frames=8,
        size=32,
        batch=16,
        threads=2,
        step_s={
            "erm/fp32": 0.151088,
            "focal/fp32": 0.148486,
            "groupdro/fp32": 0.145294,
            "sam/fp32": 0.290398,
            "hdf/fp32": 0.326264,
            "cvar/fp32": 0.146262,
            "logit_adjustment/fp32": 0.146003,
            "ldam_drw/fp32": 0.148335,
            "chi2_dro/fp32": 0.144345,
            "jtt/fp32": 0.146137,
            "group_reweight/fp32": 0.143828,
            "erm/fp32+cl": 0.059065,
            "focal/fp32+cl": 0.060286,
            "groupdro/fp32+cl": 0.062071,
            "sam/fp32+cl": 0.122855,
            "hdf/fp32+cl": 0.152638,
            "cvar/fp32+cl": 0.058467,
            "logit_adjustment/fp32+cl": 0.057698,
            "ldam_drw/fp32+cl": 0.059571,
            "chi2_dro/fp32+cl": 0.058227,
            "jtt/fp32+cl": 0.059123,
            "group_reweight/fp32+cl": 0.060041,
        },
    ),
)


# --- clips per run ------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SplitSizes:
    """Clips of one (dataset, fold, seed) cell: training (after the inner validation split), validation,
    test and in-distribution test; ``source`` says where the counts come from; ``train_table`` is the
    training table when it was read (labels and metadata, for a measured step's task)."""

    train: int
    val: int
    test: int
    test_id: int
    source: str
    train_table: pd.DataFrame | None = None


class _PlannedSynthetic(SyntheticDFER):
    """The synthetic dataset with its clip table taken from the generator's plan: splits without
    rendering or caching a clip (the generator writes exactly this table)."""

    _planned: pd.DataFrame | None = None

    def table(self) -> pd.DataFrame:
        if self._planned is None:
            planned = plan_clips(self.options).assign(row=lambda t: np.arange(len(t)))
            self._planned = planned if "pool" in planned else planned.assign(pool="train")
        return self._planned


def _dataset_key(spec: RunSpec) -> str:
    return json.dumps(spec.dataset.model_dump(mode="json"), sort_keys=True)


class SplitCounter:
    """Counts the clips of every (dataset, fold, seed) cell of a sweep, each dataset built once."""

    def __init__(self) -> None:
        self.datasets: dict[str, object] = {}
        self.cells: dict[tuple[str, int, int, float], SplitSizes | None] = {}

    def dataset(self, spec: RunSpec):
        """Return the dataset object of ``spec`` (built, never prepared)."""
        from hdfbench.data import build_dataset

        key = _dataset_key(spec)
        if key not in self.datasets:
            dataset = build_dataset(spec.dataset.name, spec.dataset.options, spec.cache_dir)
            if isinstance(dataset, SyntheticDFER):
                dataset = _PlannedSynthetic(dataset.options, dataset.cache_dir)
            self.datasets[key] = dataset
        return self.datasets[key]

    def sizes(self, spec: RunSpec) -> SplitSizes | None:
        """Return the clip counts of ``spec``'s cell (None when they cannot be known without the data)."""
        key = (_dataset_key(spec), spec.fold, spec.seed, spec.training.val_fraction)
        if key not in self.cells:
            self.cells[key] = self._count(spec)
        return self.cells[key]

    def _count(self, spec: RunSpec) -> SplitSizes | None:
        from hdfbench.data.filedataset import FileDataset

        dataset = self.dataset(spec)
        fraction, fold = spec.training.val_fraction, spec.fold
        test_id = None
        if isinstance(dataset, _PlannedSynthetic):
            train, test = dataset.split(fold)
            test_id = dataset.in_distribution_test(fold)
            source = f"the generator's plan of its options (n_clips {dataset.options.n_clips}; nothing rendered)"
        elif isinstance(dataset, FileDataset) and Path(dataset.options.root).is_dir():
            rows = {part: dataset.rows(fold, part) for part in ("train", "test")}
            train, test = (t[t["label"] >= 0].reset_index(drop=True) for t in rows.values())  # as split() keeps them
            source = f"the split files under {dataset.options.root} (clips a scan would find bad are not subtracted)"
        elif spec.dataset.name in PUBLISHED_SPLITS and fold in PUBLISHED_SPLITS[spec.dataset.name]:
            n_train, n_test = PUBLISHED_SPLITS[spec.dataset.name][fold]
            n_val = max(int(round(fraction * n_train)), len(dataset.classes))  # as inner_validation_split draws it
            root = getattr(dataset.options, "root", "?")
            return SplitSizes(
                n_train - n_val,
                n_val,
                n_test,
                0,
                f"the published split sizes of {spec.dataset.name} (root {root} is not on this machine; counts "
                "of the official split lists, PUBLISHED_SPLITS in hdfbench/sweep/plan.py)",
            )
        else:
            return None
        train, val = dataset.validation_split(train, fraction, spec.seed)
        return SplitSizes(len(train), len(val), len(test), 0 if test_id is None else len(test_id), source, train)


def clips_per_epoch(n_train: int, batch_size: int, max_steps: int | None) -> int:
    """Return the training clips of one epoch: all of them, or ``max_steps × batch_size`` if fewer (the
    trainer's sampler keeps the first steps × batch indices)."""
    return n_train if max_steps is None else min(n_train, max_steps * batch_size)


# --- throughput ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Throughput:
    """Clips per second of one setting's training step and evaluation pass, and how they were obtained."""

    train_clips_per_s: float
    eval_clips_per_s: float
    how: str
    record: StepRecord | None = None  # the recorded benchmark it comes from


def run_device(config: ExperimentConfig) -> str:
    """Return the device type the runs train on: ``auto`` is CUDA exactly when a trial holds a GPU."""
    if config.training.device != "auto":
        return config.training.device
    return "cuda" if config.resources.gpu > 0 else "cpu"


def precision_tag(precision: str, device: str) -> str:
    """Return bf16 or fp32: the precision's forward passes on ``device`` (auto: bf16 on CUDA)."""
    return "bf16" if precision == "bf16" or (precision == "auto" and device == "cuda") else "fp32"


def _shape_options(backbone: str, options: dict) -> dict:
    """Return the backbone options that change its size (not kernels, weights or dropout), defaults filled."""
    from hdfbench.models import BACKBONES

    cls = BACKBONES.get(backbone)
    dumped = cls.Options(**options).model_dump()
    skip = {*getattr(cls.Options, "COMPUTE_FIELDS", ()), "pretrained", "dropout"}
    return {k: v for k, v in dumped.items() if k not in skip}


_FLOPS: dict[str, float] = {}


def forward_flops(backbone: str, options: dict, num_classes: int, frames: int, size: int) -> float:
    """Return the FLOPs of the backbone's forward pass on one clip (torch's FlopCounterMode, on the CPU)."""
    from torch.utils.flop_counter import FlopCounterMode

    from hdfbench.models import build_backbone

    key = json.dumps([backbone, _shape_options(backbone, options), num_classes, frames, size], sort_keys=True)
    if key not in _FLOPS:
        with torch.random.fork_rng(devices=[]):
            model = build_backbone(backbone, num_classes, frames, size, options).eval()
            counter = FlopCounterMode(display=False)
            with torch.no_grad(), counter:
                model(torch.zeros(1, 3, frames, size, size))
        _FLOPS[key] = float(counter.get_total_flops())
    return _FLOPS[key]


def _relative_cost(name: str, hparams: dict) -> tuple[float, float]:
    """Return the strategy's ``relative_cost`` under ``hparams`` and under its default hyperparameters."""
    from hdfbench.strategies import STRATEGIES

    cls = STRATEGIES.get(name)
    cost = float(cls.relative_cost(cls.Hparams(**hparams)))
    try:
        default = float(cls.relative_cost(cls.Hparams()))
    except Exception:  # hyperparameters without defaults: the record cannot be told apart
        default = cost
    return cost, default


@dataclass(frozen=True)
class Setting:
    """What one throughput figure holds for: a dataset's clip shape and a strategy variant's step."""

    label: str  # "<dataset>/<variant>"
    spec: RunSpec
    frames: int
    size: int
    num_classes: int


def recorded_throughput(setting: Setting, device: str, channels_last: bool) -> tuple[Throughput | None, list[str]]:
    """Return the throughput of ``setting`` from the nearest recorded benchmark of ``device`` and the notes
    that say how it was derived (None and a note when there is no record for the device)."""
    spec = setting.spec
    candidates = [r for r in RECORDS if r.device == device]
    if not candidates:
        return None, [f"no recorded benchmark for the {device}: add --measure to time the steps here"]
    shape = _shape_options(spec.model.backbone, spec.model.options)
    preset = _shape_options(spec.model.backbone, {})
    changed = ", ".join(f"{k} {v}" for k, v in shape.items() if preset.get(k) != v)
    model = f"{spec.model.backbone} ({changed})" if changed else spec.model.backbone
    voxels = setting.frames * setting.size**2

    def distance(r: StepRecord):
        same_model = r.backbone == spec.model.backbone and _shape_options(r.backbone, {}) == shape
        return (not same_model, abs(math.log(voxels / (r.frames * r.size**2))), r.batch != spec.training.batch_size)

    record = min(candidates, key=distance)
    notes: list[str] = []
    scale = 1.0
    setup = (record.backbone, _shape_options(record.backbone, {}), record.frames, record.size, record.batch)
    if setup != (spec.model.backbone, shape, setting.frames, setting.size, spec.training.batch_size):
        scale = forward_flops(
            spec.model.backbone, spec.model.options, setting.num_classes, setting.frames, setting.size
        ) / forward_flops(record.backbone, {}, setting.num_classes, record.frames, record.size)
        notes.append(
            f"no record of {model} at batch {spec.training.batch_size} × "
            f"{setting.frames} × {setting.size}²: the {record.card} record ({record.backbone}, batch {record.batch} × "
            f"{record.frames} × {record.size}²) scaled by forward FLOPs per clip (× {scale:.3g}), assuming step "
            "time per clip proportional to FLOPs and independent of the batch size; --measure times it"
        )
    prec = precision_tag(spec.training.precision, device)
    wanted = f"/{prec}{'+cl' if channels_last else ''}"
    other_prec = "fp32" if prec == "bf16" else "bf16"
    suffixes = [f"/{p}{cl}" for p in (prec, other_prec) for cl in (("+cl", "") if channels_last else ("", "+cl"))]
    suffix = next((s for s in suffixes if f"erm{s}" in record.step_s), None)
    if suffix is None:
        return None, [f"the {record.card} record has no ERM step: add --measure"]
    if suffix != wanted:
        notes.append(f"the record has no {wanted[1:]} steps; its {suffix[1:]} steps are used unchanged")
    erm_clip_s = record.step_s[f"erm{suffix}"] / record.batch * scale
    name = spec.strategy.name
    cost, default_cost = _relative_cost(name, spec.strategy.hparams)
    if f"{name}{suffix}" in record.step_s:
        clip_s = record.step_s[f"{name}{suffix}"] / record.batch * scale
        how = f"recorded {name}{suffix}"
        if cost != default_cost:
            clip_s *= cost / default_cost
            how += f" × {cost / default_cost:.3g} (relative_cost of its hparams over the recorded defaults')"
    else:
        clip_s = erm_clip_s * cost
        how = f"ERM {suffix[1:]} × relative_cost {cost:g} (not in the record)"
    return Throughput(1 / clip_s, 1 / (erm_clip_s * EVAL_COST), how, record), notes


def _timed_setting(setting: Setting, dataset, sizes: SplitSizes | None, device: torch.device):
    """Return (training step, evaluation pass) callables of ``setting`` on ``device``: the strategy built as
    the trainer builds it, on random clips of the run's shape with labels and groups of its training split."""
    from hdfbench.data.batch import Batch
    from hdfbench.data.groups import definition_counts, field_codes, field_values
    from hdfbench.data.loader import to_device
    from hdfbench.models import build_backbone
    from hdfbench.strategies import STRATEGIES, StageContext, TaskInfo
    from hdfbench.training.device import autocast_dtype, channels_last_wanted
    from hdfbench.training.views import predict_logits

    spec, training = setting.spec, setting.spec.training
    classes = _classes(dataset, setting.num_classes)
    fields = tuple(_safe(lambda: dataset.group_fields, ()))
    table = sizes.train_table if sizes is not None and sizes.train_table is not None else None
    if table is None:  # no table read: every class and four placeholder values per group field, evenly
        n = max(sizes.train if sizes is not None else 0, training.batch_size, 4 * len(classes))
        table = pd.DataFrame({"label": np.arange(n) % len(classes), **{f: np.arange(n) % 4 for f in fields}})
    codes = field_values([table], fields)
    labels = torch.tensor(table["label"].to_numpy(dtype=np.int64))
    groups = {f: torch.tensor(np.asarray(c, dtype=np.int64)) for f, c in field_codes(table, codes).items()}
    counts = definition_counts(classes, codes, labels, groups)
    task = TaskInfo(
        num_classes=len(classes),
        class_counts=counts.pop("class"),
        group_counts=counts,
        class_names=tuple(classes),
        group_names={f: tuple(v) for f, v in codes.items()},
    )
    model = build_backbone(spec.model.backbone, len(classes), setting.frames, setting.size, spec.model.options)
    cls = STRATEGIES.get(spec.strategy.name)
    strategy = cls(model, cls.Hparams(**spec.strategy.hparams), task, training.optimizer, spec.strategy.balancing).to(
        device
    )
    amp = autocast_dtype(training.precision, device)
    strategy.configure_compute(device.type, amp, channels_last_wanted(training.channels_last, device, amp))
    stages = strategy.stages(training.epochs)
    g = torch.Generator().manual_seed(0)
    if len(stages) > 1:  # time the last stage, where a multi-stage run (JTT) spends most of its steps
        logits = torch.randn(len(labels), len(classes), generator=g)
        strategy.begin_stage(len(stages) - 1, StageContext(stages[-1].start, labels, lambda: logits))
    b, shape = training.batch_size, (setting.frames, setting.size, setting.size, 3)
    rows = torch.randint(0, len(labels), (b,), generator=g)
    batch = Batch(
        torch.randint(0, 256, (b, *shape), dtype=torch.uint8, generator=g),
        labels[rows],
        {f: c[rows] for f, c in groups.items()},
        rows,
    )
    eval_clips = torch.randint(0, 256, (training.eval_batch_size, *shape), dtype=torch.uint8, generator=g).numpy()

    def train_step() -> None:
        strategy.training_step(to_device(batch, device))

    def eval_pass() -> None:
        predict_logits(strategy, eval_clips, training.eval_batch_size, device)

    return train_step, eval_pass


def _safe(get: Callable, default):
    from hdfbench.data.errors import DataError

    try:
        return get()
    except DataError:
        return default


def _classes(dataset, fallback: int) -> tuple[str, ...]:
    classes = tuple(_safe(lambda: dataset.classes, ()))
    return classes or tuple(f"class{i}" for i in range(fallback))


def _machine(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next(
            (line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines() if "model name" in line), ""
        )
    return f"CPU{', ' + model if model else ''}, {os.cpu_count()} cores"


def measure_throughput(
    settings: list[Setting], counter: SplitCounter, device: torch.device, echo: Callable[[str], object] = print
) -> tuple[dict[str, Throughput], str, list[str]]:
    """Time a few warm training steps and evaluation passes of every setting on ``device``; return the
    throughputs by setting label, a line naming the measurement, and notes (settings that could not be built)."""
    from hdfbench.strategies import NonFiniteLossError

    notes: list[str] = []
    threads = max(1, settings[0].spec.threads) if settings else 1
    echo(f"measuring {_count(len(settings), 'setting')} on {_machine(device)} ({_count(threads, 'thread')}) ...")
    started = time.perf_counter()
    old_threads, old_benchmark = torch.get_num_threads(), torch.backends.cudnn.benchmark
    devices = (
        [device.index if device.index is not None else torch.cuda.current_device()] if device.type == "cuda" else []
    )
    calls: dict[str, Callable[[], object]] = {}
    try:
        torch.set_num_threads(threads)  # as the trainer sets it: resources.cpu
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(0)
            for setting in settings:
                torch.backends.cudnn.benchmark = setting.spec.training.cudnn_benchmark
                try:
                    step, forward = _timed_setting(
                        setting, counter.dataset(setting.spec), counter.sizes(setting.spec), device
                    )
                    step()  # a strategy that cannot take a step fails here, not inside the timing
                except (ValueError, NonFiniteLossError) as exc:
                    notes.append(f"{setting.label}: not measured ({exc}); the recorded benchmark is used")
                    continue
                calls[f"{setting.label}|train"], calls[f"{setting.label}|eval"] = step, forward
            medians = median_step_times(calls, device, MEASURE_WARMUP, MEASURE_ROUNDS, MEASURE_PER_TURN)
    finally:
        torch.set_num_threads(old_threads)
        torch.backends.cudnn.benchmark = old_benchmark
    out = {}
    for setting in settings:
        if f"{setting.label}|train" in medians:
            training = setting.spec.training
            out[setting.label] = Throughput(
                training.batch_size / medians[f"{setting.label}|train"],
                training.eval_batch_size / medians[f"{setting.label}|eval"],
                "measured",
            )
    line = (
        f"measured here: {_machine(device)}, torch {torch.__version__}, {_count(threads, 'thread')}, "
        f"{time.strftime('%Y-%m-%d')}: median of {MEASURE_ROUNDS * MEASURE_PER_TURN} training steps and as many "
        f"evaluation batches of each setting, taken in turns after {MEASURE_WARMUP} warm-up calls each "
        f"({time.perf_counter() - started:.1f} s)"
    )
    return out, line, notes


# --- the plan -----------------------------------------------------------------------------------------


def evaluation_clips(spec: RunSpec, epochs: int, val: int, test: int, test_id: int) -> int:
    """Return the clip predictions ``epochs`` more epochs of ``spec`` make: validation every epoch, then the
    selected weights predict validation and the test splits, each pass once per view (``evaluation``: test
    always, validation with ``on_validation``), and with ``selection.report_oracle`` the test split every
    epoch too."""
    views = spec.evaluation.views
    val_views = views if spec.evaluation.on_validation else 1
    oracle = epochs * test * views if spec.selection.report_oracle else 0
    return (epochs + 1) * val * val_views + (test + test_id) * views + oracle


@dataclass
class RunCost:
    """One run of the grid (or one trial of a pending search): what is left of it and its projected cost."""

    spec: RunSpec
    setting: str
    dataset: str
    variant: str
    state: str  # done, partial, to run, after search, search trial
    epochs: int  # epochs still to train
    train_clips: int | None  # training clips per epoch
    eval_clips: int | None  # evaluation clips still to predict
    train_s: float | None = None
    eval_s: float | None = None

    @property
    def clip_steps(self) -> int | None:
        """Return the training clips still to step through."""
        return None if self.train_clips is None else self.epochs * self.train_clips

    @property
    def seconds(self) -> float | None:
        """Return the projected device-seconds still to spend on this run."""
        return None if self.train_s is None or self.eval_s is None else self.train_s + self.eval_s


@dataclass
class Plan:
    """The cost of a sweep: every run, the throughputs used, where each number comes from, wall-clock."""

    config: ExperimentConfig
    device: str
    runs: list[RunCost]
    searches: list[RunCost]
    throughput: dict[str, Throughput]
    lines: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    slots: int = 1
    wall_s: float | None = None

    @property
    def pending(self) -> list[RunCost]:
        """Return the runs still to run (grid runs not done, and pending search trials)."""
        return [r for r in self.runs if r.state != "done"] + self.searches

    @property
    def device_seconds(self) -> float | None:
        """Return the projected device-seconds of everything still to run (None if some are unknown)."""
        seconds = [r.seconds for r in self.pending]
        return None if any(s is None for s in seconds) else float(sum(s for s in seconds if s is not None))

    def render(self) -> str:
        """Return the plan as printed by ``hdfbench run --dry-run``."""
        config = self.config
        done = [r for r in self.runs if r.state == "done"]
        grid = " × ".join(
            _count(len(items), noun)
            for items, noun in (
                (config.datasets, "dataset"),
                (config.folds, "fold"),
                (config.seeds, "seed"),
                (config.strategies, "strategy"),
            )
        )
        out = [
            f"{config.experiment}: {_count(len(self.runs), 'run')} ({grid}), {len(done)} already done, "
            f"{len(self.runs) - len(done)} to run (results in {config.experiment_dir}); dry run: nothing is run or "
            "written",
            "",
        ]
        header = ["dataset", "strategy", "runs", "done", "epochs", "clips/epoch", "clip-steps", "eval clips"]
        header += ["train clips/s", "eval clips/s", "device-h", "throughput"]
        rows = []
        groups: dict[tuple[str, str], list[RunCost]] = {}
        for run in self.runs + self.searches:
            name = f"search:{run.variant}" if run.state == "search trial" else run.variant
            groups.setdefault((run.dataset, name), []).append(run)
        for (dataset, name), runs in groups.items():
            todo = [r for r in runs if r.state != "done"]
            throughput = self.throughput.get(runs[0].setting)
            clips = sorted({r.train_clips for r in runs if r.train_clips is not None})
            rows.append(
                [
                    dataset,
                    name,
                    str(len(runs)),
                    str(len(runs) - len(todo)),
                    _span(sorted({r.spec.training.epochs for r in runs})),
                    _span(clips) if clips else "?",
                    _total([r.clip_steps for r in todo]),
                    _total([r.eval_clips for r in todo]),
                    f"{throughput.train_clips_per_s:.1f}" if throughput else "?",
                    f"{throughput.eval_clips_per_s:.1f}" if throughput else "?",
                    _hours_cell([r.seconds for r in todo]),
                    throughput.how if throughput else "none",
                ]
            )
        pending = self.pending
        rows.append(
            [
                "total",
                "",
                str(len(self.runs) + len(self.searches)),
                str(len(done)),
                "",
                "",
                _total([r.clip_steps for r in pending]),
                _total([r.eval_clips for r in pending]),
                "",
                "",
                _hours_cell([r.seconds for r in pending]),
                "",
            ]
        )
        out += _table(header, rows)
        out.append("")
        seconds = self.device_seconds
        if seconds is None:
            out.append("projected device-hours: unknown for some runs (see the notes)")
        else:
            train = sum(r.train_s or 0.0 for r in pending)
            out.append(
                f"projected device-hours ({self.device}): {_hours(seconds)} for the {len(pending)} runs to run "
                f"(training {_hours(train)}, evaluation {_hours(seconds - train)})"
            )
        if self.wall_s is not None:
            out.append(f"projected wall-clock: {_hours(self.wall_s)} with {_count(self.slots, 'trial')} at a time")
        out += [""] + self.lines
        if done:
            ids = ", ".join(r.spec.run_id for r in done[:10]) + (
                f", and {len(done) - 10} more" if len(done) > 10 else ""
            )
            out.append(f"already done (excluded): {ids}")
        out += [f"note: {n}" for n in self.notes]
        return "\n".join(out)


def _labels(labels: list[str]) -> str:
    """Return ``dataset/a, b, c`` for settings labels ``dataset/a``, ``dataset/b``... (one dataset each)."""
    by_dataset: dict[str, list[str]] = {}
    for label in labels:
        dataset, _, variant = label.partition("/")
        by_dataset.setdefault(dataset, []).append(variant)
    return "; ".join(f"{d}/{', '.join(v)}" for d, v in by_dataset.items())


def _count(n: int, noun: str) -> str:
    plural = noun[:-1] + "ies" if noun.endswith("y") else noun + "s"
    return f"{n} {noun if n == 1 else plural}"


def _span(values: list[int]) -> str:
    if not values:
        return ""
    return f"{values[0]:,}" if values[0] == values[-1] else f"{values[0]:,}–{values[-1]:,}"


def _total(values: list[int | None]) -> str:
    return "?" if any(v is None for v in values) else f"{sum(v for v in values if v is not None):,}"


def _hours(seconds: float) -> str:
    hours = seconds / 3600
    if hours >= 1:
        return f"{hours:.1f} h"
    return f"{hours:.3f} h ({seconds / 60:.1f} min)" if seconds >= 60 else f"{hours:.4f} h ({seconds:.0f} s)"


def _hours_cell(seconds: list[float | None]) -> str:
    if any(s is None for s in seconds):
        return "?"
    hours = sum(s for s in seconds if s is not None) / 3600
    return f"{hours:.1f}" if hours >= 10 else f"{hours:.3f}" if hours < 0.1 else f"{hours:.2f}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    left = {0, 1, len(header) - 1}

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    return [line(header)] + [line(r) for r in rows]


def makespan(durations: list[float], slots: int) -> float:
    """Return when the last of ``durations`` ends when each starts, in order, on the first free of ``slots``."""
    ends = [0.0] * max(1, slots)
    for duration in durations:
        heapq.heapreplace(ends, ends[0] + duration)
    return max(ends)


def trial_slots(config: ExperimentConfig, device: str, gpus: int | None) -> tuple[int, str]:
    """Return how many trials run side by side, and the sentence that says why."""
    if device == "cuda":
        n, per = gpus or 1, config.resources.gpu
        if per >= 1:
            slots, why = int(n // per), f"{_count(n, 'GPU')}, resources.gpu {per:g} per trial"
        else:
            slots = n
            why = f"{_count(n, 'GPU')}; trials holding {per:g} GPU share one, taken as no faster together than in turn"
    else:
        if config.ray.address is not None:
            slots, why = 1, "the cluster's CPUs are not known here (ray.address is set): one trial at a time"
        else:
            cpus = os.cpu_count() or 1
            slots = max(1, int(cpus // config.resources.cpu))
            why = (
                f"{cpus} CPUs here, resources.cpu {config.resources.cpu:g} per trial (assumed not to slow each other; "
                "on shared cores they do)"
            )
        if gpus is not None:
            why += "; --gpus does not apply: the runs train on the CPU"
    if config.ray.max_concurrent_trials is not None and slots > config.ray.max_concurrent_trials:
        slots, why = config.ray.max_concurrent_trials, why + f", ray.max_concurrent_trials {slots}"
    return slots, why


def config_search(config: ExperimentConfig, label: str):
    """Return the ``search`` block of the strategy entry labelled ``label``."""
    return next(s.search for s in config.strategies if s.label == label)


def make_plan(
    config: ExperimentConfig, measure: bool = False, gpus: int | None = None, echo: Callable[[str], object] = print
) -> Plan:
    """Return the plan of ``config``: its grid with done runs marked, clip counts and projected costs."""
    from hdfbench.strategies import STRATEGIES
    from hdfbench.strategies.base import Strategy
    from hdfbench.sweep import search
    from hdfbench.sweep.grid import costliest_first, expand
    from hdfbench.training import results
    from hdfbench.training.device import channels_last_wanted, cuda_problem

    specs = expand(config)
    device = run_device(config)
    notes: list[str] = []
    dataset_labels: dict[str, str] = {}
    names = [d.name for d in config.datasets]
    for spec in specs:
        key = _dataset_key(spec)
        if key not in dataset_labels:
            name = spec.dataset.name
            dataset_labels[key] = name if names.count(name) == 1 else f"{name}#{len(dataset_labels)}"
    # the searches: finished ones give their parameters (and so the run ids); pending ones cost trials
    searched: dict[tuple[str, str], RunSpec] = {}  # pending searches: their base runs
    chosen: dict[tuple[str, str], dict] = {}
    for dataset in config.datasets:
        for strategy in config.strategies:
            if strategy.search is None:
                continue
            base = search.base_spec(config, specs, strategy, dataset.name)
            directory = search.search_dir(config.experiment_dir, dataset.name, strategy)
            params = search.read_best(directory, search.fingerprint(base, strategy.search))
            if params is not None:
                chosen[(dataset.name, strategy.label)] = params
            else:
                searched[(dataset.name, strategy.label)] = base
                notes.append(
                    f"search of {strategy.label} on {dataset.name}: {strategy.search.n_trials} trials still to run, "
                    f"costed as the base run (fold {base.fold}, seed {base.seed}; searched epochs or batch sizes are "
                    "not known yet); its final runs' ids follow from its result, so none counts as done"
                )
    specs = [
        search.apply_params(s, chosen[(s.dataset.name, s.strategy.label)])
        if (s.dataset.name, s.strategy.label) in chosen
        else s
        for s in specs
    ]
    counter = SplitCounter()
    runs: list[RunCost] = []
    settings: dict[str, Setting] = {}

    def cost_of(spec: RunSpec, state: str) -> RunCost:
        dataset_label = dataset_labels[_dataset_key(spec)]
        label = f"{dataset_label}/{spec.strategy.label}"
        if label not in settings:
            dataset = counter.dataset(spec)
            settings[label] = Setting(label, spec, dataset.frames, dataset.size, len(_classes(dataset, 7)))
        epochs = spec.training.epochs
        if state == "to run":
            run = results.run_dir(config.experiment_dir, spec.run_id)
            if run.is_done:
                state, epochs = "done", 0
            elif run.metrics.exists():
                finished = min(len(run.read_metrics()), epochs)
                state, epochs = ("partial" if finished else state), epochs - finished
        sizes = counter.sizes(spec)
        train = (
            None
            if sizes is None
            else clips_per_epoch(sizes.train, spec.training.batch_size, spec.training.max_steps_per_epoch)
        )
        eval_clips = None
        if sizes is not None and state != "done":
            eval_clips = evaluation_clips(spec, epochs, sizes.val, sizes.test, sizes.test_id)
        return RunCost(spec, label, dataset_label, spec.strategy.label, state, epochs, train, eval_clips)

    for spec in specs:
        runs.append(cost_of(spec, "after search" if (spec.dataset.name, spec.strategy.label) in searched else "to run"))
    trials_of = {
        key: [cost_of(base, "search trial") for _ in range(config_search(config, key[1]).n_trials)]
        for key, base in searched.items()
    }
    trials = [t for ts in trials_of.values() for t in ts]
    lines = [
        f"device: {device} (training.device {config.training.device}, resources.gpu {config.resources.gpu:g} per trial)"
    ]
    if any(r.state == "partial" for r in runs):
        notes.append("partial runs count only the epochs their metrics.jsonl does not hold yet")
    sources: dict[str, str | None] = {}
    for spec in specs:
        sizes = counter.sizes(spec)
        sources.setdefault(spec.dataset.name, None if sizes is None else sizes.source)
    for name, source in sources.items():
        if source is None:
            lines.append(f"clips of {name}: unknown here (no split files to read, no published split sizes)")
        else:
            lines.append(
                f"clips of {name}: {source}; training clips per epoch after the inner validation split "
                f"(val_fraction {config.training.val_fraction:g}), capped at max_steps_per_epoch × batch_size"
            )
    # throughputs
    throughput: dict[str, Throughput] = {}
    measured_here = False
    if measure:
        problem = cuda_problem() if device == "cuda" else None
        if problem:
            notes.append(
                f"--measure: the runs train on CUDA, which this machine cannot use ({problem}); the recorded "
                "benchmark is used instead"
            )
        else:
            measured, line, more = measure_throughput(list(settings.values()), counter, torch.device(device), echo)
            throughput.update(measured)
            lines.append(f"throughput: {line}")
            notes += more
            measured_here = True
    used: set[str] = set()
    by_note: dict[str, list[str]] = {}  # a note on the record → the settings it applies to
    for label, setting in settings.items():
        if label in throughput:
            continue
        prec = precision_tag(setting.spec.training.precision, device)
        amp = torch.bfloat16 if prec == "bf16" else None
        cl = channels_last_wanted(setting.spec.training.channels_last, torch.device(device), amp)
        found, more = recorded_throughput(setting, device, cl)
        for note in more:
            by_note.setdefault(note, []).append(label)
        if found is not None:
            throughput[label] = found
            used.add(found.record.describe() if found.record else "")
    notes += [f"{_labels(labels)}: {note}" for note, labels in by_note.items()]
    for record in sorted(used):
        lines.append(f"throughput: recorded benchmark: {record}")
    if used:
        here = torch.cuda.get_device_name() if device == "cuda" and cuda_problem() is None else None
        cards = {r.card for r in RECORDS if r.device == device}
        if here is not None and here not in cards:
            notes.append(f"this machine has a {here}, not the recorded card: --measure times it")
        if device == "cpu":
            recorded = sorted({r.threads for r in RECORDS if r.device == "cpu"})
            notes.append(
                f"CPUs of one kind differ up to 3× (docs/performance.md), and the record ran "
                f"{'/'.join(map(str, recorded))} threads where a run uses {specs[0].threads} (resources.cpu), "
                "unscaled: --measure times this machine"
            )
        lines.append(
            f"evaluation (recorded throughput): each clip costs {EVAL_COST:.2g} of an ERM training clip (a forward "
            "pass, of the three a step's forward and backward are worth; HDF's DAM makes its own slightly dearer)"
        )
    if measured_here:
        lines.append("evaluation (measured): training.eval_batch_size batches predicted as the trainer predicts them")
    extra = {(s.evaluation.temporal_views, s.evaluation.spatial_views, s.evaluation.on_validation) for s in specs}
    if any(t * v > 1 for t, v, _ in extra) or any(s.selection.report_oracle for s in specs):
        lines.append(
            "evaluation passes: each test clip once per view (evaluation.temporal_views × spatial_views; validation "
            "too with on_validation), and the test split every epoch under selection.report_oracle"
        )
    prec = precision_tag(config.training.precision, device)
    auto_cuda = config.training.precision == "auto" and device == "cuda"
    lines.append(
        f"precision: {prec} (training.precision {config.training.precision}"
        + (", bf16 on a card that supports it)" if auto_cuda else ")")
    )
    multi_stage = sorted(
        {
            s.spec.strategy.name
            for s in settings.values()
            if STRATEGIES.get(s.spec.strategy.name).stages is not Strategy.stages
        }
    )
    if multi_stage:
        notes.append(
            f"{', '.join(multi_stage)}: the extra pass over the training clips at a stage boundary is not counted"
        )
    lines.append(
        "assumed: the step is the cost — data loading keeps up (training.num_workers "
        f"{config.training.num_workers}), and run set-up, checkpoints and metrics are not counted"
    )
    for run in runs + trials:
        found = throughput.get(run.setting)
        if found is not None and run.clip_steps is not None and run.eval_clips is not None:
            run.train_s = run.clip_steps / found.train_clips_per_s
            run.eval_s = run.eval_clips / found.eval_clips_per_s
    plan = Plan(config, device, runs, trials, throughput, lines, notes)
    plan.slots, why = trial_slots(config, device, gpus)
    lines.append(f"wall-clock: {why}; runs start costliest first (grid.costliest_first), after the searches")
    pending = [r for r in runs if r.state != "done"]
    by_id = {id(r.spec): r for r in pending}
    ordered = [by_id[id(s)] for s in costliest_first([r.spec for r in pending])]
    if plan.slots >= 1 and all(r.seconds is not None for r in ordered + trials):
        wall = makespan([r.seconds or 0.0 for r in ordered], plan.slots)
        for (_, label), mine in trials_of.items():  # one search after another, before the grid
            limit = config_search(config, label).max_concurrent or plan.slots
            wall += makespan([t.seconds or 0.0 for t in mine], min(plan.slots, limit))
        plan.wall_s = wall
    elif plan.slots < 1:
        notes.append(f"a trial needs {config.resources.gpu:g} GPUs, more than --gpus {gpus}: it would never start")
    return plan
