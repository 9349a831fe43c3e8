"""Zero-shot image-text models as ImageNet classifiers: CLIP's recipe checked against a reference written here from
the paper's notebook, on untamed tiny models (random weights) with CLIP's real tokenizer; the class-embedding
cache; `imagenet-tc evaluate --model clip:...` end to end; open_clip; and the errors."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from imagenet_textcorrupt.cli import main
from imagenet_textcorrupt.errors import ImageNetTCError
from imagenet_textcorrupt.models import ModelLoadError, load_classifier
from imagenet_textcorrupt.results import load_results, predictions_path, read_predictions
from imagenet_textcorrupt.zero_shot import ZeroShotPrompts, clip_imagenet_prompts, load_zero_shot_classifier

from clip_models import clip_tokenizer, save_tiny_clip, save_tiny_open_clip

FEW_TEMPLATES = ("a photo of a {}.", "a drawing of the {}.", "itap of my {}.")


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory) -> Path:
    return save_tiny_clip(tmp_path_factory.mktemp("tiny_clip") / "model")


@pytest.fixture(scope="session")
def photo_images() -> dict[str, Image.Image]:
    """The originals of the photo release (tests/photo_release.py), by row id."""
    import io

    from photo_release import photo_rows

    return {row["id"]: Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB")
            for row in photo_rows(edits=False)}


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGENET_TC_CACHE", str(tmp_path / "cache"))


def few_prompts() -> ZeroShotPrompts:
    full = clip_imagenet_prompts()
    return ZeroShotPrompts(full.class_names, FEW_TEMPLATES, "test")


# ------------------------------------------------------------------- the reference, from the authors' notebook
@torch.no_grad()
def reference_weights(model, tokenize, class_names, templates) -> torch.Tensor:
    """Radford et al.'s zeroshot_classifier: per class, embed every template, normalise each, average, normalise;
    stacked as columns (D, classes)."""
    columns = []
    for name in class_names:
        texts = [template.format(name) for template in templates]
        embeddings = model.get_text_features(**tokenize(texts))
        embeddings = getattr(embeddings, "pooler_output", embeddings)
        embeddings = embeddings / embeddings.norm(dim=-1, keepdim=True)
        mean = embeddings.mean(dim=0)
        columns.append(mean / mean.norm())
    return torch.stack(columns, dim=1)


@torch.no_grad()
def reference_logits(model, pixels, weights) -> torch.Tensor:
    features = model.get_image_features(pixel_values=pixels)
    features = getattr(features, "pooler_output", features)
    features = features / features.norm(dim=-1, keepdim=True)
    return 100.0 * features @ weights


@pytest.fixture(scope="session")
def reference(tiny_clip, photo_images) -> dict:
    """The notebook's classifier over all 1000 names and 80 templates, on the tiny CLIP loaded by transformers."""
    from transformers import CLIPImageProcessor, CLIPModel, CLIPTokenizer

    model = CLIPModel.from_pretrained(tiny_clip).eval()
    tokenizer = CLIPTokenizer.from_pretrained(tiny_clip)
    prompts = clip_imagenet_prompts()
    weights = reference_weights(model, lambda texts: tokenizer(texts, padding=True, return_tensors="pt"),
                                prompts.class_names, prompts.templates)
    processor = CLIPImageProcessor.from_pretrained(tiny_clip)
    pixels = processor(images=list(photo_images.values()), return_tensors="pt")["pixel_values"]
    return {"weights": weights, "logits": reference_logits(model, pixels, weights), "pixels": pixels,
            "ids": list(photo_images)}


