"""The ImageNet-1k class index: order, names, articles, lemmas, lookups and validation of the index file."""

from __future__ import annotations

import pytest

from imagenet_textcorrupt import classes
from imagenet_textcorrupt.errors import DataFileError, UnknownNameError
from imagenet_textcorrupt.resources import CLASSES_FILE, read_text


def test_thousand_classes_in_the_standard_order(timm_info_dir):
    expected = (timm_info_dir / "imagenet_synsets.txt").read_text().split()
    assert classes.wnids() == expected
    assert [c.index for c in classes.load_classes()] == list(range(1000))


def test_lemmas_are_wordnets(timm_info_dir):
    lines = (timm_info_dir / "imagenet_synset_to_lemma.txt").read_text().splitlines()
    timm_lemmas = dict(line.split("\t") for line in lines)
    for c in classes.load_classes():
        assert ", ".join(c.lemmas) == timm_lemmas[c.wnid], c.wnid


def test_names_are_unique_and_prompt_ready():
    names = classes.class_names()
    assert len(names) == 1000
    assert len({n.lower() for n in names}) == 1000
    for name in names:
        assert name == name.strip() and "," not in name and "(" not in name, name
        assert 1 <= len(name.split()) <= 4, name


@pytest.mark.parametrize(("wnid", "name"), [
    ("n02123045", "tabby cat"),  # WordNet's first lemma is the bare "tabby"
    ("n01440764", "tench"),
    ("n03417042", "garbage truck"),
    ("n09472597", "volcano"),
    ("n04346328", "stupa"),
    ("n07742313", "Granny Smith apple"),  # not an old woman
    ("n01608432", "kite bird of prey"),  # not the toy
    ("n01847000", "male mallard duck"),  # WordNet: "drake"
    ("n01756291", "sidewinder rattlesnake"),  # not the missile
])
def test_known_names(wnid, name):
    assert classes.get_class(wnid).name == name


# WordNet lemmas that two classes share, and the distinct display names that tell them apart.
SHARED_LEMMAS = {
    "cardigan": ("Cardigan Welsh corgi", "cardigan sweater"),
    "catamount": ("cougar", "lynx"),
    "crane": ("crane bird", "construction crane"),
    "crawfish": ("spiny lobster", "crayfish"),
    "crayfish": ("spiny lobster", "crayfish"),
    "gong": ("wind chime", "gong"),
    "grass snake": ("green snake", "garter snake"),
    "harp": ("harmonica", "harp"),
    "horn": ("cornet", "French horn"),
    "maillot": ("leotard", "one-piece swimsuit"),
    "missile": ("missile", "projectile"),
    "panda": ("red panda", "giant panda"),
    "panther": ("cougar", "jaguar"),
    "partridge": ("ruffed grouse", "partridge"),
    "polecat": ("polecat", "skunk"),
    "sand viper": ("hognose snake", "horned viper"),
    "sus scrofa": ("hog", "wild boar"),
    "tub": ("bathtub", "wooden tub"),
    "wagon": ("station wagon", "police van"),
}


def test_shared_lemmas_get_distinct_names():
    shared = {lemma: tuple(c.name for c in owners) for lemma, owners in classes.shared_lemmas().items()}
    assert shared == SHARED_LEMMAS


def test_lookup_by_a_shared_lemma_is_ambiguous():
    with pytest.raises(UnknownNameError) as caught:
        classes.get_class("crane")
    assert str(caught.value) == ("ambiguous class 'crane'; did you mean n02012849 (crane bird), "
                                 "n03126707 (construction crane)?")


@pytest.mark.parametrize("key", [281, "281", "n02123045", "tabby cat", "Tabby Cat", "tabby"])
def test_lookup_by_index_wnid_name_or_lemma(key):
    assert classes.get_class(key).wnid == "n02123045"


@pytest.mark.parametrize(("key", "message"), [
    ("n0212304", "unknown wnid 'n0212304'; did you mean n02123045 (tabby cat)"),
    ("tabby kat", "unknown class 'tabby kat'; did you mean n02123045 (tabby cat)"),
    ("1000", "unknown class index '1000'; did you mean 0..999?"),
])
def test_unknown_keys_suggest_the_closest(key, message):
    with pytest.raises(UnknownNameError) as caught:
        classes.get_class(key)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(("wnid", "with_article"), [
    ("n01632777", "an axolotl"),
    ("n04509417", "a unicycle"),
    ("n03544143", "an hourglass"),
    ("n01629819", "a European fire salamander"),
    ("n04356056", "sunglasses"),  # plural
    ("n07802026", "hay"),  # mass noun
])
def test_articles(wnid, with_article):
    assert classes.get_class(wnid).name_with_article == with_article


def _index_text(rows):
    return "\n".join(["index\twnid\tname\tarticle", *rows]) + "\n"


def _shipped_rows():
    return read_text(CLASSES_FILE).splitlines()[1:]


@pytest.mark.parametrize(("edit", "message"), [
    (lambda rows: ["index\twnid\tname"] + rows, "x.tsv: line 1: header must be"),
    (lambda rows: rows[:5] + rows[6:], "x.tsv: line 7: index '6' out of order; expected 5"),
    (lambda rows: [rows[0].replace("n01440764", "n0144076")] + rows[1:],
     "x.tsv: line 2: wnid 'n0144076' is not of the form n########"),
    (lambda rows: [rows[0] + "\textra"] + rows[1:], "x.tsv: line 2: expected 4 tab-separated fields, found 5"),
    (lambda rows: [rows[0].replace("\ta", "\tthe")] + rows[1:], "x.tsv: line 2: article 'the' must be one of a, an, -"),
    (lambda rows: [rows[0].replace("tench", "tench, Tinca tinca")] + rows[1:],
     "x.tsv: line 2: name 'tench, Tinca tinca' must be non-empty, trimmed, without commas"),
    (lambda rows: rows[:1] + [rows[1].replace("goldfish", "Tench")] + rows[2:],
     "x.tsv: line 3: duplicate name 'tench' (first on line 2)"),
    (lambda rows: rows[:1] + [rows[1].replace("n01443537", "n01440764")] + rows[2:],
     "x.tsv: line 3: duplicate wnid 'n01440764' (first on line 2)"),
    (lambda rows: rows[:-1], "x.tsv: expected 1000 classes, found 999"),
])
def test_index_file_errors_name_the_line(edit, message):
    rows = _shipped_rows()
    edited = edit(list(rows))
    text = "\n".join(edited) + "\n" if edited[0].startswith("index") else _index_text(edited)
    with pytest.raises(DataFileError) as caught:
        classes.parse_class_index(text, "x.tsv")
    assert str(caught.value).startswith(message)


def test_shipped_index_parses_to_the_loaded_classes():
    rows = classes.parse_class_index(_index_text(_shipped_rows()))
    assert [(r.wnid, r.name) for r in rows] == [(c.wnid, c.name) for c in classes.load_classes()]
