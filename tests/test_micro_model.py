"""The micro model's parts and its training command, at a few steps: CLIP's tokenizer gives one token per caption
word, the VAE keeps Stable Diffusion's layout at a downsampling of 4, and `train-micro` writes a pipeline that
`from_pretrained` loads and samples, with its provenance and loss curves, atomically."""

from __future__ import annotations

import json

import pytest

from builder.micro import model
from builder.micro.world import BACKGROUNDS, COLOURS, SHAPES, caption


def test_every_caption_word_is_one_token():
    tokenizer = model.build_tokenizer()
    for colour in COLOURS:
        for shape in SHAPES:
            for background in BACKGROUNDS:
                text = caption(colour, shape, background)
                tokens = tokenizer.convert_ids_to_tokens(tokenizer(text).input_ids)
                assert tokens == ["<|startoftext|>", *(w + "</w>" for w in text.split()), "<|endoftext|>"]
                assert len(tokens) <= model.MAX_TOKENS
    # other words still tokenize, byte by byte, as CLIP's tokenizer does with unknown words
    assert tokenizer.convert_ids_to_tokens(tokenizer("a red cat").input_ids)[2:5] == ["red</w>", "c", "a"]


def test_the_geometry():
    import torch

    vae, unet = model.build_vae(), model.build_unet()
    with torch.no_grad():
        latents = vae.encode(torch.zeros(1, 3, 64, 64)).latent_dist.mean
        assert tuple(latents.shape) == (1, 4, model.LATENT_SIZE, model.LATENT_SIZE) == (1, 4, 16, 16)
        context = torch.zeros(1, model.MAX_TOKENS, model.TEXT_WIDTH)
        assert unet(latents, 10, context).sample.shape == latents.shape
    cross = sorted({".".join(n.split(".")[:2]) for n, m in unet.named_modules() if hasattr(m, "attn2")})
    assert cross == ["down_blocks.1", "down_blocks.2", "mid_block.attentions", "up_blocks.1", "up_blocks.2"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from builder.cli import main

    out = tmp_path_factory.mktemp("micro") / "model"
    argv = ["train-micro", "--out", str(out), "--images", "32", "--vae-steps", "20", "--unet-steps", "10",
            "--batch-size", "4", "--vae-batch-size", "4", "--no-progress"]
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # unlike training's 2: the worker's later tests run on the thread count they had
    try:
        assert main(argv) == 0
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    assert json.loads((out / "training.json").read_text())["torch_threads"] == 2
    return out


def test_training_writes_a_pipeline_that_loads_and_samples(trained):
    import numpy as np
    import torch
    from diffusers import StableDiffusionPipeline

    pipeline = StableDiffusionPipeline.from_pretrained(trained, dtype=torch.float32, use_safetensors=True)
    image = pipeline("a red star on grass", num_inference_steps=3, height=64, width=64,
                     generator=torch.Generator().manual_seed(0), output_type="np").images[0]
    assert image.shape == (64, 64, 3) and np.isfinite(image).all()
    assert pipeline.vae.config.scaling_factor != 0.18215  # measured on the world's latents
    assert pipeline.tokenizer("a red star").input_ids == model.build_tokenizer()("a red star").input_ids
    assert sorted(p.name for p in trained.iterdir()) == [
        "loss.png", "losses.json", "model_index.json", "scheduler", "text_encoder", "tokenizer", "training.json",
        "unet", "vae"]
    assert all(p.suffix != ".bin" for p in trained.rglob("*"))  # safetensors only
    from safetensors import safe_open

    with safe_open(trained / "unet" / "diffusion_pytorch_model.safetensors", "pt") as weights:
        assert {weights.get_tensor(k).dtype for k in weights.keys()} == {torch.float16}  # half the size


def test_training_records_its_provenance_and_learns(trained):
    from builder.micro.train import decay_check

    record = json.loads((trained / "training.json").read_text())
    assert record["command"].startswith("python -m builder ")
    assert record["settings"] == {"seed": 0, "images": 32, "vae_steps": 20, "unet_steps": 10, "batch_size": 4,
                                  "vae_batch_size": 4, "vae_lr": 1e-3, "unet_lr": 4e-4, "ema_decay": 0.999,
                                  "threads": 2}
    assert record["saved_dtype"] == "float16"
    assert set(record["libraries"]) >= {"torch", "diffusers", "transformers"}
    losses = json.loads((trained / "losses.json").read_text())
    assert len(losses["vae"]) == 20 and len(losses["unet"]) == 10
    assert decay_check(losses["vae"]) < 0.7  # the VAE's reconstruction error falls within 20 steps
    assert (trained / "loss.png").stat().st_size > 5_000


def test_training_refuses_a_folder_in_use(trained, capsys):
    from builder.cli import main

    assert main(["train-micro", "--out", str(trained), "--unet-steps", "1", "--vae-steps", "1", "--no-progress"]) == 1
    assert f"{trained} exists and is not empty: choose a new folder" in capsys.readouterr().err


def test_tiny_micro_names_the_shipped_folder(monkeypatch, tmp_path):
    from pathlib import Path

    from builder.planning.pins import pin_model
    from builder.micro.tiny_models import resolve_model

    assert Path(resolve_model("tiny:micro")) == model.WEIGHTS == model.shipped_weights()
    pin = pin_model("tiny:micro")  # a folder: pinned by the hash of its files, as any local model
    assert pin.source == str(model.WEIGHTS) and pin.commit is None and pin.identity.startswith("local:")
    monkeypatch.setattr(model, "WEIGHTS", tmp_path / "gone")
    with pytest.raises(FileNotFoundError, match=r"the micro model's weights are missing from .*gone .*train-micro"):
        resolve_model("tiny:micro")
