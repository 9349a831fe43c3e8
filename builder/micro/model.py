"""The micro text-to-image model's parts, Stable Diffusion's layout at micro size, built from configs.

- Tokenizer: CLIP's (`CLIPTokenizer`, byte-level BPE) over a vocabulary of the bytes plus every word of the micro
  world's captions, with the merges that build each word, so every caption word is one token (as "red" and "blue"
  are in CLIP's real vocabulary) and prompt-to-prompt's word alignment works on words.
- Text encoder: a small `CLIPTextModel`, trained with the UNet.
- VAE: `AutoencoderKL` with three blocks, so it downsamples by 4 (Stable Diffusion's by 8): a 64-pixel image has a
  16x16 latent, which keeps the levels the editors act on. Its mid block has no attention and its widths are
  16, 32, 64: a training step of 32 images takes 1.1 s on 2 cores (2.5 s at widths 32, 64, 64 with attention).
  Prompt-to-prompt replaces self-attention in layers at half the latent side or coarser (8x8 here) and its local
  blend reads cross-attention at a quarter of the side (16x16 for Stable Diffusion at 512 px, 4x4 here: too coarse
  once max-pooled, so the micro model's blend reads 8x8, `local_blend_downsample: 2`); with a factor of 8 the
  latent would be 8x8 and the blend maps 2x2.
- UNet: `UNet2DConditionModel` with four levels (16, 8, 4, 2) and a mid block with attention. Cross-attention sits
  at 8x8 and 4x4, the levels the editors act on (local blend at a quarter of the side, self-attention injected at
  half the side or coarser, cross-attention maps wherever there is cross-attention); Stable Diffusion v1 also has
  it at its finest level, which here would cost most of a training step on a CPU (self-attention over 256
  positions: 1.3 s a step of 32 against 0.52 s without, measured on 2 cores).
- Scheduler: DDIM with Stable Diffusion's betas (scaled linear, 0.00085 to 0.012, 1000 steps).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builder.micro.world import BACKGROUNDS, COLOURS, SHAPES, SIZE, caption
from builder.micro.byte_vocab import byte_tokens

VAE_SCALE_FACTOR = 4
LATENT_SIZE = SIZE // VAE_SCALE_FACTOR
LATENT_CHANNELS = 4
TEXT_WIDTH = 64
MAX_TOKENS = 16  # the longest caption, "a yellow triangle on a plain background", is 7 words + 2 specials
WEIGHTS = Path(__file__).with_name("weights")  # the shipped pipeline, as `train-micro` wrote it


def shipped_weights() -> Path:
    """The folder of the shipped micro model (what `tiny:micro` names)."""
    if not (WEIGHTS / "model_index.json").is_file():
        raise FileNotFoundError(f"the micro model's weights are missing from {WEIGHTS} (an install without the "
                                "package data?); reinstall ImageNet-TC, or train them with python -m builder "
                                "train-micro --out DIR and name DIR as the model")
    return WEIGHTS


def caption_words() -> list[str]:
    """Every word the world's captions use, sorted."""
    return sorted({word for c in COLOURS for s in SHAPES for b in BACKGROUNDS for word in caption(c, s, b).split()})


def build_tokenizer() -> Any:
    """CLIP's tokenizer over the bytes and the captions' words (one token per word)."""
    from transformers import CLIPTokenizer

    tokens = byte_tokens()
    merges: list[tuple[str, str]] = []
    for word in caption_words():
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            merged = pieces[0] + pieces[1]
            if (pieces[0], pieces[1]) not in merges:
                merges.append((pieces[0], pieces[1]))
            if merged not in tokens:
                tokens.append(merged)
            pieces = [merged] + pieces[2:]
    vocab = {token: i for i, token in enumerate(tokens)}
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=MAX_TOKENS)


def build_text_encoder(vocab_size: int, seed: int = 0) -> Any:
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    config = CLIPTextConfig(vocab_size=vocab_size, hidden_size=TEXT_WIDTH, intermediate_size=2 * TEXT_WIDTH,
                            num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=MAX_TOKENS,
                            projection_dim=TEXT_WIDTH, bos_token_id=0, eos_token_id=1, pad_token_id=1)
    return CLIPTextModel(config)


def build_vae(seed: int = 0) -> Any:
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    return AutoencoderKL(
        block_out_channels=(16, 32, 64), in_channels=3, out_channels=3, latent_channels=LATENT_CHANNELS,
        layers_per_block=1, down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
        norm_num_groups=16, sample_size=SIZE, mid_block_add_attention=False)


def build_unet(seed: int = 0) -> Any:
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=LATENT_SIZE, in_channels=LATENT_CHANNELS, out_channels=LATENT_CHANNELS, layers_per_block=1,
        block_out_channels=(32, 64, 64, 64),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TEXT_WIDTH, attention_head_dim=32, norm_num_groups=16)


def build_scheduler() -> Any:
    from diffusers import DDIMScheduler

    return DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
                         clip_sample=False, set_alpha_to_one=False)
