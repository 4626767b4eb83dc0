"""Pretrained weights in the layouts users have, mapped onto hdfbench's backbones.

Three layouts are read (under ``"model_state"`` or ``"state_dict"``; a bare state dict works too):

- **pytorchvideo** hub files (``X3D_S.pyth`` …): ``create_x3d``'s keys, ``blocks.0`` the stem,
  ``blocks.1…4`` the stages, ``blocks.5`` the head (``blocks.5.proj`` the 400-way projection);
- **PySlowFast** checkpoints as its ``save_checkpoint`` writes them (the MODEL_ZOO ``x3d_s.pyth`` …):
  ``s1.pathway0_stem`` (``conv_xy`` spatial, ``conv`` temporal), ``s2…s5.pathway0_resN`` (``branch1``,
  ``branch1_bn``, ``branch2.{a,a_bn,b,b_bn,se.fc1,se.fc2,c,c_bn}``) and ``head`` (``conv_5``,
  ``conv_5_bn``, ``lin_5``, optional ``lin_5_bn``, ``projection``);
- **torchvision** video ResNets (``r3d_18-b3b3357e.pth``, ``r2plus1d_18-91a641e6.pth``): ``stem.*``,
  ``layer1…4.*`` and the 400-way ``fc``, which ``models/resnet3d.py`` matches name for name.

PySlowFast's X3D has layers pytorchvideo's lacks: a BatchNorm on the first stage's shortcut
(``s2.pathway0_res0.branch1_bn``; pytorchvideo normalises a shortcut only when it changes the width) and,
with ``X3D.BN_LIN5``, one after ``lin_5``. A BatchNorm whose slot in the model is empty (``None``) is
inserted there and loaded, so the network computes what it computed where it was trained. Only the
400-way projection is dropped; the classifier (and whatever a strategy inserts later) starts new.

``check_weights`` reads and maps a file without changing any model (what config validation and the
preflight call); ``load_weights`` does the same and then loads it, returning a ``LoadReport``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

#: Where to get the Kinetics-400 X3D weights (docs/datasets.md), named by a missing file's message.
WHERE_TO_GET = "docs/datasets.md, 'Pretrained weights'"

#: Model keys that never come from a file: the new classifier and the strategies' slots.
NEW_PREFIXES = ("classifier.", "after_stage.")

_BN_TENSORS = {"weight", "bias", "running_mean", "running_var", "num_batches_tracked"}

#: PySlowFast → pytorchvideo names inside one residual block.
_SLOWFAST_BLOCK = {
    "branch1": "branch1_conv",
    "branch1_bn": "branch1_norm",
    "branch2.a": "branch2.conv_a",
    "branch2.a_bn": "branch2.norm_a",
    "branch2.b": "branch2.conv_b",
    "branch2.b_bn": "branch2.norm_b",
    "branch2.se.fc1": "branch2.norm_b.1.block.0",
    "branch2.se.fc2": "branch2.norm_b.1.block.2",
    "branch2.c": "branch2.conv_c",
    "branch2.c_bn": "branch2.norm_c",
}
_SLOWFAST_STEM = {"conv_xy": "stem.conv.conv_t", "conv": "stem.conv.conv_xy", "bn": "stem.norm"}
_SLOWFAST_HEAD = {
    "conv_5": "head.pool.pre_conv",
    "conv_5_bn": "head.pool.pre_norm",
    "lin_5": "head.pool.post_conv",
    "lin_5_bn": "head.pool.post_norm",
}


class CheckpointError(ValueError):
    """A weights file that cannot be read or does not fit the model; the message is one line naming the file."""


@dataclass(frozen=True)
class LoadReport:
    """What a weights file gave the model: ``loaded`` tensors, ``new`` model tensors (not in the file),
    ``ignored`` file tensors (the old projection), ``inserted`` modules (layers the file has that the
    pytorchvideo build lacks), the file's ``format`` and ``sha256``."""

    path: str
    sha256: str
    format: str
    loaded: int
    new: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    inserted: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the report as JSON-ready data (what config.json records under ``pretrained``)."""
        return asdict(self)


@dataclass
class _Plan:
    """A file mapped onto a model: target key → tensor, the ignored file keys, BatchNorms to insert."""

    format: str
    tensors: dict[str, torch.Tensor]
    ignored: list[str]
    inserts: dict[str, int]  # module path → num_features


def file_sha256(path: str | Path) -> str:
    """Return the hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_state(path: Path) -> dict[str, torch.Tensor]:
    """Return the state dict stored in ``path`` (under ``model_state`` or bare, ``module.`` prefixes removed);
    raise ``FileNotFoundError`` or ``CheckpointError`` (one line) when there is none."""
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights not found: {path} (where to get them: {WHERE_TO_GET})")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated zip, pickle garbage, an empty file: torch raises many kinds
        detail = (str(exc).strip().splitlines() or [""])[0].split(". ")[0][:160]
        raise CheckpointError(
            f"{path}: not a readable torch checkpoint, truncated or not one ({type(exc).__name__}: {detail})"
        ) from None
    state = loaded.get("model_state", loaded.get("state_dict", loaded)) if isinstance(loaded, dict) else None
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: holds no state dict of tensors (under 'model_state' or at the top level)")
    if all(str(k).startswith("module.") for k in state):
        state = {str(k).removeprefix("module."): v for k, v in state.items()}
    return {str(k): v for k, v in state.items()}


