"""Work shared between the edits of a source image, and counted the way it runs.

All edits of an image go in one call: severities of a prompt share one sampling path while their injection
schedules agree and branch after; edits are packed into as few UNet passes as `batch_size` allows; a source's
branch runs its conditional half only, and only while an edit takes its maps. Each shortcut must give what the
edits give one by one (max abs difference <= 1e-5 in float32 latents), and `python -m builder plan` must count
what a build runs.
"""

from __future__ import annotations

import pytest
import torch

from builder.editors import create_editor
from builder.editors.sharing import EditSchedule, count_sampling, initial_lanes, split

STEPS = 10
RES = 128
PROMPTS = ["a red tabby cat", "a tabby cat in the snow", "a pencil drawing of a tabby cat"]
# 3 prompts x 3 severities, severity-major as a recipe lists them
TARGETS = [p for _ in range(3) for p in PROMPTS]
LEVELS = [level for level in (1, 2, 3) for _ in PROMPTS]


def unet_batches(editor):
    sizes = []
    handle = editor.unet.register_forward_pre_hook(lambda module, args: sizes.append(args[0].shape[0]))
    return sizes, handle


def sampled_latents(editor, images, sources, targets, levels):
    """The final latents of every edit, taken on their way to the decoder."""
    kept = []
    real = editor._sample

    def keep(*args, **kwargs):
        latents, masks = real(*args, **kwargs)
        kept.append(latents)
        return latents, masks

    editor._sample = keep
    try:
        editor.edit(images, sources, targets, levels, list(range(len(images))))
    finally:
        editor._sample = real
    return torch.cat(kept)


def test_lanes_split_where_the_schedules_part():
    # severity knobs at 10 steps: 1 -> cross 8 self 6, 2 -> cross 8 self 4, 3 -> cross 6 self 2
    windows = {1: (8, 6), 2: (8, 4), 3: (6, 2)}
    edits = [EditSchedule(0, t, *windows[level]) for t, level in zip(TARGETS, LEVELS)]
    lanes = initial_lanes(edits)
    counts = []
    for step in range(STEPS):
        lanes = split(edits, lanes, step)[0]
        counts.append(len(lanes))
    assert counts == [3, 3, 6, 6, 9, 9, 9, 9, 9, 9]
    assert sorted(len(lane.items) for lane in initial_lanes(edits)) == [3, 3, 3]


@pytest.mark.parametrize(("per_pass", "blend", "rows", "calls"), [
    (32, False, 5 + 5 + 4 + 4, 4),  # two lanes (2 rows each) and the source's row while they take its maps
    (32, True, 5 * 4, 4),  # local blend needs the source's maps at every step
    (1, False, 6 + 6 + 4 + 4, 8),  # one lane a pass: each pass holds the source while its lane injects
    (1, True, 6 * 4, 8),
])
def test_row_count_by_hand(per_pass, blend, rows, calls):
    """Two target prompts of one source, 4 steps, cross-attention injected until step 2, self until step 1."""
    edits = [EditSchedule(0, "a red cat", 2, 1), EditSchedule(0, "a cat in snow", 2, 1)]
    count = count_sampling(edits, 4, per_pass, blend)
    assert (count.rows, count.calls) == (rows, calls)


def test_one_pass_per_step_with_the_lanes_it_needs(tiny_sd, photos):
    editor = create_editor("p2p-direct", model=tiny_sd, resolution=RES, steps=STEPS, batch_size=32)
    sizes, handle = unet_batches(editor)
    editor.edit([photos["cat"]] * 9, ["a tabby cat"] * 9, TARGETS, LEVELS, list(range(9)))
    handle.remove()
    inversion, sampling = sizes[:STEPS], sizes[STEPS:]
    assert inversion == [1] * STEPS
    # two rows (unconditional, conditional) per lane, plus the source's conditional row while edits take maps
    # (cross-attention until step 8): 9 edits run as 3, then 6, then 9 lanes
    assert sampling == [7, 7, 13, 13, 19, 19, 19, 19, 18, 18]
    windows = {1: (8, 6), 2: (8, 4), 3: (6, 2)}
    planned = count_sampling([EditSchedule(0, t, *windows[lv]) for t, lv in zip(TARGETS, LEVELS)], STEPS, 32, False)
    assert (planned.rows, planned.calls) == (sum(sampling), STEPS)
    unshared = 2 * (9 + 1) * STEPS  # one pass per severity as before, each with its source's two rows
    assert sum(sampling) < 0.8 * unshared


