"""Tiny image-text models with random weights and CLIP's real tokenizer, for the zero-shot tests and benchmark.

The tokenizer is CLIP's own: its byte-level BPE vocabulary ships inside the open_clip package
(bpe_simple_vocab_16e6.txt.gz, 49,408 tokens), from which the vocabulary and merges of a transformers
CLIPTokenizer are made the way CLIP's simple_tokenizer.py makes them. The models keep CLIP's layout (a ViT image
tower over patches, a causal text transformer pooled at the end-of-text token, projections into a shared space,
a learned logit scale) at a width of 32, and the real preprocessing (resize the short side, centre crop, CLIP's
mean and std) at 64 px.
"""

from __future__ import annotations

import gzip
import json
from importlib import resources
from pathlib import Path
from typing import Any

VOCAB_SIZE = 49408
BOS, EOS = VOCAB_SIZE - 2, VOCAB_SIZE - 1  # <|startoftext|>, <|endoftext|>
IMAGE_SIZE = 64
MERGES = VOCAB_SIZE - 2 * 256 - 2  # the first 48,894 merges: with 512 byte tokens and 2 specials, 49,408 tokens


def _byte_characters() -> list[str]:
    """CLIP's reversible map of the 256 bytes to printable characters, in its order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes, extra = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def clip_vocabulary() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """CLIP's vocabulary and BPE merges from the BPE file open_clip ships."""
    bpe = resources.files("open_clip").joinpath("bpe_simple_vocab_16e6.txt.gz").read_bytes()
    lines = gzip.decompress(bpe).decode("utf-8").split("\n")
    merges = [tuple(line.split()) for line in lines[1:MERGES + 1]]
    characters = _byte_characters()
    tokens = characters + [c + "</w>" for c in characters] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    assert len(tokens) == VOCAB_SIZE
    return {token: i for i, token in enumerate(tokens)}, merges


def clip_tokenizer() -> Any:
    from transformers import CLIPTokenizer

    vocab, merges = clip_vocabulary()
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)


def save_tiny_clip(folder: Path, seed: int = 0) -> Path:
    """A tiny transformers CLIPModel with CLIP's tokenizer and image processor, saved with save_pretrained."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config=dict(vocab_size=VOCAB_SIZE, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=77, bos_token_id=BOS, eos_token_id=EOS,
                         pad_token_id=EOS),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                           image_size=IMAGE_SIZE, patch_size=16),
        projection_dim=24)
    CLIPModel(config).eval().save_pretrained(folder)
    clip_tokenizer().save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": IMAGE_SIZE},
                       crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}).save_pretrained(folder)
    return folder


OPEN_CLIP_CONFIG = {"embed_dim": 24,
                    "vision_cfg": {"image_size": IMAGE_SIZE, "layers": 2, "width": 32, "patch_size": 16,
                                   "head_width": 16},
                    "text_cfg": {"context_length": 77, "vocab_size": VOCAB_SIZE, "width": 32, "heads": 2,
                                 "layers": 2}}


def save_tiny_open_clip(folder: Path, seed: int = 0) -> Path:
    """A tiny open_clip CLIP in open_clip's local-dir layout (open_clip_config.json, open_clip_model.safetensors)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    model = open_clip.CLIP(**OPEN_CLIP_CONFIG)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": OPEN_CLIP_CONFIG, "preprocess_cfg": {}}))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / "open_clip_model.safetensors"))
    return folder