def detect_format(keys: list[str]) -> str | None:
    """Return ``"pytorchvideo"`` (``blocks.N.*``), ``"pyslowfast"`` (``s1.*`` … ``head.*``), ``"torchvision"``
    (a video ResNet's ``stem.*``, ``layer1…4.*``, ``fc.*``) or None."""
    if keys and all(k.startswith("blocks.") for k in keys):
        return "pytorchvideo"
    if any(k.startswith("s1.") for k in keys) and all(re.match(r"(s\d+|head)\.", k) for k in keys):
        return "pyslowfast"
    if any(k.startswith("layer1.") for k in keys) and all(re.match(r"(stem|layer[1-4]|fc)\.", k) for k in keys):
        return "torchvision"
    return None


def pytorchvideo_key(key: str, n_stages: int) -> str | None:
    """Return the hdfbench X3D key of a pytorchvideo hub key (None for the projection, which is dropped)."""
    match = re.fullmatch(r"blocks\.(\d+)\.(.+)", key)
    if not match:
        return key
    index, rest = int(match[1]), match[2]
    if index == 0:
        return f"stem.{rest}"
    if index == n_stages + 1:
        return None if rest.startswith("proj.") else f"head.{rest}"
    return f"stages.{index - 1}.{rest}"


def pyslowfast_key(key: str) -> str | None:
    """Return the hdfbench X3D key of a PySlowFast X3D key (None for ``head.projection``, which is dropped);
    a key of no known layer is returned unchanged (and then reported as not fitting)."""
    module, _, tensor = key.rpartition(".")
    if match := re.fullmatch(r"s1\.pathway0_stem\.(\w+)", module):
        target = _SLOWFAST_STEM.get(match[1])
        return f"{target}.{tensor}" if target else key
    if match := re.fullmatch(r"s(\d+)\.pathway0_res(\d+)\.(.+)", module):
        target = _SLOWFAST_BLOCK.get(match[3])
        return f"stages.{int(match[1]) - 2}.res_blocks.{match[2]}.{target}.{tensor}" if target else key
    if module == "head.projection":
        return None
    if match := re.fullmatch(r"head\.(\w+)", module):
        target = _SLOWFAST_HEAD.get(match[1])
        return f"{target}.{tensor}" if target else key
    return key


def torchvision_key(key: str) -> str | None:
    """Return the hdfbench key of a torchvision video-ResNet key: the same name (``models/resnet3d.py`` keeps
    torchvision's module tree), None for the 400-way ``fc``, which is dropped."""
    return None if key.startswith("fc.") else key


#: Each layout's key mapping onto hdfbench's modules (given the key and the model's stage count).
KEY_MAPS = {
    "pytorchvideo": pytorchvideo_key,
    "pyslowfast": lambda key, n_stages: pyslowfast_key(key),
    "torchvision": lambda key, n_stages: torchvision_key(key),
}


def _empty_slot(model: nn.Module, module_path: str) -> bool:
    """Return whether ``module_path`` names an attribute of an existing module that holds None (a layer the
    pytorchvideo build left out, such as ``branch1_norm`` or ``post_norm``)."""
    parent_path, _, name = module_path.rpartition(".")
    try:
        parent = model.get_submodule(parent_path)
    except AttributeError:
        return False
    return name not in parent._modules and getattr(parent, name, False) is None