@pytest.mark.parametrize("name", ["p2p-direct", "p2p-nulltext"])
@pytest.mark.parametrize("batch_size", [32, 4])
def test_shared_paths_give_what_each_edit_gives_alone(tiny_sd, photos, name, batch_size):
    extra = {"inner_steps": 2} if name == "p2p-nulltext" else {}
    editor = create_editor(name, model=tiny_sd, resolution=RES, steps=STEPS, batch_size=batch_size, **extra)
    together = sampled_latents(editor, [photos["cat"]] * 9, ["a tabby cat"] * 9, TARGETS, LEVELS)
    alone = torch.cat([sampled_latents(editor, [photos["cat"]], ["a tabby cat"], [t], [level])
                       for t, level in zip(TARGETS, LEVELS)])
    assert together.shape == (9, 4, RES // 8, RES // 8)
    assert float((together - alone).abs().max()) <= 1e-5
    by_level = together.view(3, 3, -1)
    assert all(float((by_level[0, k] - by_level[2, k]).abs().max()) > 1e-3 for k in range(3))  # severities differ


def test_two_images_in_one_call_equal_each_alone(tiny_sd, photos):
    editor = create_editor("p2p-nulltext", model=tiny_sd, resolution=RES, steps=STEPS, inner_steps=2)
    images = [photos["cat"], photos["coffee"], photos["cat"]]
    sources = ["a tabby cat", "an espresso", "a tabby cat"]
    targets = ["a red tabby cat", "an espresso in the snow", "a tabby cat in the snow"]
    together = sampled_latents(editor, images, sources, targets, [2, 2, 3])
    editor.cache.clear()
    alone = torch.cat([sampled_latents(editor, [i], [s], [t], [lv])
                       for i, s, t, lv in zip(images, sources, targets, [2, 2, 3])])
    assert float((together - alone).abs().max()) <= 1e-5


def test_qc_embeds_each_original_once(photos):
    from builder.generation.quality import QualityScorer
    from builder.planning.recipes import QCSpec

    scorer = QualityScorer(QCSpec(model="tiny:clip", label_rank_max=1000, edit_direction_min=-1.0, ssim_min=0.0))
    embedded, texts = [], []
    handles = [scorer.model.vision_model.register_forward_pre_hook(
                   lambda module, args, kwargs: embedded.append((args or list(kwargs.values()))[0].shape[0]),
                   with_kwargs=True),
               scorer.model.text_model.register_forward_pre_hook(
                   lambda module, args, kwargs: texts.append((args or list(kwargs.values()))[0].shape[0]),
                   with_kwargs=True)]
    original = photos["cat"].resize((64, 64))
    edits = [photos["coffee"].resize((64, 64)), photos["cat"].resize((64, 64)).rotate(90),
             photos["cat"].resize((64, 64)).transpose(0)]
    scores = scorer.score([original, *edits], [281] * 4, [None, original, original, original], ["a tabby cat"] * 4,
                          ["", "a red tabby cat", "a tabby cat in the snow", "a red tabby cat"])
    for handle in handles:
        handle.remove()
    assert sum(embedded) == 4  # the original once, each edit once (not the original again per edit)
    assert sum(texts) == 3  # the source prompt once, each distinct target once
    assert scores[1].edit_direction != 0.0 and scores[0].ssim == 1.0