# ------------------------------------------------------------------------------------------------ the data
def test_clip_prompts_are_the_authors():
    prompts = clip_imagenet_prompts()
    assert len(prompts.class_names) == 1000 and len(prompts.templates) == 80
    assert prompts.class_names[:3] == ("tench", "goldfish", "great white shark")
    assert prompts.class_names[281] == "tabby cat" and prompts.class_names[999] == "toilet paper"
    assert prompts.templates[0] == "a bad photo of a {}." and prompts.templates[-1] == "a tattoo of the {}."
    assert prompts.texts(1)[:2] == ["a bad photo of a goldfish.", "a photo of many goldfish."]
    # open_clip publishes the same lists, copied independently from the same notebook
    metadata = pytest.importorskip("open_clip.zero_shot_metadata")
    assert prompts.class_names == tuple(metadata.IMAGENET_CLASSNAMES)
    assert prompts.templates == tuple(template("{}") for template in metadata.OPENAI_IMAGENET_TEMPLATES)


def test_prompts_are_checked():
    names = clip_imagenet_prompts().class_names
    with pytest.raises(ImageNetTCError, match="999 class names, expected 1000"):
        ZeroShotPrompts(names[:-1], FEW_TEMPLATES, "test")
    with pytest.raises(ImageNetTCError, match=r"template 'a photo' needs exactly one \{\}"):
        ZeroShotPrompts(names, ("a photo",), "test")
    assert few_prompts().sha256 != clip_imagenet_prompts().sha256


def test_the_test_tokenizer_is_clips():
    """The tokenizer the tests build from open_clip's BPE file gives the ids of open_clip's own tokenizer."""
    open_clip = pytest.importorskip("open_clip")
    texts = [template.replace("{}", name) for name in ("tabby cat", "Crème brûlée", "jack-o'-lantern")
             for template in clip_imagenet_prompts().templates] + ["A   Photo of the DOUGH-nut's 3 cats!"]
    ours = clip_tokenizer()(texts)["input_ids"]
    theirs = open_clip.get_tokenizer("ViT-B-32")(texts).tolist()
    for a, b in zip(ours, theirs):
        assert a == b[:len(a)] and a[0] == 49406 and a[-1] == 49407  # theirs pads with 0 after <|endoftext|>


# ------------------------------------------------------------------------------------------------ the method
def test_zero_shot_classifier_follows_the_paper(tiny_clip, reference, photo_images):
    classifier = load_classifier(f"clip:{tiny_clip}")
    classifier.prepare(progress=False)
    head = classifier.module
    # class embeddings: (1000, D) unit vectors, the notebook's columns
    assert head.class_embeddings.shape == (1000, 24)
    torch.testing.assert_close(head.class_embeddings, reference["weights"].T, atol=2e-6, rtol=1e-5)
    # the two pairs of classes CLIP's curated names give one name get one embedding: the same texts, within float
    # rounding (measured with one torch thread, as under pytest-xdist: "missile" 2.2e-8 apart at most, the
    # neighbouring distinct class 0.13)
    embeddings = head.class_embeddings
    torch.testing.assert_close(embeddings[657], embeddings[744], atol=1e-6, rtol=0)  # "missile"
    torch.testing.assert_close(embeddings[836], embeddings[837], atol=1e-6, rtol=0)  # "sunglasses"
    assert float((embeddings[657] - embeddings[658]).abs().max()) > 1e-2
    # logits: the model's own preprocessing, then its learned logit scale (the notebook's fixed 100 is the scale
    # trained CLIP models end with); top-5 as the reference
    pixels = torch.stack([classifier.transform(image) for image in photo_images.values()])
    torch.testing.assert_close(pixels, reference["pixels"])
    logits = classifier.forward(pixels)
    assert head.scale == pytest.approx(math.exp(2.6592), rel=1e-6)  # CLIPConfig's initial log scale, ln(1 / 0.07)
    torch.testing.assert_close(logits * (100.0 / head.scale), reference["logits"], atol=2e-4, rtol=1e-5)
    assert torch.equal(logits.topk(5).indices, reference["logits"].topk(5).indices)
    # the record a results file keeps
    record = classifier.describe()
    assert record["family"] == "zero-shot" and record["source"] == "transformers" and record["name"] == "clip"
    assert len(record["zero_shot"]["templates"]) == 80 and record["zero_shot"]["class_names"][281] == "tabby cat"
    assert record["zero_shot"]["logit_scale"] == pytest.approx(head.scale)
    assert record["parameters"] == sum(p.numel() for p in head.image_text.model.parameters())
    model = head.image_text.model  # what an image passes through: the vision transformer and its projection
    assert record["image_parameters"] == sum(p.numel() for p in [*model.vision_model.parameters(),
                                                                  *model.visual_projection.parameters()])
    assert 0 < record["image_parameters"] < record["parameters"]


