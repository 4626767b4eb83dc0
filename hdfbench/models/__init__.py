"""Video backbones: the registry, the built-in X3D presets and the 3-D ResNet-18s."""

from hdfbench.models import resnet3d, x3d  # noqa: F401  (register the presets)
from hdfbench.models.backbone import BACKBONES, Backbone, build_backbone

__all__ = ["BACKBONES", "Backbone", "build_backbone"]
