"""Editors on tiny pipelines built from configs, saved, and loaded back through from_pretrained.

Properties that hold with random weights: prompt-to-prompt with target == source reproduces the reconstruction,
null-text inversion reconstructs better than plain DDIM inversion, the attention control acts on exactly the
configured steps, a batch equals its items one by one, severity is monotonic, seeds are honoured. The fidelity of
null-text inversion to the authors' algorithm is in tests/test_null_text.py, the shared work in
tests/test_sharing.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from builder.editors import EDITORS, EditorError, create_editor, list_editors
from builder.editors.base import frame_problem
from imagenet_textcorrupt.errors import UnknownNameError

STEPS = 10
RES = 128  # 16x16 latents: attention maps at 16x16 (fused), 8x8, 4x4 and 2x2 (explicit while controlled)


def pixels(image):
    return np.asarray(image, dtype=np.float64)


def count_unet_calls(editor):
    unet = editor.unet if hasattr(editor, "unet") else editor.pipeline.unet
    calls = []
    handle = unet.register_forward_hook(lambda *_: calls.append(1))
    return calls, handle


@pytest.fixture(scope="module")
def nulltext(tiny_sd):
    return create_editor("p2p-nulltext", model=tiny_sd, resolution=RES, steps=STEPS)


@pytest.fixture(scope="module")
def direct(tiny_sd):
    return create_editor("p2p-direct", model=tiny_sd, resolution=RES, steps=STEPS)


@pytest.fixture(scope="module")
def sdedit(tiny_sd):
    return create_editor("sdedit", model=tiny_sd, resolution=RES, steps=STEPS)


@pytest.fixture(scope="module")
def ip2p(tiny_ip2p):
    return create_editor("instruct-pix2pix", model=tiny_ip2p, resolution=RES, steps=STEPS)


def test_registry():
    assert list_editors() == ["imagenet-c", "instruct-pix2pix", "p2p-direct", "p2p-directinv", "p2p-nulltext",
                              "sdedit"]
    assert {name: cls.family for name, cls in EDITORS.items()} == {
        "p2p-nulltext": "prompt_to_prompt", "p2p-direct": "prompt_to_prompt", "p2p-directinv": "prompt_to_prompt",
        "instruct-pix2pix": "instruct_pix2pix", "sdedit": "sdedit", "imagenet-c": "imagenet_c"}
    with pytest.raises(UnknownNameError, match="unknown editor 'p2p-nultext'; did you mean p2p-nulltext"):
        create_editor("p2p-nultext")


def test_null_text_takes_at_most_101_steps(tiny_sd):
    """Step i optimises at 1e-2 * (1 - i/100), which is negative from step 101 on."""
    with pytest.raises(EditorError, match=r"^p2p-nulltext: steps must be at most 101, got 102: the authors' learning "
                                          r"rate, learning_rate \* \(1 - i/100\) at step i, is negative after step 100$"):
        create_editor("p2p-nulltext", model=tiny_sd, steps=102)
    assert create_editor("p2p-nulltext", model=tiny_sd, steps=101).steps == 101


def test_unknown_parameter_and_dtype(tiny_sd):
    with pytest.raises(EditorError, match="p2p-nulltext: unknown parameter 'inner_step'; did you mean inner_steps?"):
        create_editor("p2p-nulltext", model=tiny_sd, inner_step=3)
    with pytest.raises(UnknownNameError, match="unknown dtype 'fp8'"):
        create_editor("sdedit", model=tiny_sd, dtype="fp8")


@pytest.mark.parametrize(("kwargs", "message"), [
    (dict(source_prompts=["a tabby cat"] * 2), "sdedit: source_prompts has 2 entries for 1 images"),
    (dict(seeds=[]), "sdedit: seeds has 0 entries for 1 images"),
    (dict(target_prompts=[" "]), "sdedit: target_prompts[0] is empty"),
    (dict(seeds=[-1]), "sdedit: seeds[0] = -1 is not an integer in [0, 2**63)"),
    (dict(seeds=["7"]), "sdedit: seeds[0] = '7' is not an integer"),
])
def test_bad_arguments(sdedit, photos, kwargs, message):
    args = dict(images=[photos["cat"]], source_prompts=["a tabby cat"], target_prompts=["a red tabby cat"],
                severity=2, seeds=[0])
    args.update(kwargs)
    with pytest.raises(EditorError) as caught:
        sdedit.edit(**args)
    assert str(caught.value).startswith(message)


def test_unknown_severity(sdedit, photos):
    with pytest.raises(UnknownNameError, match="unknown severity level '4'"):
        sdedit.edit([photos["cat"]], ["a tabby cat"], ["a red tabby cat"], 4, [0])


def test_unreadable_image_names_the_item(sdedit, tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    with pytest.raises(ValueError, match=r"images\[0\]: cannot read the image"):
        sdedit.edit([bad], ["a tabby cat"], ["a red tabby cat"], 1, [0])


# -- prompt-to-prompt --------------------------------------------------------------------------------------------

def test_p2p_mode_is_checked_and_replace_needs_equal_lengths(tiny_sd, photos):
    """The mapping itself is compared with the study's aligner in tests/test_token_mapping.py."""
    with pytest.raises(EditorError, match="p2p-direct: p2p_mode 'swap' is not one of refine, replace"):
        create_editor("p2p-direct", model=tiny_sd, resolution=RES, steps=STEPS, p2p_mode="swap")
    editor = create_editor("p2p-direct", model=tiny_sd, resolution=RES, steps=2, p2p_mode="replace")
    with pytest.raises(EditorError, match=r"p2p-direct: item 1: p2p_mode replace needs prompts of equally many "
                                          r"tokens; 'a tabby cat' has 9 and 'a red tabby cat' 12"):
        editor.edit([photos["cat"]] * 2, ["a tabby cat"] * 2, ["a tabby cow", "a red tabby cat"], 2, [0, 1])


