"""Groups: every class in exactly one group by the documented rule; the groups file's validation."""

from __future__ import annotations

import pytest
import yaml

from imagenet_textcorrupt.classes import load_classes
from imagenet_textcorrupt.errors import DataFileError, UnknownNameError
from imagenet_textcorrupt.hierarchy import CONFIG_NAME, build_hierarchy, load_hierarchy
from imagenet_textcorrupt.resources import GROUPS_FILE, data_path

EXPECTED_COUNTS = {
    "people": 3, "animals": 398, "plants": 15, "food": 48, "landscapes": 10, "vehicles": 71, "structures": 71,
    "furniture": 31, "clothing": 67, "instruments": 26, "containers": 58, "appliances": 13, "electronics": 24,
    "sports": 22, "tools": 36, "devices": 89, "other": 18,
}


@pytest.fixture(scope="module")
def hierarchy():
    return load_hierarchy()


def test_every_class_in_exactly_one_group(hierarchy):
    members = {g: {c.wnid for c in hierarchy.members(g)} for g in hierarchy.group_names}
    seen = [wnid for group in members.values() for wnid in group]
    assert len(seen) == len(set(seen)) == 1000
    assert set(seen) == {c.wnid for c in load_classes()}
    assert hierarchy.counts() == EXPECTED_COUNTS


def test_group_names_are_config_names(hierarchy):
    for name in hierarchy.group_names:
        assert CONFIG_NAME.match(name) and name != "all"


@pytest.mark.parametrize(("wnid", "group"), [
    ("n02123045", "animals"),  # tabby cat
    ("n03417042", "vehicles"),  # garbage truck: wheeled_vehicle is anchored, so its container path loses
    ("n09472597", "landscapes"),  # volcano
    ("n04346328", "structures"),  # stupa
    # Granny Smith: WordNet files it under edible_fruit -> produce -> food (5 steps up); its botanical path
    # (apple -> pome -> fruit -> reproductive structure -> plant organ -> plant part) reaches plants only later.
    ("n07742313", "food"),
    # "mushroom" (n07734744) is WordNet's vegetable (edible fungus -> vegetable -> produce -> food); the wild
    # fungi classes (agaric, bolete, ...) sit under fungus.n.01 and land in plants.
    ("n07734744", "food"),
    ("n12985857", "plants"),  # coral fungus
    ("n13054560", "plants"),  # bolete
    ("n10565667", "people"),  # scuba diver
])
def test_known_placements(hierarchy, wnid, group):
    assert hierarchy.group_of(wnid) == group


def test_placement_records_the_decision(hierarchy):
    truck = hierarchy.placement("n03417042")
    assert truck.anchor == "wheeled_vehicle.n.01"
    assert truck.path[-1] == "garbage_truck.n.01" and truck.path[0] == "entity.n.01"
    assert truck.anchor in truck.path
    assert len(truck.paths) == 2
    granny = hierarchy.placement("n07742313")
    assert (granny.anchor, granny.distance, granny.other_groups) == ("food.n.02", 5, ("plants",))


def test_catch_all_is_explicit(hierarchy):
    other = hierarchy.group("other")
    assert other.catch_all
    member_synsets = {c.synset for c in hierarchy.members("other")}
    assert member_synsets == set(other.synsets)
    assert len(member_synsets) == 18
    assert [g.name for g in hierarchy.groups if g.catch_all] == ["other"]


def test_unknown_group_suggests(hierarchy):
    with pytest.raises(UnknownNameError, match=r"unknown group 'animal'; did you mean animals\?"):
        hierarchy.group("animal")


def _groups_raw():
    return yaml.safe_load(data_path(GROUPS_FILE).read_text())


def _write(tmp_path, raw):
    path = tmp_path / "groups.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_ties_go_to_the_group_listed_first(tmp_path):
    # The pool table reaches sports (game_equipment) and furniture (table -> furniture) at the same distance
    # after furniture's anchor is moved next to the table; the order in the file decides.
    raw = _groups_raw()
    by_name = {g["name"]: g for g in raw["groups"]}
    assert build_hierarchy(_write(tmp_path, raw)).group_of("n03982430") == "sports"
    by_name["furniture"]["synsets"].append("table.n.02")
    assert build_hierarchy(_write(tmp_path, raw)).placement("n03982430").distance == 1
    order = [g["name"] for g in raw["groups"]]
    assert order.index("furniture") < order.index("sports")
    assert build_hierarchy(_write(tmp_path, raw)).group_of("n03982430") == "furniture"
    raw["groups"].sort(key=lambda g: g["name"] != "sports")  # sports first
    assert build_hierarchy(_write(tmp_path, raw)).group_of("n03982430") == "sports"


def _edit_group(group_name, **changes):
    def edit(raw):
        next(g for g in raw["groups"] if g["name"] == group_name).update(changes)
    return edit


def _append_group(**group):
    return lambda raw: raw["groups"].append(group)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda raw: raw.update(extra=1), "extra: unknown key; expected version, groups"),
    (_edit_group("food", synset=["food.n.01"]), "groups[3].synset: unknown key; did you mean synsets?"),
    (_edit_group("food", name="Food"), "groups[3].name: 'Food' is not a usable config name"),
    (_edit_group("food", name="all"), "groups[3].name: 'all' is not a usable config name"),
    (_edit_group("food", name="plants"), "groups[3].name: duplicate group 'plants'"),
    (_edit_group("food", synsets=["food.n.01", "fod.n.02"]),
     "groups[3].synsets[1]: 'fod.n.02' is on no ImageNet class's hypernym path; did you mean food.n.02"),
    (_edit_group("food", synsets=["food.n.01", "animal.n.01"]),
     "groups[3].synsets[1]: 'animal.n.01' already anchors group 'animals'"),
    (_edit_group("food", synsets=[]), "groups[3].synsets: group 'food' has no anchor synsets"),
    (_edit_group("other", synsets=["bubble.n.01"]),
     "groups: 17 classes reach no group anchor: n02786058 (band_aid.n.01), n02808304 (bath_towel.n.01)"),
    (_edit_group("other", synsets=["bubble.n.01"]), "; anchor one of their hypernyms or list them in other"),
    # every class reaches a nearer anchor than object.n.01, so this group would be an empty config
    (_append_group(name="objects", synsets=["object.n.01"]), "groups: group 'objects' holds no class"),
])
def test_groups_file_errors(tmp_path, edit, message):
    raw = _groups_raw()
    edit(raw)
    path = _write(tmp_path, raw)
    with pytest.raises(DataFileError) as caught:
        build_hierarchy(path)
    assert message in str(caught.value)
    assert str(caught.value).startswith(str(path))
