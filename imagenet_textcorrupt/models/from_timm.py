"""Classifiers of timm: `timm:NAME` from timm's registry, `timm:hf-hub:ORG/NAME` from the Hub (at a revision with
`@REVISION`) or a local folder in timm's layout, scored with the preprocessing timm resolves for the model.
"""

from __future__ import annotations

from imagenet_textcorrupt.classes import NUM_CLASSES
from imagenet_textcorrupt.classifier import Classifier, ModelLoadError, architecture_family, refuse_if_gated
from imagenet_textcorrupt.errors import closest
from imagenet_textcorrupt.hub import cached_commit


def load_timm(spec: str, name: str, pretrained: bool) -> Classifier:
    """`timm:NAME` (timm's registry, `hf-hub:ORG/NAME[@REVISION]` or `local-dir:PATH`): the model with timm's
    own preprocessing for it, refused unless it has the 1000 ImageNet-1k outputs."""
    import timm
    from timm.data import create_transform, resolve_data_config

    try:
        module = timm.create_model(name, pretrained=pretrained)
    except Exception as error:  # noqa: BLE001 - unknown names and unreachable weights surface as many kinds
        hint = ""
        if "Unknown model" in str(error):
            suggestions = closest(name, timm.list_models())
            hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        elif pretrained:
            hint = ("; the weights come from the Hub: check the network, or pass --no-pretrained for random weights "
                    "or --checkpoint FILE.safetensors")
        refuse_if_gated(error, name.removeprefix("hf-hub:"))
        raise ModelLoadError(f"timm cannot create {name!r}: {error}{hint}") from None
    if module.num_classes != NUM_CLASSES:
        raise ModelLoadError(f"{spec} has {module.num_classes} outputs; ImageNet-TC scores ImageNet-1k classifiers "
                             f"with {NUM_CLASSES} outputs in the standard class order")
    config = resolve_data_config({}, model=module)
    transform = create_transform(**config, is_training=False)
    preprocessing = {"library": "timm", **{k: list(v) if isinstance(v, tuple) else v for k, v in config.items()}}
    pretrained_cfg = getattr(module, "pretrained_cfg", {}) or {}
    architecture = pretrained_cfg.get("architecture") or name.split(":")[-1]
    hub_id, _, pinned = (pretrained_cfg.get("hf_hub_id") or "").partition("@") if pretrained else ("", "", "")
    hub_id = hub_id or None
    return Classifier(module, transform, spec, "timm", architecture, architecture_family(architecture), pretrained,
                      preprocessing, revision=(pinned or cached_commit(hub_id)) if hub_id else None,
                      extra={"pretrained_tag": pretrained_cfg.get("tag"), "hub_id": hub_id})
