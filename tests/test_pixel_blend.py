"""Local blend in pixels (`blend_space: pixels`): the decoded edit composited over the source image outside the
final blend mask, feathered; on a tiny pipeline whose blend mask cuts the image (threshold 0.99 on random weights,
which attend almost evenly: about half of the 4x4 grid kept, measured), and on hand-made masks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from builder.editors import EditorError, create_editor, prepare_image
from builder.editors.compositing import composite, default_feather, feathered

STEPS = 6
RES = 128  # latents 16x16: a latent cell is 8 pixels, the default feather 4
ARGS = (["a tabby cat"], ["a tabby cat in the snow"], 2, [0])


def make(tiny_sd, **params):
    return create_editor("p2p-direct", model=tiny_sd, resolution=RES, steps=STEPS,
                         **{"local_blend_words": ["cat"], "local_blend_threshold": 0.99, **params})


def test_the_feather_is_a_linear_ramp_across_the_edge():
    """A box of side 2r + 1 over the upsampled mask: r = 2 ramps 1, 4/5, 3/5 | 2/5, 1/5, 0 across the edge, and
    the image's border is not darkened (the box averages only the pixels it covers)."""
    mask = torch.zeros(1, 1, 4, 4, dtype=torch.bool)
    mask[..., :2] = True  # the left half: columns 0-7 of a 16-pixel image
    weights = feathered(mask, (16, 16), 2)[0, 0]
    assert torch.allclose(weights[5, 4:10], torch.tensor([1.0, 1.0, 0.8, 0.6, 0.4, 0.2]))
    assert torch.equal(weights[:, 10:], torch.zeros(16, 6)) and torch.equal(weights[:, :6], torch.ones(16, 6))
    assert torch.equal(feathered(torch.ones(1, 1, 4, 4, dtype=torch.bool), (16, 16), 3), torch.ones(1, 1, 16, 16))
    assert torch.equal(feathered(mask, (16, 16), 0)[0, 0, :, :8], torch.ones(16, 8))  # no feather: the cells
    assert torch.equal(feathered(mask, (16, 16), 0)[0, 0, :, 8:], torch.zeros(16, 8))
    assert torch.allclose(feathered(mask, (16, 16), 1)[0, 0, 3, 6:10], torch.tensor([1.0, 2 / 3, 1 / 3, 0.0]))


def test_composite_takes_the_edit_inside_and_the_source_outside():
    edited, sources = torch.full((2, 3, 8, 8), 0.5), torch.full((2, 3, 8, 8), -0.5)
    masks = torch.zeros(2, 1, 2, 2, dtype=torch.bool)
    masks[0, :, 0, 0] = True
    out = composite(edited, sources, masks, 0)
    assert torch.equal(out[0, :, :4, :4], edited[0, :, :4, :4]) and torch.equal(out[0, :, 4:], sources[0, :, 4:])
    assert torch.equal(out[1], sources[1])  # an empty mask keeps the source everywhere
    wide = composite(torch.ones(1, 3, 4, 8), torch.zeros(1, 3, 4, 8), masks[:1], 0)  # 2x2 cells of 2x4 pixels
    assert torch.equal(wide[0, 0], torch.tensor([[1.0] * 4 + [0.0] * 4] * 2 + [[0.0] * 8] * 2))
    assert default_feather(512, 64) == 4 and default_feather(64, 16) == 2 and default_feather(64, 64) == 0


def test_pixels_outside_the_mask_are_the_source_image(tiny_sd, photos):
    latent, pixel = make(tiny_sd), make(tiny_sd, blend_space="pixels")
    masks = []
    sample = pixel._sample
    pixel._sample = lambda *a: (lambda out: masks.append(out[1]) or out)(sample(*a))
    in_latents = np.asarray(latent.edit([photos["cat"]], *ARGS)[0].image, dtype=np.int16)
    result = pixel.edit([photos["cat"]], *ARGS)[0]
    out = np.asarray(result.image, dtype=np.int16)
    source = np.asarray(prepare_image(photos["cat"], RES).image, dtype=np.int16)
    cells = masks[0][0][0].numpy()  # the 16x16 latent grid
    grid = np.kron(cells, np.ones((8, 8), dtype=bool))  # each cell's 8x8 pixels
    from scipy.ndimage import binary_dilation, binary_erosion

    box = np.ones((9, 9), dtype=bool)  # the feather's window: 4 pixels each way
    outside = ~binary_dilation(grid, structure=box)  # no masked pixel in the window
    inside = binary_erosion(grid, structure=box, border_value=1)  # no unmasked pixel in it
    assert 0.2 < cells.mean() < 0.9, cells.mean()  # the mask cuts the image, so both checks below mean something
    assert outside.sum() > 500 and inside.sum() > 500
    assert np.array_equal(out[outside], source[outside])
    assert np.array_equal(out[inside], in_latents[inside])
    assert np.abs(in_latents[outside] - source[outside]).mean() > 5  # the decoder moved what the latents kept
    assert result.metadata["blend_space"] == "pixels" and result.metadata["blend_feather"] == 4
    assert latent.edit([photos["cat"]], *ARGS)[0].metadata["blend_space"] == "latent"
    assert "blend_feather" not in latent.edit([photos["cat"]], *ARGS)[0].metadata


def test_a_chosen_feather_is_recorded(tiny_sd, photos):
    assert make(tiny_sd, blend_space="pixels", blend_feather=0).edit([photos["cat"]], *ARGS)[0] \
        .metadata["blend_feather"] == 0


@pytest.mark.parametrize(("params", "message"), [
    (dict(blend_space="pixel"), "p2p-direct: blend_space 'pixel' is not one of latent, pixels"),
    (dict(blend_space="pixels", local_blend_words=None), "p2p-direct: blend_space pixels composites outside the "
                                                         "local blend mask; set local_blend_words too"),
    (dict(blend_space="pixels", blend_feather=-1), "p2p-direct: blend_feather must be a whole number of pixels >= 0, "
                                                   "got -1"),
    (dict(blend_space="pixels", blend_feather=2.5), "blend_feather must be a whole number of pixels >= 0, got 2.5"),
])
def test_bad_blend_settings_are_named(tiny_sd, params, message):
    with pytest.raises(EditorError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make(tiny_sd, **params)
