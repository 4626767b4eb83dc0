"""``Batch``: moved and pinned whole (every tensor, the group codes and the index included)."""

import torch
from torch.utils.data._utils.pin_memory import pin_memory as dataloader_pin_memory

from hdfbench.data.batch import Batch


def make_batch() -> Batch:
    return Batch(
        torch.zeros(2, 4, 8, 8, 3, dtype=torch.uint8),
        torch.tensor([0, 1]),
        {"source": torch.tensor([1, 0])},
        torch.tensor([5, 7]),
    )


def test_dataloader_pinning_pins_every_tensor_of_a_batch(monkeypatch):
    # this machine has no accelerator to pin for, so Tensor.pin_memory records its calls instead
    pinned: list[torch.Tensor] = []

    def fake_pin(tensor: torch.Tensor) -> torch.Tensor:
        copy = tensor.clone()
        pinned.append(copy)
        return copy

    monkeypatch.setattr(torch.Tensor, "pin_memory", fake_pin)
    batch = make_batch()
    result = dataloader_pin_memory(batch)  # what DataLoader's pin-memory thread does with each batch
    assert isinstance(result, Batch)
    tensors = [result.clips, result.labels, result.groups["source"], result.index]
    assert len(pinned) == 4 and all(any(t is p for p in pinned) for t in tensors)
    assert torch.equal(result.clips, batch.clips) and torch.equal(result.groups["source"], batch.groups["source"])


def test_a_batch_without_index_moves_and_keeps_none():
    batch = make_batch()
    batch.index = None
    moved = batch.to(torch.device("cpu"))
    assert moved.index is None and torch.equal(moved.labels, batch.labels)