def test_target_equal_to_source_is_the_reconstruction(nulltext, photos):
    result = nulltext.edit([photos["cat"]], ["a tabby cat"], ["a tabby cat"], 2, [0])[0]
    reconstruction = nulltext.reconstruct([photos["cat"]], ["a tabby cat"]).images[0]
    assert result.ok
    assert np.abs(pixels(result.image) - pixels(reconstruction)).max() <= 1


def test_null_text_reconstructs_better_than_ddim_inversion(tiny_sd, nulltext, photos):
    plain = create_editor("p2p-nulltext", model=tiny_sd, resolution=RES, steps=STEPS, inner_steps=0)
    errors = {}
    for name, editor in (("null-text", nulltext), ("ddim", plain)):
        rec = editor.reconstruct([photos["cat"], photos["coffee"]], ["a tabby cat", "an espresso"])
        errors[name] = float((rec.latents - rec.input_latents).pow(2).mean())
    # measured: 0.46 of plain DDIM inversion's error at 10 steps on the tamed tiny UNet
    assert errors["null-text"] < 0.6 * errors["ddim"]


def test_direct_inversion_keeps_the_source_on_its_trajectory(direct, photos):
    rec = direct.reconstruct([photos["cat"]], ["a tabby cat"])
    assert torch.equal(rec.latents, rec.input_latents)


@pytest.mark.parametrize(("severity", "cross", "self_"), [(1, 8, 6), (2, 8, 4), (3, 6, 2)])
def test_attention_control_acts_on_the_configured_steps(nulltext, photos, severity, cross, self_):
    nulltext.edit([photos["cat"]], ["a tabby cat"], ["a watercolor painting of a tabby cat"], severity, [0])
    log = nulltext.control.log
    assert {s for s, kind in log if kind == "cross"} == set(range(cross))
    assert {s for s, kind in log if kind == "self"} == set(range(self_))
    assert nulltext.control.plan is None  # switched off after the edit


def test_explicit_fractions_override_the_severity(tiny_sd, photos):
    editor = create_editor("p2p-direct", model=tiny_sd, resolution=RES, steps=STEPS, cross_replace_steps=0.5,
                           self_replace_steps=0.0)
    result = editor.edit([photos["cat"]], ["a tabby cat"], ["a red tabby cat"], 2, [0])[0]
    assert {s for s, kind in editor.control.log if kind == "cross"} == set(range(5))
    assert not [s for s, kind in editor.control.log if kind == "self"]
    assert result.metadata["severity_parameters"] == {"cross_replace_steps": 0.5, "self_replace_steps": 0.0}
    assert (result.metadata["cross_replace_steps"], result.metadata["self_replace_steps"]) == (0.5, 0.0)


