"""Quality scores stored with every row, and the pass/fail the recipe's thresholds make of them.

With a CLIP model: label preservation (the rank and probability of the true class among the 1000 class names,
zero-shot, for originals too), edit success (CLIP directional similarity: the cosine between the change of the
image embedding and the change of the text embedding from source to target prompt), and structural similarity
(SSIM, grayscale) to the source image. The label rank is 1 + the number of classes scored strictly above the true
one (1 = top). A row passes when its rank is at most `label_rank_max`, its direction at least
`edit_direction_min` and its SSIM at least `ssim_min` (an original: its rank only). Nothing is dropped on a fail:
the row stays, with `passed_qc` false.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from imagenet_textcorrupt.classes import load_classes
from imagenet_textcorrupt.zero_shot.backends import features as _features

from builder.planning.pins import ModelPin, pin_model
from builder.planning.recipes import QCSpec

CLASS_PROMPT = "a photo of {}"


@dataclass(frozen=True)
class Scores:
    label_rank: int  # 1 = the true class scores highest
    label_prob: float
    edit_direction: float  # 0 for originals
    ssim: float  # 1 for originals
    passed: bool


def ssim(a: Image.Image, b: Image.Image) -> float:
    """Structural similarity of two images of the same size, on their luminance."""
    from skimage.metrics import structural_similarity

    x = np.asarray(a.convert("L"), dtype=np.float64)
    y = np.asarray(b.convert("L"), dtype=np.float64)
    return float(structural_similarity(x, y, data_range=255.0))


class QualityScorer:
    def __init__(self, spec: QCSpec, device: str = "cpu", pin: ModelPin | None = None):
        from transformers import CLIPImageProcessor, CLIPModel, CLIPTokenizer

        self.spec = spec
        self.device = device
        self.pin = pin or pin_model(spec.model, spec.revision)
        where = dict(revision=self.pin.commit) if self.pin.commit else {}
        self.model = CLIPModel.from_pretrained(self.pin.source, use_safetensors=True, **where)
        self.model = self.model.to(device).eval().requires_grad_(False)
        self.tokenizer = CLIPTokenizer.from_pretrained(self.pin.source, **where)
        self.processor = CLIPImageProcessor.from_pretrained(self.pin.source, **where)
        names = [CLASS_PROMPT.format(c.name_with_article) for c in load_classes()]
        self.class_embeddings = self._text(names)

    @torch.no_grad()
    def _text(self, prompts: list[str]) -> torch.Tensor:
        chunks = []
        for start in range(0, len(prompts), 256):
            tokens = self.tokenizer(prompts[start:start + 256], padding=True, truncation=True, return_tensors="pt")
            out = self.model.get_text_features(**{k: v.to(self.device) for k, v in tokens.items()})
            chunks.append(_features(out))
        return torch.nn.functional.normalize(torch.cat(chunks).float(), dim=-1)

    @torch.no_grad()
    def _images(self, images: list[Image.Image]) -> torch.Tensor:
        pixels = self.processor(images=images, return_tensors="pt")["pixel_values"].to(self.device)
        return torch.nn.functional.normalize(_features(self.model.get_image_features(pixel_values=pixels)).float(),
                                             dim=-1)

    def score(self, images: list[Image.Image], labels: list[int], sources: list[Image.Image | None],
              source_prompts: list[str], target_prompts: list[str]) -> list[Scores]:
        """Scores for a batch; `sources[i]` is None for an original (then it is its own source). Each distinct
        image (an original and the source of its edits are one object) and prompt is embedded once."""
        distinct: dict[int, Image.Image] = {}
        for image in [*images, *(s for s in sources if s is not None)]:
            distinct.setdefault(id(image), image)
        embedded = dict(zip(distinct, self._images(list(distinct.values()))))
        scale = float(self.model.logit_scale.exp())
        probs = (scale * torch.stack([embedded[id(im)] for im in images]) @ self.class_embeddings.T).softmax(dim=-1)
        edited = [i for i, s in enumerate(sources) if s is not None]
        prompts = list(dict.fromkeys([source_prompts[i] for i in edited] + [target_prompts[i] for i in edited]))
        texts = dict(zip(prompts, self._text(prompts))) if prompts else {}
        results = []
        for i, image in enumerate(images):
            true = probs[i, labels[i]]
            rank = int((probs[i] > true).sum()) + 1
            source = sources[i]
            if source is None:
                direction, structure = 0.0, 1.0
                passed = rank <= self.spec.label_rank_max
            else:
                image_change = embedded[id(image)] - embedded[id(source)]
                text_change = texts[target_prompts[i]] - texts[source_prompts[i]]
                # an image that did not change has no direction (its difference is rounding noise)
                direction = 0.0 if float(image_change.norm()) < 1e-4 else float(
                    torch.nn.functional.cosine_similarity(image_change, text_change, dim=0))
                structure = ssim(image, source)
                passed = (rank <= self.spec.label_rank_max and direction >= self.spec.edit_direction_min
                          and structure >= self.spec.ssim_min)
            results.append(Scores(rank, float(true), direction, structure, passed))
        return results
