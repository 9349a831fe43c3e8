"""The micro world and its classifier: images, masks and captions drawn from a seed, and a classifier by colour and
shape masks that reads every attribute of the world's own images."""

from __future__ import annotations

import numpy as np
import pytest

from builder.micro.classify import SHAPE_PROTOTYPES, mask_iou, object_pixels, read
from builder.micro.world import BACKGROUNDS, COLOURS, SHAPES, SIZE, Scene, caption, object_mask, render, sample


def test_the_same_seed_gives_the_same_image_and_caption():
    first, scene = sample(17)
    again, scene_again = sample(17)
    assert scene == scene_again and np.array_equal(np.asarray(first), np.asarray(again))
    other, _ = sample(18)
    assert not np.array_equal(np.asarray(first), np.asarray(other))
    assert first.size == (SIZE, SIZE) and first.mode == "RGB"


@pytest.mark.parametrize("colour, shape, background, expected", [
    ("red", "star", "grass", "a red star on grass"),
    ("yellow", "triangle", "plain", "a yellow triangle on a plain background"),
    ("blue", "circle", "snow", "a blue circle on snow"),
])
def test_captions(colour, shape, background, expected):
    assert caption(colour, shape, background) == expected
    assert sample(3, colour=colour, shape=shape, background=background)[1].caption == expected


def test_backgrounds_are_never_saturated_and_objects_always_are():
    """What lets the classifier find the object by saturation alone."""
    for background in BACKGROUNDS:
        for seed in range(5):
            image = render(Scene("circle", "red", background, 0.0, (0.5, 0.5)), seed)  # no object at all
            assert not object_pixels(image).any(), background
    for colour in COLOURS:
        image, scene = sample(0, colour=colour, shape="square")
        inside = object_mask(scene) > 0.99
        assert object_pixels(image)[inside].mean() > 0.99, colour


def test_the_classifier_reads_every_attribute_of_the_world():
    """600 images, every combination at least seven times: all read right (colour, shape and background)."""
    wrong = []
    for seed in range(600):
        image, scene = sample(seed)
        reading = read(image)
        if not reading.matches(scene.colour, scene.shape, scene.background):
            wrong.append((seed, scene, reading.colour, reading.shape, reading.background))
        assert mask_iou(reading.mask, object_mask(scene) > 0.5) > 0.85  # antialiased edges: lowest 0.897
    assert wrong == []


@pytest.mark.parametrize("shape", SHAPES)
def test_each_shape_is_nearest_its_own_prototype(shape):
    image, _ = sample(5, shape=shape, colour="blue", background="plain")
    assert read(image).shape == shape and shape in SHAPE_PROTOTYPES


def test_no_object_reads_as_none():
    image = render(Scene("star", "red", "stripes", 0.0, (0.5, 0.5)), 0)
    reading = read(image)
    assert (reading.colour, reading.shape, reading.background) == (None, None, "stripes")
    assert not reading.matches("red", "star")


def test_mask_iou():
    a = np.zeros((4, 4), bool)
    b = np.zeros((4, 4), bool)
    a[:2] = True
    b[1:3] = True
    assert mask_iou(a, b) == pytest.approx(4 / 12) and mask_iou(a, a) == 1.0 and mask_iou(~a & a, ~b & b) == 1.0


def test_shape_features_of_drawn_masks():
    from builder.micro.classify import shape_features

    square = np.zeros((64, 64), bool)
    square[10:30, 20:40] = True
    fill, fill45, solidity = shape_features(square)
    # 400 pixels; the turned box spans 39 diagonals each way: 39 * 39 / 2 = 760.5
    assert (fill, solidity) == (1.0, 1.0) and fill45 == pytest.approx(400 / 760.5)
    y, x = np.mgrid[0:64, 0:64]
    disk = (y - 32) ** 2 + (x - 32) ** 2 <= 15 ** 2
    fill, fill45, solidity = shape_features(disk)
    # 709 pixels in a 31 x 31 box: pixels make a disk's fill 0.738, not pi/4; the turned box's 0.767 is close
    # (a square's differ by half), and the hull of pixel centres leaves the solidity at 0.957
    assert fill == pytest.approx(709 / 961)
    assert fill45 == pytest.approx(0.7669, abs=1e-4) and solidity == pytest.approx(0.9568, abs=1e-4)
    blunt = square.copy()  # a square whose corners came out blunt, as the trained model draws them
    for rows, cols in ((slice(10, 13), slice(20, 23)), (slice(10, 13), slice(37, 40)),
                       (slice(27, 30), slice(20, 23)), (slice(27, 30), slice(37, 40))):
        blunt[rows, cols] = False
    from builder.micro.classify import _shape

    assert _shape(blunt) == "square" and _shape(disk) == "circle"
