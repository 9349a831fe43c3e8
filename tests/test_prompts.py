"""The prompt hierarchy: resolution down the WordNet path, slots and articles, severities, and every error."""

from __future__ import annotations

import pytest
import yaml

from imagenet_textcorrupt import prompts
from imagenet_textcorrupt.classes import load_classes
from imagenet_textcorrupt.errors import DataFileError, UnknownNameError
from imagenet_textcorrupt.hierarchy import load_hierarchy
from imagenet_textcorrupt.prompt_text import indefinite_article
from imagenet_textcorrupt.prompts import DOMAINS, load_prompts
from imagenet_textcorrupt.resources import PROMPTS_FILE, data_path

# Where a domain is declared not to apply, and to which classes that reaches.
NOT_APPLICABLE = {("landscapes", "color"), ("n04525038", "texture"), ("n04599235", "texture")}


@pytest.fixture(scope="module")
def shipped():
    return load_prompts()


def test_every_class_has_prompts_in_every_domain_that_applies(shipped):
    hierarchy = load_hierarchy()
    declared = set()
    for cls in load_classes():
        resolved = shipped.for_class(cls.wnid)
        assert resolved.group == hierarchy.group_of(cls.wnid)
        for domain in DOMAINS:
            if domain in resolved.not_applicable:
                assert domain not in resolved.domains
                assert resolved.not_applicable[domain]  # a reason is given
                key = resolved.group if resolved.group == "landscapes" else cls.wnid
                declared.add((key, domain))
            else:
                assert resolved.domains[domain], (cls.wnid, domain)
                for prompt in resolved.domains[domain]:
                    assert cls.name in prompt.text
                    assert "{" not in prompt.text and "  " not in prompt.text
    assert declared == NOT_APPLICABLE


def test_no_target_repeats_a_word_of_its_class_name(shipped):
    """Over every class and template: a target that says again a word the class name holds ("a red red fox"),
    or equals the source prompt, would change nothing; such targets are left out and listed with the reason."""
    import re

    def words(text):  # written here, not taken from the module: letters only, articles and prepositions out
        return [w for w in re.findall(r"[a-z]+", text.lower())
                if w not in {"a", "an", "the", "of", "in", "on", "at", "by", "for", "from", "to", "with", "and",
                             "under"}]

    left_out = {}
    for cls in load_classes():
        resolved = shipped.for_class(cls.wnid)
        for domain, targets in resolved.domains.items():
            for prompt in targets:
                assert prompt.text != resolved.source_prompt
                around = re.split(rf"\b{re.escape(cls.name)}(?![\w-])", prompt.text, maxsplit=1)
                assert len(around) == 2, (cls.wnid, prompt.text)
                assert not set(words(" ".join(around))) & set(words(cls.name)), (cls.wnid, prompt.text)
        left_out.update({text: reason for text, reason in resolved.dropped})
    assert left_out["a red red fox"] == "repeats 'red' of the class name"
    assert left_out["a snow leopard in the snow"] == "repeats 'snow' of the class name"
    assert left_out["a wooden wooden spoon"] == "repeats 'wooden' of the class name"
    assert len(left_out) == 42
    fox = [p.text for p in shipped.for_class("n02119022").domains["color"]]
    assert "an orange red fox" in fox and len(fox) == 8  # the other colours stay
    assert "an antique sketch of an ant" in [p.text for p in shipped.for_class("n02219486").domains["drawing"]]


def test_tabby_cat(shipped):
    tabby = shipped.for_class("n02123045")
    assert tabby.source_prompt == "a tabby cat"
    assert [p.text for p in tabby.domains["weather"]] == [
        "a tabby cat in the snow", "a tabby cat in the fog", "a tabby cat in the rain", "a tabby cat on ice"]
    assert [p.node for p in tabby.domains["weather"]] == ["root", "root", "root", "animals"]
    colors = tabby.domains["color"]
    assert len(colors) == 9 and {p.template for p in colors} == {"{a} {color} {name}"}
    assert colors[-1].text == "an orange tabby cat" and colors[-1].slots == (("color", "orange"),)
    assert "a painting of a tabby cat in the style of Starry Night" in [p.text for p in tabby.domains["drawing"]]
    assert len(tabby.domains["context"]) == 7  # the study's seven animal contexts


def test_deeper_nodes_refine_their_group(shipped):
    tench = shipped.for_class("n01440764")  # fish.n.01 replaces the animals' contexts
    assert [p.text for p in tench.domains["context"]] == [
        "a tench in a fishbowl", "a tench in a coral reef", "a tench on the moon", "a tench on mars"]
    apple = shipped.for_class("n07742313")  # edible_fruit.n.01 adds to food
    assert [(p.text, p.node) for p in apple.domains["texture"]][-2:] == [
        ("a Granny Smith apple sculpted in marble", "edible_fruit.n.01"),
        ("a Granny Smith apple carved from wood", "edible_fruit.n.01")]
    assert apple.domains["context"][-1].text == "a Granny Smith apple in a fruit bowl"
    broccoli = shipped.for_class("n07714990")  # food but not fruit: no fruit bowl
    assert "in a fruit bowl" not in " ".join(p.text for p in broccoli.domains["context"])


