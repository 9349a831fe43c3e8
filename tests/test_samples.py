"""The embedded sample photos are labelled by hand in builder/planning/sample_photos.yaml, with where each comes from
and what it shows; the file is checked when it loads, and nothing in it comes from a classifier."""

from __future__ import annotations

import pytest
import yaml

from builder.planning.sources import SAMPLES_FILE, SampleSource, load_sample_photos
from imagenet_textcorrupt.errors import DataFileError


def test_every_photo_has_a_hand_label_a_description_and_a_source():
    photos = load_sample_photos()
    assert {name: (p.wnid, p.label) for name, p in photos.items()} == {
        "chelsea": ("n02123045", "tabby cat"), "coffee": ("n07920052", "espresso"), "camera": ("n04485082", "tripod"),
        "rocket": ("n03773504", "missile"), "motorcycle": ("n03785016", "moped")}
    assert "Stefan van der Walt" in photos["chelsea"].source and "CC0" in photos["coffee"].source
    assert "public domain" in photos["rocket"].source and "Middlebury" in photos["motorcycle"].source
    # where ImageNet-1k has no exact class, the entry says so and why this one is the nearest
    assert "no class for a space launch vehicle" in photos["rocket"].shows
    assert "no motorcycle class" in photos["motorcycle"].shows
    assert "classifier" not in " ".join(p.shows + p.source for p in photos.values())


def test_the_labels_are_what_the_source_lists():
    listing = SampleSource(None).by_class()
    assert {wnid: [i.source_id for i in images] for wnid, images in listing.items()} == {
        "n02123045": ["sample-chelsea"], "n07920052": ["sample-coffee"], "n04485082": ["sample-camera"],
        "n03773504": ["sample-rocket"], "n03785016": ["sample-motorcycle"]}
    photo = SampleSource(None).open(listing["n03785016"][0])
    assert photo.size == (741, 500) and photo.mode == "RGB"  # the stereo pair's left view


def _write(tmp_path, change):
    data = yaml.safe_load(SAMPLES_FILE.read_text())
    change(data["photos"])
    path = tmp_path / "sample_photos.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("change, message", [
    (lambda p: p["rocket"].update(label="space shuttle"),
     "sample_photos.yaml: photos.rocket.label: 'space shuttle' is not the class of n03773504 ('missile')"),
    (lambda p: p["coffee"].pop("source"), "sample_photos.yaml: photos.coffee.source: missing"),
    (lambda p: p["camera"].update(shows=" "), "sample_photos.yaml: photos.camera.shows: missing"),
    (lambda p: p["chelsea"].update(wnid="n0212304"), "sample_photos.yaml: photos.chelsea.wnid: unknown wnid"),
    (lambda p: p["chelsea"].update(predicted="tiger cat"), "sample_photos.yaml: photos.chelsea.predicted: unknown key"),
])
def test_a_bad_entry_names_the_file_and_the_key(tmp_path, change, message):
    with pytest.raises(DataFileError) as caught:
        load_sample_photos(_write(tmp_path, change))
    assert message in str(caught.value)