def test_edits_change_the_image_and_metadata_says_how(direct, photos):
    results = direct.edit([photos["cat"]] * 2, ["a tabby cat"] * 2, ["a tabby cat", "a red tabby cat"], 2, [3, 4])
    assert np.abs(pixels(results[1].image) - pixels(results[0].image)).mean() > 0.01
    meta = results[1].metadata
    assert meta["editor"] == "p2p-direct" and meta["model"].startswith("local:")
    assert (meta["steps"], meta["guidance"], meta["seed"], meta["severity"]) == (STEPS, 7.5, 4, 2)
    assert meta["p2p_mode"] == "refine" and meta["inversion"] == "direct"
    assert meta["source_prompt"] == "a tabby cat" and meta["target_prompt"] == "a red tabby cat"
    assert meta["scheduler"] == "DDIMScheduler" and meta["prompts_version"] == "1.1.0"


def test_batch_equals_one_by_one(direct, photos):
    images = [photos["cat"], photos["coffee"], photos["cat"]]
    sources = ["a tabby cat", "an espresso", "a tabby cat"]
    targets = ["a red tabby cat", "a pencil drawing of an espresso", "a tabby cat in the snow"]
    batch = direct.edit(images, sources, targets, 2, [0, 1, 2])
    for i in range(3):
        alone = direct.edit([images[i]], [sources[i]], [targets[i]], 2, [i])[0]
        assert np.abs(pixels(batch[i].image) - pixels(alone.image)).max() <= 1


def test_each_source_image_is_inverted_once(tiny_sd, photos, tmp_path):
    editor = create_editor("p2p-nulltext", model=tiny_sd, resolution=RES, steps=STEPS, inner_steps=2,
                           cache_dir=str(tmp_path / "inversions"))
    targets = ["a red tabby cat", "a tabby cat in the snow", "a pencil drawing of a tabby cat"]
    first = editor.edit([photos["cat"]] * 3, ["a tabby cat"] * 3, targets, 2, [0, 1, 2])
    assert (editor.cache.misses, editor.cache.hits) == (1, 0)
    assert len(list((tmp_path / "inversions").glob("*.safetensors"))) == 1
    again = create_editor("p2p-nulltext", model=tiny_sd, resolution=RES, steps=STEPS, inner_steps=2,
                          cache_dir=str(tmp_path / "inversions"))
    second = again.edit([photos["cat"]], ["a tabby cat"], [targets[1]], 2, [1])
    assert (again.cache.misses, again.cache.hits) == (0, 1)
    assert second[0].metadata["inversion_cached"] and not first[1].metadata["inversion_cached"]
    # the same inversion gives the same edit (up to float rounding: the batch held 3 targets then, 1 now)
    assert np.abs(pixels(second[0].image) - pixels(first[1].image)).max() <= 1


def test_inversion_cost_is_paid_once_per_image(tiny_sd, photos):
    editor = create_editor("p2p-direct", model=tiny_sd, resolution=RES, steps=STEPS)
    calls, handle = count_unet_calls(editor)
    editor.edit([photos["cat"]] * 4, ["a tabby cat"] * 4, ["a red tabby cat", "a blue tabby cat",
                                                          "a green tabby cat", "a tabby cat on ice"], 2, [0] * 4)
    handle.remove()
    assert len(calls) == 2 * STEPS  # one inversion pass, one batched editing pass
    calls.clear()
    editor.cache.clear()
    handle = editor.unet.register_forward_hook(lambda *_: calls.append(1))
    editor.edit([photos["cat"], photos["coffee"]], ["a tabby cat", "an espresso"],
                ["a red tabby cat", "an espresso on the moon"], 2, [0, 1])
    handle.remove()
    assert len(calls) == 2 * STEPS  # two images are inverted in one batched pass too


def test_p2p_is_deterministic(direct, photos):
    a = direct.edit([photos["cat"]], ["a tabby cat"], ["a golden tabby cat"], 2, [5])[0]
    direct.cache.clear()
    b = direct.edit([photos["cat"]], ["a tabby cat"], ["a golden tabby cat"], 2, [5])[0]
    assert np.array_equal(pixels(a.image), pixels(b.image))


