"""Data pipeline throughput vs. what training consumes, measured in one run.

The synthetic benchmark is written as a DFEW tree (JPEG frame folders) in a temporary folder and
read through the ``dfew`` loader at the quickstart settings (8 frames × 32², batch 16):

- cold: clips/s decoding JPEG folders into an empty cache (``prepare``, ``decode_workers`` threads);
- warm: clips/s of training batches from the cache (TSN sampling + augmentation, one process,
  through the trainer's DataLoader), and of evaluation batches (segment centres, no augmentation);
- consumption: clips/s of ERM training steps (batches already in memory, moved to the device as
  the trainer does: uint8, page-locked on CUDA, normalised there).

Warm reading goes through the trainer's DataLoader, in-process or with ``--num-workers`` persistent
workers. ``--augment-on device`` moves the training augmentation from the loader to ``--device``
(``training.augment_on``): the loader then only samples frames and draws the parameters, and warm
training batches are augmented where they arrive. Target (issue #4): warm ≥ 5 × consumption.

    python benchmarks/data_throughput.py [--n-clips 400] [--threads 1] [--json out.json]
    python benchmarks/data_throughput.py --frames 16 --size 112 --batch 32 --backbone x3d_s --device cuda \
        --precision bf16 --num-workers 8 [--augment-on device]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from step_timing import sync

from hdfbench.config import OptimizerSpec
from hdfbench.data import build_dataset
from hdfbench.data.loader import ClipSet, make_loader, to_device
from hdfbench.data.synthetic import SyntheticOptions
from hdfbench.data.synthetic_export import export_dfew
from hdfbench.models import build_backbone
from hdfbench.strategies import STRATEGIES
from hdfbench.training.device import autocast_dtype
from hdfbench.training.trainer import task_info

TARGET = 5.0


def dfew(root: Path, cache: Path, args):
    return build_dataset(
        "dfew",
        {
            "root": str(root),
            "frames_dir": "all",
            "frames": args.frames,
            "size": args.size,
            "decode_workers": args.decode_workers,
        },
        cache,
    )


def warm_rate(dataset, table, args, train: bool = True) -> float:
    """Return clips/s of batches read from the cache over ``args.epochs`` epochs (augmented if ``train``),
    up to their normalised float form on the device."""
    device = torch.device(args.device)
    clip_set = ClipSet(dataset.clip_array(table, train=train), table, {}, augment_on=args.augment_on)
    loader = make_loader(
        clip_set,
        args.batch,
        shuffle=True,
        seed=0,
        num_workers=args.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=True,
    )
    start, n = time.perf_counter(), 0
    for epoch in range(args.epochs):
        loader.sampler.set_epoch(epoch)
        for batch in loader:
            n += len(to_device(batch, device).labels)
    sync(device)
    return n / (time.perf_counter() - start)


def consumption_rate(dataset, table, args) -> float:
    """Return clips/s of ERM training steps on batches already in memory (moved as the trainer moves them)."""
    torch.manual_seed(0)
    device = torch.device(args.device)
    clip_set = ClipSet(dataset.clip_array(table, train=False), table, {})
    batches = list(
        make_loader(clip_set, args.batch, shuffle=True, seed=0, drop_last=True, pin_memory=device.type == "cuda")
    )[: args.steps]
    model = build_backbone(args.backbone, len(dataset.classes), args.frames, args.size, {})
    strategy = STRATEGIES.get("erm")(
        model, STRATEGIES.get("erm").Hparams(), task_info(clip_set, dataset.classes, {}), OptimizerSpec()
    ).to(device)
    strategy.configure_compute(device.type, autocast_dtype(args.precision, device), False)
    for batch in batches[:2]:
        strategy.training_step(to_device(batch, device))
    sync(device)
    start = time.perf_counter()
    for batch in batches:
        strategy.training_step(to_device(batch, device))
    sync(device)
    return len(batches) * args.batch / (time.perf_counter() - start)


def measure(args) -> dict:
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        opts = SyntheticOptions(n_clips=args.n_clips, frames=args.frames, size=args.size)
        export_dfew(opts, tmp / "DFEW", tmp / "synthetic-cache")
        dataset = dfew(tmp / "DFEW", tmp / "cache", args)
        start = time.perf_counter()
        dataset.prepare()
        cold = len(dataset.catalog) / (time.perf_counter() - start)
        train, _ = dataset.split(1)
        warm = warm_rate(dfew(tmp / "DFEW", tmp / "cache", args), train, args)
        warm_eval = warm_rate(dataset, train, args, train=False)
        consumed = consumption_rate(dataset, train, args)
    return {
        "setup": vars(args),
        "cold_clips_per_s": cold,
        "warm_clips_per_s": warm,
        "warm_eval_clips_per_s": warm_eval,
        "train_consumes_clips_per_s": consumed,
        "warm_over_consumption": warm / consumed,
        "target": TARGET,
        "meets_target": warm / consumed >= TARGET,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-clips", type=int, default=400)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=2, help="epochs of warm reading")
    parser.add_argument("--steps", type=int, default=12, help="training steps timed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (quickstart trials get 1 CPU)")
    parser.add_argument("--decode-workers", type=int, default=2, help="threads decoding JPEGs (cold)")
    parser.add_argument("--num-workers", type=int, default=0, help="DataLoader workers for warm reading")
    parser.add_argument("--backbone", default="x3d_tiny", help="backbone of the consumption measurement")
    parser.add_argument("--device", default="cpu", help="device of the consumption measurement (cpu or cuda)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "bf16", "auto"], help="autocast precision")
    parser.add_argument(
        "--augment-on",
        default="loader",
        choices=["loader", "device"],
        help="where warm training batches are augmented: the DataLoader, or --device after the move",
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    result = measure(args)
    print(f"cold (JPEG folders → cache): {result['cold_clips_per_s']:8.1f} clips/s")
    print(f"warm (cache, TSN + augment): {result['warm_clips_per_s']:8.1f} clips/s (augmented: {args.augment_on})")
    print(f"warm (cache, centres only):  {result['warm_eval_clips_per_s']:8.1f} clips/s")
    print(f"training consumes (ERM):     {result['train_consumes_clips_per_s']:8.1f} clips/s")
    print(
        f"warm / consumption:          {result['warm_over_consumption']:8.1f}× (target ≥ {TARGET:g}×: "
        f"{'met' if result['meets_target'] else 'NOT met'})"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
