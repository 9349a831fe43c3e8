"""Tiny Stable Diffusion pipelines with random weights, built from configs: for tests, benchmarks and smoke runs.

They keep Stable Diffusion's geometry at a fraction of its width: a VAE that downsamples by 8 (four blocks), a
UNet with four levels whose three finest hold cross- and self-attention (and a mid block with attention), so an
image of 128 px or more runs every path real weights take: attention maps made explicit at the coarse levels,
fused attention at the finest. Saved with `save_pretrained` (safetensors), they load back through the same
`from_pretrained` path as a Hub model id, so nothing downloads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builder.micro import byte_vocab

TINY_SAMPLE_SIZE = 32  # latent side at 256 px: the VAE downsamples by 8, as Stable Diffusion's does
VAE_SCALE_FACTOR = 8


def _byte_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A byte-level BPE vocabulary over the 256 byte characters (as CLIP's tokenizer maps bytes to unicode)."""
    return {token: i for i, token in enumerate(byte_vocab.byte_tokens())}, []


def build_tokenizer() -> Any:
    from transformers import CLIPTokenizer

    vocab, merges = _byte_vocab()
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def build_text_encoder(seed: int = 0) -> Any:
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    vocab_size = len(_byte_vocab()[0])
    config = CLIPTextConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                            num_attention_heads=4, max_position_embeddings=77, projection_dim=32,
                            bos_token_id=0, eos_token_id=1, pad_token_id=1)
    return CLIPTextModel(config).eval()


# Plain random weights make a UNet whose noise prediction swings with every change of its input: DDIM inversion
# then diverges (reconstruction error larger than the latents themselves) and no inversion method can be told
# from another. Scaling the output layer down makes the prediction small and smooth, as a trained UNet's is along
# the inversion trajectory; scaling the cross-attention outputs up gives the text (and so the null-text
# embedding) a say in it. Measured on a real photo at 256 px with 10 DDIM steps, sampled back at guidance 7.5
# (p2p-nulltext's `reconstruct`): latent MSE 6.5 plain, 0.012 tamed; with the null-text optimisation 4.0 plain,
# 0.005 tamed (the latents' variance: 0.0034).
TAME_OUTPUT_SCALE = 0.01
TAME_CROSS_ATTENTION_SCALE = 10.0


def build_unet(in_channels: int = 4, seed: int = 0, tame: bool = True) -> Any:
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(  # Stable Diffusion v1's layout: attention at the three finest levels and the middle
        sample_size=TINY_SAMPLE_SIZE, in_channels=in_channels, out_channels=4, layers_per_block=1,
        block_out_channels=(16, 16, 32, 32),
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=16, norm_num_groups=8,
    ).eval()
    if tame:
        with torch.no_grad():
            unet.conv_out.weight.mul_(TAME_OUTPUT_SCALE)
            unet.conv_out.bias.mul_(TAME_OUTPUT_SCALE)
            for name, module in unet.named_modules():
                if name.endswith("attn2.to_out.0"):
                    module.weight.mul_(TAME_CROSS_ATTENTION_SCALE)
    return unet


def build_vae(seed: int = 0) -> Any:
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(  # four blocks: three downsamplings, 8x like Stable Diffusion's VAE
        block_out_channels=(8, 16, 16, 16), in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=8,
        sample_size=TINY_SAMPLE_SIZE * VAE_SCALE_FACTOR,
    ).eval()


def build_scheduler() -> Any:
    from diffusers import DDIMScheduler

    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
                         clip_sample=False, set_alpha_to_one=False)


def build_tiny_pipeline(kind: str = "sd", seed: int = 0, tame: bool = True) -> Any:
    """A tiny pipeline: "sd" (StableDiffusionPipeline, also used by img2img and prompt-to-prompt) or "ip2p".

    `tame=False` keeps the UNet's plain random weights: what tests of a method's fidelity must run on."""
    from diffusers import StableDiffusionInstructPix2PixPipeline, StableDiffusionPipeline

    parts = dict(vae=build_vae(seed), text_encoder=build_text_encoder(seed), tokenizer=build_tokenizer(),
                 scheduler=build_scheduler(), safety_checker=None, feature_extractor=None,
                 requires_safety_checker=False)
    if kind == "sd":
        return StableDiffusionPipeline(unet=build_unet(4, seed, tame), **parts)
    if kind == "ip2p":
        return StableDiffusionInstructPix2PixPipeline(unet=build_unet(8, seed, tame), **parts)
    raise ValueError(f"unknown tiny pipeline kind {kind!r}; expected sd or ip2p")


def save_tiny_pipeline(path: str | Path, kind: str = "sd", seed: int = 0, tame: bool = True) -> Path:
    """Build a tiny pipeline and save it (safetensors) to `path`; returns the path."""
    path = Path(path)
    build_tiny_pipeline(kind, seed, tame).save_pretrained(path, safe_serialization=True)
    return path


def build_tiny_clip(seed: int = 0) -> tuple[Any, Any, Any]:
    """A tiny CLIPModel with its tokenizer and image processor (32x32 inputs), for quality-score tests."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(seed)
    vocab_size = len(_byte_vocab()[0])
    config = CLIPConfig(
        text_config=dict(vocab_size=vocab_size, hidden_size=32, intermediate_size=37, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, bos_token_id=0, eos_token_id=1,
                         pad_token_id=1),
        vision_config=dict(hidden_size=32, intermediate_size=37, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8),
        projection_dim=16)
    processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    return CLIPModel(config).eval(), build_tokenizer(), processor


def save_tiny_clip(path: str | Path, seed: int = 0) -> Path:
    path = Path(path)
    model, tokenizer, processor = build_tiny_clip(seed)
    model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    processor.save_pretrained(path)
    return path


TINY_KINDS = ("sd", "ip2p", "clip", "micro")  # micro: the trained micro model that ships (`builder.micro`)


def tiny_fingerprint() -> str:
    """What the tiny models are made from: this module's code, the byte vocabulary's, and the libraries that build
    and save them. A cached tiny model is only reused under the same fingerprint, so a change of geometry or
    vocabulary never meets a stale copy."""
    import hashlib
    from importlib.metadata import version

    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(Path(byte_vocab.__file__).read_bytes())
    for package in ("torch", "diffusers", "transformers"):
        digest.update(f"{package}={version(package)}".encode())
    return digest.hexdigest()[:12]


def resolve_model(model: str) -> str:
    """`tiny:<kind>` -> a folder holding that tiny model (built once into the cache; `tiny:micro`, the shipped
    micro model's folder); anything else unchanged."""
    if not model.startswith("tiny:"):
        return model
    kind = model.split(":", 1)[1]
    if kind not in TINY_KINDS:
        raise ValueError(f"unknown tiny model {model!r}; expected one of {', '.join('tiny:' + k for k in TINY_KINDS)}")
    if kind == "micro":
        from builder.micro.model import shipped_weights

        return str(shipped_weights())
    from imagenet_textcorrupt.atomic import atomic_write_text
    from imagenet_textcorrupt.cache import cache_root

    cache = cache_root() / "tiny" / f"{kind}-{tiny_fingerprint()}"
    done = cache / ".complete"
    if not done.exists():
        import shutil
        import tempfile

        cache.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{kind}-", dir=cache.parent))
        if kind == "clip":
            save_tiny_clip(staging)
        else:
            save_tiny_pipeline(staging, kind)
        atomic_write_text(staging / ".complete", "")
        try:
            staging.rename(cache)  # the folder appears whole, or not at all
        except OSError:  # another process finished first: keep its copy
            shutil.rmtree(staging, ignore_errors=True)
    return str(cache)
