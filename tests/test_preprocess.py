"""One preprocessing for originals and edits: orientation, modes, crop, resize, and clear errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from builder.editors.preprocess import ImageInputError, image_to_tensor, prepare_image, tensor_to_images


def _halves(width, height):
    """Left half red, right half blue."""
    array = np.zeros((height, width, 3), np.uint8)
    array[:, : width // 2] = (255, 0, 0)
    array[:, width // 2:] = (0, 0, 255)
    return Image.fromarray(array)


def test_centre_crop_and_resize():
    wide = np.zeros((100, 300, 3), np.uint8)
    wide[:, 100:200] = 255  # only the centre square is white
    prepared = prepare_image(Image.fromarray(wide), 64)
    assert prepared.image.size == (64, 64) and prepared.image.mode == "RGB"
    assert np.asarray(prepared.image).min() >= 250
    assert prepared.original_size == (300, 100) and not prepared.upsampled


def test_small_images_are_upsampled_and_flagged():
    prepared = prepare_image(_halves(20, 30), 64)
    assert prepared.image.size == (64, 64) and prepared.upsampled
    left, right = np.asarray(prepared.image)[32, 5], np.asarray(prepared.image)[32, 58]
    assert left[0] > 200 and right[2] > 200


def test_exif_orientation_is_applied(tmp_path):
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: display rotated 90 degrees clockwise
    _halves(64, 64).save(path, exif=exif, quality=95)
    array = np.asarray(prepare_image(path, 64).image).astype(int)
    # red was on the left; after a clockwise turn it is on top
    assert array[5, 32, 0] > 200 and array[58, 32, 2] > 200


@pytest.mark.parametrize("mode", ["L", "1", "P", "RGBA", "LA", "CMYK", "I;16", "I", "F"])
def test_modes_become_rgb(mode):
    base = _halves(48, 48)
    if mode in ("I;16", "I", "F"):
        gray = np.asarray(base.convert("L"), dtype=np.float64) / 255
        dtype, scale = {"I;16": (np.uint16, 65535), "I": (np.int32, 1000), "F": (np.float32, 1.0)}[mode]
        image = Image.fromarray((gray * scale).astype(dtype))
        assert image.mode == mode
    else:
        image = base.convert(mode)
    prepared = prepare_image(image, 32)
    assert prepared.image.mode == "RGB" and prepared.image.size == (32, 32)
    assert prepared.original_mode == image.mode
    array = np.asarray(prepared.image).astype(int)
    assert array.max() > 0  # not blanked by the conversion


def test_transparency_is_composited_over_white():
    rgba = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    assert np.asarray(prepare_image(rgba, 16).image).min() == 255


def test_sixteen_bit_keeps_its_range():
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (64, 1))
    array = np.asarray(prepare_image(Image.fromarray(ramp), 64).image)[..., 0]
    assert array[0, 0] <= 2 and array[0, -1] >= 253


@pytest.mark.parametrize(("content", "message"), [
    (b"not an image", "broken.jpg: cannot read the image"),
    (None, "missing.jpg: no such file"),
])
def test_unreadable_inputs_name_the_file(tmp_path, content, message):
    name = "broken.jpg" if content else "missing.jpg"
    path = tmp_path / name
    if content:
        path.write_bytes(content)
    with pytest.raises(ImageInputError) as caught:
        prepare_image(path, 64)
    assert str(caught.value).startswith(f"{path}") and message in str(caught.value)


def test_resolution_must_be_a_multiple_of_8():
    with pytest.raises(ImageInputError, match="resolution 60 must be a positive multiple of 8"):
        prepare_image(_halves(8, 8), 60)


def test_tensor_round_trip():
    image = _halves(16, 16)
    assert np.array_equal(np.asarray(tensor_to_images(image_to_tensor([image]))[0]), np.asarray(image))