@pytest.mark.parametrize("name", ["p2p-direct", "p2p-nulltext"])
def test_local_blend_bounds(tiny_sd, photos, name):
    """An empty blend region keeps the source everywhere; a full one changes nothing about the edit."""
    kwargs = dict(model=tiny_sd, resolution=RES, steps=STEPS, inner_steps=2) if name == "p2p-nulltext" else \
        dict(model=tiny_sd, resolution=RES, steps=STEPS)
    args = ([photos["cat"]], ["a tabby cat"], ["a tabby cat in the snow"], 2, [0])
    plain = create_editor(name, **kwargs)
    edited = pixels(plain.edit(*args)[0].image)
    source = pixels(plain.reconstruct([photos["cat"]], ["a tabby cat"]).images[0])
    nowhere = create_editor(name, local_blend_words=["cat"], local_blend_threshold=1.01, **kwargs)
    everywhere = create_editor(name, local_blend_words=["cat"], local_blend_threshold=-1.0, **kwargs)
    kept = nowhere.edit(*args)[0]
    assert kept.metadata["local_blend_words"] == ["cat"]
    assert np.abs(pixels(kept.image) - source).max() <= 1
    assert np.abs(pixels(everywhere.edit(*args)[0].image) - edited).max() <= 1
    assert np.abs(edited - source).mean() > 0.5  # the bounds differ, so the checks above mean something


def reference_blend_mask(maps, threshold):
    """Local blend's mask as the authors' code makes it (written from google/prompt-to-prompt's LocalBlend):
    maps [rows, 1, 16, 16], row 0 the source; 3x3 max-pool, nearest upsampling to the latents, each map divided
    by its maximum, thresholded, the source's region added to every row's."""
    pooled = torch.nn.functional.max_pool2d(maps, (3, 3), (1, 1), padding=(1, 1))
    mask = torch.nn.functional.interpolate(pooled, size=(64, 64))
    mask = mask / mask.max(2, keepdim=True)[0].max(3, keepdim=True)[0]
    mask = mask.gt(threshold)
    return mask[:1] + mask


def test_blend_mask_is_the_authors():
    from builder.editors.attention import blend_mask

    generator = torch.Generator().manual_seed(0)
    maps = torch.rand(4, 1, 16, 16, generator=generator) ** 16  # a source and three branches, a few bright spots
    reference = reference_blend_mask(maps, 0.3)
    ours = blend_mask(maps[1:].flatten(1), maps[:1].flatten(1).expand(3, -1), (64, 64), 0.3)
    assert ours.shape == (3, 1, 64, 64) and ours.dtype == torch.bool
    assert torch.equal(ours, reference[1:])
    assert 0.05 < float(ours.float().mean()) < 0.95  # neither empty nor full: the comparison means something


@pytest.mark.parametrize("downsample", [None, 2])
def test_local_blend_uses_the_quarter_resolution_maps_from_a_fifth_of_the_steps(tiny_sd, photos, downsample):
    extra = {} if downsample is None else {"local_blend_downsample": downsample}
    editor = create_editor("p2p-direct", model=tiny_sd, resolution=RES, steps=STEPS, local_blend_words=["cat"],
                           **extra)
    sizes = []
    real = editor.control.cross_attention

    def spy(probs):
        before = editor.control.blend_maps
        out = real(probs)
        if editor.control.blend_maps is not before:  # this layer added its maps
            sizes.append(probs.shape[2])
        return out

    editor.control.cross_attention = spy
    result = editor.edit([photos["cat"]], ["a tabby cat"], ["a tabby cat in the snow"], 2, [0])[0]
    latent, side = RES // 8, RES // 8 // (downsample or 4)
    assert set(sizes) == {side ** 2}  # only the layers at a quarter (or the chosen share) of the latent side
    assert [s for s, kind in editor.control.log if kind == "blend"] == list(range(int(0.2 * STEPS), STEPS))
    assert result.metadata["local_blend_start"] == 0.2 and result.metadata["local_blend_threshold"] == 0.3
    assert result.metadata["local_blend_downsample"] == (downsample or 4)


def test_local_blend_downsample_must_be_a_positive_integer(tiny_sd):
    with pytest.raises(EditorError, match="local_blend_downsample must be a positive integer, got 0"):
        create_editor("p2p-direct", model=tiny_sd, resolution=RES, steps=STEPS, local_blend_words=["cat"],
                      local_blend_downsample=0)


def test_local_blend_words_must_occur(tiny_sd, photos):
    editor = create_editor("p2p-direct", model=tiny_sd, resolution=RES, steps=STEPS, local_blend_words=["dog"])
    with pytest.raises(EditorError, match=r"no prompt contains the local blend words \['dog'\]"):
        editor.edit([photos["cat"]], ["a tabby cat"], ["a red tabby cat"], 2, [0])


