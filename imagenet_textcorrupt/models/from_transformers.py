"""Classifiers of transformers: `hf:ID`, a Hub id (at a revision) or a folder saved with `save_pretrained`, loaded
as safetensors without remote code; its outputs' labels are checked against the ImageNet-1k classes.
"""

from __future__ import annotations

from imagenet_textcorrupt.classes import NUM_CLASSES
from imagenet_textcorrupt.classifier import (ZERO_SHOT_TRANSFORMERS_TYPES, Classifier, ModelLoadError,
                                             architecture_family, refuse_if_gated)
from imagenet_textcorrupt.preprocessing import processor_settings, processor_transform


def _label_mismatches(id2label: dict[int, str]) -> list[tuple[int, str, str]]:
    """Outputs whose label names none of the lemmas of the class at that index (generic LABEL_i are skipped)."""
    from imagenet_textcorrupt.classes import load_classes

    classes = load_classes()
    bad = []
    for index, label in sorted(id2label.items()):
        if label.startswith("LABEL_"):
            continue
        names = {part.strip().lower() for part in label.split(",")}
        cls = classes[int(index)]
        known = {lemma.lower().replace("_", " ") for lemma in cls.lemmas} | {cls.name.lower()}
        if not names & known:
            bad.append((int(index), label, cls.name))
    return bad


def load_transformers(spec: str, name: str, pretrained: bool, revision: str | None = None) -> Classifier:
    """`hf:ID` (a Hub id, at `revision`, or a folder saved with save_pretrained): an image classifier whose 1000
    outputs are the ImageNet-1k classes in the standard order, scored with its own image processor."""
    from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification

    try:
        config = AutoConfig.from_pretrained(name, trust_remote_code=False, revision=revision)
        processor = AutoImageProcessor.from_pretrained(name, trust_remote_code=False, revision=revision)
        if pretrained:
            module = AutoModelForImageClassification.from_pretrained(name, use_safetensors=True, revision=revision,
                                                                     trust_remote_code=False)
        else:
            module = AutoModelForImageClassification.from_config(config)
    except (OSError, ValueError) as error:
        refuse_if_gated(error, name)
        raise ModelLoadError(f"transformers cannot load {name!r}: {error}") from None
    if config.num_labels != NUM_CLASSES:
        hint = (f"; {config.model_type} is an image-text model: score it zero-shot with --model clip:{name}"
                if config.model_type in ZERO_SHOT_TRANSFORMERS_TYPES else "")
        raise ModelLoadError(f"{spec} has {config.num_labels} outputs; ImageNet-TC scores ImageNet-1k classifiers "
                             f"with {NUM_CLASSES} outputs in the standard class order{hint}")
    mismatches = _label_mismatches(dict(config.id2label))
    if len(mismatches) > NUM_CLASSES // 20:  # a few label strings in the wild differ in wording only
        index, label, expected = mismatches[0]
        raise ModelLoadError(f"{spec}: its outputs are not the ImageNet-1k classes in the standard order "
                             f"({len(mismatches)} labels differ; output {index} is {label!r}, expected {expected!r})")

    return Classifier(module, processor_transform(processor), spec, "transformers", config.model_type,
                      architecture_family(config.model_type), pretrained, processor_settings(processor),
                      revision=getattr(config, "_commit_hash", None) if pretrained else None)
