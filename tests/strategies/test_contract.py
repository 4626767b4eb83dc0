"""Contract tests, parameterised over the strategy registry: a new strategy is tested automatically."""

import copy
import inspect
from pathlib import Path

import pytest
import torch

from hdfbench.config import OptimizerSpec
from hdfbench.models import build_backbone
from hdfbench.models.memory_format import channels_last_problem
from hdfbench.strategies import STRATEGIES, Batch, TaskInfo

NAMES = STRATEGIES.names()
CLASSES = ("a", "b", "c")


def task() -> TaskInfo:
    return TaskInfo(num_classes=3, class_counts=(12, 6, 2), group_counts={
        "source": (10, 10), "class*source": (6, 6, 3, 3, 1, 1)}, class_names=CLASSES,
        group_names={"source": ("x", "y")})


def learnable_batches(n_batches=6, size=8, seed=0) -> list[Batch]:
    """A tiny learnable task: the class is the brightness of the clip."""
    g = torch.Generator().manual_seed(seed)
    batches = []
    for _ in range(n_batches):
        labels = torch.randint(0, 3, (size,), generator=g)
        clips = torch.randn(size, 3, 4, 32, 32, generator=g) * 0.3 + (labels.float() - 1.0).view(-1, 1, 1, 1, 1)
        batches.append(Batch(clips, labels, {"source": torch.randint(0, 2, (size,), generator=g)}))
    return batches


def make(name: str, seed: int = 0, balance: str = "none"):
    torch.manual_seed(seed)
    model = build_backbone("x3d_tiny", 3, frames=4, size=32, options={"head_dim_out": 32, "dropout": 0.0})
    cls = STRATEGIES.get(name)
    return cls(model, cls.Hparams(), task(), OptimizerSpec(lr=3e-3, weight_decay=0.0), balance)


@pytest.mark.parametrize("name", NAMES)
def test_steps_reduce_the_loss(name):
    strategy = make(name)
    strategy.on_epoch_start(0, 10)
    batches = learnable_batches()
    with torch.no_grad():
        before = sum(float(strategy.forward_loss(b)[0]) for b in batches)
    for _ in range(5):
        for batch in batches:
            logs = strategy.training_step(batch)
            assert all(isinstance(v, float) for v in logs.values()) and "loss" in logs
    with torch.no_grad():
        after = sum(float(strategy.forward_loss(b)[0]) for b in batches)
    assert after < before


@pytest.mark.parametrize("name", NAMES)
def test_predict_shape_and_eval_mode(name):
    strategy = make(name)
    logits = strategy.predict(learnable_batches(1)[0].clips)
    assert logits.shape == (8, 3) and not strategy.model.training


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("balance", ["none", "reweight"])
def test_save_load_then_next_step_is_identical(name, balance, tmp_path):
    batches = learnable_batches(4)
    a = make(name, balance=balance)
    a.on_epoch_start(0, 10)
    for batch in batches[:3]:
        a.training_step(batch)
    torch.save(a.checkpoint_state(), tmp_path / "ckpt.pt")
    rng = torch.get_rng_state()
    expected = a.training_step(batches[3])
    expected_params = copy.deepcopy(a.state_dict())

    b = make(name, seed=123, balance=balance)  # different init: everything must come from the checkpoint
    b.load_checkpoint_state(torch.load(tmp_path / "ckpt.pt", weights_only=False))
    b.on_epoch_start(0, 10)
    torch.set_rng_state(rng)
    assert b.training_step(batches[3]) == pytest.approx(expected, rel=1e-6, abs=1e-7)
    for key, value in b.state_dict().items():
        assert torch.allclose(value.float(), expected_params[key].float(), atol=1e-6), key


@pytest.mark.parametrize("name", NAMES)
def test_strategy_file_declares_hparams_search_space_and_no_cuda(name):
    cls = STRATEGIES.get(name)
    source = Path(inspect.getfile(cls)).read_text()
    assert ".cuda()" not in source
    assert cls.__doc__ and cls.Hparams is not None
    import optuna

    study = optuna.create_study()
    params = cls.search_space(study.ask())
    cls.Hparams(**{k: v for k, v in params.items() if not k.startswith("training.")})


@pytest.mark.parametrize("name", NAMES)
def test_bf16_autocast_and_channels_last_keep_losses_in_float32(name):
    strategy = make(name)
    strategy.configure_compute("cpu", torch.bfloat16, channels_last=True)
    seen = []
    compute_loss = strategy.compute_loss

    def spy(logits, features, batch):
        seen.append((logits.dtype, features.dtype))
        return compute_loss(logits, features, batch)

    strategy.compute_loss = spy
    strategy.on_epoch_start(0, 10)
    batch = learnable_batches(1)[0]
    logs = strategy.training_step(batch)
    assert seen and set(seen) == {(torch.float32, torch.float32)}  # SAM's second pass and DSM included
    assert all(torch.isfinite(torch.tensor(v)) for v in logs.values())
    conv = next(m for m in strategy.model.modules() if isinstance(m, torch.nn.Conv3d))
    # channels_last_3d unless this machine's kernels give wrong gradients in it (then contiguous)
    layout_ok = channels_last_problem("cpu", torch.bfloat16) is None
    assert conv.weight.is_contiguous(memory_format=torch.channels_last_3d) == layout_ok
    assert strategy.predict(batch.clips).dtype == torch.float32
