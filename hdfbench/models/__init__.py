"""Video backbones: the registry and the built-in X3D presets."""

from hdfbench.models import x3d  # noqa: F401  (registers the presets)
from hdfbench.models.backbone import BACKBONES, Backbone, build_backbone

__all__ = ["BACKBONES", "Backbone", "build_backbone"]
