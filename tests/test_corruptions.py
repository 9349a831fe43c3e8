"""The ImageNet-C corruptions: each of the 15 at each severity on a real photo, deterministic per seed; several
checked against references written here from the paper's definitions (without our helpers); and all 15 at all 5
severities against the reference code with the same random draws (imagecorruptions 1.1.2 with OpenCV, which the
test extra installs: a missing reference fails here, it is not skipped)."""

from __future__ import annotations

import importlib.util
import io
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from builder.editors.corruptions import (CORRUPTIONS, FAMILIES, FROST_DIR_VARIABLE, FROST_FILES, CorruptionError,
                                         corrupt, corruption_names)
from imagenet_textcorrupt.errors import UnknownNameError

IMAGENET_C = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur", "motion_blur",
              "zoom_blur", "snow", "frost", "fog", "brightness", "contrast", "elastic_transform", "pixelate",
              "jpeg_compression")
RANDOM = {"gaussian_noise", "shot_noise", "impulse_noise", "glass_blur", "motion_blur", "snow", "frost", "fog",
          "elastic_transform"}


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.chelsea()).resize((96, 64), Image.BICUBIC)  # not square, on purpose


@pytest.fixture(scope="module", autouse=True)
def frost_folder(tmp_path_factory):
    """Stand-in frost pictures (the reference's are not shipped): smooth bright textures of the reference's sizes
    or smaller, so frost runs everywhere; the reference comparison below uses the real ones where installed."""
    if importlib.util.find_spec("imagecorruptions") is not None:
        yield None
        return
    folder = tmp_path_factory.mktemp("frost")
    rng = np.random.default_rng(7)
    for index, name in enumerate(FROST_FILES):
        texture = ndimage.gaussian_filter(rng.random((50 + 10 * index, 70, 3)), (2, 2, 0))
        Image.fromarray(np.uint8(120 + 120 * texture)).save(folder / name)
    patch = pytest.MonkeyPatch()
    patch.setenv(FROST_DIR_VARIABLE, str(folder))
    yield folder
    patch.undo()


def test_the_registry_holds_the_fifteen_in_their_families():
    from imagenet_textcorrupt.schema import CORRUPTION_DOMAINS

    assert corruption_names() == list(IMAGENET_C) == list(CORRUPTION_DOMAINS)  # the rows' domains
    assert corruption_names("noise") == list(IMAGENET_C[:3])
    assert corruption_names("blur") == list(IMAGENET_C[3:7])
    assert corruption_names("weather") == ["snow", "frost", "fog", "brightness"]  # as in the paper
    assert corruption_names("digital") == ["contrast", "elastic_transform", "pixelate", "jpeg_compression"]
    assert set(FAMILIES) == set(CORRUPTIONS)


@pytest.mark.parametrize("severity", [1, 3, 5])
@pytest.mark.parametrize("name", IMAGENET_C)
def test_every_corruption_is_deterministic_per_seed_and_changes_the_photo(photo, name, severity):
    first, again, other = (np.asarray(corrupt(photo, name, severity, seed)) for seed in (11, 11, 12))
    assert first.shape == (64, 96, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again)
    assert np.abs(first.astype(int) - np.asarray(photo)).mean() > 1.0
    if name in RANDOM:
        assert not np.array_equal(first, other)
    else:
        assert np.array_equal(first, other)


@pytest.mark.parametrize("name", ["gaussian_noise", "defocus_blur", "contrast", "pixelate", "jpeg_compression",
                                  "zoom_blur", "fog"])
def test_higher_severities_change_the_photo_more(photo, name):
    change = [np.abs(np.asarray(corrupt(photo, name, s, 0)).astype(int) - np.asarray(photo)).mean()
              for s in (1, 3, 5)]
    assert change[0] < change[1] < change[2]


def test_grey_images_are_corrupted_as_three_equal_channels(photo):
    grey = np.asarray(photo.convert("L"))
    as_rgb = np.repeat(grey[..., None], 3, axis=2)
    for image in (grey, grey[..., None]):
        assert np.array_equal(np.asarray(corrupt(image, "contrast", 2, 0)),
                              np.asarray(corrupt(as_rgb, "contrast", 2, 0)))