def _inserts(model: nn.Module, unexpected: dict[str, torch.Tensor]) -> dict[str, int]:
    """Return the BatchNorms to insert (module path → features) for file tensors whose module the model lacks."""
    groups: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in unexpected.items():
        module, _, tensor = key.rpartition(".")
        groups.setdefault(module, {})[tensor] = value
    out = {}
    for module, tensors in groups.items():
        names = set(tensors)
        sizes = {t.shape[0] for n, t in tensors.items() if n != "num_batches_tracked" and t.dim() == 1}
        bn_shaped = {"weight", "bias", "running_mean", "running_var"} <= names <= _BN_TENSORS and len(sizes) == 1
        if bn_shaped and _empty_slot(model, module):
            out[module] = sizes.pop()
    return out


def _examples(keys: list[str], limit: int = 2) -> str:
    return ", ".join(keys[:limit]) + (f" … ({len(keys)})" if len(keys) > limit else "")


def plan_load(model: nn.Module, state: dict[str, torch.Tensor], path: Path) -> _Plan:
    """Return how ``state`` maps onto ``model`` (no change to it); raise ``CheckpointError`` (one line: the
    file and what does not fit) for an unknown layout, keys the model has no place for, missing backbone
    tensors or tensors of another shape."""
    fmt = detect_format(list(state))
    if fmt is None:
        raise CheckpointError(
            f"{path}: neither a pytorchvideo X3D (blocks.N.*), a PySlowFast X3D (s1…s5.*, head.*) nor a torchvision "
            f"video ResNet (stem.*, layer1…4.*, fc.*); its keys begin {_examples(sorted(state), 3)}"
        )
    stages = getattr(model, "stages", ())
    n_stages = len(stages) if isinstance(stages, nn.ModuleList) else 0
    expected = model.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    ignored = []
    for key, value in state.items():
        target = KEY_MAPS[fmt](key, n_stages)
        if target is None:
            ignored.append(key)
            continue
        # a block with SE has pytorchvideo's norm_b = Sequential(BatchNorm, SE): PySlowFast's b_bn is its .0
        if ".norm_b." in target and ".norm_b.1." not in target and target not in expected:
            target = target.replace(".norm_b.", ".norm_b.0.")
        tensors[target] = value
    unexpected = {k: v for k, v in tensors.items() if k not in expected}
    inserts = _inserts(model, unexpected)
    unplaced = sorted(k for k in unexpected if k.rpartition(".")[0] not in inserts)
    missing = sorted(
        k
        for k in expected
        if k not in tensors and not k.startswith(NEW_PREFIXES) and not k.endswith(".num_batches_tracked")
    )
    reshaped = sorted(k for k in tensors if k in expected and tensors[k].shape != expected[k].shape)
    if unplaced or missing or reshaped:
        name = getattr(model, "name", None) or type(model).__name__
        parts = [f"{len(unplaced)} tensors {name} has no place for ({_examples(unplaced)})"] if unplaced else []
        parts += [f"{len(missing)} {name} tensors missing ({_examples(missing)})"] if missing else []
        if reshaped:
            k = reshaped[0]
            shapes = f"{tuple(tensors[k].shape)} in the file, {tuple(expected[k].shape)} in the model"
            parts.append(f"{len(reshaped)} of another shape ({k}: {shapes})")
        raise CheckpointError(f"{path}: {fmt} weights do not fit {name}: " + "; ".join(parts))
    return _Plan(fmt, tensors, sorted(ignored), inserts)


def check_weights(model: nn.Module, path: str | Path) -> str:
    """Return the format of the weights at ``path`` if they load into ``model`` (which is not changed);
    raise ``FileNotFoundError`` or ``CheckpointError`` (one line) if not."""
    path = Path(path)
    return plan_load(model, read_state(path), path).format


def load_weights(model: nn.Module, path: str | Path) -> LoadReport:
    """Load the weights at ``path`` into ``model`` (inserting the BatchNorms the file has and the model
    lacks, dropping the old projection); return the ``LoadReport``. Raises as ``check_weights``."""
    path = Path(path)
    plan = plan_load(model, read_state(path), path)
    for module_path, features in plan.inserts.items():
        parent_path, _, name = module_path.rpartition(".")
        parent = model.get_submodule(parent_path)
        # PySlowFast's and pytorchvideo's BatchNorm settings (eps 1e-5, momentum 0.1) are torch's defaults
        setattr(parent, name, nn.BatchNorm3d(features))
    missing, unexpected = model.load_state_dict(plan.tensors, strict=False)
    assert not unexpected, unexpected  # plan_load placed every tensor
    new = sorted(k for k in missing if not k.endswith(".num_batches_tracked"))
    return LoadReport(
        path=str(path),
        sha256=file_sha256(path),
        format=plan.format,
        loaded=len(plan.tensors),
        new=new,
        ignored=plan.ignored,
        inserted=sorted(plan.inserts),
    )