def test_too_long_prompt_names_the_item(direct, photos):
    with pytest.raises(EditorError, match=r"p2p-direct: item 0: prompt .* tokens; the text encoder takes 75"):
        direct.edit([photos["cat"]], ["a tabby cat"], ["a tabby cat " * 30], 2, [0])


# -- SDEdit and InstructPix2Pix ----------------------------------------------------------------------------------

def test_sdedit_severity_is_monotonic(tiny_sd, sdedit, photos):
    # A random VAE decodes any latent to much the same noise, so distance to the input photo says little; the
    # distance to the mildest possible edit (strength 0.2, same seed) grows with how much is re-noised.
    mildest = create_editor("sdedit", model=tiny_sd, resolution=RES, steps=STEPS, strength=0.2)
    for name, source in (("cat", "a tabby cat"), ("coffee", "an espresso")):
        target = f"{source} in the snow"
        reference = pixels(mildest.edit([photos[name]], [source], [target], 1, [0])[0].image)
        changes = []
        for severity in (1, 2, 3):
            result = sdedit.edit([photos[name]], [source], [target], severity, [0])[0]
            assert result.metadata["severity_parameters"] == {"strength": [0.4, 0.6, 0.8][severity - 1]}
            changes.append(np.abs(pixels(result.image) - reference).mean())
        assert changes[0] < changes[1] < changes[2], (name, changes)


def test_sdedit_needs_a_denoising_step(tiny_sd, photos):
    editor = create_editor("sdedit", model=tiny_sd, resolution=RES, steps=4, strength=0.2)
    with pytest.raises(EditorError, match="sdedit: strength 0.2 with 4 steps runs no denoising step"):
        editor.edit([photos["cat"]], ["a tabby cat"], ["a red tabby cat"], 1, [0])


@pytest.mark.parametrize("name", ["sdedit", "instruct-pix2pix"])
def test_seeds_batches_and_determinism(request, photos, name):
    editor = request.getfixturevalue("sdedit" if name == "sdedit" else "ip2p")
    images = [photos["cat"], photos["coffee"]]
    sources, targets = ["a tabby cat", "an espresso"], ["a red tabby cat", "an espresso in the snow"]
    batch = editor.edit(images, sources, targets, 2, [11, 12])
    again = editor.edit(images, sources, targets, 2, [11, 12])
    other = editor.edit(images[:1], sources[:1], targets[:1], 2, [13])[0]
    alone = editor.edit(images[:1], sources[:1], targets[:1], 2, [11])[0]
    assert np.array_equal(pixels(batch[0].image), pixels(again[0].image))
    assert np.abs(pixels(batch[0].image) - pixels(alone.image)).max() <= 1
    assert np.abs(pixels(batch[0].image) - pixels(other.image)).mean() > 0.5


def test_instruct_pix2pix_phrases_an_instruction(ip2p, photos):
    result = ip2p.edit([photos["cat"]], ["a tabby cat"], ["a red tabby cat"], 3, [0])[0]
    assert result.metadata["editor_prompt"] == "turn it into a red tabby cat"
    assert result.metadata["severity_parameters"] == {"image_guidance_scale": 1.2, "guidance_scale": 10.0}


def test_instruct_pix2pix_bad_instruction(tiny_ip2p, photos):
    editor = create_editor("instruct-pix2pix", model=tiny_ip2p, resolution=RES, steps=2,
                           instruction="make it {style}")
    with pytest.raises(EditorError, match=r"uses an unknown slot 'style'; use \{source\} and \{target\}"):
        editor.edit([photos["cat"]], ["a tabby cat"], ["a red tabby cat"], 1, [0])


# -- bad frames ----------------------------------------------------------------------------------------------------

def test_frame_problem():
    assert frame_problem(torch.zeros(3, 4, 4)) is None
    assert frame_problem(torch.full((3, 4, 4), float("nan"))) == "the output has NaN or infinite values"
    assert frame_problem(torch.full((3, 4, 4), -1.0)) == "the output is an all-black frame"


