"""Local blend in pixels (`blend_space: pixels`): the decoded edit composited over the source image outside the
blend mask.

Local blend as the authors run it keeps the source's *latents* outside the mask, but a VAE decoder sees the whole
latent, so background pixels still move (measured on the micro model: 5-73/255). In pixel space the final blend
mask, a boolean grid at the latent resolution, is upsampled to the image (nearest: each latent cell covers its
factor x factor pixels) and feathered with a box filter of side 2r + 1 (`blend_feather` = r pixels), which turns
its edge into a linear ramp that runs r pixels either side of it; the edit shows through in proportion, the
source image elsewhere. Outside the mask and more than r pixels from it, the output is the source image exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

BLEND_SPACES = ("latent", "pixels")


def default_feather(image_side: int, latent_side: int) -> int:
    """Half a latent cell, in pixels: 4 at Stable Diffusion's 512 px (cells of 8), 2 at the micro model's 64 px."""
    return max(0, image_side // latent_side // 2)


def feathered(masks: torch.Tensor, size: tuple[int, int], feather: int) -> torch.Tensor:
    """Masks [n, 1, h, w] (bool, latent grid) as weights [n, 1, H, W] in [0, 1] at the image's size."""
    weights = F.interpolate(masks.float(), size=size, mode="nearest")
    if feather > 0:
        weights = F.avg_pool2d(weights, 2 * feather + 1, stride=1, padding=feather, count_include_pad=False)
    return weights


def composite(edited: torch.Tensor, sources: torch.Tensor, masks: torch.Tensor, feather: int) -> torch.Tensor:
    """The edits [n, 3, H, W] where their masks are, the source images [n, 3, H, W] elsewhere (both in [-1, 1])."""
    weights = feathered(masks.to(edited.device), (edited.shape[-2], edited.shape[-1]), feather)
    # weighted as a sum, not as source + w * (edit - source): exact where the weight is 0 or 1
    return weights * edited + (1 - weights) * sources.to(edited.device)