@pytest.mark.parametrize("call, message", [
    (lambda p: corrupt(p, "fogg", 1, 0), "unknown corruption 'fogg'; did you mean fog"),
    (lambda p: corrupt(p, "fog", 0, 0), "fog: severity 0 is not one of 1, 2, 3, 4, 5"),
    (lambda p: corrupt(p, "fog", 6, 0), "fog: severity 6 is not one of 1, 2, 3, 4, 5"),
    (lambda p: corrupt(p, "fog", True, 0), "fog: severity True is not one of"),
    (lambda p: corrupt(p.resize((31, 64)), "contrast", 1, 0), "the image is 31 x 64; ImageNet-C needs at least 32"),
    (lambda p: corrupt(np.zeros((40, 40, 4), np.uint8), "contrast", 1, 0), "expected an RGB or grey uint8 image"),
    (lambda p: corrupt(np.zeros((40, 40, 3), np.float32), "contrast", 1, 0), "expected an RGB or grey uint8 image"),
    (lambda p: corrupt(p, "snow", 2, -1), "snow: seed -1 is not an integer >= 0"),
])
def test_bad_input_is_named(photo, call, message):
    with pytest.raises((CorruptionError, UnknownNameError), match=message.replace("(", "\\(")):
        call(photo)


def test_frost_without_its_pictures_says_how_to_get_them(photo, monkeypatch, tmp_path):
    monkeypatch.setenv(FROST_DIR_VARIABLE, str(tmp_path))
    with pytest.raises(CorruptionError, match="frost1.png.*pip install --no-deps imagecorruptions"):
        corrupt(photo, "frost", 1, 0)


# ---------------------------------------------------------------- references written from the definitions
def _unit(photo: Image.Image) -> np.ndarray:
    return np.asarray(photo, dtype=np.float64) / 255