def test_group_specific_domains(shipped):
    stupa = shipped.for_class("n04346328")
    assert stupa.domains["drawing"][-1].text == "pixel art of a stupa"
    assert [p.text for p in stupa.domains["texture"]] == [
        "a glass stupa", "a brick stupa", "a wooden stupa", "a golden stupa"]
    volcano = shipped.for_class("volcano")
    assert "color" in volcano.not_applicable and "color" not in volcano.domains
    diver = shipped.for_class("scuba diver")
    assert diver.domains["color"][0].text == "a scuba diver dressed in blue"
    assert diver.domains["texture"][0].text == "a marble statue of a scuba diver"


@pytest.mark.parametrize(("key", "domain", "index", "text"), [
    ("n07802026", "color", 5, "red hay"),  # mass noun: no article
    ("n04356056", "texture", 0, "wooden sunglasses"),  # plural
    ("n04356056", "drawing", 0, "a watercolor painting of sunglasses"),
    ("n01632777", "drawing", 1, "an antique sketch of an axolotl"),
    ("n01632777", "color", 0, "a blue axolotl"),
    ("n01632777", "weather", 0, "an axolotl in the snow"),
    ("n10148035", "texture", 1, "a bronze statue of a bridegroom"),
    ("n04509417", "color", 8, "an orange unicycle"),
    ("n04509417", "texture", 1, "a golden unicycle"),
])
def test_articles_follow_the_next_word(shipped, key, domain, index, text):
    assert shipped.for_class(key).domains[domain][index].text == text


@pytest.mark.parametrize(("word", "article"), [
    ("orange", "an"), ("apple", "an"), ("red", "a"), ("unicycle", "a"), ("umbrella", "an"), ("hour", "an"),
    ("European", "a"), ("one-piece", "a"), ("antique", "an"), ("hat", "a"),
])
def test_indefinite_article(word, article):
    assert indefinite_article(word) == article


def test_deterministic(shipped, tmp_path):
    copy = tmp_path / "prompts.yaml"
    copy.write_bytes(data_path(PROMPTS_FILE).read_bytes())
    again = load_prompts(copy)
    for cls in load_classes()[::37]:
        assert again.for_class(cls.wnid) == shipped.for_class(cls.wnid)
    assert again.fingerprint == shipped.fingerprint and len(shipped.fingerprint) == 16


def test_version_and_severity(shipped):
    assert prompts.version() == shipped.version == "1.1.0"
    assert shipped.severity_levels == {1: "mild", 2: "moderate", 3: "strong"}
    assert set(shipped.severity) == {"prompt_to_prompt", "instruct_pix2pix", "sdedit"}
    for family, levels in shipped.severity.items():
        assert sorted(levels) == [1, 2, 3], family
    # severity 2 of prompt-to-prompt is the source study's setting
    assert shipped.severity_parameters("prompt_to_prompt", 2) == {"cross_replace_steps": 0.8,
                                                                  "self_replace_steps": 0.4}
    assert [shipped.severity_parameters("sdedit", s)["strength"] for s in (1, 2, 3)] == [0.4, 0.6, 0.8]
    with pytest.raises(UnknownNameError, match="unknown editor family 'sd_edit'; did you mean sdedit"):
        shipped.severity_parameters("sd_edit", 1)
    with pytest.raises(UnknownNameError, match="unknown severity level '4'"):
        shipped.severity_parameters("sdedit", 4)


def test_module_level_for_class():
    assert prompts.for_class("tabby cat") == load_prompts().for_class("n02123045")
    assert prompts.for_class(281).to_json()["domains"]["weather"][-1] == "a tabby cat on ice"


# -- validation: every error names the file and the key --------------------------------------------------------

def _raw():
    return yaml.safe_load(data_path(PROMPTS_FILE).read_text())


def _set(path, value):
    def edit(raw):
        node = raw
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


def _delete(path):
    def edit(raw):
        node = raw
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return edit


