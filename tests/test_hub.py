"""imagenet_textcorrupt/hub.py: which commit a revision is, asked of the Hub only when it must be."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from imagenet_textcorrupt.hub import HUB_ID, VERSION_TAG, resolve_commit

SHA = "0123456789abcdef0123456789abcdef01234567"


class RecordingApi:
    def __init__(self, sha: str | None):
        self.sha, self.asked = sha, []

    def repo_info(self, repo_id, repo_type, revision):
        self.asked.append((repo_id, repo_type, revision))
        return SimpleNamespace(sha=self.sha)


def test_a_tag_is_asked_of_the_hub():
    api = RecordingApi("f" * 40)
    assert resolve_commit("org/data", "v1.0.0", "dataset", api) == "f" * 40
    assert api.asked == [("org/data", "dataset", "v1.0.0")]


def test_a_sha_is_trusted_unless_the_hub_must_confirm_it():
    api = RecordingApi(SHA)
    assert resolve_commit("org/model", SHA, "model", api) == SHA and api.asked == []
    assert resolve_commit("org/model", SHA, "model", api, trust_sha=False) == SHA
    assert api.asked == [("org/model", "model", SHA)]


def test_no_commit_from_the_hub_is_an_error():
    with pytest.raises(ValueError, match=r"the Hub gave no commit for org/data@main"):
        resolve_commit("org/data", None, "dataset", RecordingApi(None))


@pytest.mark.parametrize("name, ok", [("org/imagenet-tc", True), ("imagenet-tc", False), ("org/a/b", False),
                                      ("-org/x", False)])
def test_hub_ids(name, ok):
    assert bool(HUB_ID.match(name)) is ok


@pytest.mark.parametrize("tag, ok", [("v1.0.0", True), ("v10.2.33", True), ("1.0.0", False), ("v1.0", False),
                                     ("main", False)])
def test_version_tags(tag, ok):
    assert bool(VERSION_TAG.match(tag)) is ok


def test_card_metadata_is_read_as_the_hub_reads_it(tmp_path):
    from imagenet_textcorrupt.hub import card_metadata

    card = tmp_path / "README.md"
    card.write_text("---\nlicense: other\nconfigs:\n- config_name: all\n  default: true\n---\n\n# ImageNet-TC\n")
    assert card_metadata(card) == {"license": "other", "configs": [{"config_name": "all", "default": True}]}
    card.write_text("# no header\n\n---\nnot: metadata\n")
    assert card_metadata(card) is None
    card.write_text("---\n- a list\n---\n")
    with pytest.raises(ValueError, match="repo card metadata block should be a dict"):
        card_metadata(card)