def _reference(name: str, photo: Image.Image, severity: int, seed: int) -> np.ndarray:
    """ImageNet-C's definitions, written out again without the module's helpers (Hendrycks & Dietterich 2019,
    appendix and released code): the float image the corruption produces, before the cast to uint8."""
    rng = np.random.default_rng(seed)
    x = _unit(photo)
    if name == "gaussian_noise":
        return np.clip(x + rng.normal(0, [0.08, 0.12, 0.18, 0.26, 0.38][severity - 1], x.shape), 0, 1) * 255
    if name == "shot_noise":
        rate = [60, 25, 12, 5, 3][severity - 1]
        return np.clip(rng.poisson(x * rate) / rate, 0, 1) * 255
    if name == "contrast":
        factor = [0.4, 0.3, 0.2, 0.1, 0.05][severity - 1]
        mean = x.reshape(-1, 3).mean(axis=0)
        return np.clip(mean + (x - mean) * factor, 0, 1) * 255
    if name == "brightness":
        from matplotlib.colors import hsv_to_rgb, rgb_to_hsv

        hsv = rgb_to_hsv(x)
        hsv[..., 2] = np.minimum(hsv[..., 2] + [0.1, 0.2, 0.3, 0.4, 0.5][severity - 1], 1)
        return np.clip(hsv_to_rgb(hsv), 0, 1) * 255
    if name == "pixelate":
        factor = [0.6, 0.5, 0.4, 0.3, 0.25][severity - 1]
        small = photo.resize((int(photo.width * factor), int(photo.height * factor)), Image.BOX)
        return np.asarray(small.resize(photo.size, Image.NEAREST), dtype=np.float64)
    if name == "jpeg_compression":
        buffer = io.BytesIO()
        photo.save(buffer, "JPEG", quality=[25, 18, 15, 10, 7][severity - 1])
        return np.asarray(Image.open(buffer).convert("RGB"), dtype=np.float64)
    if name == "defocus_blur":
        radius, alias = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)][severity - 1]
        half = max(8, radius)
        yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
        disk = (xx ** 2 + yy ** 2 <= radius ** 2).astype(np.float32)  # the released code's kernel is float32
        disk /= disk.sum()
        size = 3 if radius <= 8 else 5
        taps = np.exp(-((np.arange(size) - size // 2) ** 2) / (2 * alias ** 2))
        taps /= taps.sum()
        disk = ndimage.correlate(disk, np.outer(taps, taps), mode="mirror").astype(np.float32)
        return np.clip(np.stack([ndimage.correlate(x[..., k], disk, mode="mirror") for k in range(3)], -1),
                       0, 1) * 255
    raise AssertionError(name)


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("name", ["gaussian_noise", "shot_noise", "contrast", "brightness", "pixelate",
                                  "jpeg_compression", "defocus_blur"])
def test_matches_the_definitions(photo, name, severity):
    ours = np.asarray(corrupt(photo, name, severity, 3)).astype(int)
    reference = np.uint8(np.clip(_reference(name, photo, severity, 3), 0, 255)).astype(int)
    difference = np.abs(ours - reference)
    # the truncation to uint8 may fall one level apart where two float paths differ in the last bits
    assert difference.max() <= 1 and (difference > 0).mean() < 0.01, (name, severity, difference.max())


# ------------------------------------------------------------------------------------------- the reference code
REFERENCE_VERSION = "1.1.2"
INSTALL = 'the test extra installs it: pip install -c constraints.txt -e ".[all]"'


def _import_cv2():
    try:
        import cv2
    except ImportError as error:  # not installed, or opencv-python without the system's libGL.so.1
        pytest.fail(f"the reference comparison needs OpenCV ({INSTALL}; opencv-python also needs libGL.so.1, "
                    f"Debian's libgl1): {error}", pytrace=False)
    return cv2


def _reference_folder() -> Path:
    from importlib.metadata import PackageNotFoundError, version

    spec = importlib.util.find_spec("imagecorruptions")
    try:
        installed = version("imagecorruptions")
    except PackageNotFoundError:
        installed = None
    if spec is None or installed != REFERENCE_VERSION:
        found = f"{installed or 'none'}{'' if spec else ', not importable'}"
        pytest.fail(f"the reference comparison needs imagecorruptions {REFERENCE_VERSION} (installed: {found}); "
                    f"{INSTALL}", pytrace=False)
    return Path(next(iter(spec.submodule_search_locations)))


class _Draws:
    """numpy's global random functions (and skimage's random_noise) as the reference calls them, drawing from a
    seeded Generator in the same order as ours."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def normal(self, loc=0.0, scale=1.0, size=None):
        return self.rng.normal(loc, scale, size)

    def poisson(self, lam=1.0, size=None):
        return self.rng.poisson(lam, size)

    def uniform(self, low=0.0, high=1.0, size=None):
        return self.rng.uniform(low, high, size)

    def randint(self, low, high=None, size=None):
        return self.rng.integers(low, high, size)

    def random_noise(self, image, mode="gaussian", **kwargs):
        from skimage.util import random_noise

        return random_noise(image, mode=mode, rng=self.rng, **kwargs)


@pytest.fixture(scope="module")
def reference() -> dict:
    """imagecorruptions' corruptions.py, run with the shims numpy 2, scipy 1.14+, scikit-image 0.19+ and a
    setuptools without pkg_resources need; `reference_draws(seed)` points its random draws at a seeded Generator."""
    _import_cv2()
    folder = _reference_folder()
    import scipy.ndimage
    import skimage.color
    import skimage.filters

    shims = {"pkg_resources": types.SimpleNamespace(resource_filename=lambda _, rel: str(folder / rel)),
             "scipy.ndimage.interpolation": scipy.ndimage}
    saved = {k: sys.modules.get(k) for k in shims}
    sys.modules.update(shims)
    try:
        namespace: dict = {"__name__": "imagecorruptions_reference"}
        exec(compile((folder / "corruptions.py").read_text(), str(folder / "corruptions.py"), "exec"), namespace)
    finally:
        for key, value in saved.items():
            if value is None:
                sys.modules.pop(key, None)
            else:
                sys.modules[key] = value

    def gaussian(image, sigma, multichannel=None, **kwargs):
        return skimage.filters.gaussian(image, sigma=sigma, channel_axis=-1 if multichannel else None, **kwargs)

    numpy_proxy = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    numpy_proxy.float_ = np.float64

    def reference_draws(seed: int) -> None:
        draws = _Draws(seed)
        numpy_proxy.random = draws
        namespace["sk"] = types.SimpleNamespace(color=skimage.color,
                                                util=types.SimpleNamespace(random_noise=draws.random_noise))

    namespace.update(gaussian=gaussian, np=numpy_proxy, reference_draws=reference_draws)
    return namespace


def test_the_reference_code_is_installed():
    """A skipped comparison proves nothing: without the reference the suite fails, saying how to install it."""
    assert _import_cv2().__version__
    assert (_reference_folder() / "corruptions.py").is_file()
    assert all((_reference_folder() / "frost" / name).is_file() for name in FROST_FILES)


@pytest.mark.parametrize("name", IMAGENET_C)
def test_matches_the_reference_code(photo, name, reference, monkeypatch):
    monkeypatch.delenv(FROST_DIR_VARIABLE, raising=False)  # the real frost pictures
    for severity in (1, 2, 3, 4, 5):
        reference["reference_draws"](5)
        theirs = np.uint8(reference[name](photo.copy(), severity)).astype(int)
        ours = np.asarray(corrupt(photo, name, severity, 5)).astype(int)
        difference = np.abs(ours - theirs)
        # one level apart where two float paths round differently (frost: OpenCV resizes its overlay in float32)
        assert difference.max() <= 1 and (difference > 0).mean() < 0.001, (name, severity, difference.max(),
                                                                           (difference > 0).mean())


@pytest.mark.parametrize("source, target, window", [
    ((60, 90), (66, 99), (0, 0, 66, 99)),  # frost's 1.1, the whole image
    ((37, 23), (131, 50), (5, 7, 100, 40)),  # other factors, a window
    ((48, 40), (30, 29), (0, 0, 30, 29)),  # smaller
])
def test_the_cubic_resize_is_opencvs(source, target, window):
    from builder.editors.corruptions.filters import resize_cubic_window as _resize_cubic_window

    cv2 = _import_cv2()
    rng = np.random.default_rng(0)
    image = ndimage.gaussian_filter(rng.random((*source, 3)) * 255, (1, 1, 0)).astype(np.uint8)
    image[:, : source[1] // 3] = rng.integers(0, 256, (source[0], source[1] // 3, 3))  # sharp edges too
    top, left, height, width = window
    theirs = cv2.resize(image, target[::-1], interpolation=cv2.INTER_CUBIC)[top:top + height, left:left + width]
    ours = _resize_cubic_window(image, target[::-1], top, left, height, width)
    difference = np.abs(ours.astype(int) - theirs)
    assert ours.shape == theirs.shape and difference.max() <= 1 and (difference > 0).mean() < 0.001


# ----------------------------------------------------------------------------------------------- the editor
def test_the_editor_renders_each_item_at_its_severity_and_records_its_prompts(photo):
    from builder.editors import create_editor, list_editors
    from builder.editors.preprocess import prepare_image

    assert "imagenet-c" in list_editors()
    editor = create_editor("imagenet-c", corruption="fog", resolution=64)
    prepared = prepare_image(photo, 64)
    at_224 = prepared.image.resize((224, 224), Image.LANCZOS)  # ImageNet-C's constants are in pixels of 224
    results = editor.edit([photo, prepared, photo], ["a photo of a cat"] * 3, ["fog", "fog", "fog"], [1, 3, 5],
                          [4, 5, 6])
    assert all(r.ok for r in results)
    for result, severity, seed in zip(results, (1, 3, 5), (4, 5, 6)):
        assert result.image.size == (224, 224) and result.metadata["corrupted_at"] == 224
        assert np.array_equal(np.asarray(result.image), np.asarray(corrupt(at_224, "fog", severity, seed)))
        m = result.metadata
        assert (m["editor"], m["model"], m["corruption"], m["corruption_family"]) == \
            ("imagenet-c", "imagenet-c@2", "fog", "weather")
        assert (m["severity"], m["seed"], m["source_prompt"], m["target_prompt"]) == \
            (severity, seed, "a photo of a cat", "fog")
        assert m["resolution"] == 64 and m["upsampled"] is False and "frost_pictures" not in m
    frost = create_editor("imagenet-c", corruption="frost", resolution=64).edit([photo], ["a cat"], ["frost"], 2, [0])
    assert len(frost[0].metadata["frost_pictures"]) == 64  # which pictures the row was made with


@pytest.mark.parametrize("kwargs, message", [
    ({}, "imagenet-c: say which corruption, e.g. create_editor\\('imagenet-c', corruption='fog'\\); one of "
         "gaussian_noise, shot_noise"),
    ({"corruption": "gausian_noise"}, "unknown corruption 'gausian_noise'; did you mean gaussian_noise"),
    ({"corruption": "fog", "model": "CompVis/stable-diffusion-v1-4"}, "takes no model"),
    ({"corruption": "fog", "strength": 0.5}, "imagenet-c: unknown parameter 'strength'"),
])
def test_the_editor_refuses_what_it_cannot_do(kwargs, message):
    from builder.editors import create_editor

    with pytest.raises((CorruptionError, UnknownNameError, ValueError), match=message):
        create_editor("imagenet-c", **kwargs)


def test_the_editor_refuses_severities_outside_one_to_five(photo):
    from builder.editors import create_editor

    editor = create_editor("imagenet-c", corruption="contrast", resolution=64)
    with pytest.raises(ValueError, match="imagenet-c \\(contrast\\): severity 6 is not one of 1, 2, 3, 4, 5"):
        editor.edit([photo], ["a cat"], ["contrast"], 6, [0])
    with pytest.raises(ValueError, match="imagenet-c: seeds\\[0\\]"):
        editor.edit([photo], ["a cat"], ["contrast"], 1, [-3])


def test_the_plan_counts_imagenet_c_rows_apart_and_without_unet_work():
    import dataclasses

    from builder.planning.plan import make_shards, summarize
    from builder.planning.recipes import load_recipe
    from builder.planning.sources import create_source

    recipe = load_recipe("smoke")
    plain = dataclasses.replace(recipe, imagenet_c=None)
    images = create_source(recipe.source).select(recipe)
    with_c, without = (summarize(r, make_shards(r, images)) for r in (recipe, plain))
    assert (with_c["imagenet_c_rows"], without["imagenet_c_rows"]) == (5 * 14 * 3, 0)
    assert with_c["edits"] == without["edits"] == 75 and with_c["rows"] == without["rows"] + 210
    assert (with_c["unet_evaluations"], with_c["unet_calls"]) == (without["unet_evaluations"], without["unet_calls"])
    assert with_c["by_domain"]["glass_blur"] == 15 and with_c["by_severity"][5] == 70


def test_items_of_different_images_in_one_call_each_get_their_own(photo):
    from builder.editors import create_editor
    from builder.editors.preprocess import prepare_image

    other = photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    editor = create_editor("imagenet-c", corruption="contrast", resolution=64)
    results = editor.edit([photo, other, photo, other], ["a cat"] * 4, ["contrast"] * 4, [2, 2, 4, 4], [0, 0, 0, 0])
    for result, image, severity in zip(results, (photo, other, photo, other), (2, 2, 4, 4)):
        expected = prepare_image(image, 64).image.resize((224, 224), Image.LANCZOS)
        assert np.array_equal(np.asarray(result.image), np.asarray(corrupt(expected, "contrast", severity, 0)))
    assert not np.array_equal(np.asarray(results[0].image), np.asarray(results[1].image))


def test_a_build_keeps_one_implementation_of_its_imagenet_c_rows(smoke_build, tmp_path, monkeypatch):
    import json
    import shutil

    from builder.generation.generate import Builder
    from builder.planning.pins import PinError, pin_build_implementations
    from builder.planning.recipes import load_recipe

    assert json.loads((smoke_build / "implementations.json").read_text()) == {"imagenet-c": "imagenet-c@2"}
    build = shutil.copytree(smoke_build, tmp_path / "build")
    monkeypatch.setattr("builder.generation.generate.IMPLEMENTATION", "imagenet-c@3")  # the corruptions changed since
    with pytest.raises(PinError, match=r"implementations.json: this build's imagenet-c rows were made with "
                                       r"imagenet-c@2, this process makes them with imagenet-c@3"):
        Builder(load_recipe("smoke"), build, progress=False).run()
    assert sorted(p.name for p in (build / "shards").iterdir()) == sorted(p.name for p in
                                                                          (smoke_build / "shards").iterdir())
    # other frost pictures are another implementation too
    pin_build_implementations(tmp_path, {"imagenet-c": "imagenet-c@2", "frost_pictures": "a" * 64})
    with pytest.raises(PinError, match=r"frost_pictures rows were made with a{64}, this process makes them with b{64}"):
        pin_build_implementations(tmp_path, {"imagenet-c": "imagenet-c@2", "frost_pictures": "b" * 64})
