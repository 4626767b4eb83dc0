"""Import pytorchvideo's model builders without torchvision.

pytorchvideo 0.1.5's ``models/head.py`` imports ``torchvision.ops.RoIAlign`` at module level,
although only the detection heads use it. When torchvision is absent we register placeholder
modules just for the duration of the import, then remove them, so no other library ever sees a
fake torchvision.
"""

import importlib
import sys
import types


def _placeholder_modules() -> dict[str, types.ModuleType]:
    torchvision = types.ModuleType("torchvision")
    ops = types.ModuleType("torchvision.ops")

    class RoIAlign:  # stands in for the detection-only layer
        def __init__(self, *args, **kwargs):
            raise ImportError("pytorchvideo detection heads need the real torchvision package")

    ops.__dict__["RoIAlign"] = RoIAlign  # through the namespace: ModuleType declares neither attribute
    torchvision.__dict__["ops"] = ops
    return {"torchvision": torchvision, "torchvision.ops": ops}


def import_pytorchvideo(module: str = "pytorchvideo.models") -> types.ModuleType:
    """Return the pytorchvideo module ``module``, importing it through the shim if needed."""
    if module in sys.modules:
        return sys.modules[module]
    try:
        importlib.import_module("torchvision")
    except ImportError:
        pass
    else:
        return importlib.import_module(module)
    placeholders = _placeholder_modules()
    sys.modules.update(placeholders)
    try:
        return importlib.import_module(module)
    finally:
        for name, placeholder in placeholders.items():
            if sys.modules.get(name) is placeholder:
                del sys.modules[name]
