"""The backbone contract: every registered backbone keeps it; broken backbones are named with the fault; a
strategy that needs a capability the configured backbone lacks is refused at validation with file:line."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hdfbench.cli import main
from hdfbench.models import BACKBONES, Backbone
from hdfbench.schema import StrictModel
from hdfbench.testing import BackboneContractError, check_backbone


@pytest.mark.parametrize("name", BACKBONES.names())
def test_every_registered_backbone_keeps_the_contract(name):
    check_backbone(name)


class Stageless(Backbone):
    """A minimal backbone without stages: pooled clip → linear features → classifier."""

    def __init__(self, num_classes: int, frames: int, size: int, options: StrictModel):
        super().__init__()
        self.features = nn.Linear(3, 8)
        self.feature_dim = 8
        self.classifier = nn.Linear(8, num_classes)

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(clips.mean(dim=(2, 3, 4)))
        return self.classifier(features), features


class OwnHead(Stageless):
    """Returns logits of a head of its own: a classifier set by reset_classifier is never used."""

    def __init__(self, num_classes: int, frames: int, size: int, options: StrictModel):
        super().__init__(num_classes, frames, size, options)
        self.head = nn.Linear(8, num_classes)

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(clips.mean(dim=(2, 3, 4)))
        return self.head(features), features


class ClaimsStages(Stageless):
    """Declares stages it does not have."""

    capabilities = frozenset({"stages"})


class IgnoresSlots(Stageless):
    """Has slots and stage sizes, but never applies its slot."""

    capabilities = frozenset({"stages"})

    def __init__(self, num_classes: int, frames: int, size: int, options: StrictModel):
        super().__init__(num_classes, frames, size, options)
        self.after_stage = nn.ModuleList([nn.Identity()])
        self.frames = frames

    def stage_channels(self) -> list[int]:
        return [3]

    def stage_frames(self) -> list[int]:
        return [self.frames]

    def forward(self, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.after_stage[0](clips)  # called, its result dropped
        return super().forward(clips)


def test_a_minimal_backbone_passes():
    check_backbone(Stageless)


@pytest.mark.parametrize(
    ("cls", "fault"),
    [
        (OwnHead, "the logits do not come from the classifier reset_classifier set"),
        (ClaimsStages, "declares 'stages' but has no after_stage, stage_channels, stage_frames"),
        (IgnoresSlots, "after_stage[0] is not applied"),
    ],
)
def test_broken_backbones_are_named_with_their_fault(cls, fault):
    with pytest.raises(BackboneContractError) as info:
        check_backbone(cls)
    assert str(info.value).startswith(f"{cls.__module__}:{cls.__name__}: ") and fault in str(info.value)


def test_validate_refuses_hdf_on_a_backbone_without_stages(tmp_path, capsys):
    config = tmp_path / "stageless.yaml"
    config.write_text(
        "experiment: stageless\n"
        "datasets:\n"
        "  - name: synthetic\n"
        "strategies:\n"
        "  - name: erm\n"
        "  - name: hdf\n"
        "    hparams: {rho: 0.05}\n"
        "model:\n"
        f"  backbone: {__name__}:Stageless\n"
    )
    assert main(["validate", str(config)]) == 2
    err = capsys.readouterr().err
    assert (
        f"{config}:7: strategies[1].hparams.dam" in err
        and "needs a backbone with 'stages'" in err
        and "Stageless offers none" in err
    )
    no_dam = config.read_text().replace("{rho: 0.05}", "{dam: false}")
    config.write_text(no_dam)
    assert main(["validate", str(config)]) == 0  # HDF without DAM needs no stages
