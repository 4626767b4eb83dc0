"""ERM on a GPU at X3D-S 16 × 112²: batch size 32 / 64 / 128 in fp32 and bf16 autocast, and torch.compile at
batch 32 (the first step includes cuDNN's kernel search and, compiled, the compilation). Median of 10 steps
after 3 warm-up steps. Run by benchmarks/gpu/run.sh; the H200 result is benchmarks/gpu/batch_compile_gpu.txt.
"""

from __future__ import annotations

import statistics
import time

import torch

from hdfbench.models import BACKBONES

DEVICE = torch.device("cuda")


def timed(step) -> float:
    """Return the seconds of one call of ``step`` once the GPU has finished it."""
    torch.cuda.synchronize()
    start = time.perf_counter()
    step()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(batch: int, compiled: bool, bf16: bool) -> str:
    """Return one line: the first step's seconds, the median step and clips/s of ERM on x3d_s."""
    torch.manual_seed(0)
    backbone = BACKBONES.get("x3d_s")
    model = backbone(7, 16, 112, backbone.Options()).to(DEVICE)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    forward = torch.compile(model) if compiled else model
    clips = torch.randn(batch, 3, 16, 112, 112, device=DEVICE)
    labels = torch.randint(0, 7, (batch,), device=DEVICE)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
            logits = forward(clips)[0]
        torch.nn.functional.cross_entropy(logits.float(), labels).backward()
        optimizer.step()

    first = timed(step)
    for _ in range(3):
        step()
    median = statistics.median(timed(step) for _ in range(10))
    return (
        f"batch {batch:4d} compiled {compiled!s:5} bf16 {bf16!s:5}: first step {first:6.1f} s, "
        f"step {median * 1e3:7.1f} ms, {batch / median:7.0f} clips/s"
    )


def main() -> None:
    torch.backends.cudnn.benchmark = True
    for batch in (32, 64, 128):
        for bf16 in (False, True):
            print(measure(batch, False, bf16), flush=True)
    for bf16 in (False, True):
        print(measure(32, True, bf16), flush=True)


if __name__ == "__main__":
    main()
