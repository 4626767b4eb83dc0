"""The epoch loop of one run: train, validate, select, checkpoint, resume, predict.

The test fold is predicted once, with the weights selected on the inner validation split; it is
never used for selection (``selection.report_oracle`` also predicts it every epoch, for the reported
best-on-test numbers only). Every epoch ends with an atomic checkpoint holding the strategy (model,
buffers, optimizer), the scheduler, the RNG states and the selection tracker, so a killed run
continues from its last finished epoch and ends with the same result as an uninterrupted one.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import numpy as np
import pandas as pd
import torch
from torch.utils.data import DataLoader

from hdfbench.config import EvaluationSpec
from hdfbench.data import build_dataset, make_splits
from hdfbench.data.groups import definition_counts, field_values
from hdfbench.data.loader import ClipSet, EpochSampler, make_loader, resolve_augment_on, to_device
from hdfbench.metrics import evaluate_predictions
from hdfbench.models import build_backbone
from hdfbench.optim import build_scheduler, optimizer_implementation
from hdfbench.strategies import STRATEGIES, NonFiniteLossError, StageContext, TaskInfo
from hdfbench.training import selection
from hdfbench.training.device import autocast_dtype, channels_last_wanted, describe_device, resolve_device
from hdfbench.training.rundir import RunDir
from hdfbench.training.spec import RunSpec
from hdfbench.training.views import predict_logits, predict_views

log = logging.getLogger(__name__)


class RunFailed(RuntimeError):
    """A run could not finish; the message says why (also saved in the run's failed.json)."""


@dataclass
class Hooks:
    """Callbacks the caller (a Ray trial, a test) gets during a run; each may be None."""

    on_start: Callable[[dict], None] | None = None
    on_epoch: Callable[[dict], None] | None = None
    on_done: Callable[[dict], None] | None = None

    def call(self, name: str, payload: dict) -> None:
        """Invoke hook ``name`` with ``payload`` if it is set."""
        hook = getattr(self, name)
        if hook is not None:
            hook(payload)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def prediction_table(table: pd.DataFrame, logits: np.ndarray, split: str, fields: tuple[str, ...]) -> pd.DataFrame:
    """Return one row per clip: clip_id, split, label, pred, logit_<k>, and the metadata ``fields``."""
    frame = pd.DataFrame(
        {
            "clip_id": table["clip_id"].astype(str).to_numpy(),
            "split": split,
            "label": table["label"].to_numpy(),
            "pred": logits.argmax(axis=1),
        }
    )
    for k in range(logits.shape[1]):
        frame[f"logit_{k}"] = logits[:, k]
    for name in fields:
        frame[name] = table[name].to_numpy()
    return frame


def task_info(train_set: ClipSet, classes: tuple[str, ...], codes: dict[str, list[str]]) -> TaskInfo:
    """Return what strategies may know of the training fold: class and group sizes and names.

    Group counts are given per metadata field and per class × field product (``class*<field>``).
    """
    counts = definition_counts(classes, codes, train_set.labels, train_set.groups)
    return TaskInfo(
        num_classes=len(classes),
        class_counts=counts.pop("class"),
        group_counts=counts,
        class_names=tuple(classes),
        group_names={f: tuple(v) for f, v in codes.items()},
    )


class Trainer:
    """Runs one ``RunSpec`` into one ``RunDir``.

    ``device`` overrides the spec's device choice (a Ray trial resolves it from the GPUs it holds);
    ``run_info`` (where and in which attempt the run executes) goes into ``config.json`` and ``done``.
    """

    def __init__(
        self,
        spec: RunSpec,
        run_dir: RunDir,
        hooks: Hooks | None = None,
        device: torch.device | None = None,
        run_info: dict | None = None,
    ):
        self.spec, self.run_dir, self.hooks = spec, run_dir, hooks or Hooks()
        self.device = device if device is not None else resolve_device(spec.training.device)
        self.amp_dtype = autocast_dtype(spec.training.precision, self.device)
        self.run_info = {
            "device": describe_device(self.device),
            "precision": str(self.amp_dtype or torch.float32).removeprefix("torch."),
            **(run_info or {}),
        }
        self.epoch: int | None = None
        self.resumed_from: list[int] = []
        self.records: list[dict] = []  # this run's epoch records so far, as its checkpoint carries them

    def _build(self) -> None:
        spec = self.spec
        dataset = build_dataset(spec.dataset.name, spec.dataset.options, spec.cache_dir)
        dataset.prepare()
        self.dataset = dataset
        self.splits = make_splits(dataset, spec.fold, spec.seed, spec.training.val_fraction)
        self.fields = dataset.group_fields
        if spec.selection.rule == "best_val_worst_group" and not self.fields:
            raise RunFailed(
                f"selection rule 'best_val_worst_group' needs group metadata; dataset '{dataset.name}' "
                "has no group field"
            )
        # groups are what training sees: a value met only in validation or test (a held-out source)
        # is not trained on, and the metrics report it from the prediction tables
        codes = field_values([self.splits.train], self.fields)
        # file-backed datasets read lazily from their cache; training clips resample every epoch
        self.clips = {
            name: dataset.clip_array(table, train=name == "train") for name, table in self.splits.tables().items()
        }
        num_classes = len(dataset.classes)
        train_set = ClipSet(self.clips["train"], self.splits.train, codes, seed=spec.seed)
        task = task_info(train_set, dataset.classes, codes)
        model = build_backbone(spec.model.backbone, num_classes, dataset.frames, dataset.size, spec.model.options)
        report = model.pretrained_report  # what model.options.pretrained loaded (None: from scratch)
        self.pretrained = report.as_dict() if report is not None else None
        cls = STRATEGIES.get(spec.strategy.name)
        self.strategy = cls(
            model, cls.Hparams(**spec.strategy.hparams), task, spec.training.optimizer, spec.strategy.balancing
        ).to(self.device)
        channels_last = channels_last_wanted(spec.training.channels_last, self.device, self.amp_dtype)
        self.strategy.configure_compute(self.device.type, self.amp_dtype, channels_last)
        try:
            self.stages = self.strategy.stages(spec.training.epochs)
        except ValueError as exc:
            raise RunFailed(f"{spec.run_id}: {exc}") from None
        self.train_labels = train_set.labels
        steps = -(-len(train_set) // spec.training.batch_size)
        self.steps_per_epoch = min(steps, spec.training.max_steps_per_epoch or steps)
        self.scheduler = self._build_scheduler(0)
        training = spec.training
        pin = training.pin_memory if isinstance(training.pin_memory, bool) else self.device.type == "cuda"
        self.augment_on = train_set.augment_on = resolve_augment_on(training.augment_on, self.device)
        # built once: with persistent workers the same processes serve every epoch
        balance_ids = None
        if spec.strategy.balance == "sample":  # the same groups GroupDRO would use for this definition
            balance_ids = task.grouper(spec.strategy.balance_groups).ids(train_set.labels, train_set.groups)
        self.train_loader: DataLoader | None = make_loader(  # None once run() ends
            train_set,
            training.batch_size,
            shuffle=True,
            seed=spec.seed * 100_003,
            num_workers=training.num_workers,
            balance_ids=balance_ids,
            limit=self.steps_per_epoch * training.batch_size,
            pin_memory=pin,
            persistent_workers=training.persistent_workers,
            prefetch_factor=training.prefetch_factor,
        )

    def _build_scheduler(self, start: int) -> torch.optim.lr_scheduler.LambdaLR:
        """Return the learning-rate schedule that runs from epoch ``start`` to the last epoch."""
        training = self.spec.training
        return build_scheduler(
            self.strategy.schedulable_optimizer, training.schedule, training.epochs - start, self.steps_per_epoch
        )

    def _stage_of(self, epoch: int) -> int:
        """Return the index of the strategy stage that ``epoch`` belongs to."""
        return max(i for i, stage in enumerate(self.stages) if stage.start <= epoch)

    def _schedule_start(self, epoch: int) -> int:
        """Return the epoch where the schedule in force at ``epoch`` started (a stage may restart it)."""
        return max([0, *(s.start for s in self.stages[1:] if s.fresh_schedule and s.start <= epoch)])

    def _predict_train(self) -> torch.Tensor:
        """Return the logits of the current model on every training clip, unaugmented, in training-set order."""
        clips = self.dataset.clip_array(self.splits.train, train=False)
        return torch.from_numpy(predict_logits(self.strategy, clips, self.spec.training.eval_batch_size, self.device))

    def _begin_stage(self, index: int, best: tuple[float | None, int | None]) -> tuple[float | None, int | None]:
        """Start stage ``index`` (at its first epoch); return the (best score, best epoch) to carry on with."""
        stage = self.stages[index]
        self.strategy.begin_stage(index, StageContext(stage.start, self.train_labels, self._predict_train))
        if stage.fresh_schedule:
            self.scheduler = self._build_scheduler(stage.start)
        log.info("%s: stage %d begins at epoch %d", self.spec.run_id, index, self.epoch)
        return (None, None) if stage.fresh_selection else best

    def _resume(self) -> tuple[int, float | None, int | None]:
        """Load the checkpoint if any; return (first epoch to run, best score, best epoch)."""
        if not self.run_dir.checkpoint.exists():
            return 0, None, None
        try:
            state = self.run_dir.load_torch(self.run_dir.checkpoint)
        except Exception as exc:  # any unreadable file: cut short, zero bytes, not a checkpoint
            moved = self.run_dir.quarantine(self.run_dir.checkpoint)
            log.warning(
                "%s: checkpoint %s is unreadable (%s: %s); moved to %s, training from the start",
                self.spec.run_id,
                self.run_dir.checkpoint,
                type(exc).__name__,
                exc,
                moved.name,
            )
            self.run_dir.write_metrics([])
            return 0, None, None
        schedule_start = self._schedule_start(state["epoch"])
        if schedule_start:  # built before the optimizer state is loaded, whose learning rate it would reset
            self.scheduler = self._build_scheduler(schedule_start)
        self.strategy.load_checkpoint_state(state["strategy"])
        self.scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        if "metrics" in state:  # the records the checkpoint covers, whatever became of metrics.jsonl since
            self.records = state["metrics"]
            self.run_dir.write_metrics(self.records)
        else:  # a checkpoint of an earlier release
            self.run_dir.truncate_metrics(state["epoch"] + 1)
            self.records = self.run_dir.read_metrics()
        log.info("%s: resumed after epoch %d", self.spec.run_id, state["epoch"])
        self.resumed_from = [*state.get("resumed_from", []), state["epoch"]]
        return state["epoch"] + 1, state["best_score"], state["best_epoch"]

    def _train_epoch(self, epoch: int) -> dict[str, float]:
        self.strategy.on_epoch_start(epoch, self.spec.training.epochs)
        loader = self.train_loader
        assert loader is not None, "built by _build, dropped only when run() ends"
        cast(EpochSampler, loader.sampler).set_epoch(epoch)  # make_loader's sampler
        totals: dict[str, float] = {}
        start, steps, clips = time.perf_counter(), 0, 0
        for batch in loader:
            logs = self.strategy.training_step(to_device(batch, self.device))
            self.scheduler.step()
            for key, value in logs.items():
                totals[key] = totals.get(key, 0.0) + value
            steps, clips = steps + 1, clips + len(batch.labels)
        elapsed = time.perf_counter() - start
        record = {f"train_{k}": v / max(steps, 1) for k, v in totals.items()}
        record.update(train_steps=steps, train_time_s=elapsed, train_clips_per_s=clips / max(elapsed, 1e-9))
        return record

    def _evaluate(self, split: str) -> tuple[pd.DataFrame, dict]:
        """Return the prediction table of ``split`` and its metrics: test splits with the configured views,
        validation with them only when ``evaluation.on_validation`` (else one view, as selection always had)."""
        views = self.spec.evaluation
        if split == "val" and not views.on_validation:
            views = EvaluationSpec()
        logits = predict_views(self.strategy, self.clips[split], self.spec.training.eval_batch_size, self.device, views)
        table = prediction_table(self.splits.tables()[split], logits, split, self.dataset.metadata_fields)
        return table, evaluate_predictions(table, self.dataset.classes, self.fields, prefix=f"{split}_")

    def run(self) -> dict:
        """Train (or resume) to the end; write predictions and ``done``; return the final metrics."""
        try:
            with self.run_dir.lock():
                return self._run()
        except NonFiniteLossError as exc:
            reason = f"{self.spec.run_id}: {exc} at epoch {self.epoch}; lower the learning rate or check the data"
            self.run_dir.mark_failed(reason)
            raise RunFailed(reason) from None
        finally:
            self.train_loader = None  # ends persistent DataLoader workers (a Ray actor may be reused)

    def _run(self) -> dict:
        spec = self.spec
        torch.set_num_threads(max(1, spec.threads))
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = spec.training.cudnn_benchmark
        seed_everything(spec.seed)
        self._build()
        self.run_dir.write_config(
            {
                "spec": spec.model_dump(mode="json"),
                "run_id": spec.run_id,
                "classes": list(self.dataset.classes),
                "group_fields": list(self.fields),
                "n_train": len(self.splits.train),
                "n_val": len(self.splits.val),
                "n_test": len(self.splits.test),
                "n_test_id": None if self.splits.test_id is None else len(self.splits.test_id),
                "train_class_counts": list(self.strategy.task.class_counts),
                "bad_clips_skipped": len(self.dataset.skipped),
                "memory_format": str(self.strategy.memory_format).removeprefix("torch."),
                "augment_on": self.augment_on,
                "kernels": {**self.strategy.kernels, "optimizer": optimizer_implementation(self.strategy.optimizer)},
                "pretrained": self.pretrained,  # file, sha256, format, tensors loaded / new / ignored, inserted
                **self.run_info,
            }
        )
        start_epoch, best_score, best_epoch = self._resume()
        start = {"run_id": spec.run_id, "start_epoch": start_epoch, "pretrained": self.pretrained, **self.run_info}
        self.hooks.call("on_start", start)
        for self.epoch in range(start_epoch, spec.training.epochs):
            stage = self._stage_of(self.epoch)
            if self.epoch > 0 and self.stages[stage].start == self.epoch:
                best_score, best_epoch = self._begin_stage(stage, (best_score, best_epoch))
            record = {"epoch": self.epoch, "lr": self.scheduler.get_last_lr()[0]}
            if len(self.stages) > 1:
                record["stage"] = stage
            record.update(self._train_epoch(self.epoch))
            record.update({k: v for k, v in self._evaluate("val")[1].items() if not isinstance(v, str)})
            if spec.selection.report_oracle:  # reported beside the selection (oracle/ keys), never selected on
                record.update(selection.oracle_record(self._evaluate("test")[1]))
            record.update(self.strategy.epoch_logs())
            if selection.improves(spec.selection.rule, record, best_score):
                best_score, best_epoch = selection.score(spec.selection.rule, record), self.epoch
                self.run_dir.save_torch(self.run_dir.best, {"epoch": self.epoch, "module": self.strategy.state_dict()})
            self.run_dir.append_metrics(record)
            self.records.append(record)
            self.run_dir.save_torch(
                self.run_dir.checkpoint,
                {
                    "epoch": self.epoch,
                    "strategy": self.strategy.checkpoint_state(),
                    "metrics": self.records,
                    "scheduler": self.scheduler.state_dict(),
                    "rng": _rng_state(),
                    "best_score": best_score,
                    "best_epoch": best_epoch,
                    "resumed_from": self.resumed_from,
                },
            )
            self.hooks.call("on_epoch", record)
        assert best_epoch is not None, "a first epoch is always selected (no best score yet); checkpoints keep it"
        return self._finish(best_epoch)

    def _finish(self, best_epoch: int | None) -> dict:
        self.strategy.load_state_dict(self.run_dir.load_torch(self.run_dir.best)["module"])
        evaluated = [self._evaluate(split) for split in self.splits.tables() if split != "train"]
        self.run_dir.write_predictions(pd.concat([table for table, _ in evaluated], ignore_index=True))
        skipped = len(self.dataset.skipped)
        final = {
            "selected_epoch": best_epoch,
            **{k: v for _, m in evaluated for k, v in m.items()},
            "bad_clips_skipped": skipped,
        }
        self.run_dir.mark_done(
            {
                "selected_epoch": best_epoch,
                "resumed_from_epochs": self.resumed_from,
                "bad_clips_skipped": skipped,
                "finished_at": time.time(),
                **self.run_info,
            }
        )
        self.run_dir.checkpoint.unlink(missing_ok=True)
        self.hooks.call("on_done", final)
        return final


def train(
    spec: RunSpec,
    run_dir: RunDir,
    hooks: Hooks | None = None,
    device: torch.device | None = None,
    run_info: dict | None = None,
) -> dict:
    """Run ``spec`` into ``run_dir`` (resuming if a checkpoint exists); return the final metrics."""
    return Trainer(spec, run_dir, hooks, device, run_info).run()