ERRORS = [
    ("unknown top-level key", _set(["template"], {}), "template: unknown key 'template'; did you mean templates?"),
    ("bad version", _set(["version"], "1.0"), "version: '1.0' is not a version of the form MAJOR.MINOR.PATCH"),
    ("unknown node", _set(["nodes", "animal"], {"color": {"add": ["{a} {name} x"]}}),
     "nodes.animal: unknown node (not a group or a synset on any class's WordNet path) 'animal'; did you mean "
     "animals"),
    ("unknown domain at a node", _set(["nodes", "animals", "colour"], {"add": ["{a} {name} x"]}),
     "nodes.animals.colour: unknown domain 'colour'; did you mean color?"),
    ("unknown domain at the root", _set(["templates", "wether"], ["{a} {name}"]),
     "templates.wether: unknown domain 'wether'; did you mean weather?"),
    ("unknown domain declared", _set(["domains", "style"], "x"), "domains.style: unknown domain 'style'"),
    ("missing domain", _delete(["domains", "texture"]), "domains: missing domain 'texture'"),
    ("unknown operation", _set(["nodes", "animals", "weather"], {"append": ["{a} {name} x"]}),
     "nodes.animals.weather.append: unknown operation 'append'"),
    ("unbound slot", _set(["templates", "color"], ["{a} {colour} {name}"]),
     "templates.color[0]: unbound slot {colour} in '{a} {colour} {name}'; known slots: {a}, {name}, {color}"),
    ("template without the class", _set(["nodes", "animals", "weather"], {"add": ["snow"]}),
     "nodes.animals.weather.add[0]: template 'snow' does not mention the class: add {name}"),
    ("malformed template", _set(["templates", "weather"], ["{a} {name in the snow"]),
     "templates.weather[0]: malformed template '{a} {name in the snow'"),
    ("duplicate template", _set(["templates", "weather"], ["{a} {name} in fog", "{a} {name} in fog"]),
     "templates.weather[1]: duplicate template '{a} {name} in fog'"),
    ("remove a template not inherited", _set(["nodes", "animals", "weather"], {"remove": ["{a} {name} in hail"]}),
     "nodes.animals.weather.remove: '{a} {name} in hail' is not inherited by class n01440764 (tench), so it "
     "cannot be removed"),
    ("add an inherited template", _set(["nodes", "animals", "weather"], {"add": ["{a} {name} in the snow"]}),
     "nodes.animals.weather.add: '{a} {name} in the snow' is already inherited from 'root' by class n01440764"),
    ("replace combined with add", _set(["nodes", "animals", "weather"], {"replace": ["{a} {name} x"],
                                                                         "add": ["{a} {name} y"]}),
     "nodes.animals.weather: replace cannot be combined with add or remove"),
    ("domain emptied without a reason", _set(["nodes", "people", "weather"], {"replace": []}),
     "nodes.people: class n09835506 (baseball player) is left with no weather templates; add templates or mark "
     "the domain not_applicable with a reason"),
    ("empty root domain", _set(["templates", "context"], []),
     "templates: class n02666196 (abacus) is left with no context templates"),
    ("not_applicable without a reason", _set(["nodes", "landscapes", "color"], {"not_applicable": " "}),
     "nodes.landscapes.color.not_applicable: give the reason the domain does not apply"),
    ("not_applicable with templates", _set(["nodes", "landscapes", "color"], {"not_applicable": "x",
                                                                              "add": ["{a} {name} x"]}),
     "nodes.landscapes.color: not_applicable cannot be combined with other operations"),
    ("redefined builtin slot", _set(["slots", "name"], ["x"]), "slots.name: {name} is built in and cannot be "
                                                              "redefined"),
    ("empty slot", _set(["slots", "color"], []), "slots.color: expected a non-empty list of strings"),
    ("severity level gap", _set(["severity", "levels"], {1: "mild", 3: "strong"}),
     "severity.levels: levels must be 1..2 without gaps"),
    ("severity family missing a level", _delete(["severity", "editors", "sdedit", 3]),
     "severity.editors.sdedit: must define exactly the levels [1, 2, 3]"),
    ("unknown severity parameter", _set(["severity", "editors", "sdedit", 2], {"strenght": 0.5}),
     "severity.editors.sdedit.2.strenght: unknown parameter 'strenght'; did you mean strength?"),
    ("severity value out of range", _set(["severity", "editors", "sdedit", 2], {"strength": 1.5}),
     "severity.editors.sdedit.2.strength: 1.5 is not a number in [0.0, 1.0]"),
    ("unknown editor family", _set(["severity", "editors", "pix2pix"], {}),
     "severity.editors.pix2pix: unknown editor family 'pix2pix'"),
    ("missing editor family", _delete(["severity", "editors", "instruct_pix2pix"]),
     "severity.editors: missing editor family 'instruct_pix2pix'"),
    ("source prompt without the class", _set(["source_prompt"], "a photo"),
     "source_prompt: template 'a photo' does not mention the class: add {name}"),
]


@pytest.mark.parametrize(("edit", "message"), [pytest.param(e, m, id=i) for i, e, m in ERRORS])
def test_errors_name_the_file_and_key(tmp_path, edit, message):
    raw = _raw()
    edit(raw)
    path = tmp_path / "my_prompts.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    with pytest.raises(DataFileError) as caught:
        load_prompts(path)
    assert str(caught.value).startswith(f"{path}: {message}")


def test_node_on_no_primary_path(tmp_path):
    raw = _raw()
    # pome.n.01 is on the Granny Smith's botanical path, but its primary path (the one through the food anchor)
    # goes through edible_fruit.n.01, and no other class's primary path reaches pome.n.01 either
    raw["nodes"]["pome.n.01"] = {"color": {"add": ["{a} {name} x"]}}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(DataFileError, match=r"nodes\.pome\.n\.01: this synset is on no class's primary "
                                            r"path, so it applies to no class"):
        load_prompts(path)


def test_invalid_yaml(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("version: [1\n")
    with pytest.raises(DataFileError, match=rf"^{path}: not valid YAML"):
        load_prompts(path)