def test_class_embeddings_are_cached(tiny_clip, tmp_path, monkeypatch):
    first = load_zero_shot_classifier(f"clip:{tiny_clip}", prompts=few_prompts())
    first.prepare(progress=False)
    key = first.extra["zero_shot"]["text_embeddings"]["key"]
    assert first.extra["zero_shot"]["text_embeddings"]["cached"] is False
    cached = tmp_path / "cache" / "zero-shot" / f"{key}.safetensors"
    assert cached.is_file()

    second = load_zero_shot_classifier(f"clip:{tiny_clip}", prompts=few_prompts())

    def no_text(texts):
        raise AssertionError("the text tower ran although the embeddings are cached")

    monkeypatch.setattr(second.module.image_text, "encode_texts", no_text)
    second.prepare(progress=False)
    assert second.extra["zero_shot"]["text_embeddings"] == {**second.extra["zero_shot"]["text_embeddings"],
                                                            "key": key, "cached": True}
    assert torch.equal(first.module.class_embeddings, second.module.class_embeddings)

    # other templates, other weights or another dtype: another key
    full = load_zero_shot_classifier(f"clip:{tiny_clip}")
    from imagenet_textcorrupt.zero_shot.head import embedding_key

    assert embedding_key(full.module.image_text, full.module.prompts) != key
    other = load_zero_shot_classifier(f"clip:{tiny_clip}", prompts=few_prompts())
    with torch.no_grad():
        other.module.image_text.model.text_projection.weight.mul_(2)
    assert embedding_key(other.module.image_text, other.module.prompts) != key
    other = load_zero_shot_classifier(f"clip:{tiny_clip}", prompts=few_prompts())
    other.module.to(torch.bfloat16)
    assert embedding_key(other.module.image_text, other.module.prompts) != key

    # the tokenizer of every class name counts: one that splits "Gila monster" otherwise is another key
    other = load_zero_shot_classifier(f"clip:{tiny_clip}", prompts=few_prompts())
    tokenize = other.module.image_text.tokenize

    def odd_tokenizer(texts):
        tokens = tokenize(texts)
        for i, text in enumerate(texts):
            if "Gila monster" in text:
                tokens["input_ids"][i, 1] += 1
        return tokens

    monkeypatch.setattr(other.module.image_text, "tokenize", odd_tokenizer)
    assert embedding_key(other.module.image_text, other.module.prompts) != key

    # random weights are not cached: every such model is new
    random_weights = load_zero_shot_classifier(f"clip:{tiny_clip}", pretrained=False, prompts=few_prompts())
    random_weights.prepare(progress=False)
    assert random_weights.extra["zero_shot"]["text_embeddings"]["key"] is None
    assert [p.name for p in cached.parent.iterdir()] == [cached.name]

    # a cache that cannot be written costs the next run the text pass, not this run
    readonly = load_zero_shot_classifier(f"clip:{tiny_clip}", prompts=ZeroShotPrompts(
        few_prompts().class_names, FEW_TEMPLATES[:2], "test"))
    def refuse(path, data):
        raise PermissionError(13, "Permission denied")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("imagenet_textcorrupt.zero_shot.head.atomic_write_bytes", refuse)
        with pytest.warns(UserWarning, match=r"cannot cache the class embeddings in .*zero-shot \(Permission "
                                             r"denied\)"):
            readonly.prepare(progress=False)
    assert readonly.module.class_embeddings.shape == (1000, 24)

    # a damaged cache file is computed again, with a warning, and rewritten
    cached.write_bytes(b"not safetensors")
    third = load_zero_shot_classifier(f"clip:{tiny_clip}", prompts=few_prompts())
    with pytest.warns(UserWarning, match="unreadable cached class embeddings"):
        third.prepare(progress=False)
    assert third.extra["zero_shot"]["text_embeddings"]["cached"] is False
    assert torch.equal(third.module.class_embeddings, first.module.class_embeddings)
    assert cached.read_bytes() != b"not safetensors"


