"""Recording the model calls an editor makes, and replaying exactly those calls on the bare models: the baseline
the editor benchmarks (bench/editors.py, bench/gpu.py) divide by."""

from __future__ import annotations

import time

import torch


class ModelCalls:
    """Records every call of the UNet (shape, and whether it ran with gradients), the text encoder and the VAE."""

    def __init__(self, unet, text_encoder, vae):
        self.unet: list[tuple[tuple[int, ...], tuple[int, ...], bool]] = []
        self.other: list[tuple[object, tuple[int, ...]]] = []
        self.handles = [unet.register_forward_pre_hook(self._record_unet, with_kwargs=True)]
        for module in (text_encoder, vae.encoder, vae.decoder):
            self.handles.append(module.register_forward_pre_hook(self._recorder(module), with_kwargs=True))

    def _record_unet(self, module, args, kwargs):
        context = kwargs.get("encoder_hidden_states", args[2] if len(args) > 2 else None)
        needs_grad = torch.is_grad_enabled() and context is not None and context.requires_grad
        self.unet.append((tuple(args[0].shape), tuple(context.shape), needs_grad))

    def _recorder(self, module):
        def record(_, args, kwargs):
            first = args[0] if args else next(iter(kwargs.values()))
            self.other.append((module, tuple(first.shape)))
        return record

    @property
    def rows(self) -> int:
        return sum(shape[0] for shape, _, _ in self.unet)

    def close(self):
        for handle in self.handles:
            handle.remove()


def synchronize(device) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


@torch.no_grad()
def _replay_other(calls, dtype, device) -> None:
    for module, shape in calls:
        if module.__class__.__name__.startswith("CLIPText"):
            module(torch.randint(0, module.config.vocab_size, shape, device=device))
        else:
            module(torch.randn(shape, dtype=dtype, device=device))


def replay(unet, calls: ModelCalls, dtype, device="cpu", only_unet: bool = False) -> float:
    """Seconds for the same model calls with the default attention and nothing around them."""
    from diffusers.models.attention_processor import AttnProcessor2_0

    saved = dict(unet.attn_processors)
    unet.set_attn_processor(AttnProcessor2_0())  # what a stock pipeline runs
    try:
        synchronize(device)
        start = time.perf_counter()
        if not only_unet:
            _replay_other(calls.other, dtype, device)
        for sample_shape, context_shape, needs_grad in calls.unet:
            sample = torch.randn(sample_shape, dtype=dtype, device=device)
            context = torch.randn(context_shape, dtype=dtype, device=device, requires_grad=needs_grad)
            with torch.set_grad_enabled(needs_grad):
                out = unet(sample, 500, encoder_hidden_states=context).sample
                if needs_grad:
                    out.float().pow(2).mean().backward()
        synchronize(device)
        return time.perf_counter() - start
    finally:
        unet.set_attn_processor(saved)