def test_bad_frames_are_retried_in_float32(tiny_sd, photos, monkeypatch):
    editor = create_editor("sdedit", model=tiny_sd, resolution=RES, steps=4, dtype="bfloat16")
    real_call = editor._call

    def overflow_in_low_precision(images, prompts, knobs, seeds):
        out = real_call(images, prompts, knobs, seeds)
        return out * float("nan") if editor.dtype != torch.float32 else out

    monkeypatch.setattr(editor, "_call", overflow_in_low_precision)
    result = editor.edit([photos["cat"]], ["a tabby cat"], ["a red tabby cat"], 1, [0])[0]
    assert result.ok and result.metadata["retried_in_float32"]
    assert editor.dtype == torch.bfloat16 and editor.pipeline.unet.dtype == torch.bfloat16


def test_frames_bad_in_float32_too_are_failures(tiny_sd, photos, monkeypatch):
    editor = create_editor("sdedit", model=tiny_sd, resolution=RES, steps=4, dtype="bfloat16")
    monkeypatch.setattr(editor, "_call", lambda images, *_: torch.full((len(images), 3, RES, RES), -1.0))
    result = editor.edit([photos["cat"]], ["a tabby cat"], ["a red tabby cat"], 1, [0])[0]
    assert not result.ok and result.image is None
    assert result.reason == "the output is an all-black frame (also in float32)"


# -- geometry and inputs ---------------------------------------------------------------------------------------------

def test_tiny_models_have_stable_diffusions_geometry(direct, photos):
    """A VAE that downsamples by 8 and attention at several resolutions, so both attention paths run: maps made
    explicit where prompt-to-prompt controls them (<= half the latent side), fused above."""
    assert direct.vae.config.block_out_channels and 2 ** (len(direct.vae.config.block_out_channels) - 1) == 8
    seen = {}
    real = torch.nn.functional.scaled_dot_product_attention

    def fused(query, *args, **kwargs):
        seen.setdefault("fused", set()).add(query.shape[-2])
        return real(query, *args, **kwargs)

    original = direct.control.self_attention

    def explicit(query, *args):
        seen.setdefault("explicit", set()).add(query.shape[-2])
        return original(query, *args)

    torch.nn.functional.scaled_dot_product_attention = fused
    direct.control.self_attention = explicit
    try:
        result = direct.edit([photos["cat"]], ["a tabby cat"], ["a red tabby cat"], 1, [0])[0]
    finally:
        torch.nn.functional.scaled_dot_product_attention = real
        del direct.control.self_attention
    latent = RES // 8
    assert result.image.size == (RES, RES)
    assert {latent ** 2, (latent // 2) ** 2, (latent // 4) ** 2} <= seen["fused"]  # three levels with attention
    assert seen["explicit"] == {(latent // 2) ** 2, (latent // 4) ** 2, (latent // 8) ** 2}  # <= half the side


def test_cached_tiny_models_follow_their_definition(tmp_path, monkeypatch):
    """tiny:<kind> is built once into the cache under a fingerprint of its code and libraries: a changed
    definition builds a new copy instead of reusing one of another geometry."""
    import json

    from builder.micro import tiny_models

    monkeypatch.setenv("IMAGENET_TC_CACHE", str(tmp_path))
    first = Path(tiny_models.resolve_model("tiny:sd"))
    assert first.parent == tmp_path / "tiny" and first.name == f"sd-{tiny_models.tiny_fingerprint()}"
    assert tiny_models.resolve_model("tiny:sd") == str(first)  # reused
    vae = json.loads((first / "vae" / "config.json").read_text())
    assert len(vae["block_out_channels"]) == 4  # the geometry of this code, VAE x8
    monkeypatch.setattr(tiny_models, "tiny_fingerprint", lambda: "changed")
    assert Path(tiny_models.resolve_model("tiny:sd")) == tmp_path / "tiny" / "sd-changed"


def test_prepared_images_keep_whether_they_were_upsampled(direct, photos):
    from builder.editors import prepare_image

    small = prepare_image(photos["coffee"].resize((40, 40)), RES)
    large = prepare_image(photos["coffee"], RES)
    results = direct.edit([small, large], ["an espresso"] * 2, ["an espresso in the snow"] * 2, 1, [0, 1])
    assert [r.metadata["upsampled"] for r in results] == [True, False]
    with pytest.raises(EditorError, match=r"images\[0\] was prepared at 64 px; this editor works at 128"):
        direct.edit([prepare_image(photos["coffee"], 64)], ["an espresso"], ["a red espresso"], 1, [0])