def test_checkpoint_loads_into_the_image_text_model(tiny_clip, tmp_path):
    from safetensors.torch import save_file

    other = save_tiny_clip(tmp_path / "other", seed=1)
    from transformers import CLIPModel

    state = CLIPModel.from_pretrained(other).state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "seed1.safetensors"))
    classifier = load_classifier(f"clip:{tiny_clip}", checkpoint=tmp_path / "seed1.safetensors")
    loaded = classifier.module.image_text.model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in state.items())
    assert classifier.checkpoint["file"] == "seed1.safetensors"


# --------------------------------------------------------------------------------------------- end to end
def test_evaluate_a_clip_model_end_to_end(tiny_clip, reference, photo_release, tmp_path, capsys):
    output = tmp_path / "clip.json"
    args = ["evaluate", "--model", f"clip:{tiny_clip}", "--dataset", str(photo_release), "--output", str(output),
            "--quiet", "--resamples", "0", "--workers", "0", "--batch-size", "8"]
    assert main(args) == 0
    results = load_results(output).data
    model = results["model"]
    assert (model["family"], model["source"], model["pretrained"]) == ("zero-shot", "transformers", True)
    assert model["zero_shot"]["templates"] == list(clip_imagenet_prompts().templates)
    assert model["zero_shot"]["class_names"] == list(clip_imagenet_prompts().class_names)
    assert model["zero_shot"]["text_embeddings"]["cached"] is False
    assert results["preprocessing"]["image_processor_type"] == "CLIPImageProcessor"
    assert results["preprocessing"]["crop_size"] == {"height": 64, "width": 64}
    # the originals' predictions are the reference's
    predictions = {r["id"]: r for r in read_predictions(predictions_path(output))}
    assert len(predictions) == 25
    for row_id, logits in zip(reference["ids"], reference["logits"]):
        assert predictions[row_id]["top5"] == logits.topk(5).indices.tolist()

    # a second run reads the class embeddings from the cache, and predicts the same
    assert main([*args[:5], "--output", str(tmp_path / "again.json"), *args[7:]]) == 0
    again = load_results(tmp_path / "again.json").data
    assert again["model"]["zero_shot"]["text_embeddings"]["cached"] is True
    assert again["predictions"]["sha256"] == results["predictions"]["sha256"]

    # reports and the leaderboard's table name the family
    capsys.readouterr()
    assert main(["report", str(output), "--out", str(tmp_path / "report")]) == 0
    report = (tmp_path / "report" / "report.md").read_text()
    assert [line for line in report.splitlines() if line.startswith("| family ")] == ["| family | zero-shot |"]


def test_open_clip_models(tmp_path, photo_images):
    open_clip = pytest.importorskip("open_clip")
    folder = save_tiny_open_clip(tmp_path / "tiny_open_clip")
    classifier = load_zero_shot_classifier(f"open_clip:local-dir:{folder}", prompts=few_prompts())
    classifier.prepare(progress=False)
    assert (classifier.family, classifier.source) == ("zero-shot", "open_clip")
    visual = classifier.module.image_text.model.visual
    assert classifier.describe()["image_parameters"] == sum(p.numel() for p in visual.parameters())
    assert classifier.preprocessing["library"] == "open_clip" and classifier.preprocessing["size"] == [64, 64]

    # the reference: the notebook's recipe through open_clip's own API
    model, _, transform = open_clip.create_model_and_transforms(f"local-dir:{folder}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
    model.eval()
    with torch.no_grad():
        columns = []
        for name in few_prompts().class_names:
            embeddings = model.encode_text(tokenizer([t.format(name) for t in FEW_TEMPLATES]))
            mean = (embeddings / embeddings.norm(dim=-1, keepdim=True)).mean(dim=0)
            columns.append(mean / mean.norm())
        weights = torch.stack(columns, dim=1)
        pixels = torch.stack([transform(image) for image in photo_images.values()])
        features = model.encode_image(pixels)
        expected = 100.0 * (features / features.norm(dim=-1, keepdim=True)) @ weights
    torch.testing.assert_close(classifier.module.class_embeddings, weights.T, atol=2e-6, rtol=1e-5)
    pixels_ours = torch.stack([classifier.transform(image) for image in photo_images.values()])
    torch.testing.assert_close(pixels_ours, pixels)
    logits = classifier.forward(pixels_ours)
    torch.testing.assert_close(logits * (100.0 / classifier.module.scale), expected, atol=2e-4, rtol=1e-5)


# ------------------------------------------------------------------------------------------------- errors
def test_errors_name_the_problem(tiny_clip, tmp_path, capsys):
    with pytest.raises(ModelLoadError, match="needs a transformers model id or folder"):
        load_classifier("clip:")
    vit = tmp_path / "vit"
    from transformers import ViTConfig, ViTModel

    ViTModel(ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=64)).save_pretrained(vit)
    with pytest.raises(ModelLoadError, match="a vit model, not an image-text model; clip: scores transformers "
                                             "models of type clip, siglip, open_clip: open_clip's models"):
        load_classifier(f"clip:{vit}")
    with pytest.raises(ModelLoadError, match="transformers cannot load"):
        load_classifier(f"clip:{tmp_path / 'missing'}")
    with pytest.raises(ModelLoadError, match="image-text model to score zero-shot: clip:ID"):
        load_classifier("clip-vit")
    with pytest.raises(ModelLoadError, match=r"has 2 outputs; .* clip is an image-text model: score it zero-shot "
                                             r"with --model clip:"):
        load_classifier(f"hf:{tiny_clip}")
    # the CLI prints them without a traceback, and writes nothing
    assert main(["evaluate", "--model", "clip:", "--dataset", str(tmp_path), "--output", str(tmp_path / "r.json")]
                ) == 1
    assert "needs a transformers model id or folder" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()


def test_open_clip_errors(tmp_path, monkeypatch):
    pytest.importorskip("open_clip")
    folder = save_tiny_open_clip(tmp_path / "no_weights")
    (folder / "open_clip_model.safetensors").unlink()  # open_clip itself would only warn and go on with random ones
    with pytest.raises(ModelLoadError, match=r"open_clip cannot load 'local-dir:.*no_weights': Required pretrained "
                                             r"weights .* could not be loaded"):
        load_classifier(f"open_clip:local-dir:{folder}")
    assert load_classifier(f"open_clip:local-dir:{folder}", pretrained=False).pretrained is False
    with pytest.raises(ModelLoadError, match=r"open_clip has no architecture 'ViT-B-33'; did you mean ViT-B-32"):
        load_classifier("open_clip:ViT-B-33/openai")
    with pytest.raises(ModelLoadError, match=r"open_clip:ViT-B-32 names no weights: use open_clip:ViT-B-32/PRETRAINED"):
        load_classifier("open_clip:ViT-B-32")
    monkeypatch.setitem(sys.modules, "open_clip", None)
    with pytest.raises(ModelLoadError, match=r"open_clip is not installed \(pip install open_clip_torch\)"):
        load_classifier("open_clip:ViT-B-32/openai")
